/**
 * Attacks that measure what the privacy mechanisms leak in practice, next to what the
 * accounting promises (used by `collab privacy audit`, sim/audit.ts):
 *
 * - shamirShareAttack: a member's view of another member's vector under Shamir sharing is
 *   one point of a random polynomial; its best linear estimate is no better than zero.
 * - membershipAuc (./attack.ts): ROC-AUC of the membership-inference game's scores.
 * - epsilonLowerBound: the empirical privacy loss a distinguishing test certifies from
 *   samples of a mechanism on two neighbouring datasets (Jagielski et al. 2020, "Auditing
 *   differentially private machine learning"): with Clopper-Pearson bounds on the test's
 *   false-positive and false-negative rates, epsilon >= ln((1 - delta - FPR) / FNR) for
 *   every threshold. A lower bound above the ledger's epsilon would expose an accounting bug.
 * - dpAucBound: the largest ROC-AUC any test can reach against an (epsilon, delta)-DP mechanism.
 *
 * neighbourAttack (./neighbour-attack.ts) is the chunking counterpart of the first.
 */
import { shamirSplit, SHAMIR_PRIME } from '../consensus/shamir.js'
import type { RandomSource } from '../numeric/rng.js'

export interface ShareAttackResult {
  /** Relative error of reading the share as the value (the only linear estimate a lone member has). */
  minRelativeError: number
  medianRelativeError: number
  /** Pearson correlation between the share's low 32 bits and the value's encoding, over every entry seen. */
  correlation: number
  views: number
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y)
  const m = s.length >> 1
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Pearson correlation of two samples; 0 when either is constant. */
export function pearson(a: number[], b: number[]): number {
  const n = a.length
  const ma = a.reduce((x, y) => x + y, 0) / n
  const mb = b.reduce((x, y) => x + y, 0) / n
  let sab = 0
  let saa = 0
  let sbb = 0
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb)
    saa += (a[i] - ma) ** 2
    sbb += (b[i] - mb) ** 2
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0
}

/**
 * Every member's view of every other member's vector, over `sessions` fresh sharings
 * with `threshold` (the engine's polynomials): the share decoded as a fixed-point value is
 * the estimate. Member s shares with its own secret generator noise(s).
 */
export function shamirShareAttack(vectors: Float64Array[], threshold: number, sessions: number, noise: (s: number) => RandomSource): ShareAttackResult {
  const S = vectors.length
  const errors: number[] = []
  const low: number[] = []
  const vals: number[] = []
  for (let t = 0; t < sessions; t++) {
    for (let i = 0; i < S; i++) {
      const x = vectors[i]
      const shares = shamirSplit(x, S, threshold, noise(i).fork(`session/${t}`))
      let nx = 0
      for (const v of x) nx += v * v
      for (let j = 0; j < S; j++) {
        if (j === i) continue
        const y = shares[j].y
        // the estimate a lone member can form: its share read as a (signed fixed-point) value
        const est = shamirDecodeLoose(y)
        let d = 0
        for (let k = 0; k < x.length; k++) d += (est[k] - x[k]) ** 2
        errors.push(Math.sqrt(d / Math.max(nx, Number.MIN_VALUE)))
        for (let k = 0; k < x.length; k++) {
          low.push(Number(y[k] & 0xffffffffn))
          vals.push(x[k])
        }
      }
    }
  }
  return { minRelativeError: Math.min(...errors), medianRelativeError: median(errors), correlation: pearson(low, vals), views: errors.length }
}

/** Decode field elements as signed fixed-point values without the range check (garbage stays garbage). */
function shamirDecodeLoose(y: readonly bigint[]): Float64Array {
  const half = SHAMIR_PRIME >> 1n
  const out = new Float64Array(y.length)
  for (let i = 0; i < y.length; i++) {
    const v = y[i] > half ? y[i] - SHAMIR_PRIME : y[i]
    out[i] = Number(v) / 2 ** 32
  }
  return out
}

/** Thresholds tried by epsilonLowerBound (quantiles of the scores). */
const MAX_THRESHOLDS = 64

/** The largest ROC-AUC of any test against an (epsilon, delta)-DP mechanism: TPR <= e^eps FPR + delta. */
export function dpAucBound(epsilon: number, delta: number): number {
  // the extremal trade-off curve of (eps, delta)-DP; AUC = integral of its TPR over FPR
  const e = Math.exp(epsilon)
  const f1 = (1 - delta) / (1 + e) // where the two linear pieces meet
  const tpr = (f: number): number => Math.min(1, e * f + delta, 1 - (1 - delta - f) / e)
  // piecewise linear with breaks where the pieces meet (f1) and where it reaches 1 (1 - delta): trapezoids are exact
  const pts = [0, f1, Math.max(f1, 1 - delta), 1]
  let auc = 0
  for (let i = 1; i < pts.length; i++) auc += ((tpr(pts[i - 1]) + tpr(pts[i])) / 2) * (pts[i] - pts[i - 1])
  return Math.min(1, auc)
}

/** P(Bin(n, p) <= k), summing the terms through their ratios. */
function binomCdf(k: number, n: number, p: number): number {
  if (k >= n || p <= 0) return 1
  if (p >= 1) return 0
  const lr = Math.log(p) - Math.log1p(-p)
  let lt = n * Math.log1p(-p) // ln P(X = 0)
  let s = Math.exp(lt)
  for (let i = 1; i <= k; i++) {
    lt += Math.log((n - i + 1) / i) + lr
    s += Math.exp(lt)
  }
  return Math.min(1, s)
}

/** Clopper-Pearson upper bound of a rate with k successes in n trials at one-sided level alpha. */
export function clopperPearsonUpper(k: number, n: number, alpha: number): number {
  if (k >= n) return 1
  let lo = k / n
  let hi = 1
  for (let it = 0; it < 100; it++) {
    const mid = (lo + hi) / 2
    if (binomCdf(k, n, mid) > alpha) lo = mid
    else hi = mid
  }
  return hi
}

/**
 * Empirical epsilon lower bound from samples of a scalar statistic of a mechanism run on
 * dataset D (`inScores`) and on a neighbour D' (`outScores`), at confidence 1 - alpha
 * (each rate bounded at alpha / 2): the largest over thresholds and both directions of
 * ln((1 - delta - FPR_upper) / FNR_upper), and 0 when no threshold certifies anything.
 */
export function epsilonLowerBound(inScores: readonly number[], outScores: readonly number[], delta: number, alpha = 0.05): number {
  // candidate thresholds: up to MAX_THRESHOLDS quantiles of the pooled scores
  const pooled = [...inScores, ...outScores].sort((a, b) => a - b)
  const step = Math.max(1, Math.floor(pooled.length / MAX_THRESHOLDS))
  const thresholds = [...new Set(pooled.filter((_, i) => i % step === 0))]
  let best = 0
  const countBelow = (sorted: readonly number[], t: number): number => {
    let lo = 0
    let hi = sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (sorted[mid] < t) lo = mid + 1
      else hi = mid
    }
    return lo
  }
  const test = (posRaw: readonly number[], negRaw: readonly number[]): void => {
    const pos = [...posRaw].sort((a, b) => a - b)
    const neg = [...negRaw].sort((a, b) => a - b)
    for (const t of thresholds.map((v) => (posRaw === inScores ? v : -v))) {
      const fp = neg.length - countBelow(neg, t)
      const fn = countBelow(pos, t)
      const fpr = clopperPearsonUpper(fp, neg.length, alpha / 2)
      const fnr = clopperPearsonUpper(fn, pos.length, alpha / 2)
      const num = 1 - delta - fpr
      if (num > 0 && fnr > 0) best = Math.max(best, Math.log(num / fnr))
    }
  }
  test(inScores, outScores)
  test(outScores.map((v) => -v), inScores.map((v) => -v))
  return best
}
