/**
 * Spreading rows over S simulated organisations, all from the injected seeded `Rng`
 * (same seed => same split): iid, uneven sizes, and non-iid by pattern (each node sees
 * its own mixture of the data's patterns), plus the anomaly-detection split used by the
 * experiments (train on normal rows, score held-out normal rows and all anomalies).
 *
 * Splits are index lists (Int32Array of row numbers) so one split serves every model.
 */
import { selectRows, type Mat } from '../numeric/matrix.js'
import type { Rng } from '../numeric/index.js'
import { DataError } from './csv.js'

/** Default Dirichlet concentration of node sizes (1 = uniform on the simplex: clearly uneven). */
export const DEFAULT_SIZE_CONCENTRATION = 1
/** Default Dirichlet concentration of each node's pattern mixture (< 1: most nodes dominated by one or two patterns). */
export const DEFAULT_PATTERN_CONCENTRATION = 0.5
/** Default number of patterns (k-means clusters) the non-iid split distributes. */
export const DEFAULT_PATTERNS = 4

/**
 * Gamma(shape, 1) variate, Marsaglia & Tsang (2000); shape < 1 by the boost
 * Gamma(a) = Gamma(a + 1) * U^(1/a). Written here because Rng offers only uniform and
 * normal draws and no installed library samples from the seeded generator.
 */
export function gammaVariate(shape: number, rng: Rng): number {
  if (!(shape > 0)) throw new RangeError(`gamma shape must be > 0, got ${shape}`)
  if (shape < 1) {
    const u = Math.max(rng.uniform(), Number.MIN_VALUE)
    return gammaVariate(shape + 1, rng) * Math.pow(u, 1 / shape)
  }
  const d = shape - 1 / 3
  const c = 1 / Math.sqrt(9 * d)
  for (;;) {
    let x: number
    let v: number
    do {
      x = rng.normal()
      v = 1 + c * x
    } while (v <= 0)
    v = v * v * v
    const u = rng.uniform()
    if (u < 1 - 0.0331 * x * x * x * x) return d * v
    if (Math.log(Math.max(u, Number.MIN_VALUE)) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v
  }
}

/** A draw from the symmetric Dirichlet(alpha, ..., alpha) on `n` categories. */
export function dirichlet(n: number, alpha: number, rng: Rng): Float64Array {
  const out = new Float64Array(n)
  let total = 0
  for (let i = 0; i < n; i++) {
    out[i] = gammaVariate(alpha, rng)
    total += out[i]
  }
  if (total <= 0) {
    out.fill(1 / n)
    return out
  }
  for (let i = 0; i < n; i++) out[i] /= total
  return out
}

function checkNodes(n: number, S: number, minRows: number): void {
  if (!Number.isInteger(S) || S < 1) throw new DataError(`number of nodes must be a positive integer, got ${S}`)
  if (n < S * minRows) {
    throw new DataError(`${n} rows cannot give ${S} nodes at least ${minRows} rows each; use fewer nodes or lower minRows`)
  }
}

/** Equal-size random split of rows 0..n-1 over S nodes (sizes differ by at most one). */
export function splitIid(n: number, S: number, rng: Rng): Int32Array[] {
  checkNodes(n, S, 1)
  const perm = rng.permutation(n)
  const parts: Int32Array[] = []
  for (let s = 0; s < S; s++) {
    const lo = Math.floor((s * n) / S)
    const hi = Math.floor(((s + 1) * n) / S)
    parts.push(perm.slice(lo, hi))
  }
  return parts
}

/**
 * Node sizes summing to n: each gets `minRows`, the rest is shared by a
 * Dirichlet(concentration) draw (largest-remainder rounding).
 */
export function unevenSizes(n: number, S: number, rng: Rng, minRows: number, concentration: number): Int32Array {
  checkNodes(n, S, minRows)
  const share = dirichlet(S, concentration, rng)
  return roundToTotal(Array.from(share, (p) => p * (n - S * minRows)), n - S * minRows).map((c) => c + minRows)
}

/** Random split of rows 0..n-1 with uneven sizes (see `unevenSizes`). */
export function splitUneven(
  n: number,
  S: number,
  rng: Rng,
  opts: { minRows?: number; concentration?: number } = {},
): Int32Array[] {
  const sizes = unevenSizes(n, S, rng, opts.minRows ?? 1, opts.concentration ?? DEFAULT_SIZE_CONCENTRATION)
  const perm = rng.permutation(n)
  const parts: Int32Array[] = []
  let at = 0
  for (let s = 0; s < S; s++) {
    parts.push(perm.slice(at, at + sizes[s]))
    at += sizes[s]
  }
  return parts
}

/** Integers with the given total, as close to `x` as largest-remainder rounding gets. */
function roundToTotal(x: ArrayLike<number>, total: number): Int32Array {
  const out = new Int32Array(x.length)
  let sum = 0
  const rem: { i: number; r: number }[] = []
  for (let i = 0; i < x.length; i++) {
    out[i] = Math.floor(x[i])
    sum += out[i]
    rem.push({ i, r: x[i] - out[i] })
  }
  rem.sort((a, b) => b.r - a.r || a.i - b.i)
  for (let j = 0; sum < total; j = (j + 1) % rem.length) {
    out[rem[j].i]++
    sum++
  }
  return out
}

/**
 * k-means (k-means++ seeding, Lloyd iterations) on the rows of X, used only to find the
 * "patterns" a non-iid split hands out. Hand-written: no installed library clusters with
 * the project's seeded generator. Columns are z-scored first so no unit dominates.
 */
export function kmeans(X: Mat, k: number, rng: Rng, maxIter = 50): Int32Array {
  const { rows: n, cols: m } = X
  if (k < 1 || k > n) throw new DataError(`cannot form ${k} clusters from ${n} rows`)
  const z = zscore(X)
  const centers = new Float64Array(k * m)
  const d2 = new Float64Array(n).fill(Infinity)
  let pick = rng.int(n)
  for (let c = 0; c < k; c++) {
    centers.set(z.subarray(pick * m, (pick + 1) * m), c * m)
    let total = 0
    for (let i = 0; i < n; i++) {
      d2[i] = Math.min(d2[i], dist2(z, i, centers, c, m))
      total += d2[i]
    }
    if (c + 1 < k) {
      if (total <= 0) {
        pick = rng.int(n)
        continue
      }
      let u = rng.uniform() * total
      pick = n - 1
      for (let i = 0; i < n; i++) {
        u -= d2[i]
        if (u < 0) {
          pick = i
          break
        }
      }
    }
  }
  const assign = new Int32Array(n).fill(-1)
  const counts = new Float64Array(k)
  for (let it = 0; it < maxIter; it++) {
    let changed = false
    for (let i = 0; i < n; i++) {
      let best = 0
      let bestD = Infinity
      for (let c = 0; c < k; c++) {
        const d = dist2(z, i, centers, c, m)
        if (d < bestD) {
          bestD = d
          best = c
        }
      }
      if (assign[i] !== best) {
        assign[i] = best
        changed = true
      }
    }
    if (!changed) break
    centers.fill(0)
    counts.fill(0)
    for (let i = 0; i < n; i++) {
      const c = assign[i]
      counts[c]++
      for (let j = 0; j < m; j++) centers[c * m + j] += z[i * m + j]
    }
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) {
        const i = rng.int(n)
        centers.set(z.subarray(i * m, (i + 1) * m), c * m)
      } else {
        for (let j = 0; j < m; j++) centers[c * m + j] /= counts[c]
      }
    }
  }
  return assign
}

/** z-scores per column over the observed values; a missing value (NaN) at 0, the column mean. */
function zscore(X: Mat): Float64Array {
  const { rows: n, cols: m, data } = X
  const z = new Float64Array(data)
  for (let j = 0; j < m; j++) {
    let mean = 0
    let seen = 0
    for (let i = 0; i < n; i++) {
      if (Number.isNaN(data[i * m + j])) continue
      mean += data[i * m + j]
      seen++
    }
    mean /= Math.max(seen, 1)
    let v = 0
    for (let i = 0; i < n; i++) if (!Number.isNaN(data[i * m + j])) v += (data[i * m + j] - mean) ** 2
    const sd = Math.sqrt(v / Math.max(seen, 1)) || 1
    for (let i = 0; i < n; i++) z[i * m + j] = Number.isNaN(data[i * m + j]) ? 0 : (data[i * m + j] - mean) / sd
  }
  return z
}

function dist2(z: Float64Array, i: number, centers: Float64Array, c: number, m: number): number {
  let d = 0
  for (let j = 0; j < m; j++) {
    const t = z[i * m + j] - centers[c * m + j]
    d += t * t
  }
  return d
}

export interface NonIidOptions {
  /** Number of k-means patterns (default DEFAULT_PATTERNS). */
  patterns?: number
  /** Dirichlet concentration of each node's pattern mixture (default DEFAULT_PATTERN_CONCENTRATION). */
  concentration?: number
  /** Dirichlet concentration of node sizes (default DEFAULT_SIZE_CONCENTRATION). */
  sizeConcentration?: number
  /** Minimum rows per node (default 1). */
  minRows?: number
}

/**
 * Non-iid, uneven split of the rows of X over S nodes: the rows are clustered into
 * patterns (k-means), each node draws a size and a Dirichlet mixture over patterns, and
 * the pattern-by-node counts are fitted to both margins (iterative proportional fitting),
 * so every row is used exactly once and nodes see different mixtures of patterns.
 * Returns the per-node row lists and each row's pattern.
 */
export function splitNonIid(X: Mat, S: number, rng: Rng, opts: NonIidOptions = {}): { parts: Int32Array[]; pattern: Int32Array } {
  const n = X.rows
  const minRows = opts.minRows ?? 1
  checkNodes(n, S, minRows)
  const C = Math.min(opts.patterns ?? DEFAULT_PATTERNS, n)
  const pattern = kmeans(X, C, rng.fork('kmeans'))
  const members: number[][] = Array.from({ length: C }, () => [])
  for (let i = 0; i < n; i++) members[pattern[i]].push(i)
  const sizes = unevenSizes(n, S, rng, minRows, opts.sizeConcentration ?? DEFAULT_SIZE_CONCENTRATION)
  // Desired counts D[s][c] = size_s * mix_sc, then IPF to the pattern totals.
  const D = new Float64Array(S * C)
  for (let s = 0; s < S; s++) {
    const mix = dirichlet(C, opts.concentration ?? DEFAULT_PATTERN_CONCENTRATION, rng)
    for (let c = 0; c < C; c++) D[s * C + c] = sizes[s] * Math.max(mix[c], 1e-9)
  }
  for (let it = 0; it < 200; it++) {
    for (let c = 0; c < C; c++) {
      let col = 0
      for (let s = 0; s < S; s++) col += D[s * C + c]
      const f = col > 0 ? members[c].length / col : 0
      for (let s = 0; s < S; s++) D[s * C + c] *= f
    }
    let worst = 0
    for (let s = 0; s < S; s++) {
      let row = 0
      for (let c = 0; c < C; c++) row += D[s * C + c]
      const f = row > 0 ? sizes[s] / row : 1
      worst = Math.max(worst, Math.abs(f - 1))
      for (let c = 0; c < C; c++) D[s * C + c] *= f
    }
    if (worst < 1e-9) break
  }
  const lists: number[][] = Array.from({ length: S }, () => [])
  for (let c = 0; c < C; c++) {
    const want = Array.from({ length: S }, (_, s) => D[s * C + c])
    const counts = roundToTotal(want, members[c].length)
    const rows = members[c]
    rng.shuffle(rows)
    let at = 0
    for (let s = 0; s < S; s++) {
      for (let j = 0; j < counts[s]; j++) lists[s].push(rows[at++])
    }
  }
  // Rounding can leave a node a row or two short of minRows: take from the largest nodes.
  for (let s = 0; s < S; s++) {
    while (lists[s].length < minRows) {
      let big = 0
      for (let t = 1; t < S; t++) if (lists[t].length > lists[big].length) big = t
      lists[s].push(lists[big].splice(rng.int(lists[big].length), 1)[0])
    }
  }
  return { parts: lists.map((l) => Int32Array.from(l)), pattern }
}

/** One node's share of an anomaly-detection split (row numbers into the full dataset). */
export interface AnomalyNodeSplit {
  /** Normal rows the node trains on. */
  train: Int32Array
  /** The node's held-out normal rows (drawn from its own pattern mixture). */
  testNormal: Int32Array
}

export interface AnomalySplit {
  nodes: AnomalyNodeSplit[]
  /** Every anomalous row: part of every node's test set, never trained on. */
  anomalies: Int32Array
  /** All training rows (the centralised reference's pooled data). */
  trainAll: Int32Array
  /** All held-out normal rows. */
  testNormalAll: Int32Array
}

export interface AnomalySplitOptions extends NonIidOptions {
  /** Fraction of each node's normal rows held out for testing (default 0.3). */
  testFraction?: number
}

/**
 * The collaborative anomaly-detection split: normal rows (label 0) are spread over S
 * nodes unevenly and non-iid by pattern; each node holds out `testFraction` of its normal
 * rows; anomalies (label 1) are never trained on and are scored by every node.
 */
export function anomalySplit(features: Mat, labels: Int8Array, S: number, rng: Rng, opts: AnomalySplitOptions = {}): AnomalySplit {
  if (labels.length !== features.rows) {
    throw new DataError(`${labels.length} labels for ${features.rows} rows`)
  }
  const normal: number[] = []
  const anomalies: number[] = []
  for (let i = 0; i < labels.length; i++) (labels[i] === 1 ? anomalies : normal).push(i)
  if (anomalies.length === 0) throw new DataError('no anomalous rows (label 1): nothing to detect')
  const testFraction = opts.testFraction ?? 0.3
  if (!(testFraction > 0 && testFraction < 1)) throw new DataError(`testFraction must be in (0, 1), got ${testFraction}`)
  const normalIdx = Int32Array.from(normal)
  const { parts } = splitNonIid(selectRows(features, normalIdx), S, rng, opts)
  const nodes: AnomalyNodeSplit[] = parts.map((part) => {
    const rows = Array.from(part, (i) => normalIdx[i])
    rng.shuffle(rows)
    const nTest = Math.min(rows.length - 1, Math.max(1, Math.round(testFraction * rows.length)))
    return { testNormal: Int32Array.from(rows.slice(0, nTest)), train: Int32Array.from(rows.slice(nTest)) }
  })
  const trainAll = Int32Array.from(nodes.flatMap((p) => Array.from(p.train)))
  const testNormalAll = Int32Array.from(nodes.flatMap((p) => Array.from(p.testNormal)))
  return { nodes, anomalies: Int32Array.from(anomalies), trainAll, testNormalAll }
}
