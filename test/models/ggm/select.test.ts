/**
 * K 'auto': the network chooses K and rho from network sums only, so S nodes choose what
 * one node holding every row (the centralised reference) chooses, whichever way the rows
 * are spread over the nodes; the seeding depends on no single node's rows.
 */
import { describe, expect, it } from 'vitest'
import { createGgm, exactNetwork, fitCentralised, fitExact, parseGgmHyper, type GgmModel, type SelectionRow } from '../../../src/models/ggm/index.js'
import { mat, selectRows } from '../../../src/numeric/matrix.js'
import { kmeansStart, LLOYD_STEPS } from '../../../src/models/ggm/select.js'
import { Rng } from '../../../src/numeric/index.js'
import { cut, maxAbsDiff, thyroid } from './helpers.js'

const x = thyroid()
const hyper = { seed: 'select', maxIter: 30 }

function close(a: number, b: number, rel: number): boolean {
  return Math.abs(a - b) <= rel * Math.max(1, Math.abs(a), Math.abs(b))
}

function expectSameTable(a: readonly SelectionRow[], b: readonly SelectionRow[]): void {
  expect(a.length).toBe(b.length)
  a.forEach((r, i) => {
    expect([r.stage, r.K, r.rho, r.restart, r.Kfinal, r.df, r.failed]).toEqual([b[i].stage, b[i].K, b[i].rho, b[i].restart, b[i].Kfinal, b[i].df, b[i].failed])
    expect(close(r.logLik, b[i].logLik, 1e-8)).toBe(true)
  })
}

describe("model selection (K 'auto')", () => {
  it('is the default, and explicit K still skips it', () => {
    expect(parseGgmHyper({}).K).toBe('auto')
    expect(parseGgmHyper({ K: 3 }).K).toBe(3)
    expect(() => parseGgmHyper({ K: 'many' })).toThrow(/K/)
  })

  it('S nodes with exact sums choose the centralised K, rho and restart, with the same BIC table', async () => {
    const central = await fitCentralised(x, hyper)
    const parts = cut(x, [0, 7, 40, 52, 130, 215])
    const nodes = await fitExact(parts, hyper)
    const c = central.selection!
    expect(c).not.toBeNull()
    expect(c.rows).toBe(x.rows)
    for (const node of nodes) {
      const s = node.selection!
      expect([s.K, s.rho, s.restart, s.sessions]).toEqual([c.K, c.rho, c.restart, c.sessions])
      expect(node.rho).toBe(central.rho)
      expectSameTable(s.table, c.table)
    }
    // the choice is the lowest BIC: over K (best restart per K) at stage 1, then over rho
    const stage2 = c.table.filter((r) => r.stage === 'rho' && !r.failed)
    const win = stage2.reduce((a, b) => (b.bic < a.bic ? b : a))
    expect([win.K, win.rho]).toEqual([c.K, c.rho])
    const stage1 = c.table.filter((r) => r.stage === 'K' && !r.failed)
    const perK = new Map<number, SelectionRow>()
    for (const r of stage1) if (!perK.has(r.K) || r.logLik > perK.get(r.K)!.logLik) perK.set(r.K, r)
    const bestK = [...perK.values()].reduce((a, b) => (b.bic < a.bic ? b : a))
    expect(bestK.K).toBe(c.K)
    // BIC = -2 LL + df ln N, df = (K - 1) + K M + non-zeros of the precisions' upper triangles (>= M each)
    for (const r of stage1) {
      expect(r.bic).toBeCloseTo(-2 * r.logLik + r.df * Math.log(x.rows), 6)
      expect(r.df).toBeGreaterThanOrEqual(r.Kfinal - 1 + r.Kfinal * 2 * x.cols)
      expect(r.df).toBeLessThanOrEqual(r.Kfinal - 1 + r.Kfinal * (x.cols + (x.cols * (x.cols + 1)) / 2))
    }
    // and the trained models agree as the fixed-K fits do (identical global part on every node)
    const g0 = nodes[0].exportGlobal()
    for (const node of nodes.slice(1)) expect(node.exportGlobal()).toEqual(g0)
  })

  it('does not depend on how the rows are spread: a shuffled split into 3 nodes makes the same choice', async () => {
    const perm = new Rng('shuffle').permutation(x.rows)
    const parts = [selectRows(x, perm.subarray(0, 20)), selectRows(x, perm.subarray(20, 150)), selectRows(x, perm.subarray(150))]
    const central = (await fitCentralised(x, hyper)).selection!
    const nodes: GgmModel[] = await fitExact(parts, hyper)
    for (const node of nodes) {
      expect([node.selection!.K, node.selection!.rho, node.selection!.restart]).toEqual([central.K, central.rho, central.restart])
      expectSameTable(node.selection!.table, central.table)
    }
  })

  it("fixed K, init 'kmeans++': the start S nodes agree on is the centralised start (network sums only); 'gaussian' is the earlier draw", async () => {
    const fixed = { K: 3, rho: 0.5, seed: 4 }
    const central = createGgm(fixed)
    await central.prepare(x, exactNetwork(1).aggregate(0))
    const parts = cut(x, [0, 30, 31, 215])
    const net = exactNetwork(parts.length)
    const nodes = parts.map(() => createGgm(fixed))
    await Promise.all(nodes.map((m, s) => m.prepare(parts[s], net.aggregate(s))))
    const c = central.release()
    for (const m of nodes) {
      const r = m.release()
      expect(maxAbsDiff(r.means.data, c.means.data)).toBeLessThan(1e-9)
      expect(maxAbsDiff(m.weights, central.weights)).toBeLessThan(1e-9)
      for (let k = 0; k < 3; k++) expect(maxAbsDiff(r.precisions[k].data, c.precisions[k].data)).toBeLessThan(1e-6)
    }
    // the centres moved to the data (Lloyd): each is the mean of a non-empty cluster, with weights >= 1/N
    for (const w of central.weights) expect(w).toBeGreaterThan(1 / x.rows)
    const g = createGgm({ ...fixed, init: 'gaussian' })
    await g.prepare(x, exactNetwork(1).aggregate(0))
    expect(maxAbsDiff(g.release().means.data, c.means.data)).toBeGreaterThan(1e-3)
  })

  it('survives save and load (the chosen rho keeps driving the M-step)', async () => {
    const [m] = await fitExact([x], { ...hyper, maxIter: 3 })
    const { loadGgm } = await import('../../../src/models/ggm/index.js')
    const back = loadGgm(JSON.parse(JSON.stringify(m.save())))
    expect(back.rho).toBe(m.rho)
    expect(back.selection?.K).toBe(m.selection?.K)
    expect(Array.from(back.score(x))).toEqual(Array.from(m.score(x)))
    expect(createGgm({ K: 2 }).selection).toBeNull()
  })
})

describe('k-means start: Lloyd steps stop at a fixed point', () => {
  it('stops before LLOYD_STEPS once no assignment moves, at centres that are the means of their own clusters', async () => {
    // three separated blobs in 2-d: Lloyd settles in a few passes
    const rng = new Rng(12)
    const n = 300
    const z = mat(n, 2)
    const centres = [[-4, 0], [4, 1], [0, 5]]
    for (let i = 0; i < n; i++) for (let a = 0; a < 2; a++) z.data[i * 2 + a] = centres[i % 3][a] + 0.5 * rng.normal()
    const mean = new Float64Array(2)
    for (let i = 0; i < n; i++) for (let a = 0; a < 2; a++) mean[a] += z.data[i * 2 + a] / n
    const G = mat(2, 2, Float64Array.of(12, 0, 0, 8))
    const L = mat(2, 2, Float64Array.of(Math.sqrt(12), 0, 0, Math.sqrt(8)))
    let passes = 0
    const aggregate = async (v: Float64Array, label: string): Promise<Float64Array> => {
      if (label.includes('lloyd')) passes++
      return v
    }
    const start = await kmeansStart({ z, aggregate, mean, G, L, K: 3, seed: 4 })
    expect(passes).toBeLessThan(LLOYD_STEPS + 1)
    // fixed point, checked here independently: assign every row to its nearest centre, average
    const m = start.means.data
    const sums = new Float64Array(6)
    const counts = new Float64Array(3)
    for (let i = 0; i < n; i++) {
      let best = 0
      for (let k = 1; k < 3; k++) {
        const d = (i: number, k: number): number => (z.data[i * 2] - m[k * 2]) ** 2 + (z.data[i * 2 + 1] - m[k * 2 + 1]) ** 2
        if (d(i, k) < d(i, best)) best = k
      }
      counts[best]++
      sums[best * 2] += z.data[i * 2]
      sums[best * 2 + 1] += z.data[i * 2 + 1]
    }
    for (let k = 0; k < 3; k++) {
      expect(counts[k]).toBe(100)
      for (let a = 0; a < 2; a++) expect(m[k * 2 + a]).toBeCloseTo(sums[k * 2 + a] / counts[k], 12)
    }
  })
})
