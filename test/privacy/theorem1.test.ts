import { describe, expect, it } from 'vitest'
import { mat, type Mat } from '../../src/numeric/matrix.js'
import { eigvalsh } from '../../src/numeric/linalg.js'
import { Rng } from '../../src/numeric/rng.js'
import { PrivacyBudgetExceededError, PrivacyLedger, PrivacySettingsError } from '../../src/privacy/ledger.js'
import {
  drawReleasedMeans,
  loadTheorem1Release,
  logDensityReleased,
  prepareRelease,
  release,
  Theorem1ReleaseError,
  scoreReleased,
  type ReleaseInput,
} from '../../src/privacy/theorem1.js'

/** 2 x 2 helpers written out by hand: an independent reference for the density and score. */
function det2(P: number[]): number {
  return P[0] * P[3] - P[1] * P[2]
}
function logN2(x: number[], mu: number[], P: number[]): number {
  const d0 = x[0] - mu[0]
  const d1 = x[1] - mu[1]
  const q = P[0] * d0 * d0 + 2 * P[1] * d0 * d1 + P[3] * d1 * d1
  return -Math.log(2 * Math.PI) + 0.5 * Math.log(det2(P)) - 0.5 * q
}

function input(overrides: Partial<ReleaseInput> = {}): ReleaseInput {
  return {
    means: mat(3, 2, Float64Array.from([0, 0, 2, 1, -1, 3])),
    precisions: [
      mat(2, 2, Float64Array.from([4, 1, 1, 3])), // eigenvalues 2.38, 4.62: clipped at B = 3
      mat(2, 2, Float64Array.from([1, 0, 0, 2])),
      mat(2, 2, Float64Array.from([1, 0.2, 0.2, 1])),
    ],
    nbar: Float64Array.from([40, 25, 0.5]),
    lambda0: 2,
    m0: new Float64Array(2),
    radius: 3,
    ...overrides,
  }
}

describe('release (Theorem 1)', () => {
  it('refuses settings the theorem cannot cover', () => {
    const led = PrivacyLedger.inMemory({ nodeId: 'n' })
    const rng = new Rng(1)
    expect(() => release(input({ lambda0: 0 }), rng, led, { eigCap: 3, minNbar: 1 })).toThrow(PrivacySettingsError)
    expect(() => release(input({ radius: null }), rng, led, { eigCap: 3, minNbar: 1 })).toThrow(/R is missing/)
    expect(() => release(input(), rng, led, { eigCap: 0, minNbar: 1 })).toThrow(PrivacySettingsError)
    expect(() => release(input(), rng, led, { eigCap: undefined as unknown as number, minNbar: 1 })).toThrow(/eigCap/)
    expect(() => release(input(), rng, led, { eigCap: 3, minNbar: -1 })).toThrow(PrivacySettingsError)
    expect(led.entries.length).toBe(0)
  })

  it('drops Nbar_k < delta, clips eigenvalues at B and records alpha K B R^2 / (2 lambda0) in the ledger', () => {
    const led = PrivacyLedger.inMemory({ nodeId: 'node-a', delta: 1e-5 })
    const m = release(input(), new Rng(2), led, { eigCap: 3, minNbar: 1 })
    expect(m.K).toBe(2)
    expect(m.ids).toEqual([0, 1])
    for (const P of m.precisions) {
      const ev = eigvalsh(mat(2, 2, Float64Array.from(P.flat())))
      expect(ev[1]).toBeLessThanOrEqual(3 + 1e-12)
    }
    expect(led.entries.length).toBe(1)
    const e = led.entries[0]
    expect(e.kind).toBe('release')
    expect(e.audience).toBe('external')
    const kl = (2 * 3 * 9) / (2 * 2) // K B R^2 / (2 lambda0)
    expect(m.privacy.kl).toBeCloseTo(kl, 12)
    led.orders.forEach((a, i) => expect(e.rdp[i]).toBeCloseTo(a * kl, 10))
    expect(m.privacy.ledger.seq).toBe(0)
    expect(m.privacy.ledger.epsilon).toBe(led.spent().epsilon)
    expect(m.weights[0]).toBeCloseTo(40 / 65, 12)
  })

  it('releases nothing, and draws nothing, when the budget would be exceeded', () => {
    const led = PrivacyLedger.inMemory({ nodeId: 'n', budget: 5 })
    const rng = new Rng(3)
    expect(() => release(input(), rng, led, { eigCap: 3, minNbar: 1 })).toThrow(PrivacyBudgetExceededError)
    expect(led.entries.length).toBe(0)
    expect(rng.normal()).toBe(new Rng(3).normal()) // the generator was not touched
  })

  it('draws each mean from N(w_k, (lambda_k clip(Lambda_k))^-1)', () => {
    const p = prepareRelease(input(), { eigCap: 3, minNbar: 1 })
    const rng = new Rng(4)
    const n = 4000
    const k = 0
    const lam = p.lambdas[k]
    const P = Array.from(p.clipped[k].data)
    // covariance (lam P)^-1 of a 2 x 2 by hand
    const d = det2(P) * lam * lam
    const cov = [(lam * P[3]) / d, (-lam * P[1]) / d, (lam * P[0]) / d]
    const s = [0, 0]
    const ss = [0, 0, 0]
    for (let i = 0; i < n; i++) {
      const mu = drawReleasedMeans(p, rng)
      const x = [mu.data[0] - p.means.data[0], mu.data[1] - p.means.data[1]] // w_0 = (0, 0)
      s[0] += x[0]
      s[1] += x[1]
      ss[0] += x[0] * x[0]
      ss[1] += x[0] * x[1]
      ss[2] += x[1] * x[1]
    }
    const se0 = Math.sqrt(cov[0] / n)
    expect(Math.abs(s[0] / n)).toBeLessThan(5 * se0)
    expect(Math.abs(s[1] / n)).toBeLessThan(5 * Math.sqrt(cov[2] / n))
    for (let j = 0; j < 3; j++) expect(Math.abs(ss[j] / n - cov[j])).toBeLessThan(0.1 * Math.sqrt(cov[0] * cov[2]))
  })

  it('scores with eq. 20 and round-trips through JSON for a third party', () => {
    const led = PrivacyLedger.inMemory({ nodeId: 'n' })
    const shift = Float64Array.from([10, -5])
    const scale = Float64Array.from([2, 4])
    const m = release(input({ transform: { shift, scale } }), new Rng(5), led, { eigCap: 3, minNbar: 1 })
    const third = loadTheorem1Release(JSON.parse(JSON.stringify(m)))
    const raw: number[][] = [[10, -5], [14, 3], [0, 0], [12.5, -1]]
    const X: Mat = mat(raw.length, 2, Float64Array.from(raw.flat()))
    const got = scoreReleased(third, X)
    const dens = logDensityReleased(third, X)
    raw.forEach((x, n) => {
      const z = [(x[0] - 10) / 2, (x[1] + 5) / 4]
      const comps = third.means.map((mu, k) => ({ w: third.weights[k], l: logN2(z, mu, third.precisions[k].flat()) }))
      const px = comps.reduce((a, c) => a + c.w * Math.exp(c.l), 0)
      const score = comps.reduce((a, c) => a + ((c.w * Math.exp(c.l)) / px) * -c.l, 0) // sum_k r_k(x) (-ln N_k)
      expect(got[n]).toBeCloseTo(score, 10)
      expect(dens[n]).toBeCloseTo(Math.log(px), 10)
    })
    expect(Array.from(scoreReleased(m, X))).toEqual(Array.from(got))
    expect(() => loadTheorem1Release({ ...m, K: 5 })).toThrow(Theorem1ReleaseError)
    expect(() => loadTheorem1Release({ format: 'x' })).toThrow(Theorem1ReleaseError)
  })
})

describe('Monte-Carlo check of Theorem 1 (small; the full sweep is sim/experiments/privacy.ts)', () => {
  it('KL between the releases of adjacent datasets, estimated from samples, stays below the ledger epsilon', () => {
    // Dataset in the R/2-ball around m0 = 0; responsibilities fixed (the theorem's setting).
    const R = 2
    const lambda0 = 1
    const B = 2
    const rng = new Rng('mc')
    const n = 6
    const M = 2
    const X = Array.from({ length: n }, () => {
      const v = [rng.normal(), rng.normal()]
      const r = Math.hypot(v[0], v[1])
      const s = (rng.uniform() * R) / 2 / r
      return [v[0] * s, v[1] * s]
    })
    const resp = X.map(() => [1]) // K = 1, every sample fully in the component
    const precision = mat(2, 2, Float64Array.from([3, 1, 1, 2]))
    const make = (rows: number[][]): ReleaseInput => {
      const nbar = rows.reduce((a, _, i) => a + resp[i][0], 0)
      const sum = [0, 0]
      rows.forEach((x, i) => { sum[0] += resp[i][0] * x[0]; sum[1] += resp[i][0] * x[1] })
      // eq. 15 with m0 = 0: w = (lambda0 m0 + sum r x) / (lambda0 + Nbar)
      return { means: mat(1, M, Float64Array.from([sum[0] / (lambda0 + nbar), sum[1] / (lambda0 + nbar)])), precisions: [precision], nbar: Float64Array.from([nbar]), lambda0, m0: new Float64Array(M), radius: R }
    }
    const led = PrivacyLedger.inMemory({ nodeId: 'mc' })
    const base = make(X)
    // worst direction: move sample 0 to the antipode along the top eigenvector of the clipped precision
    const pA = prepareRelease(base, { eigCap: B, minNbar: 0.5 })
    const C = Array.from(pA.clipped[0].data)
    const tr = C[0] + C[3]
    const top = tr / 2 + Math.sqrt((tr * tr) / 4 - det2(C))
    let v = [C[1], top - C[0]]
    const nv = Math.hypot(v[0], v[1])
    v = [v[0] / nv, v[1] / nv]
    const moved = X.map((x) => [...x])
    moved[0] = [(v[0] * R) / 2, (v[1] * R) / 2]
    const other = X.map((x) => [...x])
    other[0] = [(-v[0] * R) / 2, (-v[1] * R) / 2]
    const pB = prepareRelease(make(moved), { eigCap: B, minNbar: 0.5 })
    const pC = prepareRelease(make(other), { eigCap: B, minNbar: 0.5 })
    const m = release(base, rng, led, { eigCap: B, minNbar: 0.5 })
    const eps1 = m.privacy.kl // epsilon(1) the ledger records: K B R^2 / (2 lambda0)
    // KL(P || Q) = E_P[ln p - ln q], estimated from draws of the release mechanism itself
    const Plam = Array.from(pB.clipped[0].data).map((x) => x * pB.lambdas[0])
    const draws = 20000
    let acc = 0
    let acc2 = 0
    for (let i = 0; i < draws; i++) {
      const mu = Array.from(drawReleasedMeans(pB, rng).data)
      const l = logN2(mu, Array.from(pB.means.data), Plam) - logN2(mu, Array.from(pC.means.data), Plam)
      acc += l
      acc2 += l * l
    }
    const kl = acc / draws
    const se = Math.sqrt((acc2 / draws - kl * kl) / draws)
    const dw = [pB.means.data[0] - pC.means.data[0], pB.means.data[1] - pC.means.data[1]]
    const exact = 0.5 * (Plam[0] * dw[0] * dw[0] + 2 * Plam[1] * dw[0] * dw[1] + Plam[3] * dw[1] * dw[1])
    expect(Math.abs(kl - exact)).toBeLessThan(5 * se) // the estimator is right
    expect(exact).toBeGreaterThan(0.5 * B * R * R / (2 * pB.lambdas[0])) // the move is close to the worst case
    expect(kl + 4 * se).toBeLessThan(eps1) // and the bound holds
    expect(exact).toBeLessThanOrEqual(B * R * R / (2 * pB.lambdas[0]) + 1e-12)
  })
})
