/**
 * The sparse GGM mixture of CollabDict (eq. 7-20), one instance per node.
 *
 * Global part (identical on every node after each optimize): the pattern dictionary
 * {mu_k, Lambda_k} with Nbar_k, the agreed preprocessing, and (weights = 'shared') pi.
 * Private part: pi^s (weights = 'local'), the node's responsibilities.
 *
 * Statistics vector returned by localUpdate (and summed by the network), K current
 * components, M features, all in model coordinates (standardised, clipped):
 *
 *   index 0                    sum_n ln sum_k pi_k N(x_n | mu_k, Lambda_k^-1)   (this node's log-likelihood)
 *   index 1                    n                                               (this node's row count)
 *   then per component k = 0..K-1, a block of statsBlock(M) = 1 + M + M(M+1)/2 values:
 *     [0]                      N_k^s = sum_n r_k^(n)                           (eq. 13)
 *     [1 .. M]                 m_k^s = sum_n r_k^(n) x_n                       (eq. 13)
 *     [1+M ..]                 C_k^s = sum_n r_k^(n) x_n x_n^T, upper triangle row-major
 *                              (a <= b; packSym in src/numeric/matrix.ts: C is symmetric, so
 *                              the lower half would only double the consensus traffic)
 *   then the drop vote (statsVoteAt(K, M)), K + 1 values:
 *     [0]                      1                                               (this node is a voter)
 *     [1 + k]                  1 if this node's last Nbar_k (from the previous optimize) was < delta, else 0
 *
 * Dropping components (Nbar_k < delta) is decided by that vote, never by comparing a node's
 * own consensus estimate of Nbar_k with delta: those estimates differ between nodes by the
 * consensus error, and a component that collapses on j rows has Nbar_k -> j, so with the
 * default delta = 1 a one-row component sits exactly on the threshold and nodes would drop
 * different components, then wait forever in sessions of different lengths (issue 14). The
 * vote is a count (error << 1/2 after rounding), so every node drops the same components:
 * a component is dropped at optimize t when at least half the voters saw Nbar_k < delta at
 * optimize t - 1 (one iteration later than a centralised rule would; runExact and the
 * centralised reference use the same rule, so they still agree). A component below delta
 * that has not been voted out yet is updated with Nbar_k floored at delta (a continuous
 * function of the sums, so nodes stay close), then dropped at the next optimize.
 *
 * The network sum of this vector is exactly what eq. 14 needs, and the first two entries
 * give the network mean log-likelihood for the trace and the convergence test.
 *
 * Trace entry t (written by the t-th optimize): objective = network mean log-likelihood
 * per row under the parameters the t-th E-step used (as scikit-learn's lower_bound_), K
 * after dropping, dropped, rows, glassoIterations (max over components), glassoConverged,
 * ridge (largest ridge the step needed), and under accelerate 'squarem' extrapolation (the
 * SQUAREM step length taken, 1 for a plain M-step; accelerate.ts). Converged when |objective_t - objective_{t-1}| <=
 * tol |objective_{t-1}| (stopReason 'tol') or after maxIter optimizes ('maxIter').
 *
 * localUpdate caches the preprocessed rows per Mat object: pass a new matrix when the data change.
 */
import {
  buildId,
  cholesky,
  eStep,
  GlassoError,
  type GlassoResult,
  graphicalLasso,
  InvalidInputError,
  NotPositiveDefiniteError,
  ResidentMixture,
  Rng,
  spdInverse,
} from '../../numeric/index.js'
import { mat, packedAt, packedSymLength, packSym, unpackSym, type Mat } from '../../numeric/matrix.js'
import type { Aggregate, CollabModel, SavedModel, TraceEntry } from '../model.js'
import {
  networkMeanCovariance,
  networkPreprocessing,
  preprocessingFromJson,
  preprocessingToJson,
  preprocessTraining,
  hasMissing,
  imputeWith,
  standardise,
  type Preprocessing,
  type PreprocessingJson,
} from '../preprocess.js'
import { parseGgmHyper, SELECT_GLASSO_TOL, type GgmHyper } from './hyper.js'
import { kmeansStart, selectModel, type GgmSelection, type SelectionCandidate } from './select.js'
import { eStepMissing, incompleteRows, scoreIncomplete } from './missing.js'
import { MomentExtrapolator } from './accelerate.js'

export class GgmError extends Error {
  override name = 'GgmError'
}

/** Saved-model format version written by `save()` and accepted by `loadGgm`. */
export const GGM_SAVE_VERSION = 1
/** Version tag at the head of `exportGlobal().state`. */
export const GGM_GLOBAL_VERSION = 2
/** Entries before the first component block of the statistics vector. */
export const STATS_HEADER = 2
/** Floor on ln pi_k so a component a node never sees keeps a finite (negligible) weight. */
export const LOG_WEIGHT_FLOOR = -700

/** Values per component in the statistics vector: N_k, m_k, packed C_k. */
export function statsBlock(M: number): number {
  return 1 + M + packedSymLength(M)
}

/** Where the drop vote starts: after the header and the K component blocks (the part the l-diversity guard sees). */
export function statsVoteAt(K: number, M: number): number {
  return STATS_HEADER + K * statsBlock(M)
}

/** Length of the statistics vector for K components of dimension M (blocks and the drop vote). */
export function statsLength(K: number, M: number): number {
  return statsVoteAt(K, M) + 1 + K
}

/** Smallest Nbar_k an update divides by when delta is 0 (a component with no rows left). */
const NBAR_FLOOR = 1e-9

/** Why training stopped: relative change below tol, or the iteration cap. */
export type StopReason = 'tol' | 'maxIter' | null

/** An agreed start given explicitly (instead of the seeded draw), e.g. a published one. */
export interface GgmStart {
  /** K x M means in model coordinates. */
  means: Mat
  /** K precision matrices (M x M, SPD). */
  precisions: Mat[]
  /** Initial weights pi (length K, positive; default uniform). */
  weights?: ArrayLike<number>
}

/** What the privacy release (Theorem 1) and monitors need, in model coordinates. */
export interface GgmRelease {
  K: number
  dim: number
  /** Posterior means w_k = mu_k (eq. 15), K x M. */
  means: Mat
  /** Lambda_k, M x M each. */
  precisions: Mat[]
  /** Nbar_k (network counts); the posterior precision scale is lambda_k = lambda0 + Nbar_k. */
  nbar: Float64Array
  lambda0: number
  /** Prior mean and clip centre m0. */
  m0: Float64Array
  /** R (pairwise distance bound enforced by clipping), or null when not clipping. */
  radius: number | null
  /** Stable ids of the surviving components (index into the initial K). */
  ids: Int32Array
}

/** The GGM model: the CollabModel contract plus GGM-specific views. */
export interface GgmModel extends CollabModel {
  readonly kind: 'ggm'
  readonly hyper: GgmHyper
  /** Current (surviving) number of components. */
  readonly K: number
  readonly stopReason: StopReason
  /** This node's pi^s (or the shared pi), length K. */
  readonly weights: Float64Array
  /** The network's weights Nbar_k / sum_l Nbar_l (identical on every node). */
  readonly networkWeights: Float64Array
  /** eq. 20 with other weights than this node's own (e.g. networkWeights), length K. */
  scoreWithWeights(samples: Mat, weights: ArrayLike<number>): Float64Array
  /** Responsibilities r_k^(n) of this node's rows from the last localUpdate (N x K), for the l-diversity monitor. */
  readonly responsibilities: Mat | null
  /** Training rows of this node moved by clipping (from prepare). */
  readonly clipped: number
  readonly preprocessing: Preprocessing | null
  /** rho in use: the configured one, or the network's choice (K: 'auto'). */
  readonly rho: number
  /** The network's model selection (K: 'auto'), null for a fixed K. */
  readonly selection: GgmSelection | null
  /** Replace the seeded start by an explicit one (after prepare; all nodes must pass the same). */
  setStart(start: GgmStart): void
  /** Global part for the privacy release. */
  release(): GgmRelease
  /** Log-likelihood per sample ln sum_k pi^s_k N(x | mu_k, Lambda_k^-1), in model coordinates (a row with missing values: its observed entries' log-density plus the expected one of the missing entries, missing.ts). */
  logLikelihood(samples: Mat): Float64Array
  /** Samples in model coordinates (standardised, not clipped). */
  toModelSpace(samples: Mat): Mat
}

interface Params {
  means: Mat
  precisions: Mat[]
  covariances: Mat[]
  nbar: Float64Array
  ids: Int32Array
  logWeights: Float64Array
}

class GgmMixture implements GgmModel {
  readonly kind = 'ggm' as const
  readonly hyper: GgmHyper
  private M = 0
  private pre: Preprocessing | null = null
  private p: Params | null = null
  private iter = 0
  private done = false
  private reason: StopReason = null
  private prevObjective: number | null = null
  private log: TraceEntry[] = []
  private resp: Mat | null = null
  private clipCount = 0
  private resident: { means: Mat; precisions: Mat[]; mixture: ResidentMixture } | null = null
  private cache = new WeakMap<Mat, Mat>()
  /** This node's consensus estimates of Nbar_k from its last optimize (unfloored), for the drop vote; null before the first. */
  private lastCounts: Float64Array | null = null
  private rhoUsed: number
  private chosen: GgmSelection | null = null
  /** SQUAREM on the network moments (hyper.accelerate), null for plain EM. */
  private extrapolator: MomentExtrapolator | null

  constructor(hyper: GgmHyper) {
    this.hyper = hyper
    this.rhoUsed = hyper.rho
    this.extrapolator = hyper.accelerate === 'squarem' ? new MomentExtrapolator(hyper.accelerateMaxStep) : null
  }

  get rho(): number {
    return this.rhoUsed
  }
  get selection(): GgmSelection | null {
    return this.chosen
  }

  get dim(): number {
    return this.M
  }
  get iteration(): number {
    return this.iter
  }
  get converged(): boolean {
    return this.done
  }
  get trace(): readonly TraceEntry[] {
    return this.log
  }
  get K(): number {
    return this.p?.nbar.length ?? 0
  }
  get stopReason(): StopReason {
    return this.reason
  }
  get weights(): Float64Array {
    return Float64Array.from(this.params().logWeights, Math.exp)
  }
  get responsibilities(): Mat | null {
    return this.resp
  }
  get clipped(): number {
    return this.clipCount
  }
  get preprocessing(): Preprocessing | null {
    return this.pre
  }

  private params(): Params {
    if (this.p === null || this.pre === null) {
      throw new GgmError('the model has no parameters yet: call prepare(data, aggregate) (or importGlobal / loadModel) first')
    }
    return this.p
  }

  private checkDim(x: Mat): void {
    if (x.cols !== this.M) throw new GgmError(`data has ${x.cols} columns, the model was prepared with ${this.M}`)
  }

  /** Training rows in model coordinates (standardised, clipped), cached per matrix object. */
  private training(data: Mat): Mat {
    const hit = this.cache.get(data)
    if (hit !== undefined) return hit
    const z = preprocessTraining(data, this.pre!).data
    this.cache.set(data, z)
    return z
  }

  toModelSpace(samples: Mat): Mat {
    this.params()
    this.checkDim(samples)
    return standardise(samples, this.pre!)
  }

  async prepare(data: Mat, aggregate: Aggregate): Promise<void> {
    const h = this.hyper
    this.M = data.cols
    if (!h.missing && hasMissing(data)) {
      throw new GgmError('the training rows hold missing values (NaN): declare them in the data config (data.missing) or set the model hyper missing: true on every node')
    }
    // Consensus 1: network standardisation (and m0 = network mean in model coordinates).
    this.pre = await networkPreprocessing(data, aggregate, { standardise: h.standardise, radius: h.radius, label: 'ggm/moments', missing: h.missing })
    const { data: z, clipped } = preprocessTraining(data, this.pre)
    this.clipCount = clipped
    this.cache = new WeakMap([[data, z]])
    // The start (moments, k-means++ seeding, Lloyd steps) sees missing values at the network mean; EM then uses the observed entries only.
    const zStart = h.missing ? imputeWith(z, this.pre.m0) : z
    // Consensus 2: global mean and covariance of the (clipped) training rows.
    const { mean, covariance } = await networkMeanCovariance(zStart, aggregate, 'ggm/init')
    const M = this.M
    const G = mat(M, M, Float64Array.from(covariance.data))
    for (let a = 0; a < M; a++) G.data[a * M + a] += Math.max(h.ridge, 1e-12)
    let L: Mat
    let inv: Mat
    try {
      L = cholesky(G).L
      inv = spdInverse(G).inverse
    } catch (err) {
      if (err instanceof NotPositiveDefiniteError) {
        throw new GgmError('the network covariance is singular: some features are linear combinations of others; drop them or raise ridge')
      }
      throw err
    }
    if (h.K === 'auto') {
      // Consensus 3..: the network chooses K and rho (select.ts) and training continues from the winner
      const { selection, winner } = await selectModel({ z: zStart, data, aggregate, mean, G, L, hyper: h }, (K, rho, start) => this.candidate(K, rho, start, data, z))
      const w = (winner as SelectionCandidate & { self: GgmMixture }).self
      this.p = w.params()
      this.p.ids = Int32Array.from({ length: this.p.nbar.length }, (_, k) => k)
      this.rhoUsed = selection.rho
      this.chosen = selection
    } else if (h.init === 'kmeans++') {
      // Consensus 3..: k-means++ seeding and Lloyd steps through the network (select.ts)
      const start = await kmeansStart({ z: zStart, aggregate, mean, G, L, K: h.K, seed: h.seed })
      this.p = seededStart(h.K, M, mean, L, G, inv, h.seed)
      this.setStart(start)
    } else {
      this.p = seededStart(h.K, M, mean, L, G, inv, h.seed)
    }
    this.iter = 0
    this.done = false
    this.reason = null
    this.prevObjective = null
    this.log = []
    this.resp = null
    this.lastCounts = null
    this.extrapolator?.reset()
  }

  /** A fixed-K, fixed-rho fit with shared weights from an explicit start: one candidate of the model selection. */
  private candidate(K: number, rho: number, start: { means: Mat; precisions: Mat[]; weights: Float64Array }, data: Mat, z: Mat): SelectionCandidate {
    const c = new GgmMixture({ ...this.hyper, K, rho, weights: 'shared', maxIter: Number.MAX_SAFE_INTEGER, ridge: effectiveRidge(this.hyper), glassoTol: Math.max(this.hyper.glassoTol, SELECT_GLASSO_TOL) })
    c.M = this.M
    c.pre = this.pre
    c.cache = new WeakMap([[data, z]])
    c.p = { means: mat(1, this.M), precisions: [], covariances: [], nbar: new Float64Array(0), ids: new Int32Array(0), logWeights: new Float64Array(0) }
    c.setStart({ means: start.means, precisions: start.precisions, weights: start.weights })
    return {
      get K() {
        return c.K
      },
      localUpdate: (d) => c.localUpdate(d),
      optimize: (sums) => c.optimize(sums),
      snapshot: () => ({ means: c.p!.means, precisions: c.p!.precisions, weights: c.weights }),
      self: c,
    } as SelectionCandidate & { self: GgmMixture }
  }

  setStart(start: GgmStart): void {
    const p = this.params()
    const M = this.M
    const K = start.means.rows
    if (start.means.cols !== M) throw new GgmError(`start means have ${start.means.cols} columns, expected ${M}`)
    if (start.precisions.length !== K) throw new GgmError(`${start.precisions.length} start precisions for ${K} means`)
    const w = start.weights ?? new Float64Array(K).fill(1 / K)
    if (w.length !== K) throw new GgmError(`${w.length} start weights for ${K} means`)
    let wsum = 0
    for (let k = 0; k < K; k++) {
      if (!(w[k] > 0)) throw new GgmError(`start weight ${k} is ${w[k]}; weights must be positive`)
      wsum += w[k]
    }
    const covariances = start.precisions.map((P, k) => {
      if (P.rows !== M || P.cols !== M) throw new GgmError(`start precision ${k} is ${P.rows} x ${P.cols}, expected ${M} x ${M}`)
      return spdInverse(P).inverse
    })
    p.means = mat(K, M, Float64Array.from(start.means.data))
    p.precisions = start.precisions.map((P) => mat(M, M, Float64Array.from(P.data)))
    p.covariances = covariances
    p.nbar = new Float64Array(K)
    this.lastCounts = null
    this.extrapolator?.reset()
    p.ids = Int32Array.from({ length: K }, (_, k) => k)
    p.logWeights = Float64Array.from({ length: K }, (_, k) => Math.log(w[k] / wsum))
  }

  // eq. 12-13: E-step in log space, then the node's sufficient statistics (layout above).
  localUpdate(data: Mat): Float64Array {
    const p = this.params()
    this.checkDim(data)
    const z = this.training(data)
    const M = this.M
    const K = this.K
    const { resp, logLik, nk, sums, scatter } = this.hyper.missing
      ? eStepMissing(z, p.logWeights, p.means, p.precisions, p.covariances)
      : eStep(z, p.logWeights, p.means, p.precisions)
    const out = new Float64Array(statsLength(K, M))
    let total = 0
    for (let n = 0; n < logLik.length; n++) total += logLik[n]
    out[0] = total
    out[1] = z.rows
    const block = statsBlock(M)
    for (let k = 0; k < K; k++) {
      const at = STATS_HEADER + k * block
      out[at] = nk[k]
      out.set(sums.data.subarray(k * M, (k + 1) * M), at + 1)
      packSym(scatter[k].data, M, out, at + 1 + M)
    }
    const vote = statsVoteAt(K, M)
    out[vote] = 1
    for (let k = 0; k < K; k++) out[vote + 1 + k] = this.dropVote(k) ? 1 : 0
    this.resp = resp
    if (this.hyper.weights === 'local') {
      // eq. 13: pi_k^s = N_k^s / sum_l N_l^s (private, used by this node's next E-step and score);
      // with weightPrior a > 0, (N_k^s + a w_k) / (n^s + a), w = the network's weights (hyper.ts)
      let n = 0
      for (let k = 0; k < K; k++) n += nk[k]
      const a = this.hyper.weightPrior
      const prior = a > 0 ? this.networkWeights : null
      if (n > 0 || a > 0) {
        for (let k = 0; k < K; k++) {
          const w = prior === null ? nk[k] / n : (nk[k] + a * prior[k]) / (n + a)
          p.logWeights[k] = Math.max(Math.log(w), LOG_WEIGHT_FLOOR)
        }
      }
    }
    return out
  }

  /**
   * One group: every entry is a sum over this node's rows of bounded standardised terms
   * (log-likelihood, n, N_k, m_k, C_k), so all share the row-count scale; splitting the
   * largest (the log-likelihood) off would leave it hidden by a single noise draw.
   */
  statsNoiseGroups(length: number): Int32Array {
    const g = new Int32Array(length)
    // the drop vote (0/1 counts) is its own group, so chunk noise sized for the statistics cannot hide it
    g.fill(1, Math.min(length, statsVoteAt(this.K, this.M)))
    return g
  }

  /** This node's vote to drop component k: its last Nbar_k was below delta (or empty). No vote before the first optimize. */
  private dropVote(k: number): boolean {
    const counts = this.lastCounts ?? (this.iter > 0 ? this.p?.nbar : undefined)
    if (counts === undefined || counts === null || k >= counts.length) return false
    return counts[k] < this.hyper.delta || !(counts[k] > 0)
  }

  // eq. 14-16: network averages, MAP means and covariances, glasso precisions; drop Nbar_k < delta.
  optimize(sums: Float64Array): void {
    const p = this.params()
    const h = this.hyper
    const M = this.M
    const K = this.K
    if (sums.length !== statsLength(K, M)) {
      throw new GgmError(`statistics vector has ${sums.length} values, expected ${statsLength(K, M)} for K = ${K}, M = ${M}`)
    }
    const totalLogLik = sums[0]
    const rows = sums[1]
    const objective = totalLogLik / rows
    const block = statsBlock(M)
    const keep = votedKeep(sums, K, M)
    if (keep.length === 0) {
      throw new GgmError(`every component has Nbar_k < delta = ${h.delta} (the network voted all ${K} out): lower delta or K, or check that the network holds rows`)
    }
    const counts = new Float64Array(keep.length)
    const K2 = keep.length
    const next: Params = {
      means: mat(K2, M),
      precisions: [],
      covariances: [],
      nbar: new Float64Array(K2),
      ids: new Int32Array(K2),
      logWeights: new Float64Array(K2),
    }
    const m0 = this.pre!.m0
    const mbar = new Float64Array(M)
    const mStepTol = h.glassoInexact ? inexactGlassoTol(h.glassoTol, objective, this.prevObjective) : h.glassoTol
    let glassoIterations = 0
    let glassoConverged = true
    let ridgeUsed = 0
    const accelerated = this.extrapolate(sums, keep)
    const moments = accelerated?.sums ?? sums
    for (let j = 0; j < K2; j++) {
      const k = keep[j]
      const at = STATS_HEADER + k * block
      counts[j] = sums[at]
      // eq. 14; floored at delta until the vote drops a component that fell below it (module comment)
      const nb = Math.max(moments[at], h.delta, NBAR_FLOOR)
      for (let a = 0; a < M; a++) mbar[a] = moments[at + 1 + a] / nb
      const sigma = new Float64Array(M * M)
      const mu = next.means.data.subarray(j * M, (j + 1) * M)
      const shrink = h.estimator === 'map' ? h.lambda0 / (h.lambda0 + nb) : 0
      for (let a = 0; a < M; a++) {
        // eq. 15: mu_k = (lambda0 m0 + Nbar_k mbar_k) / (lambda0 + Nbar_k)
        mu[a] = h.estimator === 'map' ? (h.lambda0 * m0[a] + nb * mbar[a]) / (h.lambda0 + nb) : mbar[a]
      }
      for (let a = 0; a < M; a++) {
        for (let b = a; b < M; b++) {
          const c = packedAt(moments, M, at + 1 + M, a, b) / nb
          // eq. 15: Sigma_k = Cbar_k - mbar mbar^T + lambda0/(lambda0 + Nbar_k) (mbar - m0)(mbar - m0)^T
          const v = c - mbar[a] * mbar[b] + shrink * (mbar[a] - m0[a]) * (mbar[b] - m0[b])
          sigma[a * M + b] = v
          sigma[b * M + a] = v
        }
      }
      // eq. 16 as a standard glasso: Lambda_k = glasso(Sigma_k / b, rho / (Nbar_k + 1)), b = (Nbar_k + 1) / Nbar_k;
      // the 'ml' estimator has b = 1 and penalty rho / Nbar_k.
      const b = h.estimator === 'map' ? (nb + 1) / nb : 1
      const alpha = h.estimator === 'map' ? this.rhoUsed / (nb + 1) : this.rhoUsed / nb
      // The ridge floor: h.ridge first; if Sigma_k is too ill-conditioned for the solver (exact
      // linear relations between features inside a component), retry with ridges 1e-6, 1e-5, ...
      // up to RIDGE_RETRY_CAP. Every node sees the same sums, so every node takes the same path.
      let solved: { precision: Mat; covariance: Mat; iterations: number; converged: boolean } | null = null
      let lastErr: Error | null = null
      // Warm start from this component's last glasso solution (same path on every node).
      let warm = this.iter > 0 && h.glassoWarmStart ? { precision: p.precisions[k], covariance: p.covariances[k] } : undefined
      for (const ridge of ridgeLadder(effectiveRidge(h))) {
        const S = mat(M, M, new Float64Array(M * M))
        for (let i = 0; i < M * M; i++) S.data[i] = sigma[i] / b
        for (let a = 0; a < M; a++) S.data[a * M + a] += ridge / b
        try {
          if (alpha === 0) {
            solved = { precision: spdInverse(S).inverse, covariance: S, iterations: 0, converged: true }
          } else {
            solved = solveGlasso(S, alpha, { ...h, glassoTol: mStepTol }, warm)
          }
          ridgeUsed = Math.max(ridgeUsed, ridge)
          break
        } catch (err) {
          if (!(err instanceof NotPositiveDefiniteError || err instanceof GlassoError)) throw err
          lastErr = err
          warm = undefined
        }
      }
      if (solved === null) {
        throw new GgmError(
          `component ${p.ids[k]} (Nbar_k = ${nb.toPrecision(4)}) has a covariance too ill-conditioned even with ridge ${RIDGE_RETRY_CAP} (${lastErr?.message}): raise rho or delta, or drop collinear features`,
        )
      }
      glassoIterations = Math.max(glassoIterations, solved.iterations)
      glassoConverged &&= solved.converged
      next.precisions.push(solved.precision)
      next.covariances.push(solved.covariance)
      next.nbar[j] = nb
      next.ids[j] = p.ids[k]
      next.logWeights[j] = p.logWeights[k]
    }
    if (h.weights === 'shared') {
      let n = 0
      for (let j = 0; j < K2; j++) n += next.nbar[j]
      for (let j = 0; j < K2; j++) next.logWeights[j] = Math.log(next.nbar[j] / n)
    } else if (K2 < K) {
      renormaliseLog(next.logWeights)
    }
    this.p = next
    this.lastCounts = counts
    this.iter++
    const prev = this.prevObjective
    this.prevObjective = objective
    const entry: TraceEntry = {
      iteration: this.iter,
      objective,
      K: K2,
      dropped: K - K2,
      rows,
      glassoIterations,
      glassoConverged,
      ridge: ridgeUsed,
    }
    if (this.extrapolator !== null) entry.extrapolation = accelerated?.step ?? 1
    this.log.push(entry)
    if (prev !== null && Math.abs(objective - prev) <= h.tol * Math.abs(prev)) {
      this.done = true
      this.reason = 'tol'
    } else if (this.iter >= h.maxIter) {
      this.done = true
      this.reason = 'maxIter'
    }
  }

  /**
   * SQUAREM (accelerate.ts) on the kept components' network moments (Nbar_k / n, mbar_k,
   * Cbar_k): the sums to take this M-step from instead of `sums` (counts and the drop vote
   * still come from `sums`), or null for a plain step.
   */
  private extrapolate(sums: Float64Array, keep: number[]): { sums: Float64Array; step: number } | null {
    const ex = this.extrapolator
    if (ex === null) return null
    const h = this.hyper
    const M = this.M
    const block = statsBlock(M)
    const rows = sums[1]
    if (!(rows > 0)) return null
    const u = new Float64Array(keep.length * block)
    for (let j = 0; j < keep.length; j++) {
      const at = STATS_HEADER + keep[j] * block
      const nb = Math.max(sums[at], h.delta, NBAR_FLOOR)
      u[j * block] = nb / rows
      for (let i = 1; i < block; i++) u[j * block + i] = sums[at + i] / nb
    }
    const ids = Int32Array.from(keep, (k) => this.params().ids[k])
    const floor = Math.max(h.delta, NBAR_FLOOR)
    // each component's covariance Cbar - mbar mbar^T + ridge I from moments v, positive definite?
    const definite = (v: Float64Array, j: number, ridge: number): boolean => {
      const c = unpackSym(v, M, j * block + 1 + M)
      const mbar = v.subarray(j * block + 1, j * block + 1 + M)
      for (let a = 0; a < M; a++) {
        for (let b = 0; b < M; b++) c[a * M + b] -= mbar[a] * mbar[b]
        c[a * M + a] += ridge
      }
      try {
        cholesky(mat(M, M, c))
        return true
      } catch (err) {
        if (err instanceof NotPositiveDefiniteError) return false
        throw err
      }
    }
    // The ridge each component's plain moments need (the M-step's ladder; near-singular
    // components, e.g. integer-valued features, need more than the floor): an extrapolation
    // must be positive definite with the same ridge, i.e. no worse conditioned than the plain step.
    // Found only when an extrapolation is checked (every third M-step), not on plain ones.
    let ridges: (number | undefined)[] | null = null
    const valid = (v: Float64Array): boolean => {
      ridges ??= keep.map((_, j) => ridgeLadder(effectiveRidge(h)).find((r) => definite(u, j, r)))
      for (let j = 0; j < keep.length; j++) {
        const ridge = ridges[j]
        if (ridge === undefined || !(v[j * block] * rows >= floor) || !definite(v, j, ridge)) return false
      }
      return true
    }
    const out = ex.next(this.iter + 1, ids, u, valid)
    if (out === null) return null
    const moved = Float64Array.from(sums)
    for (let j = 0; j < keep.length; j++) {
      const at = STATS_HEADER + keep[j] * block
      const nb = out.moments[j * block] * rows
      moved[at] = nb
      for (let i = 1; i < block; i++) moved[at + i] = out.moments[j * block + i] * nb
    }
    return { sums: moved, step: out.step }
  }

  /**
   * The current means and precisions kept factored in WASM memory (ResidentMixture), rebuilt
   * only when the parameters change (each M-step, setStart and load install new arrays), so
   * scoring requests copy just their samples.
   */
  private residentMixture(p: Params): ResidentMixture {
    const r = this.resident
    if (r !== null && r.means === p.means && r.precisions === p.precisions) return r.mixture
    r?.mixture.dispose()
    const mixture = new ResidentMixture(p.means, p.precisions)
    this.resident = { means: p.means, precisions: p.precisions, mixture }
    return mixture
  }

  logLikelihood(samples: Mat): Float64Array {
    const p = this.params()
    const { z, miss } = this.scoringRows(samples)
    const dens = this.residentMixture(p).logDensities(z)
    const K = this.K
    const out = new Float64Array(z.rows)
    for (let n = 0; n < z.rows; n++) {
      let mx = -Infinity
      for (let k = 0; k < K; k++) mx = Math.max(mx, p.logWeights[k] + dens.data[n * K + k])
      let s = 0
      for (let k = 0; k < K; k++) s += Math.exp(p.logWeights[k] + dens.data[n * K + k] - mx)
      out[n] = mx + Math.log(s)
    }
    if (miss !== null) scoreIncomplete(miss.z, miss.rows, p.logWeights, p.means, p.covariances).logLik.forEach((v, i) => (out[miss.rows[i]] = v))
    return out
  }

  /**
   * Samples in model coordinates for the WASM kernels; with `missing`, rows holding NaN are
   * scored by scoreIncomplete (missing.ts) instead, so the kernels get them zero-filled.
   */
  private scoringRows(samples: Mat): { z: Mat; miss: { z: Mat; rows: Int32Array } | null } {
    const z = this.toModelSpace(samples)
    if (!this.hyper.missing) return { z, miss: null }
    const rows = incompleteRows(z)
    if (rows.length === 0) return { z, miss: null }
    return { z: imputeWith(z, new Float64Array(z.cols)), miss: { z, rows } }
  }

  // eq. 20: a(x) = sum_k r_k(x) [M/2 ln 2pi - 1/2 ln|Lambda_k| + 1/2 (x - mu_k)^T Lambda_k (x - mu_k)] = -sum_k r_k(x) ln N(x | mu_k, Lambda_k^-1)
  score(samples: Mat): Float64Array {
    return this.scoreLog(samples, this.params().logWeights)
  }

  scoreWithWeights(samples: Mat, weights: ArrayLike<number>): Float64Array {
    const K = this.K
    if (weights.length !== K) throw new GgmError(`${weights.length} weights for ${K} components`)
    return this.scoreLog(samples, Float64Array.from(weights, (w) => Math.max(Math.log(w), LOG_WEIGHT_FLOOR)))
  }

  get networkWeights(): Float64Array {
    const nbar = this.params().nbar
    let n = 0
    for (const v of nbar) n += v
    return Float64Array.from(nbar, (v) => (n > 0 ? v / n : 1 / nbar.length))
  }

  private scoreLog(samples: Mat, logWeights: Float64Array): Float64Array {
    const p = this.params()
    const { z, miss } = this.scoringRows(samples)
    const dens = this.residentMixture(p).logDensities(z)
    const K = this.K
    const out = new Float64Array(z.rows)
    const r = new Float64Array(K)
    for (let n = 0; n < z.rows; n++) {
      let mx = -Infinity
      for (let k = 0; k < K; k++) {
        r[k] = logWeights[k] + dens.data[n * K + k]
        mx = Math.max(mx, r[k])
      }
      let s = 0
      for (let k = 0; k < K; k++) {
        r[k] = Math.exp(r[k] - mx)
        s += r[k]
      }
      let a = 0
      for (let k = 0; k < K; k++) a -= (r[k] / s) * dens.data[n * K + k]
      out[n] = a
    }
    if (miss !== null) scoreIncomplete(miss.z, miss.rows, logWeights, p.means, p.covariances).score.forEach((v, i) => (out[miss.rows[i]] = v))
    return out
  }

  release(): GgmRelease {
    const p = this.params()
    return {
      K: this.K,
      dim: this.M,
      means: mat(this.K, this.M, Float64Array.from(p.means.data)),
      precisions: p.precisions.map((P) => mat(P.rows, P.cols, Float64Array.from(P.data))),
      nbar: Float64Array.from(p.nbar),
      lambda0: this.hyper.lambda0,
      m0: Float64Array.from(this.pre!.m0),
      radius: this.pre!.radius,
      ids: Int32Array.from(p.ids),
    }
  }

  save(): SavedModel {
    const p = this.params()
    const M = this.M
    return {
      format: 'collabdict-model',
      version: GGM_SAVE_VERSION,
      kind: 'ggm',
      hyper: { ...this.hyper },
      numericBuild: buildId(),
      params: {
        dim: M,
        iteration: this.iter,
        converged: this.done,
        stopReason: this.reason,
        prevObjective: this.prevObjective,
        clipped: this.clipCount,
        rho: this.rhoUsed,
        ...(this.chosen === null ? {} : { selection: JSON.parse(JSON.stringify(this.chosen)) as unknown }),
        preprocessing: preprocessingToJson(this.pre!),
        components: Array.from({ length: this.K }, (_, k) => ({
          id: p.ids[k],
          nbar: p.nbar[k],
          logWeight: p.logWeights[k],
          mean: Array.from(p.means.data.subarray(k * M, (k + 1) * M)),
          precision: Array.from(p.precisions[k].data),
          covariance: Array.from(p.covariances[k].data),
        })),
      },
      trace: this.log.map((e) => ({ ...e })),
    }
  }

  /** Restore from validated saved parameters (see loadGgm). */
  restore(saved: GgmSavedParams, trace: TraceEntry[]): void {
    const M = saved.dim
    const K = saved.components.length
    this.M = M
    this.pre = preprocessingFromJson(saved.preprocessing)
    if (this.pre.shift.length !== M) throw new GgmError(`saved preprocessing has ${this.pre.shift.length} features, the model ${M}`)
    const means = mat(K, M)
    const comps = saved.components
    comps.forEach((c, k) => {
      if (c.mean.length !== M || c.precision.length !== M * M || c.covariance.length !== M * M) {
        throw new GgmError(`saved component ${k} does not have dimension ${M}`)
      }
      means.data.set(c.mean, k * M)
    })
    this.p = {
      means,
      precisions: comps.map((c) => mat(M, M, Float64Array.from(c.precision))),
      covariances: comps.map((c) => mat(M, M, Float64Array.from(c.covariance))),
      nbar: Float64Array.from(comps, (c) => c.nbar),
      ids: Int32Array.from(comps, (c) => c.id),
      logWeights: Float64Array.from(comps, (c) => c.logWeight),
    }
    this.iter = saved.iteration
    this.done = saved.converged
    this.reason = saved.stopReason
    this.prevObjective = saved.prevObjective
    this.clipCount = saved.clipped
    this.rhoUsed = saved.rho ?? this.hyper.rho
    this.chosen = (saved.selection as GgmSelection | undefined) ?? null
    this.log = trace.map((e) => ({ ...e }))
    this.lastCounts = null
    this.extrapolator?.reset()
  }

  /**
   * Global state layout (Float64Array):
   *   [GGM_GLOBAL_VERSION, K, M, prevObjective (NaN if none), stopReason (0 none, 1 tol, 2 maxIter), radius (NaN if none), count,
   *    shift (M), scale (M), m0 (M),
   *    per component: id, Nbar_k, ln pi_k (shared weights; NaN for local), mu_k (M), Lambda_k (M^2), Sigma_k (M^2),
   *    rho in use (the network's choice under K 'auto')]
   */
  exportGlobal(): { iteration: number; converged: boolean; state: Float64Array } {
    const p = this.params()
    const pre = this.pre!
    const M = this.M
    const K = this.K
    const head = 7 + 3 * M
    const block = 3 + M + 2 * M * M
    const s = new Float64Array(head + K * block + 1)
    s[s.length - 1] = this.rhoUsed
    s[0] = GGM_GLOBAL_VERSION
    s[1] = K
    s[2] = M
    s[3] = this.prevObjective ?? NaN
    s[4] = this.reason === 'tol' ? 1 : this.reason === 'maxIter' ? 2 : 0
    s[5] = pre.radius ?? NaN
    s[6] = pre.count
    s.set(pre.shift, 7)
    s.set(pre.scale, 7 + M)
    s.set(pre.m0, 7 + 2 * M)
    for (let k = 0; k < K; k++) {
      const at = head + k * block
      s[at] = p.ids[k]
      s[at + 1] = p.nbar[k]
      s[at + 2] = this.hyper.weights === 'shared' ? p.logWeights[k] : NaN
      s.set(p.means.data.subarray(k * M, (k + 1) * M), at + 3)
      s.set(p.precisions[k].data, at + 3 + M)
      s.set(p.covariances[k].data, at + 3 + M + M * M)
    }
    return { iteration: this.iter, converged: this.done, state: s }
  }

  importGlobal(global: { iteration: number; converged: boolean; state: Float64Array }): void {
    const s = global.state
    if (s.length < 7 || s[0] !== GGM_GLOBAL_VERSION) {
      throw new GgmError(`global state is not a GGM state of version ${GGM_GLOBAL_VERSION}; both nodes must run the same release`)
    }
    const K = s[1]
    const M = s[2]
    const head = 7 + 3 * M
    const block = 3 + M + 2 * M * M
    if (!Number.isInteger(K) || !Number.isInteger(M) || K < 1 || M < 1 || s.length !== head + K * block + 1) {
      throw new GgmError(`global state has ${s.length} values, inconsistent with K = ${K}, M = ${M}`)
    }
    if (this.M !== 0 && this.M !== M) throw new GgmError(`global state has dimension ${M}, this node's data ${this.M}`)
    const oldIds = this.p?.ids
    const oldLog = this.p?.logWeights
    const oldPinned = this.pre?.pinned
    this.M = M
    this.pre = {
      pinned: oldPinned,
      shift: s.slice(7, 7 + M),
      scale: s.slice(7 + M, 7 + 2 * M),
      m0: s.slice(7 + 2 * M, 7 + 3 * M),
      radius: Number.isNaN(s[5]) ? null : s[5],
      count: s[6],
    }
    const next: Params = {
      means: mat(K, M),
      precisions: [],
      covariances: [],
      nbar: new Float64Array(K),
      ids: new Int32Array(K),
      logWeights: new Float64Array(K),
    }
    for (let k = 0; k < K; k++) {
      const at = head + k * block
      next.ids[k] = s[at]
      next.nbar[k] = s[at + 1]
      next.means.data.set(s.subarray(at + 3, at + 3 + M), k * M)
      next.precisions.push(mat(M, M, s.slice(at + 3 + M, at + 3 + M + M * M)))
      next.covariances.push(mat(M, M, s.slice(at + 3 + M + M * M, at + 3 + M + 2 * M * M)))
      if (this.hyper.weights === 'shared') {
        next.logWeights[k] = s[at + 2]
      } else {
        // keep this node's private pi^s for components it already knew; uniform share otherwise
        const old = oldIds === undefined ? -1 : oldIds.indexOf(next.ids[k])
        next.logWeights[k] = old >= 0 ? oldLog![old] : -Math.log(K)
      }
    }
    if (this.hyper.weights === 'local') renormaliseLog(next.logWeights)
    this.p = next
    this.iter = global.iteration
    this.done = global.converged
    this.reason = s[4] === 1 ? 'tol' : s[4] === 2 ? 'maxIter' : null
    this.prevObjective = Number.isNaN(s[3]) ? null : s[3]
    this.cache = new WeakMap()
    this.lastCounts = null
    this.extrapolator?.reset()
    // a node that rejoins from a peer's state trains on with the rho the network chose
    const rho = s[s.length - 1]
    if (!(rho >= 0)) throw new GgmError(`global state carries rho ${rho}; both nodes must run the same release`)
    this.rhoUsed = rho
  }
}

/** The ridge floor of the M-step: the configured one, raised to select.ridge under K 'auto'. */
function effectiveRidge(h: GgmHyper): number {
  return h.K === 'auto' ? Math.max(h.ridge, h.select.ridge) : h.ridge
}

/** The fixed-K start: mu_k ~ N(global mean, global covariance) from the shared seed (the same on every node), Lambda_k = G^-1, uniform weights. */
function seededStart(K: number, M: number, mean: Float64Array, L: Mat, G: Mat, inv: Mat, seed: GgmHyper['seed']): Params {
  const rng = new Rng(seed).fork('ggm/init-means')
  const means = mat(K, M)
  const e = new Float64Array(M)
  for (let k = 0; k < K; k++) {
    rng.fillNormal(e)
    for (let a = 0; a < M; a++) {
      let v = mean[a]
      for (let b = 0; b <= a; b++) v += L.data[a * M + b] * e[b]
      means.data[k * M + a] = v
    }
  }
  return {
    means,
    precisions: Array.from({ length: K }, () => mat(M, M, Float64Array.from(inv.data))),
    covariances: Array.from({ length: K }, () => mat(M, M, Float64Array.from(G.data))),
    nbar: new Float64Array(K),
    ids: Int32Array.from({ length: K }, (_, k) => k),
    logWeights: new Float64Array(K).fill(-Math.log(K)),
  }
}

/** Share of the EM step's own change (mean log-likelihood per row) the glasso's KKT residual is held to. */
export const INEXACT_MSTEP_SHARE = 1e-2
/** Loosest glasso tolerance of an early EM step (KKT residual, standardised units). */
export const INEXACT_MSTEP_MAX_TOL = 1e-5

/**
 * The glasso tolerance of this M-step (generalised EM, an inexact M-step): while EM still
 * moves the mean log-likelihood per row by Delta per step, solving Lambda_k to a KKT residual far
 * below Delta buys nothing (the next E-step moves Sigma_k by more), so the tolerance is
 * INEXACT_MSTEP_SHARE * Delta, at most INEXACT_MSTEP_MAX_TOL and never below glassoTol. As EM
 * converges Delta -> 0 and the M-steps tighten to glassoTol; Delta is a function of the network
 * sums, so every node (and the centralised fit) takes the same tolerance. Sweeps are warm-started
 * from the last M-step, so an early loose solve is continued, not lost.
 */
export function inexactGlassoTol(glassoTol: number, objective: number, prev: number | null): number {
  if (prev === null) return Math.max(glassoTol, INEXACT_MSTEP_MAX_TOL)
  const delta = Math.abs(objective - prev)
  return Math.max(glassoTol, Math.min(INEXACT_MSTEP_MAX_TOL, INEXACT_MSTEP_SHARE * delta))
}

/** Largest ridge the optimize step falls back to (standardised units: 1% of a unit variance). */
export const RIDGE_RETRY_CAP = 1e-2

/**
 * One glasso solve of eq. 16, warm-started when a previous solution is given (the core
 * adapts it to the new S: rescaled to its diagonal and pulled into the dual box, see
 * adapt_warm_start in wasm/src/glasso.rs; before, ~40 % of warm starts on ad_shuttle
 * diverged). A warm start that still fails or stops unconverged is retried cold, so warm
 * starts only ever save sweeps.
 */
function solveGlasso(
  S: Mat,
  alpha: number,
  h: { glassoTol: number; glassoMaxIter: number; penalizeDiagonal: boolean },
  warm: { precision: Mat; covariance: Mat } | undefined,
): GlassoResult {
  const opts = { tol: h.glassoTol, maxIter: h.glassoMaxIter, penalizeDiagonal: h.penalizeDiagonal }
  if (warm !== undefined && warm.precision.rows === S.rows) {
    try {
      const r = graphicalLasso(S, alpha, { ...opts, warmStart: warm })
      if (r.converged) return r
    } catch (err) {
      if (!(err instanceof GlassoError || err instanceof InvalidInputError)) throw err
    }
  }
  return graphicalLasso(S, alpha, opts)
}

/** The configured ridge, then 1e-6, 1e-5, ... up to RIDGE_RETRY_CAP (the steps above it). */
function ridgeLadder(ridge: number): number[] {
  const out = [ridge]
  for (let r = 1e-6; r <= RIDGE_RETRY_CAP * (1 + 1e-9); r *= 10) if (r > ridge * (1 + 1e-9)) out.push(r)
  return out
}

/**
 * Components the network keeps at this optimize: those fewer than half the voters voted out.
 * Rounded counts: the consensus error on a count is far below 1/2, so every node computes
 * the same list (the module comment says why Nbar_k itself must not decide).
 */
function votedKeep(sums: Float64Array, K: number, M: number): number[] {
  const at = statsVoteAt(K, M)
  const voters = Math.round(sums[at])
  const keep: number[] = []
  for (let k = 0; k < K; k++) if (!(voters > 0 && 2 * Math.round(sums[at + 1 + k]) >= voters)) keep.push(k)
  return keep
}

function renormaliseLog(lw: Float64Array): void {
  let mx = -Infinity
  for (const v of lw) mx = Math.max(mx, v)
  let s = 0
  for (const v of lw) s += Math.exp(v - mx)
  const lse = mx + Math.log(s)
  for (let k = 0; k < lw.length; k++) lw[k] = Math.max(lw[k] - lse, LOG_WEIGHT_FLOOR)
}

/** Saved GGM parameters (the `params` of a SavedModel of kind 'ggm'). */
export interface GgmSavedParams {
  dim: number
  iteration: number
  converged: boolean
  stopReason: StopReason
  prevObjective: number | null
  clipped: number
  rho?: number
  selection?: unknown
  preprocessing: PreprocessingJson
  components: { id: number; nbar: number; logWeight: number; mean: number[]; precision: number[]; covariance: number[] }[]
}

/** A new, unprepared GGM model with validated hyper-parameters. */
export function createGgm(hyper: unknown = {}): GgmModel {
  return new GgmMixture(parseGgmHyper(hyper))
}

/** Rebuild a model from validated saved parameters (used by loadGgm). */
export function restoreGgm(hyper: GgmHyper, params: GgmSavedParams, trace: TraceEntry[]): GgmModel {
  const m = new GgmMixture(hyper)
  m.restore(params, trace)
  return m
}
