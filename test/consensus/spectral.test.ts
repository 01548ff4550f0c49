import { describe, expect, it } from 'vitest'
import { generateTopology, spectralReport, type Topology } from '../../topologies/index.js'
import { SCHEMES, type SchemeName } from '../../src/consensus/index.js'
import { deviation, directMean, network, randomVectors } from './helpers.js'

/** Run one average with every node recording its per-round error; relative error per round. */
async function errorCurve(t: Topology, scheme: SchemeName, tol: number, len: number, seed: string): Promise<{ rel: number[]; rounds: number }> {
  const S = t.nodes.length
  const xs = randomVectors(S, len, seed)
  const mean = directMean(xs)
  const sq: number[] = []
  const { nodes } = network(t, {
    scheme,
    tol,
    chunks: 1,
    onRound: (e) => {
      let s = 0
      for (let i = 0; i < e.value.length; i++) s += (e.value[i] - mean[i]) ** 2
      sq[e.round] = (sq[e.round] ?? 0) + s
    },
  })
  await Promise.all(nodes.map((n, i) => n.average(xs[i], 'x')))
  const d0 = deviation(xs, mean)
  return { rel: sq.map((s) => Math.sqrt(s) / d0), rounds: nodes[0].stats.history[0].rounds[0] }
}

describe('the spectral round count is right and tight', () => {
  const cases: Array<[string, Topology, SchemeName[]]> = [
    ['cwic-31', generateTopology('cwic', 31), [...SCHEMES]],
    ['regular3-100', generateTopology('regular', 100, { seed: 4 }), SCHEMES.filter((s) => s !== 'paper')],
  ]
  for (const [name, t, schemes] of cases) {
    for (const scheme of schemes) {
      it(`${name}, ${scheme}: error <= tol after the predicted rounds, first below tol >= 0.8x prediction`, async () => {
        const tol = 1e-9
        const predicted = spectralReport(t, tol).schemes[scheme].rounds
        const { rel, rounds } = await errorCurve(t, scheme, tol, 4, `${name}/${scheme}`)
        expect(rounds).toBe(predicted)
        expect(rel.length).toBe(predicted + 1)
        expect(rel[predicted]).toBeLessThanOrEqual(tol)
        const first = rel.findIndex((e) => e <= tol)
        expect(first).toBeGreaterThanOrEqual(0.8 * predicted)
      })
    }
  }
})
