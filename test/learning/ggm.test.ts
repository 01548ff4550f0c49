import { describe, expect, it } from 'vitest'
import { loadCsv } from '../../src/data/index.js'
import { selectRows, type Mat } from '../../src/numeric/matrix.js'
import { Rng } from '../../src/numeric/rng.js'
import { parseTrainingConfig } from '../../src/learning/index.js'
import { runNetwork } from '../../src/learning/network.js'
import { createNodeModel } from '../../src/learning/models.js'
import { fitCentralised } from '../../src/models/ggm/index.js'

const bcw = loadCsv('data/ad_breastw.csv', { labelCol: 'anomaly' })
const normalRows = Array.from(bcw.labels as Int8Array, (y, i) => (y === 0 ? i : -1)).filter((i) => i >= 0)
const X = selectRows(bcw.features, normalRows)
const rng = new Rng(3)

function slices(data: Mat, S: number): Mat[] {
  return Array.from({ length: S }, (_, s) => selectRows(data, Array.from({ length: Math.ceil((data.rows - s) / S) }, (_, j) => s + j * S)))
}

function maxAbsDiff(a: Float64Array, b: Float64Array): number {
  let d = 0
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]) && Number.isNaN(b[i])) continue // absent fields (e.g. no clipping radius) are NaN on both
    d = Math.max(d, Number.isNaN(a[i] - b[i]) ? Infinity : Math.abs(a[i] - b[i]))
  }
  return d
}

describe('runTraining hosts the GGM mixture unchanged', () => {
  it('S nodes with exact sums reproduce the GGM centralised fit of src/models (weights shared)', async () => {
    const cfg = parseTrainingConfig({
      model: { kind: 'ggm', hyper: { K: 3, weights: 'shared', maxIter: 40 } },
      seed: 11,
      privacy: { monitor: false, release: { enabled: false } },
    })
    const reference = await fitCentralised(X, { K: 3, weights: 'shared', maxIter: 40, seed: 11 })
    const net = await runNetwork({ config: cfg, parts: slices(X, 6), rng, aggregation: { kind: 'exact' }, nodeParts: () => ({ model: createNodeModel(cfg) }) })
    const ref = reference.exportGlobal()
    for (const r of net.nodes) {
      const g = r.model.exportGlobal()
      expect(r.iterations).toBe(reference.iteration)
      expect(g.state.length).toBe(ref.state.length)
      expect(maxAbsDiff(g.state, ref.state)).toBeLessThan(1e-9)
    }
  })
})
