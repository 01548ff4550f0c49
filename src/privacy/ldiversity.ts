/**
 * Internal exposure monitor: entropy l-diversity (eq. 47-48) of what a node shares with
 * its peers, and the perturbation that restores it.
 *
 * What a node shares for component k is m_k^s = sum_n r_k^(n) x_n together with N_k^s
 * (and C_k^s). m_k^s / N_k^s is the average of the node's samples under the weights
 * g_k(n) = r_k^(n) / N_k^s (eq. 47); when one sample dominates g_k, m_k^s / N_k^s is
 * nearly that sample. The monitor computes H_k = -sum_n g_k(n) ln g_k(n) (eq. 48) for every
 * component and declares the node exposed when min_k H_k < ln l0. The paper's reading
 * (max_k H_k < ln l0, weaker: only flags when every component is concentrated) is reported
 * beside it.
 *
 * Perturbation (what exactly is perturbed): for each exposed component k the node adds L
 * pseudo-samples z_1..z_L, each with weight tau/L, to its contribution before sharing:
 *   N_k^s += tau,  m_k^s += (tau/L) sum_l z_l,  C_k^s += (tau/L) sum_l z_l z_l^T,
 * with z_l drawn from the posterior of the pattern (DESIGN.md, Privacy): N(w_k, c (lambda_k Lambda_k)^-1),
 * c = 1 ("posterior", the paper's noise) or c = lambda_k + 1 ("predictive": the posterior
 * predictive covariance (1 + 1/lambda_k) Lambda_k^-1, which keeps E[C_k] consistent).
 * The perturbed m_k^s is then the average of N real samples and L pseudo-samples under the
 * effective weights g'_k = (r_k^(1), ..., r_k^(N), tau/L, ..., tau/L) / (N_k^s + tau).
 *
 * Property (proved in `mixedEntropy`, checked in test/privacy/ldiversity.test.ts): with
 * t = tau / (N_k^s + tau), H(g'_k) = h(t) + (1 - t) H(g_k) + t ln L, where h is the binary
 * entropy. As a function of t this is concave with maximum ln(e^{H(g_k)} + L) at
 * t* = L / (L + e^{H(g_k)}), so with L >= ceil(l0) pseudo-samples the target ln l0 is
 * always reachable; we take the smallest t in [0, t*] that reaches it (bisection on the
 * increasing branch), so H(g'_k) >= ln l0 holds exactly, with the least added weight.
 */
import { addOuterPacked, mat, packedSymLength, type Mat } from '../numeric/matrix.js'
import { PrivacySettingsError } from './errors.js'
import type { LedgerEntry, PrivacyLedger } from './ledger.js'
import type { NoiseRng } from './mechanisms.js'
import { samplePrecisionGaussian } from './theorem1.js'

/** Components whose local weight N_k^s is below this have nothing to expose (m_k^s ~ 0). */
export const EMPTY_COMPONENT_WEIGHT = 1e-12

export interface EntropyReport {
  /** H_k per component (eq. 48); NaN for empty components (N_k^s < EMPTY_COMPONENT_WEIGHT). */
  entropies: Float64Array
  /** N_k^s per component. */
  nk: Float64Array
  /** min_k H_k over non-empty components (Infinity if all empty). */
  min: number
  /** max_k H_k over non-empty components (the paper's reading; -Infinity if all empty). */
  max: number
  /** Component attaining the minimum (-1 if all empty). */
  argmin: number
  /** ln l0. */
  threshold: number
  /** min_k H_k < ln l0: some component is dominated by fewer than ~l0 samples. */
  exposed: boolean
  /** The paper's reading: max_k H_k < ln l0. */
  exposedMax: boolean
  /** Components with H_k < ln l0. */
  exposedComponents: number[]
}

function checkL0(l0: number): void {
  if (!(l0 >= 1) || !Number.isFinite(l0)) {
    throw new PrivacySettingsError(`l-diversity level l0 must be a finite number >= 1, got ${l0}; e.g. 5 means "at least as diverse as 5 equally weighted samples"`)
  }
}

/**
 * Per-component entropy of g_k(n) = r_k^(n) / N_k^s (eq. 47-48) from the N x K
 * responsibility matrix, and the exposure verdicts for level l0.
 */
export function componentEntropies(resp: Mat, l0: number): EntropyReport {
  checkL0(l0)
  const { rows: n, cols: k } = resp
  const nk = new Float64Array(k)
  const sumRLogR = new Float64Array(k)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      const r = resp.data[i * k + j]
      if (!(r >= 0)) throw new PrivacySettingsError(`responsibility (${i}, ${j}) = ${r} is negative or NaN; pass the E-step's r_k^(n)`)
      nk[j] += r
      if (r > 0) sumRLogR[j] += r * Math.log(r)
    }
  }
  const entropies = new Float64Array(k)
  const threshold = Math.log(l0)
  let min = Infinity
  let max = -Infinity
  let argmin = -1
  const exposedComponents: number[] = []
  for (let j = 0; j < k; j++) {
    if (nk[j] < EMPTY_COMPONENT_WEIGHT) {
      entropies[j] = NaN
      continue
    }
    // H = -sum g ln g with g = r / N  =>  H = ln N - (1/N) sum r ln r
    const h = Math.max(0, Math.log(nk[j]) - sumRLogR[j] / nk[j]) // eq. 48
    entropies[j] = h
    if (h < min) {
      min = h
      argmin = j
    }
    if (h > max) max = h
    if (h < threshold) exposedComponents.push(j)
  }
  return {
    entropies,
    nk,
    min,
    max,
    argmin,
    threshold,
    exposed: min < threshold,
    exposedMax: max < threshold,
    exposedComponents,
  }
}

/** Entropy of a weight vector normalised to sum 1 (zero weights contribute 0). */
export function weightEntropy(w: ArrayLike<number>): number {
  let s = 0
  for (let i = 0; i < w.length; i++) s += w[i]
  let h = 0
  for (let i = 0; i < w.length; i++) {
    if (w[i] > 0) {
      const g = w[i] / s
      h -= g * Math.log(g)
    }
  }
  return h
}

function binaryEntropy(t: number): number {
  if (t <= 0 || t >= 1) return 0
  return -t * Math.log(t) - (1 - t) * Math.log1p(-t)
}

/**
 * Entropy of the mixture with disjoint supports (1 - t) g (+) t u_L, u_L uniform on L points:
 * H = -sum (1-t) g ln((1-t) g) - L (t/L) ln(t/L) = h(t) + (1 - t) H(g) + t ln L.
 */
export function mixedEntropy(h: number, t: number, L: number): number {
  return binaryEntropy(t) + (1 - t) * h + t * Math.log(L)
}

/**
 * Smallest mixing fraction t in [0, t*] with mixedEntropy(h, t, L) >= target, where
 * t* = L / (L + e^h) maximises the (concave) mixed entropy. Returns 0 when h >= target.
 * Throws if the target is unreachable (needs ln(e^h + L) >= target, i.e. L >= l0 - e^h).
 */
export function minimalMixingFraction(h: number, target: number, L: number): number {
  if (h >= target) return 0
  const tStar = L / (L + Math.exp(h))
  if (mixedEntropy(h, tStar, L) < target) {
    throw new PrivacySettingsError(`l-diversity target ${target.toFixed(4)} unreachable with ${L} pseudo-samples; use at least ceil(l0) of them`)
  }
  let lo = 0
  let hi = tStar
  for (let it = 0; it < 200 && hi - lo > 1e-15; it++) {
    const mid = 0.5 * (lo + hi)
    if (mixedEntropy(h, mid, L) >= target) hi = mid
    else lo = mid
  }
  return hi // mixedEntropy(h, hi, L) >= target by the bisection invariant
}

// ---------------------------------------------------------------------------------------
// Perturbation before sharing

/**
 * Layout of a packed statistics vector: `header` leading entries, then per component k a
 * block [N_k^s, m_k^s (M), C_k^s (upper triangle row-major, M(M+1)/2; packSym)] (the GGM's eq. 13 layout,
 * src/models/ggm: header = STATS_HEADER = 2).
 */
export interface StatsLayout {
  header: number
  K: number
  M: number
}

/** The posterior the pseudo-samples come from (current global model, model coordinates). */
export interface PosteriorNoise {
  /** w_k, K x M. */
  means: Mat
  /** Lambda_k, K of M x M. */
  precisions: Mat[]
  /** lambda_k = lambda0 + Nbar_k, length K. */
  lambdas: Float64Array
}

export interface PerturbOptions {
  /** l-diversity level: target H_k >= ln l0 for every component. */
  l0: number
  /** Pseudo-samples per exposed component, L >= ceil(l0) (default ceil(l0)). */
  pseudoSamples?: number
  /** 'posterior': z ~ N(w_k, (lambda_k Lambda_k)^-1) (the paper); 'predictive': covariance (1 + 1/lambda_k) Lambda_k^-1. */
  noise?: 'posterior' | 'predictive'
  /** Ledger label (default 'l-diversity perturbation'). */
  label?: string
}

export interface ComponentPerturbation {
  k: number
  /** H_k before (eq. 48). */
  before: number
  /** H(g'_k) after, = h(t) + (1 - t) H_k + t ln L (>= ln l0). */
  after: number
  /** Mixing fraction t = tau / (N_k^s + tau). */
  t: number
  /** Total pseudo-weight tau added to N_k^s. */
  tau: number
  /** The L pseudo-samples (L x M), each added with weight tau / L (kept local, for audit). */
  samples: Mat
}

export interface PerturbResult {
  /** The statistics vector to share (a copy; the input is not modified). */
  stats: Float64Array
  /** Monitor report on the unperturbed contribution. */
  report: EntropyReport
  /** One record per perturbed component (empty when not exposed). */
  perturbed: ComponentPerturbation[]
  /** Ledger entry of the perturbation (null when nothing was perturbed). */
  entry: LedgerEntry | null
}

/**
 * Monitor the contribution and, when exposed (min_k H_k < ln l0), perturb every exposed
 * component with L pseudo-samples from the posterior so that the effective weights of the
 * shared m_k^s have entropy >= ln l0 (module comment), log the perturbation to the ledger
 * (audience `peers`, kind 'ldiversity-perturbation'; it records the event and makes no RDP
 * claim, so its RDP curve is zero), and return the vector to share.
 */
export function protectContribution(
  stats: Float64Array,
  resp: Mat,
  layout: StatsLayout,
  posterior: PosteriorNoise,
  rng: NoiseRng,
  ledger: PrivacyLedger | null,
  opts: PerturbOptions,
): PerturbResult {
  const { header, K, M } = layout
  const block = 1 + M + packedSymLength(M)
  if (stats.length !== header + K * block) {
    throw new PrivacySettingsError(`statistics vector has ${stats.length} values, layout (header ${header}, K ${K}, M ${M}) needs ${header + K * block}`)
  }
  if (resp.cols !== K) throw new PrivacySettingsError(`responsibilities have ${resp.cols} columns for K = ${K} components`)
  if (posterior.means.rows !== K || posterior.precisions.length !== K || posterior.lambdas.length !== K) {
    throw new PrivacySettingsError(`posterior has ${posterior.means.rows} means / ${posterior.precisions.length} precisions for K = ${K}`)
  }
  const L = opts.pseudoSamples ?? Math.ceil(opts.l0)
  if (!Number.isInteger(L) || L < Math.ceil(opts.l0)) {
    throw new PrivacySettingsError(`pseudoSamples must be an integer >= ceil(l0) = ${Math.ceil(opts.l0)}, got ${L}`)
  }
  const report = componentEntropies(resp, opts.l0)
  const out = Float64Array.from(stats)
  const perturbed: ComponentPerturbation[] = []
  const target = Math.log(opts.l0)
  for (const k of report.exposedComponents) {
    const at = header + k * block
    const nk = stats[at]
    const h = report.entropies[k]
    const t = minimalMixingFraction(h, target, L)
    const tau = (t * nk) / (1 - t)
    const c = opts.noise === 'predictive' ? posterior.lambdas[k] + 1 : 1
    const P = posterior.precisions[k]
    const scaledP = mat(M, M, Float64Array.from(P.data, (v) => (v * posterior.lambdas[k]) / c))
    const samples = samplePrecisionGaussian(posterior.means.data.subarray(k * M, (k + 1) * M), scaledP, L, rng)
    const w = tau / L
    out[at] += tau
    for (let l = 0; l < L; l++) {
      const z = samples.data.subarray(l * M, (l + 1) * M)
      for (let a = 0; a < M; a++) out[at + 1 + a] += w * z[a]
      addOuterPacked(out, at + 1 + M, z, w)
    }
    perturbed.push({ k, before: h, after: mixedEntropy(h, t, L), t, tau, samples })
  }
  let entry: LedgerEntry | null = null
  if (perturbed.length > 0 && ledger !== null) {
    entry = ledger.charge({
      kind: 'ldiversity-perturbation',
      audience: 'peers',
      label: opts.label ?? 'l-diversity perturbation',
      rdp: new Float64Array(ledger.orders.length),
      details: {
        l0: opts.l0,
        pseudoSamples: L,
        noise: opts.noise ?? 'posterior',
        components: perturbed.map((p) => p.k),
        entropyBefore: perturbed.map((p) => p.before),
        entropyAfter: perturbed.map((p) => p.after),
        tau: perturbed.map((p) => p.tau),
        minEntropy: report.min,
        maxEntropy: report.max,
      },
    })
  }
  return { stats: out, report, perturbed, entry }
}
