/**
 * Monte-Carlo check of Theorem 1: for adjacent datasets (one sample moved anywhere in the
 * R-ball), the KL divergence between the two release distributions, estimated from draws
 * of the release mechanism itself, never exceeds the epsilon(1) = K B R^2 / (2 lambda0) the
 * ledger records. The setting is the theorem's: responsibilities r_k^(n), counts Nbar_k and
 * precisions Lambda_k are the same for both datasets; the means w_k (eq. 15) differ.
 */
import { mat, type Mat } from '../numeric/matrix.js'
import type { Rng } from '../numeric/rng.js'
import { PrivacyLedger } from './ledger.js'
import { drawReleasedMeans, prepareRelease, release, type PreparedRelease, type ReleaseInput } from './theorem1.js'

export interface Theorem1McOptions {
  /** Components K. */
  K: number
  /** Dimension M. */
  M: number
  /** Samples in the dataset. */
  n: number
  /** R: pairwise distance bound (samples lie in the ball of radius R/2 around m0 = 0). */
  R: number
  lambda0: number
  /** B: eigenvalue cap. */
  eigCap: number
  /** Adjacent pairs tried. */
  trials: number
  /** Release draws per pair for the KL estimate. */
  draws: number
}

export interface Theorem1McTrial {
  /** Monte-Carlo estimate of KL(P || Q) from `draws` releases. */
  estimate: number
  /** Its standard error. */
  se: number
  /** Closed-form KL of the two Gaussian release distributions, for reference. */
  exact: number
  /** 'worst': moved sample sent to the antipode along the top eigenvector; 'random': anywhere in the ball. */
  move: 'worst' | 'random'
}

export interface Theorem1McResult {
  /** epsilon(1) the ledger recorded for the release (K B R^2 / (2 lambda0)). */
  epsilon1: number
  trials: Theorem1McTrial[]
  maxEstimate: number
  maxExact: number
  /** Trials whose estimate exceeds epsilon1 (any amount). */
  violations: number
}

/** Uniform point in the ball of radius r in M dimensions. */
export function uniformInBall(M: number, r: number, rng: Rng): Float64Array {
  const v = new Float64Array(M)
  let s = 0
  for (let a = 0; a < M; a++) {
    v[a] = rng.normal()
    s += v[a] * v[a]
  }
  const scale = (r * Math.pow(rng.uniform(), 1 / M)) / Math.sqrt(s)
  for (let a = 0; a < M; a++) v[a] *= scale
  return v
}

/** Random SPD matrix A A^T / M + 0.2 I scaled to top eigenvalue around 2 * scale (so clipping at B is exercised). */
function randomPrecision(M: number, scale: number, rng: Rng): Mat {
  const A = new Float64Array(M * M)
  for (let i = 0; i < A.length; i++) A[i] = rng.normal()
  const P = mat(M, M)
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < M; j++) {
      let s = 0
      for (let t = 0; t < M; t++) s += A[i * M + t] * A[j * M + t]
      P.data[i * M + j] = (scale * s) / M + (i === j ? 0.2 * scale : 0)
    }
  }
  return P
}

/** eq. 15 with m0 = 0: w_k = sum_n r_k^(n) x_n / (lambda0 + Nbar_k). */
function posteriorMeans(X: Float64Array[], resp: Float64Array, K: number, M: number, lambda0: number): { means: Mat; nbar: Float64Array } {
  const means = mat(K, M)
  const nbar = new Float64Array(K)
  X.forEach((x, n) => {
    for (let k = 0; k < K; k++) {
      const r = resp[n * K + k]
      nbar[k] += r
      for (let a = 0; a < M; a++) means.data[k * M + a] += r * x[a]
    }
  })
  for (let k = 0; k < K; k++) for (let a = 0; a < M; a++) means.data[k * M + a] /= lambda0 + nbar[k]
  return { means, nbar }
}

/** Top eigenvector of a symmetric matrix by power iteration (enough for picking the worst direction). */
function topEigenvector(P: Mat): Float64Array {
  const M = P.rows
  let v = new Float64Array(M).fill(1 / Math.sqrt(M))
  for (let it = 0; it < 500; it++) {
    const w = new Float64Array(M)
    for (let i = 0; i < M; i++) for (let j = 0; j < M; j++) w[i] += P.data[i * M + j] * v[j]
    const norm = Math.hypot(...w)
    for (let i = 0; i < M; i++) w[i] /= norm
    v = w
  }
  return v
}

/** sum_k lambda_k / 2 (mu_k - w_k)^T clip(Lambda_k) (mu_k - w_k): minus the log-density up to a constant. */
function halfQuad(p: PreparedRelease, mus: Mat): number {
  const M = mus.cols
  let q = 0
  for (let k = 0; k < p.keep.length; k++) {
    const P = p.clipped[k].data
    for (let a = 0; a < M; a++) {
      const da = mus.data[k * M + a] - p.means.data[k * M + a]
      for (let b = 0; b < M; b++) q += 0.5 * p.lambdas[k] * da * P[a * M + b] * (mus.data[k * M + b] - p.means.data[k * M + b])
    }
  }
  return q
}

/** Run the check; every random choice comes from `rng`. */
export function theorem1MonteCarlo(opts: Theorem1McOptions, rng: Rng): Theorem1McResult {
  const { K, M, n, R, lambda0, eigCap } = opts
  const trials: Theorem1McTrial[] = []
  let epsilon1 = NaN
  for (let t = 0; t < opts.trials; t++) {
    const X = Array.from({ length: n }, () => uniformInBall(M, R / 2, rng))
    const resp = new Float64Array(n * K)
    for (let i = 0; i < n; i++) {
      let s = 0
      for (let k = 0; k < K; k++) s += (resp[i * K + k] = Math.pow(rng.uniform(), 4))
      for (let k = 0; k < K; k++) resp[i * K + k] /= s
    }
    const precisions = Array.from({ length: K }, () => randomPrecision(M, eigCap, rng))
    const base = posteriorMeans(X, resp, K, M, lambda0)
    const input = (means: Mat): ReleaseInput => ({ means, precisions, nbar: base.nbar, lambda0, m0: new Float64Array(M), radius: R })
    const ledger = PrivacyLedger.inMemory({ nodeId: 'mc' })
    release(input(base.means), rng, ledger, { eigCap, minNbar: 0 })
    epsilon1 = ledger.entries[0].rdp[0] / ledger.orders[0] // epsilon(alpha) / alpha = K B R^2 / (2 lambda0)
    // adjacent dataset: one sample (the one with the largest responsibility for component 0) moved
    let j = 0
    for (let i = 1; i < n; i++) if (resp[i * K] > resp[j * K]) j = i
    const move: 'worst' | 'random' = t % 2 === 0 ? 'worst' : 'random'
    const Xa: Float64Array[] = X.map((x) => Float64Array.from(x))
    const pA = prepareRelease(input(base.means), { eigCap, minNbar: 0 })
    if (move === 'worst') {
      const v = topEigenvector(pA.clipped[0])
      for (let a = 0; a < M; a++) {
        X[j][a] = (v[a] * R) / 2
        Xa[j][a] = (-v[a] * R) / 2
      }
    } else {
      Xa[j] = uniformInBall(M, R / 2, rng)
    }
    const P = prepareRelease(input(posteriorMeans(X, resp, K, M, lambda0).means), { eigCap, minNbar: 0 })
    const Q = prepareRelease(input(posteriorMeans(Xa, resp, K, M, lambda0).means), { eigCap, minNbar: 0 })
    let acc = 0
    let acc2 = 0
    for (let d = 0; d < opts.draws; d++) {
      const mus = drawReleasedMeans(P, rng)
      const l = halfQuad(Q, mus) - halfQuad(P, mus) // ln p(mu) - ln q(mu): same covariance, constants cancel
      acc += l
      acc2 += l * l
    }
    const estimate = acc / opts.draws
    const se = Math.sqrt(Math.max(0, acc2 / opts.draws - estimate * estimate) / opts.draws)
    // closed form: KL = sum_k lambda_k / 2 dw^T clip(Lambda_k) dw
    const exact = halfQuad(P, Q.means)
    trials.push({ estimate, se, exact, move })
  }
  return {
    epsilon1,
    trials,
    maxEstimate: Math.max(...trials.map((t) => t.estimate)),
    maxExact: Math.max(...trials.map((t) => t.exact)),
    violations: trials.filter((t) => t.estimate > epsilon1).length,
  }
}
