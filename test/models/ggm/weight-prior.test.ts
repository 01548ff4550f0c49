/**
 * weightPrior: a pseudo-rows pulling each node's private pi^s towards the network's weights,
 * pi_k^s = (N_k^s + a w_k) / (n^s + a). Checked against that formula computed here from the
 * node's own statistics, against eq. 13 where they must agree (one node: same fixed point),
 * and in the regime it is for: nodes with three rows each.
 */
import { describe, expect, it } from 'vitest'
import { fitCentralised, fitExact } from '../../../src/models/ggm/index.js'
import { STATS_HEADER, statsBlock } from '../../../src/models/ggm/model.js'
import { cut, maxAbsDiff, thyroid } from './helpers.js'

const x = thyroid()

describe('GGM weightPrior (pseudo-rows towards the network weights)', () => {
  it('sets pi^s = (N_k^s + a w_k) / (n^s + a) from the node\'s own counts and the network weights', async () => {
    const cuts = [0]
    for (let s = 0; s < 12; s++) cuts.push(cuts[s] + 4 + (s % 3))
    const parts = cut(x, cuts)
    const a = 2.5
    const models = await fitExact(parts, { K: 3, rho: 0.5, maxIter: 6, tol: 0, seed: 'prior', weightPrior: a })
    for (const [s, m] of models.entries()) {
      const w = m.networkWeights
      const stats = m.localUpdate(parts[s])
      const block = statsBlock(m.dim)
      const n = parts[s].rows
      const want = Array.from({ length: m.K }, (_, k) => (stats[STATS_HEADER + k * block] + a * w[k]) / (n + a))
      expect(maxAbsDiff(m.weights, Float64Array.from(want))).toBeLessThan(1e-12)
      // the prior keeps every component at least a w_k / (n + a): no collapse onto a vertex
      for (let k = 0; k < m.K; k++) expect(m.weights[k]).toBeGreaterThanOrEqual((a * w[k]) / (n + a) - 1e-15)
    }
  })

  it('with one node has the fixed point of eq. 13 (the network weights are its own)', async () => {
    const hyper = { K: 3, rho: 0.5, maxIter: 2000, tol: 1e-12, seed: 'prior-one' }
    const plain = await fitCentralised(x, hyper)
    const prior = await fitCentralised(x, { ...hyper, weightPrior: 5 })
    expect(plain.stopReason).toBe('tol')
    expect(prior.stopReason).toBe('tol')
    const a = plain.release()
    const b = prior.release()
    expect(b.K).toBe(a.K)
    expect(maxAbsDiff(prior.weights, plain.weights)).toBeLessThan(1e-6)
    expect(maxAbsDiff(b.means.data, a.means.data)).toBeLessThan(1e-5)
  })

  it('keeps three-row nodes from collapsing onto one component (eq. 13 alone does)', async () => {
    const cuts = [0]
    for (let s = 0; s < 50; s++) cuts.push(cuts[s] + 3)
    const parts = cut(x, cuts)
    const hyper = { K: 3, rho: 0.5, maxIter: 40, tol: 0, seed: 'prior-few' }
    const smallest = (ms: { weights: Float64Array }[]): number => Math.min(...ms.map((m) => Math.min(...m.weights)))
    const plain = await fitExact(parts, hyper)
    const prior = await fitExact(parts, { ...hyper, weightPrior: 1 })
    expect(prior[0].K).toBe(plain[0].K)
    expect(smallest(plain)).toBeLessThan(1e-6)
    // at least a w_k / (3 + a) = w_k / 4 with the weights of the M-step before the last E-step;
    // half of that with the last M-step's (they moved by less than a factor 2 in one step)
    const wmin = Math.min(...prior[0].networkWeights)
    expect(smallest(prior)).toBeGreaterThanOrEqual(wmin / 8)
  })
})
