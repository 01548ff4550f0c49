import { describe, expect, it } from 'vitest'
import { generateTopology, type Topology } from '../../topologies/index.js'
import { SCHEMES, type SchemeName } from '../../src/consensus/index.js'
import { deviation, directMean, network, randomVectors } from './helpers.js'

/**
 * Every scheme reaches the exact average (a direct sum) within the relative tolerance on
 * S = 31, 101, 1009. The paper's step 1/S needs ~S/lambda_2 ln(1/tol) rounds (274,790 on
 * cwic-1009), so beyond cwic-31 it runs on dense graphs: random 10-regular at 31 and the
 * complete graph at 101 and 1009, where W = I - L/S is the exact averaging matrix (one
 * round). S = 1009 runs length-1 vectors (bench/consensus.ts runs length 5,000 there).
 */
const tol = 1e-9
const sparse: Record<number, Topology> = {
  31: generateTopology('cwic', 31),
  101: generateTopology('regular', 101, { degree: 4, seed: 3 }),
  1009: generateTopology('regular', 1009, { degree: 4, seed: 3 }),
}
const dense: Record<number, Topology> = {
  31: generateTopology('regular', 31, { degree: 10, seed: 3 }),
  101: generateTopology('complete', 101),
  1009: generateTopology('complete', 1009),
}

async function check(t: Topology, scheme: SchemeName, len: number): Promise<void> {
  const S = t.nodes.length
  const { nodes } = network(t, { scheme, tol, chunks: 1 })
  const xs = randomVectors(S, len, `${S}/${scheme}/${len}`)
  const mean = directMean(xs)
  const out = await Promise.all(nodes.map((n, i) => n.sum(xs[i], 'x')))
  const avg = out.map((v) => v.map((x) => x / S))
  expect(deviation(avg, mean)).toBeLessThanOrEqual(tol * deviation(xs, mean))
  for (const n of nodes) expect(n.stats.history[0].members).toBe(S)
}

describe('consensus reaches the exact average within tol (checked against a direct sum)', () => {
  for (const S of [31, 101, 1009]) {
    for (const scheme of SCHEMES) {
      const lens = S === 1009 ? [1] : [1, 5000]
      for (const len of lens) {
        const t = scheme === 'paper' && S !== 31 ? dense[S] : scheme === 'paper' && len > 1 ? dense[S] : sparse[S]
        it(`S = ${S}, ${scheme}, length ${len} (${t.generator?.kind}${t.generator?.degree ? `-${t.generator.degree}` : ''})`, async () => {
          await check(t, scheme, len)
        })
      }
    }
  }
})
