import { describe, expect, it } from 'vitest'
import { mat } from '../../src/numeric/matrix.js'
import { Rng } from '../../src/numeric/rng.js'
import { membershipAttackCurve, membershipAuc, membershipScores } from '../../src/privacy/attack.js'
import { theorem1MonteCarlo } from '../../src/privacy/montecarlo.js'
import { PrivacyLedger } from '../../src/privacy/ledger.js'
import { release } from '../../src/privacy/theorem1.js'

describe('Theorem 1, Monte-Carlo (small sizes; sim/experiments/privacy.ts runs the full check)', () => {
  it('estimated KL of adjacent releases never exceeds the ledger epsilon, and the estimator is unbiased', () => {
    const r = theorem1MonteCarlo({ K: 3, M: 2, n: 8, R: 3, lambda0: 1, eigCap: 2, trials: 6, draws: 3000 }, new Rng('t1'))
    expect(r.epsilon1).toBeCloseTo((3 * 2 * 9) / 2, 12)
    expect(r.violations).toBe(0)
    for (const t of r.trials) {
      expect(Math.abs(t.estimate - t.exact)).toBeLessThan(5 * t.se + 1e-9)
      expect(t.exact).toBeLessThanOrEqual(r.epsilon1)
    }
  })
  it('stays below the bound where the bound is nearly tight (K = 1, one sample, lambda0 >> Nbar)', () => {
    const r = theorem1MonteCarlo({ K: 1, M: 3, n: 1, R: 2, lambda0: 10, eigCap: 2, trials: 2, draws: 6000 }, new Rng('tight'))
    const worst = r.trials.find((t) => t.move === 'worst')!
    // KL = B R^2 / (2 (lambda0 + 1)) when the top eigenvalue is clipped at B: 10/11 of epsilon(1)
    expect(worst.exact).toBeLessThanOrEqual(r.epsilon1)
    expect(worst.exact).toBeGreaterThan(0.5 * r.epsilon1)
    expect(worst.estimate - 4 * worst.se).toBeLessThan(r.epsilon1)
  })
})

describe('membership-inference attack (likelihood ratio on the released model)', () => {
  it('scores members above non-members at large epsilon and falls to chance at small epsilon', () => {
    const curve = membershipAttackCurve({ M: 5, n: 5, R: 7, eigCap: 1, lambda0s: [0.01, 3000], trials: 400, delta: 1e-5 }, new Rng('mia'))
    expect(curve[0].epsilon).toBeGreaterThan(curve[1].epsilon)
    expect(curve[0].auc).toBeGreaterThan(0.6)
    expect(Math.abs(curve[1].auc - 0.5)).toBeLessThan(4 * curve[1].aucSe)
  })
  it('the likelihood ratio is ln p_released - ln p_reference', () => {
    const ledger = PrivacyLedger.inMemory({ nodeId: 'n' })
    const model = release(
      { means: mat(1, 1, Float64Array.from([0.5])), precisions: [mat(1, 1, Float64Array.from([1]))], nbar: Float64Array.from([3]), lambda0: 1, m0: new Float64Array(1), radius: 2 },
      new Rng(1),
      ledger,
      { eigCap: 1, minNbar: 0 },
    )
    const mu = model.means[0][0]
    const X = mat(2, 1, Float64Array.from([0.3, -1]))
    const s = membershipScores(model, X, (Y) => Float64Array.from(Y.data, (x) => -0.5 * Math.log(2 * Math.PI) - 0.5 * x * x))
    expect(s[0]).toBeCloseTo(-0.5 * (0.3 - mu) ** 2 + 0.5 * 0.09, 12)
    expect(s[1]).toBeCloseTo(-0.5 * (-1 - mu) ** 2 + 0.5, 12)
    expect(membershipAuc([3, 4], [1, 2])).toBe(1)
  })
})
