/**
 * Decentralised == centralised: S nodes whose statistics are summed exactly give the
 * model the centralised fit (one node, every row) gives, and all nodes hold the same
 * global part.
 */
import { describe, expect, it } from 'vitest'
import { fitCentralised, fitExact, type GgmModel } from '../../../src/models/ggm/index.js'
import { cut, maxAbsDiff, thyroid } from './helpers.js'

const x = thyroid()
const parts = cut(x, [0, 7, 40, 52, 130, 215]) // five uneven nodes, one with 7 rows
const hyper = { K: 4, rho: 0.5, lambda0: 1, delta: 1, maxIter: 25, tol: 1e-9, seed: 'equiv' }

function globalDiff(a: GgmModel, b: GgmModel): number {
  const ra = a.release()
  const rb = b.release()
  if (ra.K !== rb.K) return Infinity
  let d = Math.max(maxAbsDiff(ra.means.data, rb.means.data), maxAbsDiff(ra.nbar, rb.nbar))
  for (let k = 0; k < ra.K; k++) d = Math.max(d, maxAbsDiff(ra.precisions[k].data, rb.precisions[k].data))
  return d
}

describe('S nodes with exact sums vs the centralised fit', () => {
  it('shared weights: the same mixture, weights and trace as the centralised fit (max |diff| <= 1e-9)', async () => {
    const central = await fitCentralised(x, { ...hyper, weights: 'shared' })
    const nodes = await fitExact(parts, { ...hyper, weights: 'shared' })
    expect(central.iteration).toBeGreaterThan(3)
    for (const node of nodes) {
      expect(node.iteration).toBe(central.iteration)
      expect(globalDiff(node, central)).toBeLessThanOrEqual(1e-9)
      expect(maxAbsDiff(node.weights, central.weights)).toBeLessThanOrEqual(1e-9)
      expect(maxAbsDiff(node.score(x), central.score(x))).toBeLessThanOrEqual(1e-9)
      expect(maxAbsDiff(node.trace.map((e) => e.objective), central.trace.map((e) => e.objective))).toBeLessThanOrEqual(1e-9)
    }
  })

  it('local weights (multi-task): every node holds the identical global part and its own pi^s = N_k^s / N^s', async () => {
    const nodes = await fitExact(parts, { ...hyper, weights: 'local' })
    const g0 = nodes[0].exportGlobal()
    for (const node of nodes.slice(1)) expect(node.exportGlobal()).toEqual(g0)
    // pi^s differ between nodes that hold different rows
    expect(maxAbsDiff(nodes[0].weights, nodes[4].weights)).toBeGreaterThan(1e-3)
    // one more local step: pi^s is the column sums of this node's responsibilities
    for (const [s, node] of nodes.entries()) {
      node.localUpdate(parts[s])
      const r = node.responsibilities!
      const K = node.K
      const nk = new Float64Array(K)
      for (let n = 0; n < r.rows; n++) for (let k = 0; k < K; k++) nk[k] += r.data[n * K + k]
      const w = node.weights
      for (let k = 0; k < K; k++) expect(Math.abs(w[k] - Math.max(nk[k] / parts[s].rows, Math.exp(-700)))).toBeLessThan(1e-12)
    }
  })

  it('local and shared weights coincide when one node holds all rows', async () => {
    const a = await fitCentralised(x, { ...hyper, weights: 'local' })
    const b = await fitCentralised(x, { ...hyper, weights: 'shared' })
    expect(globalDiff(a, b)).toBeLessThanOrEqual(1e-9)
    expect(maxAbsDiff(a.weights, b.weights)).toBeLessThanOrEqual(1e-9)
  })
})
