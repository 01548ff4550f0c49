/**
 * Finite-time exact average consensus on a small known graph.
 *
 * Every node knows the topology (it is in the shared config), so every node can compute the
 * spectrum of the base weight matrix W (symmetric, doubly stochastic, eigenvalue 1 simple on a
 * connected graph). With lambda_1..lambda_m the distinct eigenvalues of W other than 1,
 *
 *   q(W) = prod_k (W - lambda_k I) / (1 - lambda_k)
 *
 * vanishes on every eigenspace but the consensus one and is 1 there, so q(W) = 11^T / n: the
 * network average, exactly, after m rounds. One round applies one factor,
 * x(k+1) = (W x(k) - lambda_k x(k)) / (1 - lambda_k): the same neighbour exchange as any linear
 * scheme, with a per-round self coefficient. On graphs with few distinct eigenvalues (cycles
 * with chords, tori, circulants) m is far below the rounds Chebyshev needs at 1e-9.
 *
 * Floating point makes "exact" mean "to rounding": the factors are applied in Leja order (each
 * next root maximises the product of distances to the roots already used), which keeps the
 * intermediate products bounded, and the plan computes what rounding can cost on this graph
 * (the residual of q on every computed eigenvalue plus the propagated rounding of each step).
 * When that estimate exceeds the session tolerance, when the graph is too large for a dense
 * eigensolve, or when Chebyshev would need no more rounds, the plan is the Chebyshev plan:
 * the scheme never does worse than the default.
 *
 * Hand-written: no library offers this (it is a consensus-specific polynomial filter).
 */
import { eigvalsh } from '../numeric/index.js'
import { mat } from '../numeric/matrix.js'

/** Above this many members the finite-time plan is not attempted (dense O(n^3) eigensolve). */
export const FINITE_TIME_MAX_NODES = 400

/** Eigenvalues closer than this (absolute; W's spectrum lies in [-1, 1]) count as one. */
const CLUSTER_TOL = 1e-9

const EPS = 2.220446049250313e-16

/** Distinct values of the sorted `ev` (clusters closer than CLUSTER_TOL, each as its mean), without the top one (1). */
function distinctBelowOne(ev: Float64Array): number[] | null {
  const clusters: number[][] = []
  for (const v of ev) {
    const last = clusters[clusters.length - 1]
    if (last !== undefined && v - last[last.length - 1] <= CLUSTER_TOL) last.push(v)
    else clusters.push([v])
  }
  const top = clusters.pop()
  // The consensus eigenvalue must be simple and equal to 1 (connected graph, stochastic W).
  if (top === undefined || top.length !== 1 || Math.abs(top[0] - 1) > 1e-9) return null
  return clusters.map((c) => c.reduce((a, b) => a + b, 0) / c.length)
}

/** Leja order: start farthest from 1, then each next root maximises the product of distances to those taken. */
export function lejaOrder(roots: ReadonlyArray<number>): Float64Array {
  const left = [...roots]
  const out: number[] = []
  let first = 0
  for (let i = 1; i < left.length; i++) if (Math.abs(1 - left[i]) > Math.abs(1 - left[first])) first = i
  out.push(left.splice(first, 1)[0])
  // log-products avoid overflow on long root lists
  const logProd = left.map((v) => Math.log(Math.abs(v - out[0])))
  while (left.length > 0) {
    let best = 0
    for (let i = 1; i < left.length; i++) if (logProd[i] > logProd[best]) best = i
    const r = left.splice(best, 1)[0]
    logProd.splice(best, 1)
    out.push(r)
    for (let i = 0; i < left.length; i++) logProd[i] += Math.log(Math.abs(left[i] - r))
  }
  return Float64Array.from(out)
}

/**
 * What rounding and inexact roots cost: the largest |q(mu)| over the computed eigenvalues mu
 * (other than 1), plus, for every round k, eps times that round's coefficient size times the
 * largest growth of the iterate so far times the largest amplification by the rounds still to
 * come (over every eigenvalue, 1 included: rounding also moves the average).
 */
export function finiteTimeErrorEstimate(roots: Float64Array, eigenvalues: ArrayLike<number>, selfWeightMax: number): number {
  const m = roots.length
  const mus: number[] = []
  for (let j = 0; j < eigenvalues.length; j++) mus.push(eigenvalues[j])
  // prefix[k][j] = prod_{i<k} factor_i(mu_j); suffix from the end
  const grow = new Float64Array(m + 1)
  const amp = new Float64Array(m + 1)
  let residual = 0
  const pre = mus.map(() => 1)
  grow[0] = 1
  for (let k = 0; k < m; k++) {
    let g = 1
    for (let j = 0; j < mus.length; j++) {
      pre[j] *= (mus[j] - roots[k]) / (1 - roots[k])
      g = Math.max(g, Math.abs(pre[j]))
    }
    grow[k + 1] = g
  }
  for (let j = 0; j < mus.length; j++) if (Math.abs(mus[j] - 1) > 1e-9) residual = Math.max(residual, Math.abs(pre[j]))
  const suf = mus.map(() => 1)
  amp[m] = 1
  for (let k = m - 1; k >= 0; k--) {
    let a = 1
    for (let j = 0; j < mus.length; j++) {
      suf[j] *= (mus[j] - roots[k]) / (1 - roots[k])
      a = Math.max(a, Math.abs(suf[j]))
    }
    amp[k] = a
  }
  let rounding = 0
  for (let k = 0; k < m; k++) {
    const coeff = (Math.abs(selfWeightMax - roots[k]) + 1) / Math.abs(1 - roots[k])
    rounding += coeff * grow[k] * amp[k + 1]
  }
  return residual + 8 * EPS * rounding
}

/**
 * The roots (Leja order) and the rounding estimate of the finite-time iteration on the dense
 * base W (row-major n x n, symmetric, doubly stochastic), or null when W's eigenvalue 1 is not
 * simple or the estimate exceeds `tol`.
 */
export function finiteTimeRoots(w: Float64Array, n: number, tol: number): { roots: Float64Array; errorBound: number } | null {
  let selfMax = 0
  for (let i = 0; i < n; i++) selfMax = Math.max(selfMax, Math.abs(w[i * n + i]))
  const ev = eigvalsh(mat(n, n, w))
  const distinct = distinctBelowOne(ev)
  if (distinct === null) return null
  const roots = lejaOrder(distinct)
  const errorBound = finiteTimeErrorEstimate(roots, ev, selfMax)
  return errorBound <= tol ? { roots, errorBound } : null
}
