/**
 * Consensus weights and the spectral round count (DESIGN.md eq. 3-5).
 *
 * One round is x(t+1) = W x(t) with W = I - A-weighted Laplacian step. Every scheme here has
 * a symmetric, doubly stochastic W on a connected graph, so the error after t rounds obeys
 * ||x(t) - xbar 1|| <= rho^t ||x(0) - xbar 1|| with rho the second-largest |eigenvalue| of W,
 * and rounds = ceil(ln tol / ln rho) gives a relative tolerance tol (2-norm over all nodes
 * and vector entries). The Chebyshev scheme runs the semi-iteration
 * y(t) = P_t(W) y(0), P_t(mu) = T_t(z(mu)) / T_t(z(1)), z(mu) = (2 mu - a - b) / (b - a),
 * on the interval [a, b] holding W's other eigenvalues; its error bound is 1 / T_t(z(1)).
 */
import { eigvalsh } from '../numeric/index.js'
import { mat } from '../numeric/matrix.js'
import { FINITE_TIME_MAX_NODES, finiteTimeRoots } from './finite-time.js'
import { isConnectedGraph, lanczosExtreme, weightedGraph, type LanczosOptions } from './spectrum-sparse.js'

export type SchemeName = 'paper' | 'max-degree' | 'metropolis' | 'best-constant' | 'chebyshev' | 'finite-time'
export const SCHEMES: readonly SchemeName[] = ['paper', 'max-degree', 'metropolis', 'best-constant', 'chebyshev', 'finite-time']

/** Default relative tolerance (the issue's `--tol` default). */
export const DEFAULT_TOL = 1e-9

export class DisconnectedGraphError extends Error {
  override name = 'DisconnectedGraphError'
}

/** Spectral facts of one (member) graph that every node computes identically. */
export interface GraphSpectrum {
  nodes: number
  edges: number
  maxDegree: number
  /** Second-smallest eigenvalue of the Laplacian L = D - A (algebraic connectivity). */
  lambda2: number
  /** Largest eigenvalue of L. */
  lambdaMax: number
  /** Second-largest eigenvalue of the Metropolis W (the largest is 1). */
  metropolisMu2: number
  /** Smallest eigenvalue of the Metropolis W. */
  metropolisMuMin: number
}

/** Above this many nodes the spectrum comes from Lanczos on the adjacency lists, not dense matrices. */
export const DENSE_SPECTRUM_MAX_NODES = 400

/**
 * Laplacian spectrum and Metropolis spectrum of the graph `adj` (sorted adjacency lists, 0..n-1):
 * dense eigendecompositions up to DENSE_SPECTRUM_MAX_NODES nodes, Lanczos above (O(edges) memory).
 */
export function graphSpectrum(adj: ReadonlyArray<ReadonlyArray<number>>): GraphSpectrum {
  return adj.length <= DENSE_SPECTRUM_MAX_NODES ? graphSpectrumDense(adj) : graphSpectrumSparse(adj)
}

function degreeStats(adj: ReadonlyArray<ReadonlyArray<number>>): { edges: number; maxDegree: number } {
  let edges = 0
  let maxDegree = 0
  for (const a of adj) {
    edges += a.length
    if (a.length > maxDegree) maxDegree = a.length
  }
  return { edges: edges / 2, maxDegree }
}

/**
 * The same figures by Lanczos (src/consensus/spectrum-sparse.ts): lambda_2 and lambda_max of
 * L = D - A, and of I - W_metropolis (whose eigenvalues give mu_2 and mu_min of W).
 */
export function graphSpectrumSparse(adj: ReadonlyArray<ReadonlyArray<number>>, opts: LanczosOptions = {}): GraphSpectrum {
  const n = adj.length
  const { edges, maxDegree } = degreeStats(adj)
  if (n <= 1) {
    return { nodes: n, edges, maxDegree, lambda2: 0, lambdaMax: 0, metropolisMu2: 0, metropolisMuMin: 1 }
  }
  const lap = weightedGraph(adj, () => 1)
  const lapScale = 2 * Math.max(1, maxDegree)
  // a disconnected graph has lambda_2 = 0 exactly (a second null vector)
  const connected = isConnectedGraph(adj)
  const lambda2 = connected ? Math.max(0, lanczosExtreme(lap, 'min', lapScale, opts)) : 0
  const lambdaMax = lanczosExtreme(lap, 'max', lapScale, opts)
  // On a d-regular graph every Metropolis weight is 1 / (d + 1): I - W = L / (d + 1).
  if (adj.every((a) => a.length === maxDegree)) {
    return { nodes: n, edges, maxDegree, lambda2, lambdaMax, metropolisMu2: 1 - lambda2 / (maxDegree + 1), metropolisMuMin: 1 - lambdaMax / (maxDegree + 1) }
  }
  const met = weightedGraph(adj, (i, j) => metropolisWeight(adj[i].length, adj[j].length))
  return {
    nodes: n,
    edges,
    maxDegree,
    lambda2,
    lambdaMax,
    metropolisMu2: connected ? 1 - lanczosExtreme(met, 'min', 2, opts) : 1,
    metropolisMuMin: 1 - lanczosExtreme(met, 'max', 2, opts),
  }
}

/** The same figures from dense S x S eigendecompositions (the reference; O(S^2) memory, O(S^3) time). */
export function graphSpectrumDense(adj: ReadonlyArray<ReadonlyArray<number>>): GraphSpectrum {
  const n = adj.length
  let edges = 0
  let maxDegree = 0
  for (const a of adj) {
    edges += a.length
    if (a.length > maxDegree) maxDegree = a.length
  }
  edges /= 2
  if (n <= 1) {
    return { nodes: n, edges, maxDegree, lambda2: 0, lambdaMax: 0, metropolisMu2: 0, metropolisMuMin: 1 }
  }
  const lap = new Float64Array(n * n)
  for (let i = 0; i < n; i++) {
    lap[i * n + i] = adj[i].length
    for (const j of adj[i]) lap[i * n + j] = -1
  }
  const lev = eigvalsh(mat(n, n, lap))
  const mev = eigvalsh(mat(n, n, denseBaseW({ kind: 'metropolis' }, adj)))
  return {
    nodes: n,
    edges,
    maxDegree,
    lambda2: Math.max(0, lev[1]),
    lambdaMax: lev[n - 1],
    metropolisMu2: mev[n - 2],
    metropolisMuMin: mev[0],
  }
}

/** The base W of a plan as a dense row-major n x n matrix. */
export function denseBaseW(base: BaseWeights, adj: ReadonlyArray<ReadonlyArray<number>>): Float64Array {
  const n = adj.length
  const w = new Float64Array(n * n)
  for (let i = 0; i < n; i++) {
    const r = rowWeights(base, adj, i)
    w[i * n + i] = r.self
    for (let k = 0; k < adj[i].length; k++) w[i * n + adj[i][k]] = r.neighbours[k]
  }
  return w
}

/** W_ij = 1 / (1 + max(d_i, d_j)) (Xiao & Boyd's Metropolis-Hastings weights). */
export function metropolisWeight(di: number, dj: number): number {
  return 1 / (1 + Math.max(di, dj))
}

/** The weights one round applies: a constant step (W = I - step L) or Metropolis. */
export type BaseWeights = { kind: 'step'; step: number } | { kind: 'metropolis' }

/**
 * How one scheme runs on one graph: a constant step `step` (W = I - step L), Metropolis
 * weights, the Chebyshev semi-iteration on a base W with eigenvalue interval [a, b], or the
 * finite-time product of (W - lambda_k I) / (1 - lambda_k) over W's other distinct eigenvalues
 * (src/consensus/finite-time.ts).
 */
export type SchemePlan =
  | { scheme: SchemeName; kind: 'step'; step: number; rho: number; rounds: number }
  | { scheme: SchemeName; kind: 'metropolis'; rho: number; rounds: number }
  | {
      scheme: 'chebyshev' | 'finite-time'
      kind: 'chebyshev'
      /** Base iteration the polynomial is built on. */
      base: BaseWeights
      a: number
      b: number
      /** Effective per-round rate exp(-acosh(z(1))). */
      rho: number
      rounds: number
    }
  | {
      scheme: 'finite-time'
      kind: 'finite'
      base: BaseWeights
      /** One root per round, in the order applied (Leja). */
      roots: Float64Array
      /** 0: exact after `rounds` rounds up to rounding. */
      rho: number
      rounds: number
      /** Estimated relative error after the last round (rounding, eigenvalue residuals). */
      errorBound: number
    }

/** The base W a plan's rounds apply. */
export function planBase(plan: SchemePlan): BaseWeights {
  return plan.kind === 'chebyshev' || plan.kind === 'finite' ? plan.base : plan.kind === 'step' ? { kind: 'step', step: plan.step } : { kind: 'metropolis' }
}

/** The relative error bound of a plan after its rounds. */
export function planErrorBound(plan: SchemePlan): number {
  switch (plan.kind) {
    case 'chebyshev':
      return 1 / Math.cosh(-plan.rounds * Math.log(plan.rho))
    case 'finite':
      return plan.errorBound
    default:
      return plan.rho ** plan.rounds
  }
}

/** ceil(ln tol / ln rho): rounds of a linear scheme for relative tolerance tol (eq. 5). */
export function roundsFor(rho: number, tol: number): number {
  if (!(tol > 0 && tol < 1)) throw new RangeError(`tolerance must be in (0, 1), got ${tol}`)
  if (rho >= 1 - 1e-15) return Number.POSITIVE_INFINITY
  if (rho <= 1e-15) return 1
  return Math.max(1, Math.ceil(Math.log(tol) / Math.log(rho)))
}

/** Rounds of the Chebyshev semi-iteration: smallest t with 1 / T_t(z0) <= tol. */
export function chebyshevRounds(z0: number, tol: number): number {
  if (!(tol > 0 && tol < 1)) throw new RangeError(`tolerance must be in (0, 1), got ${tol}`)
  if (!(z0 > 1)) return Number.POSITIVE_INFINITY
  return Math.max(1, Math.ceil(Math.acosh(1 / tol) / Math.acosh(z0) - 1e-12))
}

export class SchemePlanError extends Error {
  override name = 'SchemePlanError'
}

/**
 * The plan (weights, rate, rounds) of `scheme` on a connected graph with spectrum `spec`.
 * 'finite-time' also needs the graph's adjacency lists `adj` (its roots are W's whole
 * spectrum); it falls back to the Chebyshev plan when that is no slower or rounding would
 * exceed `tol` (src/consensus/finite-time.ts).
 */
export function planScheme(scheme: SchemeName, spec: GraphSpectrum, tol: number, adj?: ReadonlyArray<ReadonlyArray<number>>): SchemePlan {
  const { nodes: n, lambda2, lambdaMax } = spec
  if (n <= 1) return { scheme, kind: 'step', step: 0, rho: 0, rounds: 0 }
  if (lambda2 <= 1e-12 * Math.max(1, lambdaMax)) {
    throw new DisconnectedGraphError(
      `the consensus graph on ${n} nodes is disconnected (lambda_2 = ${lambda2}); use a connected topology or fewer exclusions`,
    )
  }
  const stepPlan = (step: number): SchemePlan => {
    const rho = Math.max(Math.abs(1 - step * lambda2), Math.abs(1 - step * lambdaMax))
    return { scheme, kind: 'step', step, rho, rounds: roundsFor(rho, tol) }
  }
  switch (scheme) {
    case 'paper':
      return stepPlan(1 / n) // eq. 4 with a = 1/S
    case 'max-degree':
      return stepPlan(1 / (spec.maxDegree + 1))
    case 'best-constant':
      return stepPlan(2 / (lambda2 + lambdaMax))
    case 'metropolis': {
      const rho = Math.max(Math.abs(spec.metropolisMu2), Math.abs(spec.metropolisMuMin))
      return { scheme, kind: 'metropolis', rho, rounds: roundsFor(rho, tol) }
    }
    case 'chebyshev': {
      // Two candidate bases, both known to every node: pick the one with fewer rounds.
      const bc = 2 / (lambda2 + lambdaMax)
      const rBc = (lambdaMax - lambda2) / (lambdaMax + lambda2)
      const candidates: Array<{ base: { kind: 'step'; step: number } | { kind: 'metropolis' }; a: number; b: number }> = [
        { base: { kind: 'step', step: bc }, a: -rBc, b: rBc },
        { base: { kind: 'metropolis' }, a: spec.metropolisMuMin, b: spec.metropolisMu2 },
      ]
      let best: SchemePlan | null = null
      for (const c of candidates) {
        if (c.b - c.a < 1e-9) {
          // All other eigenvalues coincide (complete graph): one best-constant step is exact.
          const p = stepPlan(bc)
          if (best === null || p.rounds < best.rounds) best = { ...p, scheme: 'chebyshev' } as SchemePlan
          continue
        }
        const z0 = (2 - c.a - c.b) / (c.b - c.a)
        const rounds = chebyshevRounds(z0, tol)
        const rho = Math.exp(-Math.acosh(z0))
        if (best === null || rounds < best.rounds) {
          best = { scheme: 'chebyshev', kind: 'chebyshev', base: c.base, a: c.a, b: c.b, rho, rounds }
        }
      }
      return best as SchemePlan
    }
    case 'finite-time': {
      if (adj === undefined) throw new SchemePlanError("the 'finite-time' scheme needs the graph's adjacency lists; pass them to planScheme")
      const fallback = { ...planScheme('chebyshev', spec, tol), scheme: 'finite-time' } as SchemePlan
      if (n > FINITE_TIME_MAX_NODES) return fallback
      let best: SchemePlan | null = null
      for (const base of [{ kind: 'step', step: 2 / (lambda2 + lambdaMax) }, { kind: 'metropolis' }] as BaseWeights[]) {
        const r = finiteTimeRoots(denseBaseW(base, adj), n, tol)
        if (r === null || r.roots.length >= fallback.rounds) continue
        if (best === null || r.roots.length < best.rounds) best = { scheme: 'finite-time', kind: 'finite', base, roots: r.roots, rho: 0, rounds: r.roots.length, errorBound: r.errorBound }
      }
      return best ?? fallback
    }
  }
}

/**
 * Row `u` of the base W as (self weight, neighbour weights) for plan kinds 'step' and
 * 'metropolis'; `adj` are the member graph's adjacency lists.
 */
export function rowWeights(
  base: BaseWeights,
  adj: ReadonlyArray<ReadonlyArray<number>>,
  u: number,
): { self: number; neighbours: Float64Array } {
  const nb = adj[u]
  const w = new Float64Array(nb.length)
  let sum = 0
  for (let k = 0; k < nb.length; k++) {
    w[k] = base.kind === 'step' ? base.step : metropolisWeight(nb.length, adj[nb[k]].length)
    sum += w[k]
  }
  return { self: 1 - sum, neighbours: w }
}
