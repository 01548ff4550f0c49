/** The agreed training config: the release's settings, and parse idempotence. */
import { describe, expect, it } from 'vitest'
import { DEFAULT_RELEASE_EPSILON, parseTrainingConfig, rdpSlopeFor, TrainingConfigError } from '../../src/learning/config.js'
import { DEFAULT_ORDERS, linearRdp, rdpToDp } from '../../src/privacy/rdp.js'
import { consensusPayloadLimit, createNodeModel } from '../../src/learning/models.js'
import { exactNetwork } from '../../src/models/ggm/exact.js'
import { mat } from '../../src/numeric/matrix.js'

describe('training config: release privacy', () => {
  it('the release is off by default; enabling it requires the public feature bounds, naming the setting', () => {
    const c = parseTrainingConfig({ model: { kind: 'ggm', hyper: { K: 4 } }, seed: 1 })
    expect(c.privacy.release.enabled).toBe(false)
    expect(c.privacy.release.epsilon).toBe(DEFAULT_RELEASE_EPSILON)
    expect(() => parseTrainingConfig({ model: { kind: 'ggm' }, seed: 1, privacy: { release: { enabled: true } } }, 'org.yaml', ['training'])).toThrow(
      /org\.yaml: training\.privacy\.release\.bounds: required when the release is enabled/,
    )
    const ok = parseTrainingConfig({ model: { kind: 'ggm' }, seed: 1, privacy: { release: { enabled: true, bounds: { lower: 1, upper: 10 } } } })
    expect(ok.privacy.release.bounds).toEqual({ lower: 1, upper: 10 })
    expect(parseTrainingConfig(JSON.parse(JSON.stringify(ok)))).toEqual(ok)
  })

  it('refuses a release the budget could never afford, mismatched bounds, and the retired means-only settings', () => {
    const base = { model: { kind: 'ggm' as const }, seed: 1 }
    expect(() => parseTrainingConfig({ ...base, privacy: { budget: 2, release: { enabled: true, epsilon: 4, bounds: { lower: 0, upper: 1 } } } })).toThrow(/exceeds privacy\.budget/)
    expect(() => parseTrainingConfig({ ...base, privacy: { release: { bounds: { lower: [0, 0], upper: [1, 1, 1] } } } })).toThrow(/one pair per feature/)
    expect(() => parseTrainingConfig({ ...base, privacy: { release: { lambda0: 60 } } })).toThrow(TrainingConfigError)
    expect(() => parseTrainingConfig({ ...base, privacy: { release: { epsilon: -1 } } })).toThrow(TrainingConfigError)
  })

  it('rdpSlopeFor gives the largest linear RDP slope whose conversion stays within epsilon', () => {
    for (const eps of [0.05, 1, 8]) {
      const c = rdpSlopeFor(eps, 1e-5)
      expect(rdpToDp(DEFAULT_ORDERS, linearRdp(c), 1e-5).epsilon).toBeLessThanOrEqual(eps)
      expect(rdpToDp(DEFAULT_ORDERS, linearRdp(c * 1.001), 1e-5).epsilon).toBeGreaterThan(eps * 0.999)
    }
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

describe('training config: the loop cap', () => {
  it('defaults to 100, or to the model\'s own cap + 1 when that is higher (the VAE stops itself at 300 steps)', () => {
    expect(parseTrainingConfig({ model: { kind: 'ggm' }, seed: 1 }).maxIterations).toBe(100)
    expect(parseTrainingConfig({ model: { kind: 'vae' }, seed: 1 }).maxIterations).toBe(301)
    expect(parseTrainingConfig({ model: { kind: 'vae', hyper: { maxIter: 40 } }, seed: 1 }).maxIterations).toBe(100)
    expect(parseTrainingConfig({ model: { kind: 'ggm', hyper: { maxIter: 250 } }, seed: 1 }).maxIterations).toBe(251)
    expect(parseTrainingConfig({ model: { kind: 'vae' }, seed: 1, maxIterations: 50 }).maxIterations).toBe(50)
  })
})
