/**
 * Noise mechanisms of the reference papers, usable on consensus contributions and on data:
 * - Gaussian mechanism with L2 clipping, the "mix-up" noise of the global-DP paper (ref. 2):
 *   sigma = c Delta / epsilon, c = sqrt(2 ln(1.25/delta)) (Dwork & Roth 2014, Thm. A.1);
 *   and its distributed form, each of S nodes adding N(0, sigma^2/S) so the sum carries sigma.
 * - Laplace local DP on inputs (ref. 3): each feature clipped to [lower, upper] and
 *   perturbed with Laplace noise, the record-level epsilon split evenly over features.
 * - DP-SGD (Abadi et al. 2016; ref. 3, 4): per-sample L2 clipping, Gaussian noise on the
 *   summed gradient, accounted per step with the Poisson-subsampled Gaussian RDP.
 *
 * Every mechanism that writes to a ledger charges it BEFORE returning the noisy output
 * (and returns nothing when the charge is refused). All randomness comes from the injected
 * generator (src/numeric/rng.ts `Rng`; only `uniform()` and `normal()` are used).
 */
import type { Mat } from '../numeric/matrix.js'
import { PrivacySettingsError } from './errors.js'
import type { Audience, LedgerDetails, LedgerEntry, PrivacyLedger } from './ledger.js'
import { checkOrders, gaussianRdp, subsampledGaussianRdp } from './rdp.js'

/** The part of `Rng` (src/numeric/rng.ts) the mechanisms draw from. */
export interface NoiseRng {
  /** Uniform on [0, 1). */
  uniform(): number
  /** Standard normal. */
  normal(): number
}

function positive(x: number, name: string, hint: string): void {
  if (!(x > 0) || !Number.isFinite(x)) throw new PrivacySettingsError(`${name} must be a positive finite number, got ${x}; ${hint}`)
}

function checkDelta(delta: number): void {
  if (!(delta > 0 && delta < 1)) throw new PrivacySettingsError(`delta must be in (0, 1), got ${delta}; typical values are 1e-5 or 1/(10 N)`)
}

// ---------------------------------------------------------------------------------------
// Gaussian mechanism

/** c = sqrt(2 ln(1.25 / delta)) of the classical Gaussian mechanism (ref. 2). */
export function gaussianC(delta: number): number {
  checkDelta(delta)
  return Math.sqrt(2 * Math.log(1.25 / delta))
}

/**
 * Noise std of the classical Gaussian mechanism: sigma = c Delta / epsilon (ref. 2;
 * Dwork & Roth Thm. A.1, proved for epsilon < 1). For epsilon >= 1 the calibration is the
 * one the reference paper uses but is not a proved (epsilon, delta) guarantee; the ledger
 * therefore records the exact RDP curve of the noise actually added,
 * alpha Delta^2 / (2 sigma^2), which holds for every epsilon.
 */
export function gaussianSigma(epsilon: number, delta: number, sensitivity: number): number {
  positive(epsilon, 'epsilon', 'pass the per-release epsilon')
  positive(sensitivity, 'sensitivity', 'it is the clipping norm (or twice it for replace-one adjacency)')
  return (gaussianC(delta) * sensitivity) / epsilon
}

/** L2-clip a vector to norm <= bound (copy): v * min(1, bound / ||v||). Returns the vector and its original norm. */
export function clipL2(v: ArrayLike<number>, bound: number): { clipped: Float64Array; norm: number } {
  positive(bound, 'clipping bound', 'choose it from a public estimate of typical norms')
  let ss = 0
  for (let i = 0; i < v.length; i++) ss += v[i] * v[i]
  const norm = Math.sqrt(ss)
  const scale = norm > bound ? bound / norm : 1
  const clipped = new Float64Array(v.length)
  for (let i = 0; i < v.length; i++) clipped[i] = v[i] * scale
  return { clipped, norm }
}

export interface GaussianOptions {
  /** L2 clipping bound B applied to the vector before noise. */
  clip: number
  /** Noise std of the (total) Gaussian noise. */
  sigma: number
  /**
   * L2 sensitivity of the clipped quantity; default = clip (one record's vector added or
   * removed). Use 2 * clip for replace-one adjacency.
   */
  sensitivity?: number
}

/** Clip v to norm B and add N(0, sigma^2 I) (ref. 2's mix-up noise). Pure: no accounting. */
export function gaussianMechanism(v: ArrayLike<number>, opts: GaussianOptions, rng: NoiseRng): Float64Array {
  positive(opts.sigma, 'sigma', 'derive it with gaussianSigma(epsilon, delta, sensitivity)')
  const { clipped } = clipL2(v, opts.clip)
  for (let i = 0; i < clipped.length; i++) clipped[i] += opts.sigma * rng.normal()
  return clipped
}

/**
 * Distributed Gaussian mechanism: this node's share of the noise, N(0, sigma^2 / S), added
 * to its clipped contribution. Summed over S nodes (consensus), the total noise is
 * N(0, sigma^2) and the sum enjoys the guarantee of sigma. Caveat: each individual
 * contribution carries only sigma / sqrt(S); the guarantee assumes all S nodes add their
 * share and peers see only the sum (random chunking / Shamir protect the parts).
 */
export function distributedGaussianShare(v: ArrayLike<number>, opts: GaussianOptions & { nodes: number }, rng: NoiseRng): Float64Array {
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1) throw new PrivacySettingsError(`nodes must be a positive integer (S), got ${opts.nodes}`)
  return gaussianMechanism(v, { ...opts, sigma: opts.sigma / Math.sqrt(opts.nodes) }, rng)
}

/** RDP curve of one Gaussian mechanism application: alpha Delta^2 / (2 sigma^2) (Mironov 2017). */
export function gaussianMechanismRdp(opts: GaussianOptions, orders: ArrayLike<number>): Float64Array {
  return gaussianRdp(opts.sigma, opts.sensitivity ?? opts.clip, 1, orders)
}

/**
 * Gaussian mechanism with accounting: charges the ledger (exact Gaussian RDP of sigma),
 * then returns the noisy clipped vector. Throws PrivacyBudgetExceededError (no output) when
 * the external budget would be exceeded.
 */
export function gaussianMechanismAccounted(
  v: ArrayLike<number>,
  opts: GaussianOptions,
  rng: NoiseRng,
  ledger: PrivacyLedger,
  audience: Audience,
  label: string,
): { noisy: Float64Array; entry: LedgerEntry } {
  const rdp = gaussianMechanismRdp(opts, ledger.orders)
  const entry = ledger.charge({
    kind: 'gaussian',
    label,
    audience,
    rdp,
    details: { clip: opts.clip, sigma: opts.sigma, sensitivity: opts.sensitivity ?? opts.clip, dim: v.length },
  })
  return { noisy: gaussianMechanism(v, opts, rng), entry }
}

// ---------------------------------------------------------------------------------------
// Laplace local DP on inputs

/** One Laplace(0, b) draw by inversion: -b sgn(u) ln(1 - 2|u|), u uniform on (-1/2, 1/2). */
export function laplace(b: number, rng: NoiseRng): number {
  let u = rng.uniform() - 0.5
  while (u === -0.5) u = rng.uniform() - 0.5
  return -b * Math.sign(u) * Math.log(1 - 2 * Math.abs(u))
}

export interface LaplaceLdpOptions {
  /** Record-level epsilon (pure epsilon-LDP per row). */
  epsilon: number
  /** Per-feature lower clipping bounds (length M). */
  lower: ArrayLike<number>
  /** Per-feature upper clipping bounds (length M). */
  upper: ArrayLike<number>
}

/**
 * Laplace local DP on inputs: each feature j clipped to [l_j, u_j] and perturbed with
 * Laplace(0, b_j), b_j = M (u_j - l_j) / epsilon, so each row is epsilon-LDP (the epsilon
 * splits evenly over the M features: sum_j (u_j - l_j)/b_j = epsilon). Returns a new matrix.
 */
export function laplaceLocalDp(x: Mat, opts: LaplaceLdpOptions, rng: NoiseRng): Mat {
  positive(opts.epsilon, 'epsilon', 'pass the per-record local epsilon')
  const m = x.cols
  if (opts.lower.length !== m || opts.upper.length !== m) {
    throw new PrivacySettingsError(`lower/upper bounds need ${m} values (one per feature), got ${opts.lower.length}/${opts.upper.length}`)
  }
  const b = new Float64Array(m)
  for (let j = 0; j < m; j++) {
    const w = opts.upper[j] - opts.lower[j]
    if (!(w > 0)) throw new PrivacySettingsError(`feature ${j}: upper bound ${opts.upper[j]} must exceed lower bound ${opts.lower[j]}`)
    b[j] = (m * w) / opts.epsilon
  }
  const out = new Float64Array(x.data.length)
  for (let i = 0; i < x.rows; i++) {
    for (let j = 0; j < m; j++) {
      const v = Math.min(opts.upper[j], Math.max(opts.lower[j], x.data[i * m + j]))
      out[i * m + j] = v + laplace(b[j], rng)
    }
  }
  return { rows: x.rows, cols: m, data: out }
}

/**
 * RDP of the Laplace mechanism with sensitivity/scale ratio 1/b = eps0 (Mironov 2017, Prop. 6):
 * eps(alpha) = 1/(alpha-1) ln( alpha/(2alpha-1) e^{(alpha-1) eps0} + (alpha-1)/(2alpha-1) e^{-alpha eps0} ).
 */
export function laplaceRdp(eps0: number, orders: ArrayLike<number>): Float64Array {
  checkOrders(orders)
  positive(eps0, 'eps0', 'it is sensitivity / Laplace scale')
  const out = new Float64Array(orders.length)
  for (let i = 0; i < orders.length; i++) {
    const a = orders[i]
    // log-sum-exp of the two terms for stability at large alpha * eps0
    const t1 = Math.log(a / (2 * a - 1)) + (a - 1) * eps0
    const t2 = Math.log((a - 1) / (2 * a - 1)) - a * eps0
    const hi = Math.max(t1, t2)
    out[i] = Math.min((hi + Math.log(Math.exp(t1 - hi) + Math.exp(t2 - hi))) / (a - 1), eps0)
  }
  return out
}

/** RDP curve of laplaceLocalDp on one record with M features: M Laplace mechanisms at eps0 = epsilon / M. */
export function laplaceLocalDpRdp(epsilon: number, features: number, orders: ArrayLike<number>): Float64Array {
  const one = laplaceRdp(epsilon / features, orders)
  for (let i = 0; i < one.length; i++) one[i] *= features
  return one
}

// ---------------------------------------------------------------------------------------
// DP-SGD

/**
 * Per-sample L2 clipping and noisy sum (Abadi et al. 2016): g = sum_i clip(g_i, C) + N(0, (z C)^2 I).
 * `grads` is B x P (one row per sample's gradient). Returns the noisy sum (divide by the
 * expected batch size for the mean) and how many rows were clipped.
 */
export function dpSgdNoisySum(
  grads: Mat,
  opts: { clip: number; noiseMultiplier: number },
  rng: NoiseRng,
): { sum: Float64Array; clippedRows: number } {
  positive(opts.clip, 'clip', 'the per-sample gradient norm bound C')
  positive(opts.noiseMultiplier, 'noiseMultiplier', 'noise std / C, typically 0.5-2')
  const p = grads.cols
  const sum = new Float64Array(p)
  let clippedRows = 0
  for (let i = 0; i < grads.rows; i++) {
    const row = grads.data.subarray(i * p, (i + 1) * p)
    let ss = 0
    for (let j = 0; j < p; j++) ss += row[j] * row[j]
    const norm = Math.sqrt(ss)
    const s = norm > opts.clip ? opts.clip / norm : 1
    if (s < 1) clippedRows++
    for (let j = 0; j < p; j++) sum[j] += row[j] * s
  }
  const std = opts.noiseMultiplier * opts.clip
  for (let j = 0; j < p; j++) sum[j] += std * rng.normal()
  return { sum, clippedRows }
}

/** Poisson sampling of a batch: each of n indices kept independently with probability q. */
export function poissonBatch(n: number, q: number, rng: NoiseRng): number[] {
  if (!(q > 0 && q <= 1)) throw new PrivacySettingsError(`sampling rate q must be in (0, 1], got ${q}`)
  const out: number[] = []
  for (let i = 0; i < n; i++) if (rng.uniform() < q) out.push(i)
  return out
}

/** RDP curve of `steps` DP-SGD steps at sampling rate q and noise multiplier z (MTZ 2019). */
export function dpSgdRdp(q: number, noiseMultiplier: number, steps: number, orders: ArrayLike<number>): Float64Array {
  return subsampledGaussianRdp(q, noiseMultiplier, steps, orders)
}

/**
 * Charge `steps` DP-SGD steps to the ledger (before the caller shares the gradients).
 * `audience` is 'peers' for gradients exchanged in consensus, 'external' for a released model.
 */
export function chargeDpSgd(
  ledger: PrivacyLedger,
  opts: { q: number; noiseMultiplier: number; steps: number; audience: Audience; label: string; details?: LedgerDetails },
): LedgerEntry {
  return ledger.charge({
    kind: 'dp-sgd',
    label: opts.label,
    audience: opts.audience,
    rdp: dpSgdRdp(opts.q, opts.noiseMultiplier, opts.steps, ledger.orders),
    details: { q: opts.q, noiseMultiplier: opts.noiseMultiplier, steps: opts.steps, ...(opts.details ?? {}) },
  })
}
