import { describe, expect, it } from 'vitest'
import { generateTopology } from '../../topologies/index.js'
import { SCHEMES } from '../../src/consensus/index.js'
import { deviation, directMean, network, randomVectors } from './helpers.js'

describe('consensus reaches the exact average within tol (checked against a direct sum)', () => {
  const t31 = generateTopology('cwic', 31)
  for (const scheme of SCHEMES) {
    for (const len of [1, 5000]) {
      it(`cwic-31, ${scheme}, length ${len}`, async () => {
        const tol = 1e-9
        const { nodes } = network(t31, { scheme, tol, chunks: 1 })
        const xs = randomVectors(31, len, `${scheme}/${len}`)
        const mean = directMean(xs)
        const out = await Promise.all(nodes.map((n, i) => n.average(xs[i], 'x')))
        expect(deviation(out, mean)).toBeLessThanOrEqual(tol * deviation(xs, mean))
        const sums = await Promise.all(nodes.map((n, i) => n.sum(xs[i], 'y')))
        for (const s of sums) expect(s[0]).toBeCloseTo(mean[0] * 31, 6)
      })
    }
  }
})
