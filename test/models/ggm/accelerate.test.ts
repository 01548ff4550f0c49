/**
 * SQUAREM on the network moments (src/models/ggm/accelerate.ts): the extrapolation against
 * closed forms on linear fixed-point maps, its safeguards, and the GGM fit with it against
 * the plain-EM fit on the same data (same fixed point, fewer iterations).
 */
import { describe, expect, it } from 'vitest'
import { MomentExtrapolator } from '../../../src/models/ggm/accelerate.js'
import { fitCentralised } from '../../../src/models/ggm/index.js'
import { maxAbsDiff, thyroid } from './helpers.js'

const ids = Int32Array.of(0, 1)
const always = (): boolean => true

/** u_{t+1} = fix + c (u_t - fix), coordinate-wise. */
function linearMap(fix: number[], c: number[]): (u: Float64Array) => Float64Array {
  return (u) => Float64Array.from(u, (x, i) => fix[i] + c[i] * (x - fix[i]))
}

describe('MomentExtrapolator (SQUAREM S3)', () => {
  it('lands on the fixed point of a linear map with one rate in one cycle (alpha = -1/(1 - c))', () => {
    const fix = [0.3, -2]
    const G = linearMap(fix, [0.95, 0.95])
    const ex = new MomentExtrapolator(100)
    const u0 = Float64Array.of(1, 1)
    const u1 = G(u0)
    const u2 = G(u1)
    expect(ex.next(1, ids, u0, always)).toBeNull()
    expect(ex.next(2, ids, u1, always)).toBeNull()
    const out = ex.next(3, ids, u2, always)
    expect(out).not.toBeNull()
    expect(out!.step).toBeCloseTo(1 / (1 - 0.95), 9)
    expect(maxAbsDiff(out!.moments, Float64Array.from(fix))).toBeLessThan(1e-12)
  })

  it('clamps the step at maxStep: u\' = u0 + 2 s r + s^2 v with s = maxStep', () => {
    const G = linearMap([0, 0], [0.99, 0.99])
    const ex = new MomentExtrapolator(4)
    const u0 = Float64Array.of(1, 2)
    const u1 = G(u0)
    const u2 = G(u1)
    ex.next(1, ids, u0, always)
    ex.next(2, ids, u1, always)
    const out = ex.next(3, ids, u2, always)!
    expect(out.step).toBe(4)
    for (let i = 0; i < 2; i++) {
      const r = u1[i] - u0[i]
      const v = u2[i] - 2 * u1[i] + u0[i]
      expect(out.moments[i]).toBeCloseTo(u0[i] + 8 * r + 16 * v, 12)
    }
  })

  it('halves an invalid step towards the plain one (s -> 1 + (s - 1) / 2) until the moments are valid', () => {
    const G = linearMap([0], [0.99])
    const one = Int32Array.of(0)
    const u0 = Float64Array.of(1)
    const u1 = G(u0)
    const u2 = G(u1)
    const ex = new MomentExtrapolator(10)
    ex.next(1, one, u0, always)
    ex.next(2, one, u1, always)
    const tried: number[] = []
    // u'(s) = 1 - 0.02 s + 1e-4 s^2: 0.81 at s = 10 (refused), 0.893 at s = 5.5 (accepted)
    const out = ex.next(3, one, u2, (v) => (tried.push(v[0]), v[0] >= 0.85))!
    expect(out.step).toBeCloseTo(5.5, 12)
    expect(tried).toHaveLength(2)
    expect(out.moments[0]).toBeCloseTo(1 - 0.02 * 5.5 + 1e-4 * 5.5 * 5.5, 12)
  })

  it('converges far faster than the plain iteration on a map with a rate near 1, to the same point', () => {
    const fix = [1, 2, 3]
    const G = linearMap(fix, [0.99, 0.9, 0.5])
    const run = (ex: MomentExtrapolator | null): number => {
      let u: Float64Array = Float64Array.of(0, 0, 0)
      for (let t = 1; t <= 5000; t++) {
        const g = G(u)
        const out = ex?.next(t, ids, g, always) ?? null
        u = out?.moments ?? g
        if (maxAbsDiff(u, Float64Array.from(fix)) < 1e-10) return t
      }
      return Infinity
    }
    const plain = run(null)
    const squarem = run(new MomentExtrapolator(1000))
    expect(plain).toBeGreaterThan(2000) // 0.99^t < 1e-10 / 3
    expect(squarem).toBeLessThan(plain / 10)
  })

  it('takes the plain step when the extrapolation is refused, when the components change, and after reset', () => {
    const G = linearMap([0, 0], [0.9, 0.9])
    const u0 = Float64Array.of(1, 1)
    const u1 = G(u0)
    const u2 = G(u1)
    const refused = new MomentExtrapolator(10)
    refused.next(1, ids, u0, always)
    refused.next(2, ids, u1, always)
    expect(refused.next(3, ids, u2, () => false)).toBeNull()

    const changed = new MomentExtrapolator(10)
    changed.next(1, ids, u0, always)
    changed.next(2, Int32Array.of(0, 2), u1, always) // a component was dropped and another kept: the cycle restarts
    expect(changed.next(3, Int32Array.of(0, 2), u2, always)).toBeNull()

    const reset = new MomentExtrapolator(10)
    reset.next(1, ids, u0, always)
    reset.next(2, ids, u1, always)
    reset.reset()
    expect(reset.next(3, ids, u2, always)).toBeNull()
    expect(() => new MomentExtrapolator(0.5)).toThrow(RangeError)
  })

  it('extrapolates at the same M-steps (t = 3, 6, ...) whenever it started: a node that rejoins keeps the network\'s cycle', () => {
    const G = linearMap([0, 0], [0.9, 0.8])
    const us: Float64Array[] = [Float64Array.of(1, 1)]
    for (let t = 1; t <= 9; t++) us.push(G(us[t - 1]))
    const network = new MomentExtrapolator(10)
    const rejoined = new MomentExtrapolator(10)
    const when = (ex: MomentExtrapolator, from: number): number[] => {
      const at: number[] = []
      for (let t = from; t <= 9; t++) if (ex.next(t, ids, us[t], always) !== null) at.push(t)
      return at
    }
    expect(when(network, 1)).toEqual([3, 6, 9])
    expect(when(rejoined, 2)).toEqual([6, 9]) // at t = 3 it lacks the moments of t = 1
  })
})

describe('GGM with accelerate: squarem', () => {
  it('reaches the plain-EM fit (objective within 1e-6, means within 1e-3) in fewer iterations', async () => {
    const x = thyroid()
    const hyper = { K: 3, rho: 0.5, maxIter: 1000, tol: 1e-10, seed: 'squarem' }
    const plain = await fitCentralised(x, hyper)
    const fast = await fitCentralised(x, { ...hyper, accelerate: 'squarem' })
    expect(plain.stopReason).toBe('tol')
    expect(fast.stopReason).toBe('tol')
    expect(fast.iteration).toBeLessThan(plain.iteration * 0.7)
    const last = (m: typeof plain): number => m.trace[m.trace.length - 1].objective
    expect(Math.abs(last(fast) - last(plain))).toBeLessThan(1e-6 * Math.abs(last(plain)))
    expect(fast.trace.some((e) => Number(e.extrapolation) > 1)).toBe(true)
    expect(plain.trace.every((e) => e.extrapolation === undefined)).toBe(true)
    const a = fast.release()
    const b = plain.release()
    expect(a.K).toBe(b.K)
    expect(maxAbsDiff(a.means.data, b.means.data)).toBeLessThan(1e-3)
  })
})
