/**
 * The GGM over the real consensus engine (in-memory transport, 31-node cycle with
 * inverse chord, tolerance 1e-10) against exact sums: every node's global part within 1e-6.
 */
import { describe, expect, it } from 'vitest'
import { SecretRng } from '../../../src/numeric/secret-rng.js'
import { createConsensusNode, createMemoryNetwork } from '../../../src/consensus/index.js'
import { generateTopology } from '../../../topologies/index.js'
import { createGgm, fitExact } from '../../../src/models/ggm/index.js'
import { cut, maxAbsDiff, thyroid } from './helpers.js'

const x = thyroid()
const S = 31
// 31 uneven contiguous parts (2 to 13 rows)
const cuts = [0]
for (let s = 0; s < S; s++) cuts.push(Math.min(x.rows, cuts[s] + 2 + ((s * 7) % 12)))
cuts[S] = x.rows
const parts = cut(x, cuts)
const base = { K: 3, rho: 0.5, lambda0: 1, delta: 1, maxIter: 8, tol: 0, seed: 'consensus' }

describe('GGM with dynamical consensus (cwic-31, tol 1e-10)', () => {
  // squarem: the extrapolation of optimize 3 and 6 is a function of the consensus sums, so
  // nodes that agree on the sums agree on it too
  it.each([{ accelerate: 'none' as const }, { accelerate: 'squarem' as const }])('every node ends within 1e-6 of the exact-sum fit (accelerate $accelerate)', async ({ accelerate }) => {
    const hyper = { ...base, accelerate }
    const topology = generateTopology('cwic', S)
    expect(topology.nodes.length).toBe(S)
    const net = createMemoryNetwork(topology)
    const consensus = net.transports.map((transport) => createConsensusNode({ topology, transport, seed: 'ggm-test', noise: SecretRng.forSimulation('ggm-test', transport.self), tol: 1e-10, chunks: 3 }))
    try {
      const models = parts.map(() => createGgm(hyper))
      await Promise.all(models.map((m, s) => m.prepare(parts[s], (v, l, o) => consensus[s].sum(v, l, o))))
      while (!models[0].converged) {
        const stats = models.map((m, s) => m.localUpdate(parts[s]))
        const sums = await Promise.all(consensus.map((c, s) => c.sum(stats[s], `ggm/stats/${models[0].iteration}`, { noiseGroups: models[s].statsNoiseGroups?.(stats[s].length) })))
        models.forEach((m, s) => m.optimize(sums[s]))
      }
      const exact = await fitExact(parts, hyper)
      const ref = exact[0].release()
      let worst = 0
      for (const m of models) {
        expect(m.iteration).toBe(8)
        const r = m.release()
        expect(r.K).toBe(ref.K)
        worst = Math.max(worst, maxAbsDiff(r.means.data, ref.means.data), maxAbsDiff(r.nbar, ref.nbar))
        for (let k = 0; k < r.K; k++) worst = Math.max(worst, maxAbsDiff(r.precisions[k].data, ref.precisions[k].data))
      }
      expect(worst).toBeLessThanOrEqual(1e-6)
      // and the agreement is not trivial: consensus sums are not bit-identical to exact ones
      expect(worst).toBeGreaterThan(0)
      const steps = models[0].trace.map((e) => Number(e.extrapolation ?? 1))
      if (accelerate === 'squarem') expect(steps.filter((v) => v > 1).length).toBeGreaterThanOrEqual(1)
      for (const m of models) expect(m.trace.map((e) => Number(e.extrapolation ?? 1))).toEqual(steps.map((v) => expect.closeTo(v, 6)))
    } finally {
      for (const c of consensus) c.close()
      net.close()
    }
  })
})
