/**
 * Membership-inference attack on the released model (likelihood ratio), to measure what
 * the Theorem 1 release leaks in practice. The attacker holds the released model and a
 * reference density of the population (here the population itself, the strongest
 * reference), and scores a candidate x by
 *   LR(x) = ln p_released(x) - ln p_reference(x);
 * members of the training set should score higher. The attack's ROC-AUC over members vs
 * non-members measures leakage: 0.5 is no better than guessing.
 */
import { rocAuc } from '../eval/metrics.js'
import { mat, type Mat } from '../numeric/matrix.js'
import type { Rng } from '../numeric/rng.js'
import { PrivacyLedger } from './ledger.js'
import { rdpToDp } from './rdp.js'
import { logDensityReleased, release, type ReleasedModel } from './theorem1.js'

/** LR(x) = ln p_released(x) - ln p_reference(x) per candidate row. */
export function membershipScores(released: ReleasedModel, candidates: Mat, referenceLogDensity: (X: Mat) => Float64Array): Float64Array {
  const a = logDensityReleased(released, candidates)
  const b = referenceLogDensity(candidates)
  const out = new Float64Array(candidates.rows)
  for (let i = 0; i < out.length; i++) out[i] = a[i] - b[i]
  return out
}

/** Attack AUC: members labelled 1, non-members 0. */
export function membershipAuc(memberScores: ArrayLike<number>, nonMemberScores: ArrayLike<number>): number {
  const s = Float64Array.from([...Array.from(memberScores), ...Array.from(nonMemberScores)])
  const y = Float64Array.from([...Array.from(memberScores, () => 1), ...Array.from(nonMemberScores, () => 0)])
  return rocAuc(s, y)
}

export interface MembershipCurveOptions {
  /** Dimension M. */
  M: number
  /** Training-set size (small sets leak most). */
  n: number
  /** R: rows are clipped to the ball of radius R/2 around m0 = 0. */
  R: number
  /** B. */
  eigCap: number
  /** Prior strengths to sweep (epsilon = K B R^2 / (2 lambda0), K = 1). */
  lambda0s: number[]
  /** Releases per lambda0 (one member and one non-member scored per release). */
  trials: number
  /** delta for the reported (epsilon, delta). */
  delta: number
}

export interface MembershipPoint {
  lambda0: number
  /** epsilon(1) = KL bound of Theorem 1. */
  kl: number
  /** (epsilon, delta)-DP of one release (improved conversion). */
  epsilon: number
  auc: number
  /** Standard error of the AUC (Hanley-McNeil). */
  aucSe: number
}

function clipToBall(x: Float64Array, r: number): Float64Array {
  const norm = Math.hypot(...x)
  if (norm > r) for (let a = 0; a < x.length; a++) x[a] *= r / norm
  return x
}

/**
 * Synthetic membership-inference curve. Population N(0, I_M) clipped to the R/2-ball;
 * one public precision Lambda = I (K = 1); per release a dataset of n rows, member = row 0,
 * non-member = a fresh row. The model is released with `release()` (ledger and all), and
 * the attacker's reference is the population density N(0, I).
 */
export function membershipAttackCurve(opts: MembershipCurveOptions, rng: Rng): MembershipPoint[] {
  const { M, n, R } = opts
  const halfLn2pi = 0.5 * M * Math.log(2 * Math.PI)
  const reference = (X: Mat): Float64Array =>
    Float64Array.from({ length: X.rows }, (_, i) => {
      let q = 0
      for (let a = 0; a < M; a++) q += X.data[i * M + a] ** 2
      return -halfLn2pi - 0.5 * q
    })
  const identity = mat(M, M)
  for (let a = 0; a < M; a++) identity.data[a * M + a] = 1
  const draw = (): Float64Array => {
    const x = new Float64Array(M)
    for (let a = 0; a < M; a++) x[a] = rng.normal()
    return clipToBall(x, R / 2)
  }
  return opts.lambda0s.map((lambda0) => {
    const members = new Float64Array(opts.trials)
    const outsiders = new Float64Array(opts.trials)
    let kl = NaN
    let epsilon = NaN
    for (let t = 0; t < opts.trials; t++) {
      const D = Array.from({ length: n }, draw)
      const sum = new Float64Array(M)
      for (const x of D) for (let a = 0; a < M; a++) sum[a] += x[a]
      const w = Float64Array.from(sum, (s) => s / (lambda0 + n)) // eq. 15 with m0 = 0, r = 1
      const ledger = PrivacyLedger.inMemory({ nodeId: 'attack', delta: opts.delta })
      const model = release(
        { means: mat(1, M, w), precisions: [identity], nbar: Float64Array.from([n]), lambda0, m0: new Float64Array(M), radius: R },
        rng,
        ledger,
        { eigCap: opts.eigCap, minNbar: 0 },
      )
      kl = model.privacy.kl
      epsilon = rdpToDp(ledger.orders, ledger.totalRdp(), opts.delta).epsilon
      const cand = mat(2, M)
      cand.data.set(D[0], 0)
      cand.data.set(draw(), M)
      const s = membershipScores(model, cand, reference)
      members[t] = s[0]
      outsiders[t] = s[1]
    }
    const auc = membershipAuc(members, outsiders)
    // Hanley & McNeil (1982) standard error with equal class sizes
    const q1 = auc / (2 - auc)
    const q2 = (2 * auc * auc) / (1 + auc)
    const N = opts.trials
    const aucSe = Math.sqrt((auc * (1 - auc) + (N - 1) * (q1 - auc * auc) + (N - 1) * (q2 - auc * auc)) / (N * N))
    return { lambda0, kl, epsilon, auc, aucSe }
  })
}
