/**
 * The classifier's three privacy options: their noise calibration, their RDP cost over a
 * ledger's orders, and the ledger charge (DESIGN.md "Privacy").
 *
 * What each guarantee covers (per example: adding or removing one row of one node):
 *
 * - DP-SGD (hyper.dpSgd): every round is the Poisson-subsampled Gaussian mechanism on the
 *   network sum of per-sample gradients clipped to C, noise z C on the sum (each of S nodes
 *   adds N(0, z^2 C^2 / S)); T = maxIter rounds compose (Mironov, Talwar & Zhang 2019).
 *   Covers the shared model at every round and everything computed from it. Assumes all S
 *   nodes add their share and peers see sums only (random chunking / Shamir); a member who
 *   knows its own share faces (S - 1)/S of the variance. Not covered: the row count of the
 *   network preparation and the standardisation moments summed in prepare() (no noise).
 * - Mix-up (hyper.mixup, the global-DP paper): the clipped local model plus Gaussian noise,
 *   sigma1 = c T S_sharing / epsilon, c = sqrt(2 ln(1.25 / delta)), S_sharing = 2C / |D_i|
 *   (Wei et al. 2020, "Federated learning with differential privacy", Lemma 1: the
 *   sensitivity of the clipped local training output). Charged as T Gaussian mechanisms of
 *   that sensitivity and sigma: alpha epsilon^2 / (2 c^2 T) in all, whatever C and |D_i|. The
 *   bound is only as good as the paper's sensitivity lemma for multi-step local SGD (it
 *   treats the local output as an ERM solution); DP-SGD's needs no such assumption.
 * - Local DP (hyper.ldp): each standardised feature clipped to [-B, B] plus Laplace(beta),
 *   drawn once per row: pure (M 2B / beta)-DP per row for everything computed from the
 *   rows (Laplace mechanism per feature, basic composition). Labels are not perturbed (as in
 *   the local-DP benchmark), so the label of a row is not protected.
 *
 * Every cost is charged to the node's ledger BEFORE any noised output is shared (audience
 * 'external': the shared model leaves the node every round and is served by the API).
 */
import type { Mat } from '../../numeric/matrix.js'
import { gaussianC, laplace, laplaceLocalDpRdp, type NoiseRng } from '../../privacy/mechanisms.js'
import { DEFAULT_ORDERS, gaussianRdp, rdpToDp, subsampledGaussianRdp } from '../../privacy/rdp.js'
import type { LedgerEntry, PrivacyLedger } from '../../privacy/ledger.js'
import type { ClassifierHyper } from './hyper.js'

/** The part of PrivacyLedger the classifier charges (so tests can hand it a real in-memory ledger). */
export type ClassifierLedger = Pick<PrivacyLedger, 'charge' | 'orders' | 'assertAffordable'>

const calibrationCache = new Map<string, number>()

/**
 * Smallest noise multiplier z (to 1e-6 relative) with which `steps` Poisson-subsampled
 * Gaussian steps at rate q are (epsilon, delta)-DP under the RDP accountant (improved
 * conversion, `orders`). Bisection on ln z: epsilon decreases monotonically in z.
 */
export function dpSgdNoiseFor(epsilon: number, delta: number, q: number, steps: number, orders: readonly number[] = DEFAULT_ORDERS): number {
  const key = `${epsilon}/${delta}/${q}/${steps}/${orders.join(',')}`
  const hit = calibrationCache.get(key)
  if (hit !== undefined) return hit
  const eps = (z: number): number => rdpToDp(orders, subsampledGaussianRdp(q, z, steps, orders), delta, 'improved').epsilon
  let lo = Math.log(1e-2)
  let hi = Math.log(1e3)
  if (eps(Math.exp(hi)) > epsilon) throw new RangeError(`dpSgdNoiseFor: epsilon ${epsilon} is not reachable at delta ${delta} with ${steps} steps at q = ${q} (z > 1000); raise epsilon or take fewer steps`)
  while (hi - lo > 1e-6) {
    const mid = (lo + hi) / 2
    if (eps(Math.exp(mid)) > epsilon) lo = mid
    else hi = mid
  }
  const z = Math.exp(hi)
  calibrationCache.set(key, z)
  return z
}

/** The noise multiplier of hyper.dpSgd: as given, or calibrated to its (epsilon, delta) over maxIter steps. */
export function dpSgdNoiseMultiplier(h: Pick<ClassifierHyper, 'dpSgd' | 'sampleRate' | 'maxIter'>): number {
  const d = h.dpSgd
  if (d === null) throw new RangeError('dpSgdNoiseMultiplier: hyper.dpSgd is off')
  if (d.noiseMultiplier !== undefined) return d.noiseMultiplier
  return dpSgdNoiseFor(d.epsilon as number, d.delta as number, h.sampleRate, h.maxIter)
}

/** T of the mix-up calibration: mixup.rounds, else maxIter. */
export function mixupRounds(h: Pick<ClassifierHyper, 'mixup' | 'maxIter'>): number {
  return h.mixup?.rounds ?? h.maxIter
}

/**
 * Noise std of one node's mix-up noise (global-DP paper, eq. sigma1 = c T S_sharing / epsilon):
 * 'per-node': sigma1 with S_sharing = 2C / |D_i| added to the node's clipped model;
 * 'distributed': the std of the node's share of noise on |D_i| w_i, whose network sum has
 * sensitivity 2C and so needs c T 2C / epsilon in all: (c T 2C / epsilon) / sqrt(S).
 */
export function mixupSigma(h: Pick<ClassifierHyper, 'mixup' | 'maxIter'>, nodeRows: number): number {
  const m = h.mixup
  if (m === null) throw new RangeError('mixupSigma: hyper.mixup is off')
  const c = gaussianC(m.delta)
  const T = mixupRounds(h)
  if (m.noise === 'per-node') return (c * T * ((2 * m.clip) / nodeRows)) / m.epsilon
  return (c * T * 2 * m.clip) / m.epsilon / Math.sqrt(m.nodes as number)
}

/** RDP curve of one mix-up round: a Gaussian mechanism with sensitivity Delta and std sigma (per node, or on the sum). */
export function mixupRoundRdp(h: Pick<ClassifierHyper, 'mixup' | 'maxIter'>, nodeRows: number, orders: readonly number[]): Float64Array {
  const m = h.mixup
  if (m === null) throw new RangeError('mixupRoundRdp: hyper.mixup is off')
  if (m.noise === 'per-node') return gaussianRdp(mixupSigma(h, nodeRows), (2 * m.clip) / nodeRows, 1, orders)
  return gaussianRdp(mixupSigma(h, nodeRows) * Math.sqrt(m.nodes as number), 2 * m.clip, 1, orders)
}

/** Laplace local DP of one row: epsilon = M 2B / beta (pure), and its RDP curve. */
export function ldpCost(h: Pick<ClassifierHyper, 'ldp'>, features: number, orders: readonly number[]): { epsilon: number; rdp: Float64Array } {
  const l = h.ldp
  if (l === null) throw new RangeError('ldpCost: hyper.ldp is off')
  const epsilon = (features * 2 * l.clip) / l.scale
  return { epsilon, rdp: laplaceLocalDpRdp(epsilon, features, orders) }
}

/**
 * Local DP on inputs (Singh et al.'s Laplace perturbation): every standardised feature
 * clipped to [-B, B], then + Laplace(0, beta). Returns a new matrix.
 */
export function perturbInputs(x: Mat, ldp: { scale: number; clip: number }, noise: NoiseRng): Mat {
  const out = new Float64Array(x.data.length)
  for (let i = 0; i < out.length; i++) out[i] = Math.min(ldp.clip, Math.max(-ldp.clip, x.data[i])) + laplace(ldp.scale, noise)
  return { rows: x.rows, cols: x.cols, data: out }
}

/** What one planned charge is for: the whole training's DP-SGD or mix-up cost, or one round again after a resume. */
export interface PlannedCost {
  kind: 'dp-sgd' | 'gaussian'
  label: string
  rdp: Float64Array
  details: Record<string, number | string | boolean>
}

/**
 * The cost of `rounds` rounds of the shared-vector mechanism (DP-SGD or mix-up), over
 * `orders`; null when neither is on. `nodeRows` is |D_i| (mix-up's sensitivity).
 */
export function sharedCost(h: ClassifierHyper, rounds: number, nodeRows: number, orders: readonly number[]): PlannedCost | null {
  if (h.dpSgd !== null) {
    const z = dpSgdNoiseMultiplier(h)
    return {
      kind: 'dp-sgd',
      label: `classifier DP-SGD, ${rounds} step(s)`,
      rdp: subsampledGaussianRdp(h.sampleRate, z, rounds, orders),
      details: { steps: rounds, q: h.sampleRate, noiseMultiplier: z, clip: h.dpSgd.clip, nodes: h.dpSgd.nodes, architecture: h.architecture },
    }
  }
  if (h.mixup !== null) {
    const one = mixupRoundRdp(h, nodeRows, orders)
    for (let i = 0; i < one.length; i++) one[i] *= rounds
    const m = h.mixup
    return {
      kind: 'gaussian',
      label: `classifier mix-up noise, ${rounds} round(s)`,
      rdp: one,
      details: {
        rounds,
        calibratedRounds: mixupRounds(h),
        epsilonTarget: m.epsilon,
        deltaOfC: m.delta,
        clip: m.clip,
        sigma: mixupSigma(h, nodeRows),
        noise: m.noise,
        nodeRows,
        sensitivity: 'Wei et al. 2020 Lemma 1: 2C/|D_i| per node',
      },
    }
  }
  return null
}

/** Charge a planned cost (throws PrivacyBudgetExceededError, recording nothing, when the budget would be exceeded). */
export function chargeCost(ledger: ClassifierLedger, cost: PlannedCost, extra: Record<string, number | string | boolean> = {}): LedgerEntry {
  return ledger.charge({ kind: cost.kind, label: cost.label, audience: 'external', rdp: cost.rdp, details: { ...cost.details, ...extra } })
}
