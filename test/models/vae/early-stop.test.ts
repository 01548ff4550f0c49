/**
 * Early stopping on the network validation ELBO (Adam defaults): each node holds out a
 * private share of its rows, the held-out ELBO is summed with the gradients, and the network
 * stops when it has not improved for `patience` steps, every node back at the best step's
 * parameters. Checked against a second run of the same network stopped at that step.
 */
import { describe, expect, it } from 'vitest'
import { loadCsv } from '../../../src/data/csv.js'
import { runExact } from '../../../src/models/ggm/exact.js'
import { createVaeModel, parseVaeHyper } from '../../../src/models/vae/index.js'
import { selectRows } from '../../../src/numeric/matrix.js'

const { features, labels } = loadCsv('data/ad_newthyroid.csv', { labelCol: 'anomaly' })
const normal = selectRows(features, Int32Array.from(Array.from(labels!.keys()).filter((i) => labels![i] === 0)))
const parts = [selectRows(normal, Int32Array.from({ length: 40 }, (_, i) => i)), selectRows(normal, Int32Array.from({ length: 110 }, (_, i) => 40 + i))]
const hyper = { seed: 'early', hidden: 8, latent: 2, patience: 5, maxIter: 300 }

describe('VAE early stopping on the network validation ELBO', () => {
  it('defaults: Adam at 1e-2 with 10 % of each node held out', () => {
    const h = parseVaeHyper({ seed: 1 })
    expect([h.optimizer, h.learningRate, h.validation]).toEqual(['adam', 1e-2, 0.1])
    expect(parseVaeHyper({ seed: 1, optimizer: 'sgd' }).learningRate).toBe(5e-3)
  })

  it('stops before the cap and leaves every node at the best step, as a run stopped there', async () => {
    const nodes = await runExact(
      parts.map((_, s) => createVaeModel({ ...hyper, node: s })),
      parts,
    )
    const m = nodes[0]
    expect(m.stopReason).toBe('validation')
    expect(m.iteration).toBeLessThan(hyper.maxIter)
    const val = m.trace.map((e) => e.validationElbo as number)
    // trace entry t holds the validation ELBO of the parameters after t steps
    const best = val.indexOf(Math.max(...val))
    expect(m.iteration - best).toBeGreaterThan(hyper.patience)
    const ref = await runExact(
      parts.map((_, s) => createVaeModel({ ...hyper, node: s, maxIter: best === 0 ? 1 : best })),
      parts,
    )
    if (best > 0) {
      for (let s = 0; s < parts.length; s++) {
        const a = nodes[s].decoder()
        const b = ref[s].decoder()
        let d = 0
        for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]))
        expect(d).toBeLessThan(1e-12)
      }
    }
  })
})
