import { describe, expect, it } from 'vitest'
import { createGgm, exactNetwork, fitExact, GgmError, sumVectors, type GgmModel } from '../../../src/models/ggm/index.js'
import { mat } from '../../../src/numeric/matrix.js'
import { cut, thyroid, zscore } from './helpers.js'

const x = thyroid()
const parts = cut(x, [0, 30, 100, 215])

async function prepared(hyper: Record<string, unknown>): Promise<GgmModel[]> {
  const net = exactNetwork(parts.length)
  const models = parts.map(() => createGgm(hyper))
  await Promise.all(models.map((m, s) => m.prepare(parts[s], net.aggregate(s))))
  return models
}

function step(models: GgmModel[]): void {
  const sum = sumVectors(models.map((m, s) => m.localUpdate(parts[s])))
  for (const m of models) m.optimize(sum)
}

describe('dropping components with Nbar_k < delta', () => {
  it('a component no row supports is voted out by every node and dropped everywhere at the second optimize', async () => {
    const models = await prepared({ K: 3, delta: 1, rho: 0.2, seed: 1 })
    const z = zscore(x)
    const M = 5
    const means = mat(3, M)
    means.data.set(z.data.subarray(0, M), 0)
    means.data.fill(40, M, 2 * M) // 40 standard deviations away: responsibilities ~ e^-4000
    means.data.set(z.data.subarray(200 * M, 201 * M), 2 * M)
    const eye = mat(M, M)
    for (let a = 0; a < M; a++) eye.data[a * M + a] = 1
    for (const m of models) m.setStart({ means, precisions: [eye, eye, eye] })
    step(models)
    // first optimize: no vote yet (nobody has an Nbar_k), the empty component is kept with Nbar_k floored at delta
    for (const m of models) {
      expect(m.K).toBe(3)
      expect(m.release().nbar[1]).toBe(1)
      expect(m.trace[0].dropped).toBe(0)
    }
    const votes = models.map((m, s) => m.localUpdate(parts[s]))
    const L = votes[0].length
    for (const v of votes) expect(Array.from(v.subarray(L - 4))).toEqual([1, 0, 1, 0])
    step(models)
    for (const m of models) {
      expect(m.K).toBe(2)
      expect(Array.from(m.release().ids)).toEqual([0, 2])
      expect(m.trace[1].K).toBe(2)
      expect(m.trace[1].dropped).toBe(1)
      expect(m.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12)
    }
    // the survivors keep training with vectors of the new length
    step(models)
    expect(models[0].localUpdate(parts[0]).length).toBe(2 + 2 * (1 + M + (M * (M + 1)) / 2) + 3)
  })

  it('from a generous K the surviving K is selected identically on all nodes, each with Nbar_k >= delta', async () => {
    const delta = 12
    const nodes = await fitExact(parts, { K: 12, delta, rho: 0.5, maxIter: 40, seed: 'generous' })
    const K = nodes[0].K
    expect(K).toBeLessThan(12)
    expect(K).toBeGreaterThanOrEqual(1)
    for (const n of nodes) {
      expect(n.K).toBe(K)
      expect(Array.from(n.release().ids)).toEqual(Array.from(nodes[0].release().ids))
      for (const nb of n.release().nbar) expect(nb).toBeGreaterThanOrEqual(delta)
    }
    const ks = nodes[0].trace.map((e) => e.K as number)
    for (let i = 1; i < ks.length; i++) expect(ks[i]).toBeLessThanOrEqual(ks[i - 1])
    expect(ks[ks.length - 1]).toBe(K)
    // delta = 0 keeps every component
    const all = await fitExact(parts, { K: 12, delta: 0, rho: 0.5, maxIter: 5, seed: 'generous' })
    expect(all[0].K).toBe(12)
  })

  it('when no component reaches delta the error says what to change', async () => {
    const models = await prepared({ K: 3, delta: 1e6 })
    step(models) // no vote before the first optimize
    expect(() => step(models)).toThrow(GgmError)
    const again = await prepared({ K: 3, delta: 1e6 })
    step(again)
    expect(() => step(again)).toThrow(/lower delta or K/)
  })
})

describe('ridge floor', () => {
  it('a feature with no variance makes Sigma_k exactly singular: the step retries with ridge 1e-6 on every node and reports it', async () => {
    const M = 6
    const y = mat(x.rows, M)
    for (let i = 0; i < x.rows; i++) {
      for (let j = 0; j < 5; j++) y.data[i * M + j] = x.data[i * 5 + j]
      // a constant column (pinned at 0 in model coordinates): Sigma_k has an exactly zero row, so it is
      // singular bit for bit (a combination such as x0 + 2 x1 is singular only up to round-off, which
      // Cholesky may or may not notice)
      y.data[i * M + 5] = 3.25
    }
    const yParts = [0, 1].map((s) => ({ rows: s === 0 ? 80 : x.rows - 80, cols: M, data: y.data.slice(s === 0 ? 0 : 80 * M, s === 0 ? 80 * M : x.rows * M) }))
    const nodes = await fitExact(yParts, { K: 1, rho: 0, ridge: 0, maxIter: 3 })
    for (const n of nodes) {
      expect(n.trace.map((e) => e.ridge)).toEqual([1e-6, 1e-6, 1e-6])
      expect(n.release().precisions[0].data.every(Number.isFinite)).toBe(true)
    }
    expect(Array.from(nodes[0].release().precisions[0].data)).toEqual(Array.from(nodes[1].release().precisions[0].data))
  })
})
