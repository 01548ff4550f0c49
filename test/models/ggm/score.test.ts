import { describe, expect, it } from 'vitest'
import { fitExact } from '../../../src/models/ggm/index.js'
import { selectRows } from '../../../src/numeric/matrix.js'
import { loadCsv } from '../../../src/data/csv.js'
import { cut, maxAbsDiff, refLogDensity } from './helpers.js'

const { features: x, labels } = loadCsv('data/ad_newthyroid.csv', { labelCol: 'anomaly' })
const normal = Int32Array.from(Array.from(labels!.keys()).filter((i) => labels![i] === 0))
const train = selectRows(x, normal)
const parts = cut(train, [0, 40, 150])

describe('anomaly score (eq. 20)', () => {
  it('equals sum_k r_k(x) [M/2 ln 2pi - 1/2 ln|Lambda_k| + 1/2 (x - mu_k)^T Lambda_k (x - mu_k)] with the node pi^s', async () => {
    const nodes = await fitExact(parts, { K: 3, rho: 0.3, lambda0: 1, maxIter: 30, seed: 2 })
    for (const node of nodes) {
      const rel = node.release()
      const pi = node.weights
      const z = node.toModelSpace(x)
      const M = x.cols
      const want = new Float64Array(x.rows)
      for (let n = 0; n < x.rows; n++) {
        const row = z.data.subarray(n * M, (n + 1) * M)
        const logN = Array.from({ length: rel.K }, (_, k) => refLogDensity(row, rel.means.data.subarray(k * M, (k + 1) * M), rel.precisions[k]))
        const lp = logN.map((l, k) => Math.log(pi[k]) + l)
        const mx = Math.max(...lp)
        const s = lp.reduce((a, v) => a + Math.exp(v - mx), 0)
        want[n] = lp.reduce((a, v, k) => a + (Math.exp(v - mx) / s) * -logN[k], 0)
      }
      const got = node.score(x)
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-9)
    }
    // different private weights give different scores from the same global part
    expect(maxAbsDiff(nodes[0].score(x), nodes[1].score(x))).toBeGreaterThan(1e-6)
  })

  it('ranks the thyroid anomalies above most normal rows', async () => {
    const [node] = await fitExact([train], { K: 3, rho: 0.3, seed: 2 })
    const a = node.score(x)
    let above = 0
    let pairs = 0
    for (let i = 0; i < x.rows; i++) {
      if (labels![i] !== 1) continue
      for (let j = 0; j < x.rows; j++) {
        if (labels![j] !== 0) continue
        pairs++
        if (a[i] > a[j]) above++
      }
    }
    expect(above / pairs).toBeGreaterThan(0.9)
  })
})
