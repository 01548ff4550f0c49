/**
 * A node restarted from its checkpoint carries on early stopping where it stood: the saved
 * model holds the best network validation ELBO, its iteration (the patience counter counts
 * from it) and that step's parameters. Reference: the same network run without interruption;
 * the resumed run must stop at the same iteration, for the same reason, with the same
 * decoder and encoders, bit for bit.
 */
import { describe, expect, it } from 'vitest'
import { loadCsv } from '../../../src/data/csv.js'
import { exactNetwork, runExact, sumVectors } from '../../../src/models/ggm/exact.js'
import { createVaeModel, loadVaeModel, VaeConfigError, VaeStateError, type VaeModel } from '../../../src/models/vae/index.js'
import { selectRows, type Mat } from '../../../src/numeric/matrix.js'

const { features, labels } = loadCsv('data/ad_newthyroid.csv', { labelCol: 'anomaly' })
const normal = selectRows(features, Int32Array.from(Array.from(labels!.keys()).filter((i) => labels![i] === 0)))
const parts = [selectRows(normal, Int32Array.from({ length: 40 }, (_, i) => i)), selectRows(normal, Int32Array.from({ length: 110 }, (_, i) => 40 + i))]
const hyper = { seed: 'resume', hidden: 8, latent: 2, patience: 5, maxIter: 300 }

function step(models: VaeModel[], data: Mat[]): void {
  const sum = sumVectors(models.map((m, s) => m.localUpdate(data[s])))
  for (const m of models) m.optimize(sum)
}

/** Every node saved (as JSON on disk would hold it) and loaded back. */
function roundTrip(models: VaeModel[]): VaeModel[] {
  return models.map((m) => loadVaeModel(JSON.parse(JSON.stringify(m.save())) as unknown))
}

describe('VAE checkpoints keep the early-stopping state', () => {
  it('a run resumed from a checkpoint inside the patience window stops at the same iteration with the same weights', async () => {
    const ref = await runExact(
      parts.map((_, s) => createVaeModel({ ...hyper, node: s })),
      parts,
    )
    expect(ref[0].stopReason).toBe('validation')
    const val = ref[0].trace.map((e) => e.validationElbo as number)
    const best = val.indexOf(Math.max(...val))
    // interrupt two steps after the best one: the patience counter is running
    const cut = best + 2
    expect(cut).toBeLessThan(ref[0].iteration)

    const first = parts.map((_, s) => createVaeModel({ ...hyper, node: s }))
    const net = exactNetwork(parts.length)
    await Promise.all(first.map((m, s) => m.prepare(parts[s], net.aggregate(s))))
    while (first[0].iteration < cut) step(first, parts)
    const resumed = roundTrip(first)
    while (!resumed[0].converged) step(resumed, parts)

    expect(resumed[0].iteration).toBe(ref[0].iteration)
    expect(resumed[0].stopReason).toBe('validation')
    for (let s = 0; s < parts.length; s++) {
      expect(Array.from(resumed[s].decoder())).toEqual(Array.from(ref[s].decoder()))
      expect(Array.from(resumed[s].encoder())).toEqual(Array.from(ref[s].encoder()))
    }
    // a converged model keeps its reason across a save
    expect(roundTrip(resumed)[0].stopReason).toBe('validation')
  })

  it('refuses damaged early-stopping state, naming what is wrong', async () => {
    const models = await runExact(
      parts.map((_, s) => createVaeModel({ ...hyper, node: s, maxIter: 3 })),
      parts,
    )
    const saved = JSON.parse(JSON.stringify(models[0].save())) as { params: { earlyStopping: { best: { decoder: number[]; iteration: number } } } }
    const short = structuredClone(saved)
    short.params.earlyStopping.best.decoder.pop()
    expect(() => loadVaeModel(short)).toThrow(VaeStateError)
    const late = structuredClone(saved)
    late.params.earlyStopping.best.iteration = 99
    expect(() => loadVaeModel(late)).toThrow(/after the saved iteration/)
    const bad = structuredClone(saved) as unknown as { params: { earlyStopping: { stopReason: string } } }
    bad.params.earlyStopping.stopReason = 'bored'
    expect(() => loadVaeModel(bad)).toThrow(VaeConfigError)
  })
})
