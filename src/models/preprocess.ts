/**
 * Preprocessing every CollabDict model shares (GGM mixture and VAE), computed from
 * network-wide statistics through the model's `aggregate` (consensus), never by pooling:
 *
 * 1. Standardisation: each node contributes [n, sum_n x_n, sum_n x_n^2] (length 1 + 2M);
 *    from the network sums every node derives the same mean and population standard
 *    deviation (ddof = 0) per feature.
 * 2. Clipping (privacy, Theorem 1 needs pairwise sample distance <= R): each training
 *    sample is pulled back onto the ball of radius R/2 around m0 (the network mean in the
 *    model's coordinates, i.e. the zero vector after standardisation). The number of
 *    clipped rows is reported. Scoring never clips (it would hide anomalies).
 */
import type { Aggregate } from './model.js'
import { addOuterPacked, mat, packedSymLength, unpackSym, type Mat } from '../numeric/matrix.js'

export class PreprocessError extends Error {
  override name = 'PreprocessError'
}

/**
 * Variance below this fraction of max(mean^2, 1) counts as constant across the network
 * (round-off of sum x^2 / n - mean^2 is about 1e-16 of mean^2; 1e-12 leaves margin).
 */
export const MIN_RELATIVE_VARIANCE = 1e-12

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
}

export interface PreprocessOptions {
  /** z-score with the network mean and std (default true). */
  standardise?: boolean
  /** R: clip training rows to the ball of radius R/2 around m0; null/undefined = no clipping. */
  radius?: number | null
  /** Consensus label (default 'preprocess/moments'). */
  label?: string
}

/**
 * Network-wide column moments by one aggregate of [n, sum x, sum x^2] (length 1 + 2M).
 * Throws PreprocessError when the network holds no rows, or (requireVariance) a feature is constant.
 */
export async function networkMoments(
  data: Mat,
  aggregate: Aggregate,
  label = 'preprocess/moments',
  requireVariance = true,
): Promise<{ count: number; mean: Float64Array; std: Float64Array }> {
  const { rows: n, cols: m, data: x } = data
  const v = new Float64Array(1 + 2 * m)
  v[0] = n
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const t = x[i * m + j]
      v[1 + j] += t
      v[1 + m + j] += t * t
    }
  }
  // one chunk-noise group per feature (its sum and sum of squares share a unit), one for n
  const groups = new Int32Array(v.length)
  for (let j = 0; j < m; j++) {
    groups[1 + j] = j + 1
    groups[1 + m + j] = j + 1
  }
  const s = await aggregate(v, label, { noiseGroups: groups })
  if (s.length !== v.length) throw new PreprocessError(`aggregate returned ${s.length} values for ${v.length}`)
  const count = s[0]
  if (!(count > 0.5)) throw new PreprocessError(`the network holds no rows (count ${count}); every node needs data before prepare()`)
  const mean = new Float64Array(m)
  const std = new Float64Array(m)
  for (let j = 0; j < m; j++) {
    mean[j] = s[1 + j] / count
    const variance = s[1 + m + j] / count - mean[j] * mean[j]
    if (requireVariance && !(variance > MIN_RELATIVE_VARIANCE * Math.max(mean[j] * mean[j], 1))) {
      throw new PreprocessError(
        `feature ${j + 1} is constant across the network (variance ${variance}); drop that column on every node`,
      )
    }
    std[j] = Math.sqrt(Math.max(variance, 0))
  }
  return { count, mean, std }
}

/** Agree on the preprocessing (one aggregate) from this node's raw rows. */
export async function networkPreprocessing(data: Mat, aggregate: Aggregate, opts: PreprocessOptions = {}): Promise<Preprocessing> {
  const radius = opts.radius ?? null
  if (radius !== null && !(radius > 0 && Number.isFinite(radius))) {
    throw new PreprocessError(`clip radius R must be a positive finite number or null, got ${radius}`)
  }
  const standardise = opts.standardise ?? true
  const { count, mean, std } = await networkMoments(data, aggregate, opts.label, standardise)
  const m = data.cols
  const shift = standardise ? mean : new Float64Array(m)
  const scale = standardise ? std : new Float64Array(m).fill(1)
  const m0 = new Float64Array(m)
  for (let j = 0; j < m; j++) m0[j] = (mean[j] - shift[j]) / scale[j]
  return { shift, scale, m0, radius, count }
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
 * copy). Returns the clipped matrix and how many rows moved.
 */
export function clipToBall(data: Mat, center: Float64Array, radius: number): { data: Mat; clipped: number } {
  const { rows: n, cols: m } = data
  const out = new Float64Array(data.data)
  const r = radius / 2
  let clipped = 0
  for (let i = 0; i < n; i++) {
    let d2 = 0
    for (let j = 0; j < m; j++) d2 += (out[i * m + j] - center[j]) ** 2
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

/** JSON-safe form of a Preprocessing. */
export interface PreprocessingJson {
  shift: number[]
  scale: number[]
  m0: number[]
  radius: number | null
  count: number
}

export function preprocessingToJson(p: Preprocessing): PreprocessingJson {
  return { shift: Array.from(p.shift), scale: Array.from(p.scale), m0: Array.from(p.m0), radius: p.radius, count: p.count }
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
  }
}
