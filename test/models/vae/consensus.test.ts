/**
 * The multi-task VAE over the real consensus engine (in-memory transport, 31-node cycle
 * with inverse chord, tolerance 1e-10, random chunking) against exact sums: after 50
 * rounds every node's decoder is within 1e-6 of the exact-sum decoder.
 */
import { describe, expect, it } from 'vitest'
import { SecretRng } from '../../../src/numeric/secret-rng.js'
import { createConsensusNode, createMemoryNetwork } from '../../../src/consensus/index.js'
import { generateTopology } from '../../../topologies/index.js'
import { loadCsv } from '../../../src/data/csv.js'
import { selectRows } from '../../../src/numeric/matrix.js'
import { runExact } from '../../../src/models/ggm/exact.js'
import { createVaeModel, type VaeModel } from '../../../src/models/vae/index.js'

const wdbc = loadCsv('data/wdbc_sklearn.csv', { dropCols: ['target', 'diagnosis'] }).features
const S = 31
// 31 uneven contiguous parts of WDBC (8 to 28 rows)
const cuts = [0]
for (let s = 0; s < S; s++) cuts.push(Math.min(wdbc.rows, cuts[s] + 8 + ((s * 7) % 21)))
cuts[S] = wdbc.rows
const parts = Array.from({ length: S }, (_, s) => selectRows(wdbc, Array.from({ length: cuts[s + 1] - cuts[s] }, (_, i) => cuts[s] + i)))
const hyper = { seed: 'vae-consensus', hidden: 8, latent: 2, maxIter: 50 }

function maxAbsDiff(a: Float64Array, b: Float64Array): number {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]))
  return m
}

describe('multi-task VAE with dynamical consensus (cwic-31, tol 1e-10)', () => {
  it('after 50 steps every node decoder is within 1e-6 of the exact-sum decoder', async () => {
    const topology = generateTopology('cwic', S)
    const net = createMemoryNetwork(topology)
    const consensus = net.transports.map((transport) => createConsensusNode({ topology, transport, seed: 'vae-test', noise: SecretRng.forSimulation('vae-test', transport.self), tol: 1e-10, chunks: 3 }))
    try {
      const models: VaeModel[] = parts.map((_, s) => createVaeModel({ ...hyper, node: s }))
      await Promise.all(models.map((m, s) => m.prepare(parts[s], (v, l, o) => consensus[s].sum(v, l, o))))
      const initial = models[0].decoder()
      while (!models[0].converged) {
        const stats = models.map((m, s) => m.localUpdate(parts[s]))
        const sums = await Promise.all(consensus.map((c, s) => c.sum(stats[s], `vae/grad/${models[0].iteration}`)))
        models.forEach((m, s) => m.optimize(sums[s]))
      }
      const exact = await runExact(
        parts.map((_, s) => createVaeModel({ ...hyper, node: s })),
        parts,
      )
      const ref = exact[0].decoder()
      let worst = 0
      for (const m of models) {
        expect(m.iteration).toBe(50)
        worst = Math.max(worst, maxAbsDiff(m.decoder(), ref))
      }
      expect(worst).toBeLessThanOrEqual(1e-6)
      // not trivially equal: consensus sums are not bit-identical to exact ones
      expect(worst).toBeGreaterThan(0)
      // and training moved the decoder far more than the consensus error
      expect(maxAbsDiff(ref, initial)).toBeGreaterThan(1e-2)
    } finally {
      for (const c of consensus) c.close()
      net.close()
    }
  })
})
