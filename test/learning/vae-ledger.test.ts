/**
 * The VAE's DP-SGD is charged to each node's ledger by the model itself, every local
 * update, before the vector is shared: after T iterations the ledger holds T entries whose
 * composition equals the accountant's T * localSteps subsampled-Gaussian steps.
 */
import { describe, expect, it } from 'vitest'
import { parseTrainingConfig } from '../../src/learning/config.js'
import { createNodeModel, modelChargesLedger } from '../../src/learning/models.js'
import { runNetwork } from '../../src/learning/network.js'
import { createLedger } from '../../src/learning/privacy.js'
import { mat } from '../../src/numeric/matrix.js'
import { Rng } from '../../src/numeric/rng.js'
import { SecretRng } from '../../src/numeric/secret-rng.js'
import type { PrivacyLedger } from '../../src/privacy/ledger.js'
import { dpSgdRdp } from '../../src/privacy/mechanisms.js'
import { rdpToDp } from '../../src/privacy/rdp.js'

describe('VAE DP-SGD in the learning loop', () => {
  it("charges every local update's steps to the node's ledger", async () => {
    const rng = new Rng('vae-ledger')
    const parts = [0, 1].map(() => mat(40, 4, rng.fillNormal(new Float64Array(160))))
    const T = 3
    const dpSgd = { clip: 1, noiseMultiplier: 1.2, sampleRate: 0.3, nodes: 2 }
    const config = parseTrainingConfig({
      model: { kind: 'vae', hyper: { hidden: 8, latent: 2, localSteps: 2, dpSgd } },
      seed: 3,
      maxIterations: T,
      privacy: { monitor: false, budget: 100 },
    })
    expect(modelChargesLedger(config)).toBe(true)
    const ledgers: PrivacyLedger[] = []
    await runNetwork({
      config,
      parts,
      aggregation: { kind: 'exact' },
      nodeParts: (s) => {
        const ledger = createLedger(config, `n${s}`)
        ledgers.push(ledger)
        return { model: createNodeModel(config, { noise: SecretRng.forSimulation('vae-ledger', s), ledger }), ledger }
      },
    })
    const want = rdpToDp(ledgers[0].orders, dpSgdRdp(dpSgd.sampleRate, dpSgd.noiseMultiplier, T * 2, ledgers[0].orders), 1e-5).epsilon
    for (const l of ledgers) {
      expect(l.entries).toHaveLength(T)
      expect(l.entries.every((e) => e.kind === 'dp-sgd' && e.audience === 'external')).toBe(true)
      expect(l.spent().epsilon).toBeCloseTo(want, 9)
    }
  })
})
