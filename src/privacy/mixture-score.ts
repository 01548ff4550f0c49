/**
 * Scoring with plain Gaussian-mixture parameters (what a released model file holds): eq. 20
 * anomaly scores and log-densities, after an optional standardisation z = (x - shift) /
 * scale. Pure TypeScript, so a third party needs nothing but the file; parameters are
 * compiled once per parameter object (Cholesky log-determinants, flat precisions).
 */
import { cholesky, spdInverse } from '../numeric/linalg.js'
import { mat, type Mat } from '../numeric/matrix.js'
import { incompleteRows, scoreIncomplete } from '../models/ggm/missing.js'

export class MixtureScoreError extends Error {
  override name = 'MixtureScoreError'
}

/**
 * Plain mixture parameters for scoring (what a released model holds): K means (M each),
 * K precisions (M x M), weights, and an optional standardisation z = (x - shift) / scale.
 */
export interface MixtureParams {
  dim: number
  K: number
  means: ArrayLike<number>[]
  precisions: ArrayLike<number>[][] | Mat[]
  weights: ArrayLike<number>
  transform: { shift: ArrayLike<number>; scale: ArrayLike<number> } | null
}

interface Compiled {
  M: number
  K: number
  logW: Float64Array
  mus: Float64Array
  precs: Float64Array[]
  halfLogdet: Float64Array
  shift: Float64Array | null
  scale: Float64Array | null
  /** Covariances Lambda_k^-1, built on the first row with a missing value. */
  covs: Mat[] | null
}

const compiledCache = new WeakMap<object, Compiled>()

function flatPrecision(P: ArrayLike<number>[] | Mat, M: number): Float64Array {
  if ('data' in P && 'rows' in P) return Float64Array.from((P).data)
  const rows = P
  const out = new Float64Array(M * M)
  rows.forEach((r, i) => out.set(Array.from(r), i * M))
  return out
}

function compile(model: MixtureParams): Compiled {
  const hit = compiledCache.get(model)
  if (hit) return hit
  const M = model.dim
  const K = model.K
  const precs = (model.precisions as (ArrayLike<number>[] | Mat)[]).map((P) => flatPrecision(P, M))
  const mus = new Float64Array(K * M)
  model.means.forEach((m, k) => mus.set(Array.from(m), k * M))
  const c: Compiled = {
    M,
    K,
    logW: Float64Array.from(Array.from(model.weights), (w) => (w > 0 ? Math.log(w) : -Infinity)),
    mus,
    precs,
    halfLogdet: Float64Array.from(precs, (P) => 0.5 * cholesky(mat(M, M, P)).logdet),
    shift: model.transform ? Float64Array.from(model.transform.shift) : null,
    scale: model.transform ? Float64Array.from(model.transform.scale) : null,
    covs: null,
  }
  compiledCache.set(model, c)
  return c
}

/** Per-row, per-component ln pi_k + ln N(z | mu_k, Lambda_k^-1), with z the transformed row. */
function componentLogDensities(c: Compiled, X: Mat): Float64Array {
  if (X.cols !== c.M) throw new MixtureScoreError(`samples have ${X.cols} columns, the model expects ${c.M} features`)
  const { M, K } = c
  const out = new Float64Array(X.rows * K)
  const z = new Float64Array(M)
  const d = new Float64Array(M)
  const halfLn2pi = 0.5 * M * Math.log(2 * Math.PI)
  for (let n = 0; n < X.rows; n++) {
    for (let a = 0; a < M; a++) {
      const x = X.data[n * M + a]
      z[a] = c.shift ? (x - c.shift[a]) / c.scale![a] : x
    }
    for (let k = 0; k < K; k++) {
      for (let a = 0; a < M; a++) d[a] = z[a] - c.mus[k * M + a]
      const P = c.precs[k]
      let q = 0
      for (let a = 0; a < M; a++) {
        let s = 0
        for (let b = 0; b < M; b++) s += P[a * M + b] * d[b]
        q += d[a] * s
      }
      out[n * K + k] = c.logW[k] - halfLn2pi + c.halfLogdet[k] - 0.5 * q
    }
  }
  return out
}

/** ln sum_k pi_k N(z | mu_k, Lambda_k^-1) for any mixture parameters (z the transformed row). */
export function logDensityMixture(model: MixtureParams, X: Mat): Float64Array {
  const c = compile(model)
  const lp = componentLogDensities(c, X)
  const out = new Float64Array(X.rows)
  for (let n = 0; n < X.rows; n++) out[n] = rowLogSumExp(lp, c.K, n)
  const miss = incomplete(c, X)
  if (miss !== null) miss.result.logLik.forEach((v, i) => (out[miss.rows[i]] = v))
  return out
}

/**
 * Rows holding a missing value (NaN): scored on their observed entries plus the expected
 * log-density of the missing ones (src/models/ggm/missing.ts), as a trained GGM scores them.
 */
function incomplete(c: Compiled, X: Mat): { rows: Int32Array; result: ReturnType<typeof scoreIncomplete> } | null {
  const rows = incompleteRows(X)
  if (rows.length === 0) return null
  const { M, K } = c
  c.covs ??= c.precs.map((P) => spdInverse(mat(M, M, P)).inverse)
  // only the incomplete rows, transformed
  const z = mat(rows.length, M)
  rows.forEach((i, n) => {
    for (let a = 0; a < M; a++) z.data[n * M + a] = c.shift ? (X.data[i * M + a] - c.shift[a]) / c.scale![a] : X.data[i * M + a]
  })
  return { rows, result: scoreIncomplete(z, Int32Array.from(rows.keys()), c.logW, mat(K, M, c.mus), c.covs) }
}

/** ln sum_k exp(lp[n K + k]) of row n of an n x K table, shifted by its maximum. */
function rowLogSumExp(lp: Float64Array, K: number, n: number): number {
  let mx = -Infinity
  for (let k = 0; k < K; k++) mx = Math.max(mx, lp[n * K + k])
  let s = 0
  for (let k = 0; k < K; k++) s += Math.exp(lp[n * K + k] - mx)
  return mx + Math.log(s)
}

/**
 * Anomaly score of plain mixture parameters (eq. 20):
 * a(x) = sum_k r_k(x) [M/2 ln 2pi - 1/2 ln|Lambda_k| + 1/2 (x - mu_k)^T Lambda_k (x - mu_k)],
 * r_k(x) the responsibilities under the given weights. Raw rows are transformed first
 * when the parameters carry a transform. Higher = more anomalous.
 */
export function scoreMixture(model: MixtureParams, X: Mat): Float64Array {
  const c = compile(model)
  const lp = componentLogDensities(c, X)
  const out = new Float64Array(X.rows)
  for (let n = 0; n < X.rows; n++) {
    const lse = rowLogSumExp(lp, c.K, n)
    let a = 0
    for (let k = 0; k < c.K; k++) {
      const r = Math.exp(lp[n * c.K + k] - lse)
      if (r > 0) a -= r * (lp[n * c.K + k] - c.logW[k]) // eq. 20: -ln N(x | mu_k, Lambda_k^-1) weighted by r_k(x)
    }
    out[n] = a
  }
  const miss = incomplete(c, X)
  if (miss !== null) miss.result.score.forEach((v, i) => (out[miss.rows[i]] = v))
  return out
}
