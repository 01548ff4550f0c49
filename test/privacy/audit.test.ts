/**
 * The audit's measuring instruments against closed forms, then `collab privacy audit`'s
 * findings on a small network: the attacks do no better than the guarantees allow.
 */
import { describe, expect, it } from 'vitest'
import { Rng } from '../../src/numeric/rng.js'
import { SecretRng } from '../../src/numeric/secret-rng.js'
import { dpAucBound, epsilonLowerBound, shamirShareAttack } from '../../src/privacy/audit.js'
import { gaussianRdp, DEFAULT_ORDERS, rdpToDp } from '../../src/privacy/rdp.js'
import { runPrivacyAudit } from '../../sim/audit.js'
import { parseScenario } from '../../sim/scenario.js'

describe('audit instruments', () => {
  it('dpAucBound is e^eps / (1 + e^eps) for pure DP, 1/2 at eps 0, and grows with delta', () => {
    for (const eps of [0.1, 0.5, 1, 3]) expect(dpAucBound(eps, 0)).toBeCloseTo(Math.exp(eps) / (1 + Math.exp(eps)), 12)
    expect(dpAucBound(0, 0)).toBeCloseTo(0.5, 12)
    expect(dpAucBound(1, 1e-3)).toBeGreaterThan(dpAucBound(1, 0))
    expect(dpAucBound(30, 1e-5)).toBeCloseTo(1, 6)
  })

  it('epsilonLowerBound certifies nothing for one distribution, and a bound below the true epsilon for a Gaussian mechanism', () => {
    const rng = new Rng('elb')
    const n = 2000
    const same = (): number[] => Array.from({ length: n }, () => rng.normal())
    expect(epsilonLowerBound(same(), same(), 1e-5)).toBeLessThan(0.2)
    // Gaussian mechanism with sensitivity 3 and sigma 1: its (eps, 1e-5) from the accountant
    const shift = 3
    const inside = Array.from({ length: n }, () => shift + rng.normal())
    const outside = same()
    const lb = epsilonLowerBound(inside, outside, 1e-5)
    const eps = rdpToDp(DEFAULT_ORDERS, gaussianRdp(1, shift, 1, DEFAULT_ORDERS), 1e-5).epsilon
    expect(lb).toBeGreaterThan(1.5) // the test sees the mechanism's loss...
    expect(lb).toBeLessThanOrEqual(eps) // ...and never more than the accounting allows
  })

  it('a member holding one Shamir share of a vector learns nothing: relative error >> 1, no correlation', () => {
    const vectors = Array.from({ length: 5 }, (_, s) => new Rng(`x${s}`).fillNormal(new Float64Array(30)).map((v) => v * 100))
    const r = shamirShareAttack(vectors, 3, 20, (s) => SecretRng.forSimulation('share-attack', s))
    expect(r.views).toBe(5 * 4 * 20)
    expect(r.minRelativeError).toBeGreaterThan(1)
    expect(Math.abs(r.correlation)).toBeLessThan(4 / Math.sqrt(r.views * 30))
  })
})

describe('collab privacy audit (small network)', () => {
  it('the neighbour, the member and the outsider do no better than the guarantees allow', { timeout: 120_000 }, async () => {
    const sc = parseScenario({
      name: 'audit-small',
      seed: 3,
      dataset: { path: 'data/ad_breastw.csv', labelCol: 'anomaly', split: { kind: 'non-iid', minRows: 8 }, testFraction: 0.3 },
      nodes: 11,
      topology: { kind: 'cwic' },
      training: { model: { kind: 'ggm', hyper: { K: 2 } }, seed: 5, privacy: { release: { enabled: true, bounds: { lower: 1, upper: 10 } } } },
    })
    const trials = 12
    const r = await runPrivacyAudit(sc, { epsilons: [1, 8], trials, sessions: 6 })
    expect(r.chunking.views).toBeGreaterThan(11 * 6)
    expect(r.chunking.minRelativeError).toBeGreaterThanOrEqual(1)
    expect(r.chunking.exposedSessions).toBe(0)
    expect(r.shamir.minRelativeError).toBeGreaterThan(1)
    for (const row of r.release.table) {
      expect(row.ledgerEpsilon).toBeLessThanOrEqual(row.epsilon)
      expect(row.empiricalEpsilon).toBeLessThanOrEqual(row.ledgerEpsilon)
      // the measured AUC stays under the DP bound, allowing 3 standard errors of an AUC on 2 x 12 scores
      expect(row.membershipAuc).toBeLessThanOrEqual(row.aucBound + 3 * Math.sqrt(1 / (3 * trials)))
    }
  })
})
