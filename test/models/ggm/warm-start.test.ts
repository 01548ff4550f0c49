/**
 * Glasso warm starts across EM iterations: each component's eq. 16 solve starts from its
 * previous M-step solution. Same fit as cold starts (the glasso optimum is unique), fewer sweeps.
 */
import { describe, expect, it } from 'vitest'
import { fitCentralised } from '../../../src/models/ggm/index.js'
import type { TraceEntry } from '../../../src/models/model.js'
import { maxAbsDiff, thyroid } from './helpers.js'

describe('GGM: glasso warm starts across EM iterations', () => {
  it('give the cold-start fit (max |diff| <= 1e-8) with fewer glasso sweeps', async () => {
    const x = thyroid()
    // exact M-steps: the comparison is iteration by iteration, mid-trajectory (inexact M-steps are tested below)
    const hyper = { K: 4, rho: 0.5, lambda0: 1, delta: 1, maxIter: 25, tol: 1e-9, seed: 'warm', glassoTol: 1e-10, glassoInexact: false }
    const warm = await fitCentralised(x, hyper)
    const cold = await fitCentralised(x, { ...hyper, glassoWarmStart: false })
    expect(warm.iteration).toBe(cold.iteration)
    expect(warm.iteration).toBeGreaterThan(3)
    const a = warm.release()
    const b = cold.release()
    expect(a.K).toBe(b.K)
    for (let k = 0; k < a.K; k++) expect(maxAbsDiff(a.precisions[k].data, b.precisions[k].data)).toBeLessThanOrEqual(1e-8)
    expect(maxAbsDiff(warm.score(x), cold.score(x))).toBeLessThanOrEqual(1e-8)
    const sweeps = (t: readonly TraceEntry[]): number => t.slice(1).reduce((s, e) => s + Number(e.glassoIterations), 0)
    expect(warm.trace.every((e) => e.glassoConverged)).toBe(true)
    expect(sweeps(warm.trace)).toBeLessThan(sweeps(cold.trace))
  })

  it('inexact M-steps (the default) converge to the exact-M-step fit (max |diff| <= 1e-6) in the same iterations, with fewer sweeps', async () => {
    const x = thyroid()
    const hyper = { K: 3, rho: 0.5, lambda0: 1, delta: 1, maxIter: 300, tol: 1e-8, seed: 'warm', glassoTol: 1e-10 }
    const inexact = await fitCentralised(x, hyper)
    const exact = await fitCentralised(x, { ...hyper, glassoInexact: false })
    expect(inexact.stopReason).toBe('tol')
    expect(exact.stopReason).toBe('tol')
    expect(Math.abs(inexact.iteration - exact.iteration)).toBeLessThanOrEqual(1)
    const a = inexact.release()
    const b = exact.release()
    expect(a.K).toBe(b.K)
    for (let k = 0; k < a.K; k++) expect(maxAbsDiff(a.means.data, b.means.data)).toBeLessThanOrEqual(1e-6)
    const scale = Math.max(...exact.score(x).map(Math.abs))
    expect(maxAbsDiff(inexact.score(x), exact.score(x))).toBeLessThanOrEqual(1e-6 * scale)
    const sweeps = (t: readonly TraceEntry[]): number => t.reduce((s, e) => s + Number(e.glassoIterations), 0)
    expect(sweeps(inexact.trace)).toBeLessThan(sweeps(exact.trace))
  })
})
