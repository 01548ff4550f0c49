/**
 * Whole-model differentially private release of the GGM mixture: every number in the
 * released file comes out of an accounted Gaussian mechanism or is computed from such
 * outputs and public settings only (post-processing). The network produces ONE release:
 * each node adds its share of the noise to its contribution inside the consensus sum, so
 * no node knows the total noise, and every node ends with the same released model.
 *
 * Mechanism (DP-EM with Analyze-Gauss-style sufficient statistics; Park et al. 2017,
 * Dwork et al. 2014 "Analyze Gauss"), neighbouring datasets = one row of one node replaced:
 *
 *  1. moments: raw rows clipped to the public box [lower, upper] and mapped to
 *     u = (x - mid) / half in [-1, 1]^M; sums [n, sum u, sum u^2] + noise. n is the same for
 *     neighbouring datasets (replace-one) and is released as is; sum u has L2 sensitivity
 *     2 sqrt(M), sum u^2 sqrt(M). -> released standardisation: shift = mid + half mean_u,
 *     scale = half sd_u (floored). With missing values (settings.missing, the model's
 *     `missing: true`) a missing entry adds nothing to sum u and sum u^2, and a third block
 *     counts the observed entries per feature (each in {0, 1}: sensitivity sqrt(M)), so the
 *     means and variances are over observed values; in the later steps a missing entry sits
 *     at the released mean (y = 0), a function of released values only, inside the ball.
 *  2. global: released rows y = (x - shift) / scale clipped to the ball of radius a = R/2
 *     around 0; sums [sum y, sum y y^T] + noise (sensitivities 2a and 2a^2) -> global mean
 *     and covariance -> the start of EM (means spread along the top principal axes).
 *  3. EM step t = 1..T: responsibilities r_nk from the previous step's RELEASED parameters
 *     (so one row moves only its own r), sums [N_k, m_k = sum r y, C_k = sum r y y^T] + noise:
 *     sensitivities sqrt 2 (r and r' on the simplex), 2a and 2a^2 (sum_k (r_k + r'_k) = 2)
 *     -> M-step by post-processing: weights, means, PSD-projected covariances, glasso.
 *  4. threshold: a quantile of the released model's scores on samples drawn from itself
 *     with the public seed (post-processing).
 *
 * Every block b gets noise N(0, (z Delta_b)^2) on the network sum, one noise multiplier z
 * for all, so each step with B blocks costs alpha B / (2 z^2) in RDP and the release
 * alpha (sum B) / (2 z^2); z is solved so that this converts to the target (epsilon, delta)
 * (rdpSlopeFor). The cost depends only on public settings, so the ledger is charged before
 * anything is computed.
 *
 * Distributed noise: each of S nodes adds N(0, (z Delta_b)^2 / (S - 1)) (S >= 2), so the
 * sum carries S / (S - 1) times the variance needed: the guarantee against an outsider holds
 * even if one node's share is missing (it dropped out) or known (a curious member who
 * subtracts its own share). With S = 1 the node adds all of it.
 *
 * Agreement: the noisy sums are rounded to a grid of 1/64 of each block's noise std
 * before any post-processing, so consensus error (1e-9 relative) does not make the nodes'
 * files differ, and the release cannot leak consensus residuals through S slightly
 * different copies. The number of components is fixed through EM (empty ones are reset
 * to the global fit) and only dropped at the end, so every node sends vectors of the
 * same length.
 */
import { z } from 'zod'
import { eStep } from '../numeric/mixture.js'
import { eigh, spdInverse } from '../numeric/linalg.js'
import { graphicalLasso } from '../numeric/glasso.js'
import { mat, packedSymLength, packSym, addOuterPacked, unpackSym, type Mat } from '../numeric/matrix.js'
import { Rng, type RandomSource } from '../numeric/rng.js'
import { PrivacySettingsError } from './errors.js'
import { logDensityMixture, scoreMixture, type MixtureParams } from './mixture-score.js'
import { linearRdp, rdpSlopeFor, rdpToDp } from './rdp.js'

export const GGM_RELEASE_FORMAT = 'collabdict-released-model'
export const GGM_RELEASE_VERSION = 2

/** Smallest released standard deviation of a feature, as a fraction of its public half-range. */
export const MIN_SCALE_FRACTION = 1e-3
/** Smallest eigenvalue of a released covariance (standardised units). */
export const MIN_EIGENVALUE = 1e-2
/** Eigenvalue floor of released covariances, in units of sqrt(M) z Delta_C / n (see eigenFloor). */
export const EIGEN_FLOOR_FACTOR = 0.5
/** Grid of the agreed rounding of noisy sums: this fraction of the block's noise std. */
export const AGREEMENT_GRID = 1 / 64
/** Samples drawn from the released model to place its threshold. */
export const THRESHOLD_SAMPLES = 20_000

/** Public per-feature ranges of the raw data. */
export interface ReleaseBounds {
  lower: Float64Array
  upper: Float64Array
}

export interface GgmReleaseSettings {
  /** Network-level (epsilon, delta) of the whole release (improved RDP conversion). */
  epsilon: number
  delta: number
  bounds: ReleaseBounds
  /** R: released rows are clipped to radius R/2 around 0 (standardised units); default 2 sqrt(M). */
  radius?: number
  /** DP-EM steps after the global step. */
  iterations: number
  K: number
  /** Components whose noisy count ends below this are dropped from the file. */
  minCount: number
  /** Glasso penalty, applied as rho / (N_k + 1) as in training. */
  rho: number
  thresholdQuantile: number
  /** The network's shared (public) seed: threshold samples. */
  seed: number | string
  /** Rows may hold missing values (NaN): the moments step adds the observed counts (module comment). */
  missing?: boolean
}

export interface BlockSpec {
  name: string
  length: number
  /** L2 sensitivity of the block's network sum to replacing one row. */
  sensitivity: number
}

export interface StepSpec {
  label: string
  kind: 'moments' | 'global' | 'em'
  /** Entries sent without noise before the noisy blocks (the public row count). */
  exact: number
  blocks: BlockSpec[]
}

export interface GgmReleasePlan {
  M: number
  K: number
  radius: number
  steps: StepSpec[]
  /** Noise multiplier of every block: network noise std = z * sensitivity. */
  z: number
  /** RDP curve of the whole release over `orders`. */
  rdp: Float64Array
  orders: readonly number[]
  /** (epsilon, delta) the curve converts to (<= the target). */
  epsilon: number
  delta: number
}

function checkSettings(s: GgmReleaseSettings, M: number): void {
  const bad = (m: string): never => {
    throw new PrivacySettingsError(m)
  }
  if (!(s.epsilon > 0 && Number.isFinite(s.epsilon))) bad(`release epsilon must be > 0, got ${s.epsilon}`)
  if (!(s.delta > 0 && s.delta < 1)) bad(`release delta must be in (0, 1), got ${s.delta}`)
  if (s.bounds.lower.length !== M || s.bounds.upper.length !== M) {
    bad(`privacy.release.bounds give ${s.bounds.lower.length} lower and ${s.bounds.upper.length} upper values for ${M} features; give one pair per feature (or one number for all)`)
  }
  for (let j = 0; j < M; j++) {
    if (!(s.bounds.upper[j] > s.bounds.lower[j]) || !Number.isFinite(s.bounds.lower[j]) || !Number.isFinite(s.bounds.upper[j])) {
      bad(`privacy.release.bounds for feature ${j + 1}: lower ${s.bounds.lower[j]} must be below upper ${s.bounds.upper[j]} (both finite)`)
    }
  }
  if (s.radius !== undefined && !(s.radius > 0 && Number.isFinite(s.radius))) bad(`privacy.release.R must be > 0, got ${s.radius}`)
  if (!Number.isInteger(s.iterations) || s.iterations < 1) bad(`privacy.release.iterations must be a whole number >= 1, got ${s.iterations}`)
  if (!Number.isInteger(s.K) || s.K < 1) bad(`K must be a whole number >= 1, got ${s.K}`)
}

/**
 * The release's steps, noise multiplier and RDP curve for M features, from public
 * settings only (every node computes the same plan; the ledger is charged with `rdp`).
 */
export function planGgmRelease(s: GgmReleaseSettings, M: number, orders: readonly number[]): GgmReleasePlan {
  checkSettings(s, M)
  const R = s.radius ?? 2 * Math.sqrt(M)
  const a = R / 2
  const P = packedSymLength(M)
  const steps: StepSpec[] = [
    {
      label: 'release:moments',
      kind: 'moments',
      exact: 1,
      blocks: [
        { name: 'sum u', length: M, sensitivity: 2 * Math.sqrt(M) },
        { name: 'sum u^2', length: M, sensitivity: Math.sqrt(M) },
        ...(s.missing === true ? [{ name: 'observed', length: M, sensitivity: Math.sqrt(M) }] : []),
      ],
    },
    { label: 'release:global', kind: 'global', exact: 0, blocks: [{ name: 'sum y', length: M, sensitivity: 2 * a }, { name: 'sum y y^T', length: P, sensitivity: 2 * a * a }] },
  ]
  for (let t = 0; t < s.iterations; t++) {
    steps.push({
      label: `release:em:${t}`,
      kind: 'em',
      exact: 0,
      blocks: [
        { name: 'N_k', length: s.K, sensitivity: Math.SQRT2 },
        { name: 'm_k', length: s.K * M, sensitivity: 2 * a },
        { name: 'C_k', length: s.K * P, sensitivity: 2 * a * a },
      ],
    })
  }
  const blocks = steps.reduce((n, st) => n + st.blocks.length, 0)
  // every block at noise multiplier z: RDP alpha * blocks / (2 z^2) = alpha * c
  const c = rdpSlopeFor(s.epsilon, s.delta)
  // rounded up a hair, so the cost of the noise actually added never exceeds the target
  const z = Math.sqrt(blocks / (2 * c)) * (1 + 1e-12)
  const rdp = linearRdp(blocks / (2 * z * z), orders)
  const g = rdpToDp(orders, rdp, s.delta)
  return { M, K: s.K, radius: R, steps, z, rdp, orders, epsilon: g.epsilon, delta: s.delta }
}

// ----------------------------------------------------------------------------- node side

/** Raw rows clipped to the public box (a missing value, NaN, stays NaN). */
function clipToBox(X: Mat, b: ReleaseBounds): Mat {
  const out = new Float64Array(X.data)
  for (let i = 0; i < X.rows; i++) {
    for (let j = 0; j < X.cols; j++) {
      const k = i * X.cols + j
      out[k] = Math.min(b.upper[j], Math.max(b.lower[j], out[k]))
    }
  }
  return mat(X.rows, X.cols, out)
}

/** Released rows: (clip_box(x) - shift) / scale, then clipped to the ball of radius a around 0; a missing entry at 0 (the released mean). */
export function releasedRows(X: Mat, bounds: ReleaseBounds, transform: ReleasedTransform, radius: number): Mat {
  const box = clipToBox(X, bounds)
  const M = X.cols
  const a = radius / 2
  const out = box.data
  for (let i = 0; i < X.rows; i++) {
    let n2 = 0
    for (let j = 0; j < M; j++) {
      const x = out[i * M + j]
      const v = Number.isNaN(x) ? 0 : (x - transform.shift[j]) / transform.scale[j]
      out[i * M + j] = v
      n2 += v * v
    }
    const n = Math.sqrt(n2)
    if (n > a) for (let j = 0; j < M; j++) out[i * M + j] *= a / n
  }
  return box
}

export interface ReleasedTransform {
  shift: Float64Array
  scale: Float64Array
}

/** The released mixture in standardised coordinates (the public state between steps). */
export interface ReleasedMixture {
  means: Mat
  precisions: Mat[]
  weights: Float64Array
  /** Noisy counts N_k of the last step (the first step: the row count / K). */
  counts: Float64Array
}

/** The public state of a release in progress: what every node knows after each step. */
export interface ReleaseState {
  transform: ReleasedTransform | null
  /** Row count of the network (public under replace-one). */
  rows: number
  mixture: ReleasedMixture | null
}

/**
 * This node's contribution to `step` (without noise): the exact entries, then every block
 * in order. `state` is the public state after the previous steps.
 */
export function stepContribution(plan: GgmReleasePlan, step: StepSpec, X: Mat, bounds: ReleaseBounds, state: ReleaseState): Float64Array {
  const M = plan.M
  const len = step.exact + step.blocks.reduce((n, b) => n + b.length, 0)
  const v = new Float64Array(len)
  if (step.kind === 'moments') {
    const box = clipToBox(X, bounds)
    const counted = step.blocks.length === 3
    v[0] = X.rows
    for (let i = 0; i < X.rows; i++) {
      for (let j = 0; j < M; j++) {
        const x = box.data[i * M + j]
        if (Number.isNaN(x)) {
          if (!counted) throw new PrivacySettingsError('the rows hold missing values but the release was planned without them: set the model hyper missing: true (every node)')
          continue
        }
        const half = (bounds.upper[j] - bounds.lower[j]) / 2
        const u = (x - (bounds.lower[j] + half)) / half
        v[1 + j] += u
        v[1 + M + j] += u * u
        if (counted) v[1 + 2 * M + j] += 1
      }
    }
    return v
  }
  if (state.transform === null) throw new PrivacySettingsError(`release step ${step.label} needs the moments step first`)
  const Y = releasedRows(X, bounds, state.transform, plan.radius)
  if (step.kind === 'global') {
    for (let i = 0; i < Y.rows; i++) {
      const y = Y.data.subarray(i * M, (i + 1) * M)
      for (let j = 0; j < M; j++) v[j] += y[j]
      addOuterPacked(v, M, y, 1)
    }
    return v
  }
  const mix = state.mixture
  if (mix === null) throw new PrivacySettingsError(`release step ${step.label} needs the global step first`)
  const K = plan.K
  const P = packedSymLength(M)
  if (Y.rows === 0) return v
  const logW = Float64Array.from(mix.weights, (w) => Math.log(Math.max(w, 1e-300)))
  const e = eStep(Y, logW, mix.means, mix.precisions)
  for (let k = 0; k < K; k++) {
    v[k] = e.nk[k]
    v.set(e.sums.data.subarray(k * M, (k + 1) * M), K + k * M)
    packSym(e.scatter[k].data, M, v, K + K * M + k * P)
  }
  return v
}

/**
 * This node's share of the step's noise: block b gets N(0, (z Delta_b)^2 / (S - 1)) per
 * entry (all of it when S = 1). `noise` must be the node's secret generator.
 */
export function noiseShare(plan: GgmReleasePlan, step: StepSpec, nodes: number, noise: RandomSource): Float64Array {
  const len = step.exact + step.blocks.reduce((n, b) => n + b.length, 0)
  const out = new Float64Array(len)
  const share = 1 / Math.sqrt(Math.max(1, nodes - 1))
  let at = step.exact
  for (const b of step.blocks) {
    const sd = plan.z * b.sensitivity * share
    for (let i = 0; i < b.length; i++) out[at + i] = sd * noise.normal()
    at += b.length
  }
  return out
}

/** The agreed rounding of a step's noisy network sums (see the module comment). */
export function roundToGrid(plan: GgmReleasePlan, step: StepSpec, sums: Float64Array): Float64Array {
  const out = Float64Array.from(sums)
  for (let i = 0; i < step.exact; i++) out[i] = Math.round(out[i])
  let at = step.exact
  for (const b of step.blocks) {
    const g = plan.z * b.sensitivity * AGREEMENT_GRID
    for (let i = 0; i < b.length; i++) out[at + i] = Math.round(out[at + i] / g) * g
    at += b.length
  }
  return out
}

// ----------------------------------------------------------------------------- post-processing

function psdFloor(S: Mat, floor: number): Mat {
  const M = S.rows
  const sym = mat(M, M)
  for (let a = 0; a < M; a++) for (let b = 0; b < M; b++) sym.data[a * M + b] = (S.data[a * M + b] + S.data[b * M + a]) / 2
  const { values, vectors } = eigh(sym)
  const out = mat(M, M)
  for (let k = 0; k < M; k++) {
    const lam = Math.max(values[k], floor)
    for (let a = 0; a < M; a++) {
      const va = vectors.data[a * M + k] * lam
      for (let b = 0; b < M; b++) out.data[a * M + b] += va * vectors.data[b * M + k]
    }
  }
  return out
}

/**
 * Eigenvalue floor of a covariance estimated from a noisy scatter sum over n rows: the
 * noise matrix (entries of std z Delta_C / n) has spectral norm about 2 sqrt(M) z Delta_C / n,
 * so variances much smaller are noise, and a precision built on them would be too. The
 * floor is EIGEN_FLOOR_FACTOR sqrt(M) z Delta_C / n (a quarter of that norm): measured on
 * newthyroid, satellite, pima and shuttle at epsilon 1-8, a quarter kept the most ROC-AUC
 * (larger floors flatten real low-variance directions, smaller ones keep noise).
 */
function eigenFloor(plan: GgmReleasePlan, step: StepSpec, n: number): number {
  const scatter = step.blocks[step.blocks.length - 1]
  return Math.max(MIN_EIGENVALUE, (EIGEN_FLOOR_FACTOR * Math.sqrt(plan.M) * plan.z * scatter.sensitivity) / Math.max(n, 1))
}

function precisionOf(cov: Mat, n: number, rho: number): Mat {
  if (rho > 0) return graphicalLasso(cov, rho / (n + 1), { tol: 1e-8, maxIter: 500 }).precision
  return spdInverse(cov).inverse
}

/** Apply the rounded sums of `step` to the public state (post-processing only). */
export function applyStep(plan: GgmReleasePlan, step: StepSpec, sums: Float64Array, state: ReleaseState, settings: GgmReleaseSettings): ReleaseState {
  const M = plan.M
  if (step.kind === 'moments') {
    const n = sums[0]
    if (!(n >= 1)) throw new PrivacySettingsError(`the network holds ${n} rows; nothing to release`)
    const shift = new Float64Array(M)
    const scale = new Float64Array(M)
    const [sumBlock, squareBlock] = step.blocks
    const counted = step.blocks.length === 3
    for (let j = 0; j < M; j++) {
      const half = (settings.bounds.upper[j] - settings.bounds.lower[j]) / 2
      const mid = settings.bounds.lower[j] + half
      // observed entries of feature j (noisy when counted; at least one)
      const nj = counted ? Math.min(n, Math.max(1, sums[1 + 2 * M + j])) : n
      const mu = Math.min(1, Math.max(-1, sums[1 + j] / nj))
      const second = Math.min(1, Math.max(0, sums[1 + M + j] / nj))
      // Noise floor of the variance estimate (second - mu^2): its std is about
      // (sigma_2 + 2 |mu| sigma_1) / n. A variance below twice that is noise, and a scale that
      // small would blow the feature up and clip it away; too large a scale only compresses
      // the feature, which the covariances then absorb.
      const noiseVar = (plan.z * (squareBlock.sensitivity + 2 * Math.abs(mu) * sumBlock.sensitivity)) / nj
      const sd = Math.sqrt(Math.max(second - mu * mu, 2 * noiseVar, MIN_SCALE_FRACTION ** 2))
      shift[j] = mid + half * mu
      scale[j] = half * sd
    }
    return { transform: { shift, scale }, rows: n, mixture: null }
  }
  const n = state.rows
  if (step.kind === 'global') {
    const mean = new Float64Array(M)
    for (let j = 0; j < M; j++) mean[j] = sums[j] / n
    const C = unpackSym(sums, M, M)
    for (let a = 0; a < M; a++) for (let b = 0; b < M; b++) C[a * M + b] = C[a * M + b] / n - mean[a] * mean[b]
    const cov = psdFloor(mat(M, M, C), eigenFloor(plan, step, n))
    return { ...state, mixture: splitStart(mean, cov, plan.K, n, settings.rho) }
  }
  const prev = state.mixture as ReleasedMixture
  const K = plan.K
  const P = packedSymLength(M)
  const means = mat(K, M)
  const precisions: Mat[] = []
  const counts = new Float64Array(K)
  const global = globalOf(prev)
  for (let k = 0; k < K; k++) {
    const Nk = Math.max(sums[k], 0)
    counts[k] = Nk
    if (Nk < Math.max(settings.minCount, 1)) {
      // too few rows to estimate: reset to the pooled fit; dropped at the end if still empty
      means.data.set(global.mean, k * M)
      precisions.push(global.precision)
      continue
    }
    const mu = means.data.subarray(k * M, (k + 1) * M)
    for (let j = 0; j < M; j++) mu[j] = sums[K + k * M + j] / Nk
    const C = unpackSym(sums, M, K + K * M + k * P)
    for (let a = 0; a < M; a++) for (let b = 0; b < M; b++) C[a * M + b] = C[a * M + b] / Nk - mu[a] * mu[b]
    precisions.push(precisionOf(psdFloor(mat(M, M, C), eigenFloor(plan, step, Nk)), Nk, settings.rho))
  }
  let total = 0
  for (let k = 0; k < K; k++) total += counts[k]
  const weights = Float64Array.from(counts, (c) => Math.max(c, 1e-6 * Math.max(total, 1)) / Math.max(total, 1))
  const wsum = weights.reduce((x, y) => x + y, 0)
  for (let k = 0; k < K; k++) weights[k] /= wsum
  return { ...state, mixture: { means, precisions, weights, counts } }
}

/** Weighted pooled mean and precision of a mixture (for resetting empty components). */
function globalOf(m: ReleasedMixture): { mean: Float64Array; precision: Mat } {
  const M = m.means.cols
  const K = m.means.rows
  const mean = new Float64Array(M)
  for (let k = 0; k < K; k++) for (let j = 0; j < M; j++) mean[j] += m.weights[k] * m.means.data[k * M + j]
  const cov = mat(M, M)
  for (let k = 0; k < K; k++) {
    const S = spdInverse(m.precisions[k]).inverse
    for (let a = 0; a < M; a++) {
      const da = m.means.data[k * M + a] - mean[a]
      for (let b = 0; b < M; b++) cov.data[a * M + b] += m.weights[k] * (S.data[a * M + b] + da * (m.means.data[k * M + b] - mean[b]))
    }
  }
  return { mean, precision: spdInverse(psdFloor(cov, MIN_EIGENVALUE)).inverse }
}

/**
 * The start of EM from the released global mean and covariance: K means spread in pairs
 * along the top principal axes (mu +- sqrt(lambda_j)/2 v_j; the last at mu when K is odd),
 * every precision the global one, equal weights.
 */
function splitStart(mean: Float64Array, cov: Mat, K: number, n: number, rho: number): ReleasedMixture {
  const M = mean.length
  const { values, vectors } = eigh(cov)
  const order = Array.from(values, (v, i) => [v, i] as const).sort((x, y) => y[0] - x[0]).map(([, i]) => i)
  const means = mat(K, M)
  for (let k = 0; k < K; k++) {
    const mu = means.data.subarray(k * M, (k + 1) * M)
    mu.set(mean)
    if (K % 2 === 1 && k === K - 1) continue
    const axis = order[Math.floor(k / 2) % M]
    const sign = k % 2 === 0 ? 1 : -1
    const step = 0.5 * Math.sqrt(Math.max(values[axis], 0))
    for (let j = 0; j < M; j++) mu[j] += sign * step * vectors.data[j * M + axis]
  }
  const precision = precisionOf(cov, n, rho)
  return { means, precisions: Array.from({ length: K }, () => precision), weights: new Float64Array(K).fill(1 / K), counts: new Float64Array(K).fill(n / K) }
}

// ----------------------------------------------------------------------------- the file

export interface ReleasedGgmFile {
  format: typeof GGM_RELEASE_FORMAT
  version: typeof GGM_RELEASE_VERSION
  kind: 'ggm'
  dim: number
  K: number
  means: number[][]
  precisions: number[][][]
  weights: number[]
  transform: { shift: number[]; scale: number[] }
  /** Score above which a row is flagged: `quantile` of the model's own score distribution. */
  threshold: { quantile: number; value: number }
  privacy: {
    mechanism: 'dp-em-gaussian'
    reference: string
    /** Network-level (epsilon, delta): the guarantee of every training row of every member. */
    epsilon: number
    delta: number
    adjacency: 'replace one row of one member'
    noiseMultiplier: number
    steps: { label: string; blocks: { name: string; sensitivity: number; noiseStd: number }[] }[]
    members: number
    noisePerMember: string
    settings: { bounds: { lower: number[]; upper: number[] }; radius: number; iterations: number; minCount: number; rho: number }
    covers: string
    assumptions: string
  }
}

const COVERS =
  'every number in this file: the standardisation, the means, precisions and weights, the number of components and the threshold ' +
  'are computed from the noisy network sums of the steps listed and from public settings only'
const ASSUMPTIONS =
  'features are clipped to the public bounds and released rows to radius R/2; the noise is split over the members so that ' +
  'the network sum carries the full variance even with one member\'s share missing or known; the total row count is public (replace-one adjacency)'

/** Drop components that ended below minCount, draw the threshold, and write the file. */
export function releasedFile(plan: GgmReleasePlan, state: ReleaseState, settings: GgmReleaseSettings, members: number): ReleasedGgmFile {
  const mix = state.mixture
  const tr = state.transform
  if (mix === null || tr === null) throw new PrivacySettingsError('the release has not run all its steps')
  const M = plan.M
  const keep: number[] = []
  for (let k = 0; k < plan.K; k++) if (mix.counts[k] >= Math.max(settings.minCount, 1)) keep.push(k)
  if (keep.length === 0) throw new PrivacySettingsError(`every released component has a noisy count below minCount ${settings.minCount}; lower it or release with fewer components`)
  const wsum = keep.reduce((a, k) => a + mix.weights[k], 0)
  const rows = (d: ArrayLike<number>, r: number, c: number): number[][] => Array.from({ length: r }, (_, i) => Array.from({ length: c }, (_, j) => d[i * c + j]))
  const file: ReleasedGgmFile = {
    format: GGM_RELEASE_FORMAT,
    version: GGM_RELEASE_VERSION,
    kind: 'ggm',
    dim: M,
    K: keep.length,
    means: keep.map((k) => Array.from(mix.means.data.subarray(k * M, (k + 1) * M))),
    precisions: keep.map((k) => rows(mix.precisions[k].data, M, M)),
    weights: keep.map((k) => mix.weights[k] / wsum),
    transform: { shift: Array.from(tr.shift), scale: Array.from(tr.scale) },
    threshold: { quantile: settings.thresholdQuantile, value: 0 },
    privacy: {
      mechanism: 'dp-em-gaussian',
      reference: 'DP-EM with noisy sufficient statistics (Park et al. 2017; Analyze Gauss, Dwork et al. 2014); collabdict src/privacy/ggm-release.ts',
      epsilon: plan.epsilon,
      delta: plan.delta,
      adjacency: 'replace one row of one member',
      noiseMultiplier: plan.z,
      steps: plan.steps.map((st) => ({ label: st.label, blocks: st.blocks.map((b) => ({ name: b.name, sensitivity: b.sensitivity, noiseStd: plan.z * b.sensitivity })) })),
      members,
      noisePerMember: members > 1 ? `N(0, (z Delta)^2 / ${members - 1}) per entry` : 'N(0, (z Delta)^2) per entry',
      settings: {
        bounds: { lower: Array.from(settings.bounds.lower), upper: Array.from(settings.bounds.upper) },
        radius: plan.radius,
        iterations: settings.iterations,
        minCount: settings.minCount,
        rho: settings.rho,
      },
      covers: COVERS,
      assumptions: ASSUMPTIONS,
    },
  }
  file.threshold.value = cachedThreshold(file, settings.thresholdQuantile, settings.seed)
  return file
}

/**
 * sampledThreshold is a pure function of the released values, the quantile and the public
 * seed, and every member of a network computes it on the same released file: in one
 * process (the simulator hosts thousands of members) the result is computed once and
 * looked up by those inputs (20,000 scored samples cost ~50 ms per member otherwise).
 */
const thresholdCache = new Map<string, number>()
const THRESHOLD_CACHE_SIZE = 8

function cachedThreshold(f: ReleasedGgmFile, quantile: number, seed: GgmReleaseSettings['seed']): number {
  const key = JSON.stringify([quantile, typeof seed, seed, f.dim, f.K, f.means, f.precisions, f.weights])
  const hit = thresholdCache.get(key)
  if (hit !== undefined) return hit
  // Not privacy noise: the threshold is post-processing of the already-DP released values,
  // and every member must derive the same one from the same file, so its sampler is keyed
  // by the public release seed (the release's own noise comes from each member's secret).
  const v = sampledThreshold(f, quantile, new Rng(seed).fork('release/threshold'))
  thresholdCache.set(key, v)
  if (thresholdCache.size > THRESHOLD_CACHE_SIZE) thresholdCache.delete(thresholdCache.keys().next().value as string)
  return v
}

/**
 * The `quantile` of the model's eq. 20 scores on THRESHOLD_SAMPLES rows drawn from the
 * model itself (standardised coordinates; public seed): derived from released values only.
 */
function sampledThreshold(f: ReleasedGgmFile, quantile: number, rng: Rng): number {
  const M = f.dim
  const K = f.K
  const X = mat(THRESHOLD_SAMPLES, M)
  const chol = f.precisions.map((P) => {
    const cov = spdInverse(mat(M, M, Float64Array.from(P.flat()))).inverse
    // lower Cholesky factor of the covariance
    const L = new Float64Array(M * M)
    for (let i = 0; i < M; i++) {
      for (let j = 0; j <= i; j++) {
        let s = cov.data[i * M + j]
        for (let k = 0; k < j; k++) s -= L[i * M + k] * L[j * M + k]
        L[i * M + j] = i === j ? Math.sqrt(Math.max(s, 1e-300)) : s / L[j * M + j]
      }
    }
    return L
  })
  const cum = new Float64Array(K)
  f.weights.reduce((a, w, k) => (cum[k] = a + w), 0)
  const e = new Float64Array(M)
  for (let n = 0; n < THRESHOLD_SAMPLES; n++) {
    const u = rng.uniform() * cum[K - 1]
    let k = 0
    while (k < K - 1 && u >= cum[k]) k++
    rng.fillNormal(e)
    const L = chol[k]
    for (let i = 0; i < M; i++) {
      let v = f.means[k][i]
      for (let j = 0; j <= i; j++) v += L[i * M + j] * e[j]
      X.data[n * M + i] = v
    }
  }
  const scores = scoreMixture(mixtureOf(f, false), X)
  scores.sort()
  return scores[Math.min(scores.length - 1, Math.floor(quantile * scores.length))]
}

/** The released file as plain mixture parameters (for src/privacy/mixture-score.ts). */
function mixtureOf(f: ReleasedGgmFile, withTransform: boolean): MixtureParams {
  return { dim: f.dim, K: f.K, means: f.means, precisions: f.precisions, weights: f.weights, transform: withTransform ? f.transform : null }
}

/** Score raw rows with a released file (eq. 20 after its transform). Higher = more anomalous. */
export function scoreReleasedGgm(f: ReleasedGgmFile, X: Mat): Float64Array {
  return scoreMixture(mixtureOf(f, true), X)
}

/** ln p(x) of raw rows under a released file (standardised coordinates, no Jacobian). */
export function logDensityReleasedGgm(f: ReleasedGgmFile, X: Mat): Float64Array {
  return logDensityMixture(mixtureOf(f, true), X)
}

export class ReleasedModelError extends Error {
  override name = 'ReleasedModelError'
}

const finite = z.number().finite()
const ReleasedGgmSchema = z.object({
  format: z.literal(GGM_RELEASE_FORMAT),
  version: z.literal(GGM_RELEASE_VERSION),
  kind: z.literal('ggm'),
  dim: z.number().int().positive(),
  K: z.number().int().positive(),
  means: z.array(z.array(finite)),
  precisions: z.array(z.array(z.array(finite))),
  weights: z.array(finite.nonnegative()),
  transform: z.object({ shift: z.array(finite), scale: z.array(finite.positive()) }),
  threshold: z.object({ quantile: z.number().gt(0).lt(1), value: finite }),
  privacy: z.object({
    mechanism: z.literal('dp-em-gaussian'),
    reference: z.string(),
    epsilon: finite.nonnegative(),
    delta: z.number().gt(0).lt(1),
    adjacency: z.literal('replace one row of one member'),
    noiseMultiplier: finite.positive(),
    steps: z.array(z.object({ label: z.string(), blocks: z.array(z.object({ name: z.string(), sensitivity: finite.positive(), noiseStd: finite.positive() })) })),
    members: z.number().int().positive(),
    noisePerMember: z.string(),
    settings: z.object({
      bounds: z.object({ lower: z.array(finite), upper: z.array(finite) }),
      radius: finite.positive(),
      iterations: z.number().int().positive(),
      minCount: finite.nonnegative(),
      rho: finite.nonnegative(),
    }),
    covers: z.string(),
    assumptions: z.string(),
  }),
})

/** Parse and validate a released model file (e.g. JSON.parse of released.json). Throws ReleasedModelError. */
export function loadReleasedGgm(json: unknown): ReleasedGgmFile {
  const r = ReleasedGgmSchema.safeParse(json)
  if (!r.success) {
    throw new ReleasedModelError(
      `not a released model of format ${GGM_RELEASE_FORMAT} v${GGM_RELEASE_VERSION}: ${r.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    )
  }
  const m = r.data
  const M = m.dim
  const bad =
    m.means.length !== m.K || m.precisions.length !== m.K || m.weights.length !== m.K ||
    m.means.some((row) => row.length !== M) ||
    m.precisions.some((P) => P.length !== M || P.some((row) => row.length !== M)) ||
    m.transform.shift.length !== M || m.transform.scale.length !== M
  if (bad) throw new ReleasedModelError(`released model shapes disagree with K = ${m.K}, dim = ${M}`)
  return m
}
