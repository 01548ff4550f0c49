/**
 * Preprocessing every CollabDict model shares (GGM mixture and VAE), computed from
 * network-wide statistics through the model's `aggregate` (consensus), never by pooling:
 *
 * 1. Standardisation: each node contributes [n, sum_n x_n] (length 1 + M), then
 *    [sum_n (x_n - mean)^2] (length M); from the network sums every node derives the same
 *    mean and population standard deviation (ddof = 0) per feature.
 *    Data policy for constant features (issue 14): a feature whose network variance is at
 *    most MIN_RELATIVE_VARIANCE x max(mean^2, 1) (negative round-off of sum x^2/n - mean^2
 *    through consensus included: it counts as zero) is *pinned*, not refused: shift = its
 *    mean, scale = 1, and its index is listed in `pinned` (saved with the model, reported
 *    by `collab fit` and the simulator). Training rows then sit at ~0 in that coordinate
 *    (the mean's consensus error, ~1e-9 of it), so the feature adds nothing to the fit,
 *    and the model keeps the table's dimension (saved models, the scoring API and releases
 *    need no column map). A row scored later that differs in a pinned feature is scored by
 *    how far it moved in raw units against the model's smallest variance: a value never
 *    seen in training is what an anomaly detector should flag. The same rule serves a
 *    node alone (local-only baseline) whose slice has a locally constant column.
 * 2. Clipping (privacy, Theorem 1 needs pairwise sample distance <= R): each training
 *    sample is pulled back onto the ball of radius R/2 around m0 (the network mean in the
 *    model's coordinates, i.e. the zero vector after standardisation). The number of
 *    clipped rows is reported. Scoring never clips (it would hide anomalies).
 */
import { z } from 'zod'
import type { Aggregate } from './model.js'
import { addOuterPacked, mat, packedSymLength, unpackSym, type Mat } from '../numeric/matrix.js'

export class PreprocessError extends Error {
  override name = 'PreprocessError'
}

/**
 * Variance at or below this fraction of max(mean^2, 1) counts as constant across the network.
 * The variance comes from centred sums (networkMoments): consensus converges coordinate by
 * coordinate, each to about the tolerance (1e-9) of its own spread over the nodes, and a
 * constant column's centred sum is ~0 on every node, so it arrives at ~1e-18 mean^2, far
 * below this; a real feature's variance arrives to ~1e-9 of itself. A feature whose std is
 * below 1e-5 of its magnitude is pinned (it cannot be told from a constant one).
 */
export const MIN_RELATIVE_VARIANCE = 1e-10

/** Agreed preprocessing, identical on every node (JSON-safe via `preprocessingToJson`). */
export interface Preprocessing {
  /** Per-feature shift (network mean; zeros when standardisation is off). */
  shift: Float64Array
  /** Per-feature divisor (network population std; ones when standardisation is off). */
  scale: Float64Array
  /** Clip centre and prior mean m0 in model coordinates (the network mean after shift/scale). */
  m0: Float64Array
  /** Pairwise distance bound R (samples clipped to radius R/2 around m0), or null: no clipping. */
  radius: number | null
  /** Network row count the statistics came from. */
  count: number
  /** Features constant across the network, pinned (shift = mean, scale = 1; see the module comment); absent = none recorded. */
  pinned?: number[]
}

export interface PreprocessOptions {
  /** z-score with the network mean and std (default true). */
  standardise?: boolean
  /** R: clip training rows to the ball of radius R/2 around m0; null/undefined = no clipping. */
  radius?: number | null
  /** Consensus label (default 'preprocess/moments'). */
  label?: string
  /** Rows may hold NaN (missing values): moments over the observed values of each feature (networkMoments). */
  missing?: boolean
}

/**
 * Network-wide column moments by two aggregates: [n, sum x] (length 1 + M), then, from the
 * agreed mean, [sum (x - mean)^2] (length M). Centred sums do not cancel: a constant column
 * contributes ~0, so its consensus error is tiny against the threshold below, where the
 * one-pass sum x^2 / n - mean^2 carried an error of the consensus tolerance times the
 * largest column's sum of squares and could come out negative (issue 14).
 * Throws PreprocessError when the network holds no rows. A feature whose variance is at most
 * MIN_RELATIVE_VARIANCE x max(mean^2, 1) (negative round-off included) is listed in
 * `constant` and gets std 0 (callers pin it; see the module comment).
 */
export async function networkMoments(
  data: Mat,
  aggregate: Aggregate,
  label = 'preprocess/moments',
  missing = false,
): Promise<{ count: number; mean: Float64Array; std: Float64Array; constant: number[] }> {
  const { rows: n, cols: m, data: x } = data
  // With missing values: [n, sum x (observed), n_j (observed per feature)]; every node sends the same layout.
  const v = new Float64Array(missing ? 1 + 2 * m : 1 + m)
  v[0] = n
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const t = x[i * m + j]
      if (missing && Number.isNaN(t)) continue
      v[1 + j] += t
      if (missing) v[1 + m + j] += 1
    }
  }
  // one chunk-noise group per feature, one for n (and one per observed count)
  const groups = Int32Array.from({ length: v.length }, (_, j) => j)
  const s = await aggregate(v, label, { noiseGroups: groups })
  if (s.length !== v.length) throw new PreprocessError(`aggregate returned ${s.length} values for ${v.length}`)
  const count = s[0]
  if (!(count > 0.5)) throw new PreprocessError(`the network holds no rows (count ${count}); every node needs data before prepare()`)
  const observed = Float64Array.from({ length: m }, (_, j) => (missing ? s[1 + m + j] : count))
  const mean = new Float64Array(m)
  for (let j = 0; j < m; j++) {
    if (!(observed[j] > 0.5)) throw new PreprocessError(`feature ${j} is missing in every row of the network; drop the column`)
    mean[j] = s[1 + j] / observed[j]
  }
  const d = new Float64Array(m)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const t = x[i * m + j] - mean[j]
      if (t === t) d[j] += t * t
    }
  }
  const ss = await aggregate(d, `${label}/spread`, { noiseGroups: Int32Array.from({ length: m }, (_, j) => j) })
  if (ss.length !== m) throw new PreprocessError(`aggregate returned ${ss.length} values for ${m}`)
  const std = new Float64Array(m)
  const constant: number[] = []
  for (let j = 0; j < m; j++) {
    const variance = ss[j] / observed[j]
    if (!(variance > MIN_RELATIVE_VARIANCE * Math.max(mean[j] * mean[j], 1))) {
      constant.push(j)
      continue
    }
    std[j] = Math.sqrt(variance)
  }
  return { count, mean, std, constant }
}

/** Agree on the preprocessing (two aggregates, see networkMoments) from this node's raw rows. */
export async function networkPreprocessing(data: Mat, aggregate: Aggregate, opts: PreprocessOptions = {}): Promise<Preprocessing> {
  const radius = opts.radius ?? null
  if (radius !== null && !(radius > 0 && Number.isFinite(radius))) {
    throw new PreprocessError(`clip radius R must be a positive finite number or null, got ${radius}`)
  }
  const standardise = opts.standardise ?? true
  const { count, mean, std, constant } = await networkMoments(data, aggregate, opts.label, opts.missing ?? false)
  const m = data.cols
  const shift = standardise ? mean : new Float64Array(m)
  const scale = standardise ? std : new Float64Array(m).fill(1)
  if (standardise) for (const j of constant) scale[j] = 1
  const m0 = new Float64Array(m)
  for (let j = 0; j < m; j++) m0[j] = (mean[j] - shift[j]) / scale[j]
  return { shift, scale, m0, radius, count, pinned: constant }
}

/** Does the matrix hold a NaN (a missing value)? */
export function hasMissing(x: Mat): boolean {
  for (const v of x.data) if (Number.isNaN(v)) return true
  return false
}

/** A copy with every NaN replaced by fill[j] (e.g. m0, the network mean in model coordinates). */
export function imputeWith(x: Mat, fill: ArrayLike<number>): Mat {
  const { rows: n, cols: m } = x
  const out = Float64Array.from(x.data)
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) if (Number.isNaN(out[i * m + j])) out[i * m + j] = fill[j]
  return mat(n, m, out)
}

/** (x - shift) / scale per row, as a new matrix. */
export function standardise(data: Mat, pre: Pick<Preprocessing, 'shift' | 'scale'>): Mat {
  const { rows: n, cols: m, data: x } = data
  if (m !== pre.shift.length) throw new PreprocessError(`data has ${m} columns, the model expects ${pre.shift.length}`)
  const out = new Float64Array(n * m)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) out[i * m + j] = (x[i * m + j] - pre.shift[j]) / pre.scale[j]
  }
  return mat(n, m, out)
}

/**
 * Pull every row farther than R/2 from `center` back onto that sphere (in place on a
 * copy). Returns the clipped matrix and how many rows moved. A missing value (NaN) counts
 * as at the centre and stays missing.
 */
export function clipToBall(data: Mat, center: Float64Array, radius: number): { data: Mat; clipped: number } {
  const { rows: n, cols: m } = data
  const out = new Float64Array(data.data)
  const r = radius / 2
  let clipped = 0
  for (let i = 0; i < n; i++) {
    let d2 = 0
    for (let j = 0; j < m; j++) {
      const t = out[i * m + j] - center[j]
      if (t === t) d2 += t * t
    }
    const d = Math.sqrt(d2)
    if (d > r) {
      clipped++
      const f = r / d
      for (let j = 0; j < m; j++) out[i * m + j] = center[j] + (out[i * m + j] - center[j]) * f
    }
  }
  return { data: mat(n, m, out), clipped }
}

/** Training rows in model coordinates: standardised, then clipped when a radius is set. */
export function preprocessTraining(data: Mat, pre: Preprocessing): { data: Mat; clipped: number } {
  const z = standardise(data, pre)
  return pre.radius === null ? { data: z, clipped: 0 } : clipToBall(z, pre.m0, pre.radius)
}

/**
 * Network-wide mean and covariance (population, ddof = 0) by one aggregate of
 * [n, sum x, sum x x^T] (the scatter as its packed upper triangle: length 1 + M + M(M+1)/2).
 */
export async function networkMeanCovariance(
  data: Mat,
  aggregate: Aggregate,
  label: string,
): Promise<{ count: number; mean: Float64Array; covariance: Mat }> {
  const { rows: n, cols: m, data: x } = data
  const v = new Float64Array(1 + m + packedSymLength(m))
  v[0] = n
  for (let i = 0; i < n; i++) {
    const row = x.subarray(i * m, (i + 1) * m)
    for (let a = 0; a < m; a++) v[1 + a] += row[a]
    addOuterPacked(v, 1 + m, row, 1)
  }
  const s = await aggregate(v, label)
  if (s.length !== v.length) throw new PreprocessError(`aggregate returned ${s.length} values for ${v.length}`)
  const count = s[0]
  if (!(count > 0.5)) throw new PreprocessError(`the network holds no rows (count ${count})`)
  const mean = new Float64Array(m)
  for (let a = 0; a < m; a++) mean[a] = s[1 + a] / count
  const cov = unpackSym(s, m, 1 + m)
  for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) cov[a * m + b] = cov[a * m + b] / count - mean[a] * mean[b]
  return { count, mean, covariance: mat(m, m, cov) }
}

const finite = z.number().finite()
/** Validates a saved PreprocessingJson (every model kind's save file carries one). */
export const PreprocessingJsonSchema = z.object({
  shift: z.array(finite),
  scale: z.array(finite),
  m0: z.array(finite),
  radius: z.number().positive().nullable(),
  count: finite.nonnegative(),
  pinned: z.array(z.number().int().min(0)).optional(),
})

/** JSON-safe form of a Preprocessing. */
export interface PreprocessingJson {
  shift: number[]
  scale: number[]
  m0: number[]
  radius: number | null
  count: number
  /** Pinned (network-constant) features; absent in models saved before issue 14 (= none). */
  pinned?: number[]
}

export function preprocessingToJson(p: Preprocessing): PreprocessingJson {
  return { shift: Array.from(p.shift), scale: Array.from(p.scale), m0: Array.from(p.m0), radius: p.radius, count: p.count, pinned: [...(p.pinned ?? [])] }
}

export function preprocessingFromJson(j: PreprocessingJson): Preprocessing {
  const m = j.shift.length
  if (j.scale.length !== m || j.m0.length !== m) throw new PreprocessError('saved preprocessing has vectors of different lengths')
  if (j.scale.some((s) => !(s > 0))) throw new PreprocessError('saved preprocessing has a non-positive scale')
  return {
    shift: Float64Array.from(j.shift),
    scale: Float64Array.from(j.scale),
    m0: Float64Array.from(j.m0),
    radius: j.radius,
    count: j.count,
    pinned: Array.isArray(j.pinned) ? j.pinned.filter((v) => Number.isInteger(v) && v >= 0 && v < m) : [],
  }
}
