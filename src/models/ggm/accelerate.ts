/**
 * SQUAREM acceleration of the GGM's EM (Varadhan & Roland 2008, scheme S3), applied to
 * what every node already agrees on: the network's normalised moments of each component,
 * u_k = (Nbar_k / n, mbar_k, Cbar_k) computed from the consensus sums. Written here rather
 * than taken from a library because it has to act on those agreed moments inside the
 * M-step (no JS library does SQUAREM on an externally driven fixed-point map).
 *
 * EM is the map u_{t+1} = G(u_t): the M-step from u_t, then the network's E-step sums.
 * Every third M-step (t = 3, 6, 9, ...), given u0 = G(u'), u1 = G(u0), u2 = G(u1), the M-step is taken from
 *
 *   r = u1 - u0,  v = u2 - 2 u1 + u0,  alpha = -|r| / |v| clamped to [-maxStep, -1],
 *   u' = u0 - 2 alpha r + alpha^2 v               (alpha = -1 gives u' = u2: plain EM)
 *
 * instead of u2. EM converges linearly with a rate close to 1 when the E-step's
 * information is thin (a few rows per node with private weights; the l-diversity guard's
 * pseudo-samples, drawn from the current model, damp every step further), and the
 * extrapolation takes long strides along that slow direction. It costs no extra network
 * sum and no extra disclosure: u is a function of the sums every node already holds, and
 * every node computes the same alpha and u' from them (up to the consensus error, to which
 * both are continuous), so the global part stays the same on every node. The private
 * weights pi^s follow by their own EM updates.
 *
 * Safeguards: alpha is clamped (a fixed maxStep, no adaptive state and no comparison of
 * objectives, which nodes could decide differently), and an extrapolation whose moments are
 * not a valid M-step input (a count below delta, a covariance less well conditioned than the
 * plain step's, model.ts) is retried with the step halved towards 1, up to BACKTRACKS times,
 * then replaced by the plain step. That check is the one discrete decision: a node whose
 * consensus error (~1e-9) put it on the other side of that boundary would take one M-step
 * different from the rest, and the next plain M-step would bring it back. A change of the components (a drop)
 * restarts the cycle. EM's fixed points are unchanged: at a fixed point r = v = 0. A node
 * that rejoins with a peer's global part (importGlobal) knows no moments yet and takes plain
 * steps until it holds two; at most one extrapolating M-step of the network's differs on it,
 * and the next plain M-step (a function of the sums alone) brings it back.
 */
export class MomentExtrapolator {
  private ids: Int32Array | null = null
  private hist: { t: number; u: Float64Array }[] = []

  constructor(readonly maxStep: number) {
    if (!(maxStep >= 1) || !Number.isFinite(maxStep)) throw new RangeError(`SQUAREM maxStep must be a finite number >= 1, got ${maxStep}`)
  }

  /** Forget the moments kept (new start, imported state): plain steps until two are known again. */
  reset(): void {
    this.ids = null
    this.hist = []
  }

  /**
   * The moments `u` of the components `ids` at M-step `t` (1 = the first). The cycle is
   * anchored to t, not to this object's history, so a node that took the global part from a
   * peer extrapolates at the same M-steps as the rest of the network: at every t divisible by
   * CYCLE for which the moments of t - 2 and t - 1 are known for the same components.
   * Returns the extrapolated moments and the step length |alpha| to use instead, or null for
   * a plain step (not an extrapolating M-step, moments missing, the step is 1, or `valid`
   * refused the extrapolation).
   */
  next(t: number, ids: Int32Array, u: Float64Array, valid: (moments: Float64Array) => boolean): { moments: Float64Array; step: number } | null {
    if (this.ids === null || !sameIds(this.ids, ids)) {
      this.ids = Int32Array.from(ids)
      this.hist = []
    }
    this.hist = this.hist.filter((h) => h.t >= t - 2 && h.t < t && h.u.length === u.length)
    const u0 = this.hist.find((h) => h.t === t - 2)?.u
    const u1 = this.hist.find((h) => h.t === t - 1)?.u
    if (t % CYCLE !== 0 || u0 === undefined || u1 === undefined) {
      this.hist.push({ t, u: Float64Array.from(u) })
      return null
    }
    this.hist = []
    let rr = 0
    let vv = 0
    for (let i = 0; i < u.length; i++) {
      const r = u1[i] - u0[i]
      const v = u[i] - 2 * u1[i] + u0[i]
      rr += r * r
      vv += v * v
    }
    if (!(rr > 0) || !(vv > 0)) return null
    // step length s = -alpha in [1, maxStep]; s = 1 is u2, the plain step
    let step = Math.min(this.maxStep, Math.max(1, Math.sqrt(rr / vv)))
    const out = new Float64Array(u.length)
    // an invalid extrapolation is retried closer to u2 (s -> 1 + (s - 1) / 2), as SQUAREM's
    // own step-halving does when a step leaves the parameter space
    for (let tries = 0; tries < BACKTRACKS && step - 1 > MIN_STRIDE; tries++) {
      for (let i = 0; i < u.length; i++) {
        const r = u1[i] - u0[i]
        const v = u[i] - 2 * u1[i] + u0[i]
        out[i] = u0[i] + 2 * step * r + step * step * v
      }
      if (valid(out)) return { moments: out, step }
      step = 1 + (step - 1) / 2
    }
    return null
  }
}

/** Step-halvings towards the plain step before an invalid extrapolation is given up. */
const BACKTRACKS = 6
/** Steps closer than this to 1 are taken as the plain step. */
const MIN_STRIDE = 1e-3

/** M-steps per SQUAREM cycle: two plain ones, then the extrapolated one. */
export const CYCLE = 3

function sameIds(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
