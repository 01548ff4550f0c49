import { describe, expect, it } from 'vitest'
import { createModel, loadModel, UnknownModelError } from '../../../src/models/index.js'
import {
  createGgm,
  exactNetwork,
  fitExact,
  GgmError,
  GgmHyperError,
  loadGgm,
  parseGgmHyper,
  type GgmModel,
} from '../../../src/models/ggm/index.js'
import { buildId } from '../../../src/numeric/index.js'
import { cut, maxAbsDiff, thyroid } from './helpers.js'

const x = thyroid()
const parts = cut(x, [0, 60, 215])
const hyper = { K: 3, rho: 0.4, lambda0: 2, maxIter: 6, seed: 9, radius: 8 }

describe('agreed start', () => {
  it('every node draws the same initial means from the shared seed, whatever its rows; another seed differs', async () => {
    const net = exactNetwork(2)
    const a = createGgm(hyper)
    const b = createGgm(hyper)
    await Promise.all([a.prepare(parts[0], net.aggregate(0)), b.prepare(parts[1], net.aggregate(1))])
    expect(a.exportGlobal()).toEqual(b.exportGlobal())
    const c = createGgm({ ...hyper, seed: 10 })
    await c.prepare(x, exactNetwork(1).aggregate(0))
    expect(maxAbsDiff(c.release().means.data, a.release().means.data)).toBeGreaterThan(1e-3)
    // same standardisation as pooling: network sums, not the node's own rows
    expect(maxAbsDiff(c.preprocessing!.shift, a.preprocessing!.shift)).toBeLessThan(1e-12)
  })

  it('misuse fails loudly: no parameters before prepare, wrong width, wrong statistics length', async () => {
    const m = createGgm(hyper)
    expect(() => m.localUpdate(x)).toThrow(/call prepare/)
    expect(() => m.score(x)).toThrow(GgmError)
    await m.prepare(x, exactNetwork(1).aggregate(0))
    expect(() => m.localUpdate(cut(x, [0, 3])[0])).not.toThrow()
    expect(() => m.score({ rows: 1, cols: 4, data: new Float64Array(4) })).toThrow(/4 columns/)
    expect(() => m.optimize(new Float64Array(5))).toThrow(/statistics vector has 5 values/)
  })
})

describe('hyper-parameters', () => {
  it('defaults are filled in and invalid values are named', () => {
    const h = parseGgmHyper({})
    expect(h.K).toBe('auto')
    expect(h.lambda0).toBeGreaterThan(0)
    expect(() => parseGgmHyper({ K: 0 })).toThrow(GgmHyperError)
    expect(() => parseGgmHyper({ K: 0, rho: -1 })).toThrow(/K: .*; rho: /)
    expect(() => parseGgmHyper({ radius: 0 })).toThrow(/radius/)
    expect(() => parseGgmHyper({ kk: 3 })).toThrow(/kk/)
    expect(() => parseGgmHyper({ estimator: 'ml', lambda0: 1 })).toThrow(/set lambda0 to 0/)
  })

  it('the registry creates GGM models by kind and refuses unknown kinds', () => {
    expect(createModel('ggm', { K: 2 }).kind).toBe('ggm')
    expect(() => loadModel({ kind: 'forest' })).toThrow(UnknownModelError)
  })
})

/** Same global part, bit for bit up to the sign of zero (JSON writes -0 as 0). */
function expectSameGlobal(a: GgmModel, b: GgmModel): void {
  const ga = a.exportGlobal()
  const gb = b.exportGlobal()
  expect(ga.iteration).toBe(gb.iteration)
  expect(ga.converged).toBe(gb.converged)
  expect(ga.state.length).toBe(gb.state.length)
  for (let i = 0; i < ga.state.length; i++) expect(ga.state[i] === gb.state[i] || (Number.isNaN(ga.state[i]) && Number.isNaN(gb.state[i]))).toBe(true)
}

describe('save / load', () => {
  it('round trip through JSON: same hyper, build, trace, global part, private weights and scores; training continues identically', async () => {
    const [a, b] = await fitExact(parts, hyper)
    const saved = JSON.parse(JSON.stringify(b.save())) as unknown
    const s = saved as { numericBuild: string; hyper: Record<string, unknown>; version: number }
    expect(s.numericBuild).toBe(buildId())
    expect(s.hyper).toEqual(parseGgmHyper(hyper))
    const c = loadModel(saved) as GgmModel
    expect(c.kind).toBe('ggm')
    expect(c.trace).toEqual(b.trace)
    expect(c.iteration).toBe(b.iteration)
    expect(c.converged).toBe(b.converged)
    expectSameGlobal(c, b)
    expect(Array.from(c.weights)).toEqual(Array.from(b.weights))
    expect(Array.from(c.score(x))).toEqual(Array.from(b.score(x)))
    expect(c.clipped).toBe(b.clipped)
    // continuing training: one more step on original and restored nodes gives the same bits
    const sb = b.localUpdate(parts[1])
    const sc = c.localUpdate(parts[1])
    expect(Array.from(sc)).toEqual(Array.from(sb))
    const sa = a.localUpdate(parts[0])
    const sum = sb.map((v, i) => v + sa[i])
    b.optimize(sum)
    c.optimize(sum)
    expectSameGlobal(c, b)
  })

  it('refuses other versions and malformed input with a GgmError', async () => {
    const [m] = await fitExact([x], hyper)
    const saved = m.save()
    expect(() => loadGgm({ ...saved, version: 99 })).toThrow(/version 99/)
    expect(() => loadGgm({ ...saved, params: { ...saved.params, dim: 'five' } })).toThrow(GgmError)
    expect(() => loadGgm({ ...saved, hyper: { ...saved.hyper, K: -1 } })).toThrow(GgmHyperError)
  })

  it('importGlobal: a node that only receives the global part scores like its source (shared weights)', async () => {
    const [m] = await fitExact([x], { ...hyper, weights: 'shared' })
    const fresh = createGgm({ ...hyper, weights: 'shared' })
    fresh.importGlobal(m.exportGlobal())
    expect(fresh.iteration).toBe(m.iteration)
    expect(Array.from(fresh.score(x))).toEqual(Array.from(m.score(x)))
    expect(() => fresh.importGlobal({ iteration: 0, converged: false, state: new Float64Array(3) })).toThrow(GgmError)
  })

  it('importGlobal carries the rho the network chose (K auto), so a node rejoining from a peer trains on with it', async () => {
    const h = { K: 'auto' as const, select: { kMax: 2, restarts: 1, rhos: [0.5], iterK: 5, iterRho: 5 }, maxIter: 5 }
    const [m] = await fitExact([x], h)
    expect(m.rho).toBe(0.5)
    const fresh = createGgm(h)
    expect(fresh.rho).not.toBe(0.5)
    fresh.importGlobal(m.exportGlobal())
    expect(fresh.rho).toBe(0.5)
  })
})
