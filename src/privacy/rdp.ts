/**
 * Rényi-DP accountant: RDP curves epsilon(alpha) over a grid of orders, composition by
 * addition per order, and conversion to (epsilon, delta)-DP.
 *
 * Hand-written because no JavaScript library implements RDP accounting (the references are
 * Python: TF-Privacy / dp-accounting, Opacus). Sources:
 * - Gaussian mechanism: epsilon(alpha) = alpha Delta^2 / (2 sigma^2) (Mironov 2017, Prop. 7).
 * - Poisson-subsampled Gaussian: Mironov, Talwar, Zhang 2019, "Rényi Differential Privacy
 *   of the Sampled Gaussian Mechanism" — closed form for integer orders (Sec. 3.3) and the
 *   convergent two-sided series with erfc terms for fractional orders (Sec. 3.3, eq. for A_alpha).
 * - Conversion: classic eps = rdp + ln(1/delta)/(alpha - 1) (Mironov 2017, Prop. 3);
 *   improved eps = rdp + ln(1 - 1/alpha) - ln(delta alpha)/(alpha - 1) (Balle et al. 2020,
 *   "Hypothesis testing interpretations and Rényi DP", Thm. 21), minimised over the grid.
 *
 * Orders are real numbers > 1. Orders too close to 1 are refused (MIN_ORDER): the ratio
 * ln A_alpha / (alpha - 1) loses all precision there and the conversions diverge.
 */

export class InvalidOrderError extends Error {
  override name = 'InvalidOrderError'
}

export class RdpArgumentError extends Error {
  override name = 'RdpArgumentError'
}

/**
 * Smallest order accepted. As alpha -> 1 both ln A_alpha and (alpha - 1) go to 0, so the
 * ratio loses precision, and the conversions' ln(1/delta)/(alpha - 1) term diverges;
 * dp-accounting applies the improved conversion only above the same 1.01.
 */
export const MIN_ORDER = 1.01

/**
 * Default grid: fractional orders near 1 (for large-epsilon regimes), 1.1..10.9 by 0.1
 * (TF-Privacy's grid), integers 11..63, and 128, 256, 512 (for very small epsilon).
 */
export const DEFAULT_ORDERS: readonly number[] = Object.freeze([
  1.01, 1.02, 1.03, 1.05, 1.075,
  ...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10),
  ...Array.from({ length: 53 }, (_, x) => 11 + x),
  128, 256, 512,
])

/** Check an order grid: every order finite and >= MIN_ORDER, no duplicates (any order). */
export function checkOrders(orders: ArrayLike<number>): void {
  if (orders.length === 0) throw new InvalidOrderError('empty order grid; pass at least one order > 1 (e.g. DEFAULT_ORDERS)')
  const seen = new Set<number>()
  for (let i = 0; i < orders.length; i++) {
    const a = orders[i]
    if (!Number.isFinite(a)) throw new InvalidOrderError(`order ${a} at index ${i} is not finite; use finite orders`)
    if (a < MIN_ORDER) {
      throw new InvalidOrderError(`order ${a} is below MIN_ORDER = ${MIN_ORDER}: too close to 1 for a stable RDP bound; drop it from the grid`)
    }
    if (seen.has(a)) throw new InvalidOrderError(`order ${a} appears twice in the grid`)
    seen.add(a)
  }
}

function checkPositive(x: number, name: string): void {
  if (!(x > 0) || !Number.isFinite(x)) throw new RdpArgumentError(`${name} must be a positive finite number, got ${x}`)
}

function checkSteps(steps: number): void {
  if (!Number.isInteger(steps) || steps < 0) throw new RdpArgumentError(`steps must be a non-negative integer, got ${steps}`)
}

// ---------------------------------------------------------------------------------------
// log-space helpers

/** ln(e^x + e^y) without overflow. */
export function logAdd(x: number, y: number): number {
  const a = Math.min(x, y)
  const b = Math.max(x, y)
  if (a === -Infinity) return b
  return Math.log1p(Math.exp(a - b)) + b
}

/** ln(e^x - e^y) for x >= y. */
export function logSub(x: number, y: number): number {
  if (y === -Infinity) return x
  if (x < y) {
    // Only reachable through rounding when the exact difference is ~0.
    if (y - x < 1e-12 * Math.max(1, Math.abs(x))) return -Infinity
    throw new RdpArgumentError(`logSub: ln(e^${x} - e^${y}) is the log of a negative number`)
  }
  if (x === y) return -Infinity
  const d = x - y
  return d > 700 ? x : Math.log(Math.expm1(d)) + y
}

const LN_SQRT_PI = 0.5 * Math.log(Math.PI)

/**
 * ln erfc(x) to ~1e-14 relative for all real x, no underflow for large x.
 * x < 2: erf by the everywhere-positive series erf(x) = 2/sqrt(pi) e^{-x^2} sum 2^n x^{2n+1}/(2n+1)!!
 * (Abramowitz & Stegun 7.1.6), erfc = 1 - erf; x >= 2: Laplace continued fraction
 * erfc(x) = e^{-x^2}/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))) (A&S 7.1.14),
 * evaluated by modified Lentz. x < 0: erfc(x) = 2 - erfc(-x).
 */
export function logErfc(x: number): number {
  if (Number.isNaN(x)) return NaN
  if (x < 0) {
    return Math.log(2 - Math.exp(logErfc(-x)))
  }
  if (x < 2) {
    const x2 = x * x
    let term = x
    let sum = x
    for (let n = 1; n < 200; n++) {
      term *= (2 * x2) / (2 * n + 1)
      sum += term
      if (term < 1e-17 * sum) break
    }
    const erf = (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum
    return Math.log1p(-erf)
  }
  // continued fraction K = x + a1/(x + a2/(x + ...)), a_n = n/2
  const tiny = 1e-300
  let f = x
  let c = x
  let d = 0
  for (let n = 1; n < 500; n++) {
    const an = n / 2
    d = x + an * d
    if (Math.abs(d) < tiny) d = tiny
    c = x + an / c
    if (Math.abs(c) < tiny) c = tiny
    d = 1 / d
    const delta = c * d
    f *= delta
    if (Math.abs(delta - 1) < 1e-16) break
  }
  return -x * x - LN_SQRT_PI - Math.log(f)
}

// ---------------------------------------------------------------------------------------
// Poisson-subsampled Gaussian (Mironov, Talwar, Zhang 2019)

/** ln A_alpha for integer alpha: A = sum_i C(alpha,i) q^i (1-q)^(alpha-i) exp((i^2-i)/(2 sigma^2)). */
function logAInt(q: number, sigma: number, alpha: number): number {
  let logA = -Infinity
  let logBinom = 0 // ln C(alpha, 0)
  const lq = Math.log(q)
  const l1q = Math.log1p(-q)
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logBinom += Math.log(alpha - i + 1) - Math.log(i)
    const s = logBinom + i * lq + (alpha - i) * l1q + (i * i - i) / (2 * sigma * sigma)
    logA = logAdd(logA, s)
  }
  return logA
}

/** ln A_alpha for fractional alpha by the two-sided series of MTZ 2019 (terms until < e^-30). */
function logAFrac(q: number, sigma: number, alpha: number): number {
  let logA0 = -Infinity
  let logA1 = -Infinity
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5
  const lq = Math.log(q)
  const l1q = Math.log1p(-q)
  let logAbsBinom = 0 // ln |C(alpha, 0)|
  let sign = 1
  for (let i = 0; i < 100_000; i++) {
    if (i > 0) {
      const f = alpha - i + 1
      logAbsBinom += Math.log(Math.abs(f)) - Math.log(i)
      if (f < 0) sign = -sign
    }
    const j = alpha - i
    const logT0 = logAbsBinom + i * lq + j * l1q
    const logT1 = logAbsBinom + j * lq + i * l1q
    const logE0 = Math.log(0.5) + logErfc((i - z0) / (Math.SQRT2 * sigma))
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / (Math.SQRT2 * sigma))
    const logS0 = logT0 + (i * i - i) / (2 * sigma * sigma) + logE0
    const logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1
    if (sign > 0) {
      logA0 = logAdd(logA0, logS0)
      logA1 = logAdd(logA1, logS1)
    } else {
      logA0 = logSub(logA0, logS0)
      logA1 = logSub(logA1, logS1)
    }
    if (Math.max(logS0, logS1) < -30) break
  }
  return logAdd(logA0, logA1)
}

/**
 * RDP of one step of the Poisson-subsampled Gaussian mechanism at order alpha:
 * sampling rate q in [0, 1], noise multiplier sigma (noise std / L2 sensitivity).
 * q = 1 gives the plain Gaussian alpha / (2 sigma^2).
 */
export function subsampledGaussianRdpAt(q: number, sigma: number, alpha: number): number {
  if (!(q >= 0 && q <= 1)) throw new RdpArgumentError(`sampling rate q must be in [0, 1], got ${q}`)
  checkPositive(sigma, 'noise multiplier sigma')
  if (q === 0) return 0
  if (q === 1) return alpha / (2 * sigma * sigma)
  const logA = Number.isInteger(alpha) ? logAInt(q, sigma, alpha) : logAFrac(q, sigma, alpha)
  return logA / (alpha - 1)
}

/** RDP curve of `steps` compositions of the subsampled Gaussian over `orders`. */
export function subsampledGaussianRdp(
  q: number,
  sigma: number,
  steps: number,
  orders: ArrayLike<number> = DEFAULT_ORDERS,
): Float64Array {
  checkOrders(orders)
  checkSteps(steps)
  const out = new Float64Array(orders.length)
  for (let i = 0; i < orders.length; i++) out[i] = steps * subsampledGaussianRdpAt(q, sigma, orders[i])
  return out
}

/**
 * RDP curve of the Gaussian mechanism N(f(D), sigma^2 I) with L2 sensitivity Delta:
 * epsilon(alpha) = alpha Delta^2 / (2 sigma^2) (Mironov 2017, Prop. 7), times `steps`.
 */
export function gaussianRdp(
  sigma: number,
  sensitivity = 1,
  steps = 1,
  orders: ArrayLike<number> = DEFAULT_ORDERS,
): Float64Array {
  checkOrders(orders)
  checkPositive(sigma, 'sigma')
  checkPositive(sensitivity, 'sensitivity')
  checkSteps(steps)
  return linearRdp((steps * sensitivity * sensitivity) / (2 * sigma * sigma), orders)
}

/** RDP curve epsilon(alpha) = coef * alpha (any Gaussian pair; Theorem 1 with coef = K B R^2/(2 lambda0)). */
export function linearRdp(coef: number, orders: ArrayLike<number> = DEFAULT_ORDERS): Float64Array {
  checkOrders(orders)
  if (!(coef >= 0) || !Number.isFinite(coef)) throw new RdpArgumentError(`RDP coefficient must be finite and >= 0, got ${coef}`)
  const out = new Float64Array(orders.length)
  for (let i = 0; i < orders.length; i++) out[i] = coef * orders[i]
  return out
}

/** Composition: RDP adds per order (Mironov 2017, Prop. 1). */
export function composeRdp(...curves: ArrayLike<number>[]): Float64Array {
  if (curves.length === 0) throw new RdpArgumentError('composeRdp needs at least one curve')
  const n = curves[0].length
  const out = new Float64Array(n)
  for (const c of curves) {
    if (c.length !== n) throw new RdpArgumentError(`RDP curves over different grids (${c.length} vs ${n} orders); use one order grid`)
    for (let i = 0; i < n; i++) out[i] += c[i]
  }
  return out
}

// ---------------------------------------------------------------------------------------
// Conversion to (epsilon, delta)-DP

export type Conversion = 'classic' | 'improved'

export interface DpGuarantee {
  epsilon: number
  /** The order that attains the minimum. */
  order: number
  delta: number
  conversion: Conversion
}

function checkDelta(delta: number): void {
  if (!(delta > 0 && delta < 1)) throw new RdpArgumentError(`delta must be in (0, 1), got ${delta}`)
}

/**
 * (epsilon, delta) from an RDP curve, minimised over the grid.
 * classic: eps = rdp + ln(1/delta)/(alpha-1) (Mironov 2017, Prop. 3).
 * improved: eps = rdp + ln(1-1/alpha) - ln(delta alpha)/(alpha-1) (Balle et al. 2020, Thm. 21),
 * and eps = 0 when delta >= sqrt(1 - e^-rdp) (total variation bound through KL <= RDP).
 */
export function rdpToDp(
  orders: ArrayLike<number>,
  rdp: ArrayLike<number>,
  delta: number,
  conversion: Conversion = 'improved',
): DpGuarantee {
  checkOrders(orders)
  checkDelta(delta)
  if (orders.length !== rdp.length) {
    throw new RdpArgumentError(`${orders.length} orders but ${rdp.length} RDP values; the curve must be over the same grid`)
  }
  let best = Infinity
  let bestOrder = orders[0]
  for (let i = 0; i < orders.length; i++) {
    const a = orders[i]
    const r = rdp[i]
    if (!(r >= 0)) throw new RdpArgumentError(`RDP value ${r} at order ${a} is negative or NaN`)
    let eps: number
    if (conversion === 'classic') {
      eps = r + Math.log(1 / delta) / (a - 1)
    } else if (delta * delta + Math.expm1(-r) > 0) {
      eps = 0
    } else {
      eps = r + Math.log1p(-1 / a) - Math.log(delta * a) / (a - 1)
    }
    if (eps < best) {
      best = eps
      bestOrder = a
    }
  }
  return { epsilon: Math.max(0, best), order: bestOrder, delta, conversion }
}

/**
 * The largest c such that the linear RDP curve c * alpha converts (improved conversion,
 * DEFAULT_ORDERS) to at most `epsilon` at `delta`. The conversion is increasing in c, so
 * bisection on ln c over [1e-12, 1e6] finds it (any epsilon > 0 is reachable: a tiny c
 * converts to 0 once delta covers the total-variation bound); the result is the lower
 * end of the bracket, so the derived release never costs more than asked.
 */
export function rdpSlopeFor(epsilon: number, delta: number): number {
  const key = `${epsilon}/${delta}`
  const hit = slopeCache.get(key)
  if (hit !== undefined) return hit
  const c = bisectSlope(epsilon, delta)
  slopeCache.set(key, c)
  if (slopeCache.size > SLOPE_CACHE_SIZE) slopeCache.delete(slopeCache.keys().next().value as string)
  return c
}

/**
 * rdpSlopeFor is a pure function of (epsilon, delta) that every simulated node's release
 * asks for on every plan (100 bisection steps over the order grid: ~2.5 ms); remembered.
 */
const slopeCache = new Map<string, number>()
const SLOPE_CACHE_SIZE = 64

function bisectSlope(epsilon: number, delta: number): number {
  const eps = (c: number): number => rdpToDp(DEFAULT_ORDERS, linearRdp(c), delta, 'improved').epsilon
  let lo = Math.log(1e-12)
  let hi = Math.log(1e6)
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2
    if (eps(Math.exp(mid)) <= epsilon) lo = mid
    else hi = mid
  }
  return Math.exp(lo)
}
