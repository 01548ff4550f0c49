import { describe, expect, it } from 'vitest'
import { mat } from '../../src/numeric/matrix.js'
import { Rng } from '../../src/numeric/rng.js'
import { PrivacyBudgetExceededError, PrivacyLedger, PrivacySettingsError } from '../../src/privacy/ledger.js'
import {
  chargeDpSgd,
  clipL2,
  distributedGaussianShare,
  dpSgdNoisySum,
  gaussianC,
  gaussianMechanism,
  gaussianMechanismAccounted,
  gaussianSigma,
  laplace,
  laplaceLocalDp,
  laplaceLocalDpRdp,
  laplaceRdp,
  poissonBatch,
} from '../../src/privacy/mechanisms.js'
import { rdpToDp } from '../../src/privacy/rdp.js'

function meanVar(x: ArrayLike<number>): { mean: number; variance: number } {
  let s = 0
  for (let i = 0; i < x.length; i++) s += x[i]
  const mean = s / x.length
  let v = 0
  for (let i = 0; i < x.length; i++) v += (x[i] - mean) ** 2
  return { mean, variance: v / x.length }
}

describe('Gaussian mechanism', () => {
  it('calibrates sigma = sqrt(2 ln(1.25/delta)) Delta / epsilon', () => {
    expect(gaussianC(1e-5)).toBeCloseTo(Math.sqrt(2 * Math.log(125000)), 12)
    expect(gaussianSigma(0.5, 1e-5, 2)).toBeCloseTo((2 * Math.sqrt(2 * Math.log(125000))) / 0.5, 12)
    expect(() => gaussianSigma(1, 1, 1)).toThrow(PrivacySettingsError)
    expect(() => gaussianSigma(0, 1e-5, 1)).toThrow(PrivacySettingsError)
  })
  it('clips to the L2 ball and leaves short vectors alone', () => {
    const { clipped, norm } = clipL2([3, 4], 1)
    expect(norm).toBe(5)
    expect(Math.hypot(clipped[0], clipped[1])).toBeCloseTo(1, 14)
    expect(clipped[0] / clipped[1]).toBeCloseTo(0.75, 14)
    expect(Array.from(clipL2([0.3, 0.4], 1).clipped)).toEqual([0.3, 0.4])
  })
  it('adds N(0, sigma^2) noise; S distributed shares sum to noise of variance sigma^2', () => {
    const rng = new Rng('gauss')
    const n = 20000
    const noisy = gaussianMechanism(new Float64Array(n), { clip: 1, sigma: 2 }, rng)
    const mv = meanVar(noisy)
    expect(Math.abs(mv.mean)).toBeLessThan(5 * 2 / Math.sqrt(n))
    expect(Math.abs(mv.variance / 4 - 1)).toBeLessThan(5 * Math.sqrt(2 / n))
    const S = 10
    const total = new Float64Array(n)
    for (let s = 0; s < S; s++) {
      const share = distributedGaussianShare(new Float64Array(n), { clip: 1, sigma: 2, nodes: S }, rng.fork(s))
      expect(Math.abs(meanVar(share).variance / (4 / S) - 1)).toBeLessThan(5 * Math.sqrt(2 / n))
      for (let i = 0; i < n; i++) total[i] += share[i]
    }
    expect(Math.abs(meanVar(total).variance / 4 - 1)).toBeLessThan(5 * Math.sqrt(2 / n))
  })
  it('charges the ledger before returning, and returns nothing past the budget', () => {
    const ledger = PrivacyLedger.inMemory({ nodeId: 'n', delta: 1e-5, budget: 3 })
    const opts = { clip: 1, sigma: 2 }
    const { entry } = gaussianMechanismAccounted([1, 2, 3], opts, new Rng(1), ledger, 'external', 'g1')
    // recorded cost is the exact Gaussian RDP alpha Delta^2 / (2 sigma^2)
    ledger.orders.forEach((a, i) => expect(entry.rdp[i]).toBeCloseTo(a / 8, 12))
    let refused = false
    for (let i = 0; i < 50 && !refused; i++) {
      try {
        gaussianMechanismAccounted([1, 2, 3], opts, new Rng(1), ledger, 'external', `g${i + 2}`)
      } catch (e) {
        expect(e).toBeInstanceOf(PrivacyBudgetExceededError)
        refused = true
      }
    }
    expect(refused).toBe(true)
    expect(ledger.spent().epsilon).toBeLessThanOrEqual(3)
  })
})

describe('Laplace local DP', () => {
  it('draws Laplace(0, b): mean 0, E|x| = b, variance 2 b^2', () => {
    const rng = new Rng('laplace')
    const n = 40000
    const x = new Float64Array(n)
    for (let i = 0; i < n; i++) x[i] = laplace(1.5, rng)
    let abs = 0
    for (const v of x) abs += Math.abs(v)
    expect(Math.abs(abs / n / 1.5 - 1)).toBeLessThan(0.03)
    expect(Math.abs(meanVar(x).variance / (2 * 1.5 * 1.5) - 1)).toBeLessThan(0.06)
  })
  it('clips each feature to its bounds and adds noise of scale M (u - l) / epsilon', () => {
    const n = 20000
    const x = mat(n, 2, new Float64Array(2 * n).fill(100)) // far outside: clipped to the upper bound
    const out = laplaceLocalDp(x, { epsilon: 4, lower: [0, 0], upper: [1, 10] }, new Rng(3))
    const col = (j: number) => Float64Array.from({ length: n }, (_, i) => out.data[i * 2 + j])
    for (const [j, u, b] of [[0, 1, 0.5], [1, 10, 5]] as const) {
      const mv = meanVar(col(j))
      expect(Math.abs(mv.mean - u)).toBeLessThan(5 * Math.sqrt((2 * b * b) / n))
      expect(Math.abs(mv.variance / (2 * b * b) - 1)).toBeLessThan(0.08)
    }
    expect(() => laplaceLocalDp(x, { epsilon: 1, lower: [0], upper: [1] }, new Rng(3))).toThrow(PrivacySettingsError)
  })
  it('Laplace RDP matches numerical integration of the Rényi divergence and never exceeds eps0', () => {
    // D_alpha(Lap(0, b) || Lap(1, b)) with b = 1/eps0, by the trapezoid rule
    const quad = (eps0: number, a: number): number => {
      const b = 1 / eps0
      const lo = -40 * b
      const hi = 40 * b + 1
      const n = 400_000
      const h = (hi - lo) / n
      let acc = 0
      for (let i = 0; i <= n; i++) {
        const z = lo + i * h
        const p = Math.exp(-Math.abs(z) / b) / (2 * b)
        const q = Math.exp(-Math.abs(z - 1) / b) / (2 * b)
        acc += (i === 0 || i === n ? 0.5 : 1) * p ** a * q ** (1 - a)
      }
      return Math.log(acc * h) / (a - 1)
    }
    const orders = [1.5, 2, 4, 10]
    for (const eps0 of [0.3, 1, 2]) {
      const r = laplaceRdp(eps0, orders)
      orders.forEach((a, i) => {
        expect(Math.abs(r[i] - quad(eps0, a))).toBeLessThan(1e-5)
        expect(r[i]).toBeLessThanOrEqual(eps0)
      })
    }
    const m = laplaceLocalDpRdp(2, 4, orders)
    orders.forEach((_, i) => expect(m[i]).toBeLessThanOrEqual(2 + 1e-12))
  })
})

describe('DP-SGD', () => {
  it('clips each sample gradient to C before summing', () => {
    const g = mat(3, 2, Float64Array.from([3, 4, 0.3, 0.4, 0, -10]))
    const { sum, clippedRows } = dpSgdNoisySum(g, { clip: 1, noiseMultiplier: 1e-300 }, new Rng(0))
    expect(clippedRows).toBe(2)
    expect(sum[0]).toBeCloseTo(0.6 + 0.3 + 0, 12)
    expect(sum[1]).toBeCloseTo(0.8 + 0.4 - 1, 12)
  })
  it('adds N(0, (z C)^2) to the sum and samples batches at rate q', () => {
    const p = 20000
    const { sum } = dpSgdNoisySum(mat(1, p), { clip: 0.5, noiseMultiplier: 3 }, new Rng(9))
    expect(Math.abs(meanVar(sum).variance / 2.25 - 1)).toBeLessThan(5 * Math.sqrt(2 / p))
    const batch = poissonBatch(100000, 0.01, new Rng(5))
    expect(Math.abs(batch.length - 1000)).toBeLessThan(5 * Math.sqrt(1000))
  })
  it('accounts per step with the subsampled Gaussian: TF-Privacy tutorial value 2.92 (classic)', () => {
    const orders = [...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10), ...Array.from({ length: 52 }, (_, x) => 12 + x)]
    const ledger = PrivacyLedger.inMemory({ nodeId: 'vae', delta: 1e-5, orders, conversion: 'classic' })
    const q = 256 / 60000
    for (let epoch = 0; epoch < 60; epoch++) {
      chargeDpSgd(ledger, { q, noiseMultiplier: 1.12, steps: epoch < 22 ? 235 : 234, audience: 'peers', label: `epoch ${epoch}` })
    }
    // 22 x 235 + 38 x 234 = 14062 steps in total
    expect(Math.abs(ledger.spent('peers').epsilon - 2.9222)).toBeLessThan(1e-3)
    expect(rdpToDp(orders, ledger.totalRdp('peers'), 1e-5, 'improved').epsilon).toBeCloseTo(2.5186, 3)
  })
})
