/** The agreed training config: release lambda0 derived from a target epsilon, and parse idempotence. */
import { describe, expect, it } from 'vitest'
import { DEFAULT_RELEASE_EPSILON, parseTrainingConfig, rdpSlopeFor, TrainingConfigError } from '../../src/learning/config.js'
import { DEFAULT_ORDERS, rdpToDp } from '../../src/privacy/rdp.js'
import { releaseRdp } from '../../src/privacy/release.js'
import { consensusPayloadLimit, createNodeModel } from '../../src/learning/models.js'
import { exactNetwork } from '../../src/models/ggm/exact.js'
import { mat } from '../../src/numeric/matrix.js'

/** (epsilon, delta) of one Theorem 1 release of K components, computed by the release code itself. */
function releaseEpsilon(K: number, B: number, R: number, lambda0: number, delta: number): number {
  return rdpToDp(DEFAULT_ORDERS, releaseRdp(K, B, R, lambda0, DEFAULT_ORDERS), delta, 'improved').epsilon
}

describe('training config: release privacy', () => {
  it('derives lambda0 so one release of the initial K components costs the default epsilon, not more', () => {
    const c = parseTrainingConfig({ model: { kind: 'ggm', hyper: { K: 4 } }, seed: 1 })
    const r = c.privacy.release
    const eps = releaseEpsilon(4, r.B, r.R, r.lambda0, c.privacy.ledgerDelta)
    expect(eps).toBeLessThanOrEqual(DEFAULT_RELEASE_EPSILON)
    expect(eps).toBeGreaterThan(DEFAULT_RELEASE_EPSILON - 1e-6)
    // within the default budget, so a default network releases
    expect(eps).toBeLessThanOrEqual(c.privacy.budget)
    // fewer surviving components only cost less
    expect(releaseEpsilon(2, r.B, r.R, r.lambda0, c.privacy.ledgerDelta)).toBeLessThan(eps)
  })

  it('honours an explicit epsilon or lambda0, refuses both, and parses its own output to itself', () => {
    const a = parseTrainingConfig({ model: { kind: 'ggm', hyper: { K: 3 } }, seed: 1, privacy: { release: { epsilon: 2, R: 4, B: 5 } } })
    expect(releaseEpsilon(3, 5, 4, a.privacy.release.lambda0, 1e-5)).toBeCloseTo(2, 5)
    expect(parseTrainingConfig(JSON.parse(JSON.stringify(a)))).toEqual(a)
    const b = parseTrainingConfig({ model: { kind: 'ggm' }, seed: 1, privacy: { release: { lambda0: 60 } } })
    expect(b.privacy.release.lambda0).toBe(60)
    expect(() => parseTrainingConfig({ model: { kind: 'ggm' }, seed: 1, privacy: { release: { lambda0: 60, epsilon: 2 } } })).toThrow(/not both/)
    expect(() => parseTrainingConfig({ model: { kind: 'ggm' }, seed: 1, privacy: { release: { epsilon: -1 } } })).toThrow(TrainingConfigError)
    expect(releaseEpsilon(1, 1, 1, 0.5 / rdpSlopeFor(0.05, 1e-5), 1e-5)).toBeLessThanOrEqual(0.05)
  })
})

describe('consensus payload limit (frame validation)', () => {
  it('equals the longest vector the loop really sends: GGM and VAE statistics plus two votes', async () => {
    const rows = mat(40, 6, Float64Array.from({ length: 240 }, (_, i) => Math.sin(i * 1.7) + (i % 7)))
    for (const model of [{ kind: 'ggm' as const, hyper: { K: 3 } }, { kind: 'vae' as const, hyper: { hidden: 8, latent: 2 } }]) {
      const config = parseTrainingConfig({ model, seed: 3 })
      const m = createNodeModel(config)
      await m.prepare(rows, exactNetwork(1).aggregate(0))
      const sent = m.localUpdate(rows).length + 2
      expect(consensusPayloadLimit(config, 6, 5)).toBe(Math.max(sent, 1 + 6 + 21))
      expect(consensusPayloadLimit(config, 6, 500)).toBe(Math.max(sent, 500))
    }
  })
})
