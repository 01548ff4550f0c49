import { describe, expect, it } from 'vitest'
import { mat } from '../../src/numeric/matrix.js'
import { Rng } from '../../src/numeric/rng.js'
import { PrivacyLedger } from '../../src/privacy/ledger.js'
import {
  componentEntropies,
  protectContribution,
  minimalMixingFraction,
  mixedEntropy,
  weightEntropy,
} from '../../src/privacy/ldiversity.js'
import { PrivacySettingsError } from '../../src/privacy/errors.js'

/** Deterministic pseudo-random numbers for building test matrices (no privacy randomness involved). */
function lcg(seed: number): () => number {
  let x = seed >>> 0
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    return (x + 0.5) / 2 ** 32
  }
}

/** N x K responsibilities: rows are random points on the simplex. */
function randomResp(n: number, k: number, seed: number, sharpness = 1): Float64Array {
  const r = lcg(seed)
  const out = new Float64Array(n * k)
  for (let i = 0; i < n; i++) {
    let s = 0
    for (let j = 0; j < k; j++) {
      out[i * k + j] = r() ** sharpness
      s += out[i * k + j]
    }
    for (let j = 0; j < k; j++) out[i * k + j] /= s
  }
  return out
}

describe('entropy l-diversity monitor (eq. 47-48)', () => {
  it('equals -sum g ln g of each column computed directly', () => {
    const n = 50
    const k = 4
    const resp = mat(n, k, randomResp(n, k, 1, 3))
    const rep = componentEntropies(resp, 3)
    for (let j = 0; j < k; j++) {
      const col = Array.from({ length: n }, (_, i) => resp.data[i * k + j])
      expect(rep.entropies[j]).toBeCloseTo(weightEntropy(col), 12)
    }
    expect(rep.min).toBe(Math.min(...rep.entropies))
    expect(rep.max).toBe(Math.max(...rep.entropies))
  })
  it('gives ln n for a component shared equally by n samples', () => {
    const n = 12
    const resp = mat(n, 1, new Float64Array(n).fill(1))
    expect(componentEntropies(resp, 2).entropies[0]).toBeCloseTo(Math.log(12), 12)
  })
  it('fires on a component dominated by one sample, not on well-mixed data; reports both readings', () => {
    const n = 200
    const k = 3
    // well mixed: every component gets weight from all 200 rows
    const mixed = componentEntropies(mat(n, k, randomResp(n, k, 2)), 5)
    expect(mixed.exposed).toBe(false)
    expect(mixed.exposedMax).toBe(false)
    expect(mixed.min).toBeGreaterThan(Math.log(100))
    // component 2 receives r = 1 from row 0 and only r = 1e-4 from every other row
    const d = randomResp(n, k, 3)
    for (let i = 0; i < n; i++) {
      const keep = i === 0 ? [0, 0, 1] : [d[i * k] * (1 - 1e-4) / (d[i * k] + d[i * k + 1]), d[i * k + 1] * (1 - 1e-4) / (d[i * k] + d[i * k + 1]), 1e-4]
      d.set(keep, i * k)
    }
    const dominated = componentEntropies(mat(n, k, d), 5)
    expect(dominated.exposed).toBe(true)
    expect(dominated.argmin).toBe(2)
    expect(dominated.exposedComponents).toEqual([2])
    expect(dominated.exposedMax).toBe(false) // the paper's max_k reading misses it
    expect(dominated.entropies[2]).toBeLessThan(Math.log(2))
  })
  it('skips empty components and refuses invalid input', () => {
    const resp = mat(3, 2, Float64Array.from([1, 0, 1, 0, 1, 0]))
    const rep = componentEntropies(resp, 2)
    expect(Number.isNaN(rep.entropies[1])).toBe(true)
    expect(rep.min).toBeCloseTo(Math.log(3), 12)
    expect(() => componentEntropies(resp, 0.5)).toThrow(PrivacySettingsError)
    expect(() => componentEntropies(mat(1, 1, Float64Array.from([-1])), 2)).toThrow(PrivacySettingsError)
  })
})

describe('mixing with pseudo-samples', () => {
  it('mixedEntropy equals the entropy of the concatenated weight vector', () => {
    const g = [5, 0.1, 0.1, 0.02]
    const h = weightEntropy(g)
    for (const [t, L] of [[0.1, 3], [0.5, 7], [0.9, 2]] as const) {
      const sum = g.reduce((a, b) => a + b, 0)
      const tau = (t * sum) / (1 - t)
      const joined = [...g, ...Array.from({ length: L }, () => tau / L)]
      expect(mixedEntropy(h, t, L)).toBeCloseTo(weightEntropy(joined), 12)
    }
  })
  it('minimalMixingFraction reaches ln l0 exactly and is minimal', () => {
    for (const [h, l0] of [[0.01, 5], [0.5, 10], [1.2, 4], [0, 2.5]] as const) {
      const L = Math.ceil(l0)
      const t = minimalMixingFraction(h, Math.log(l0), L)
      expect(mixedEntropy(h, t, L)).toBeGreaterThanOrEqual(Math.log(l0))
      expect(mixedEntropy(h, t - 1e-9, L)).toBeLessThan(Math.log(l0))
    }
    expect(minimalMixingFraction(3, Math.log(5), 5)).toBe(0)
    expect(() => minimalMixingFraction(0, Math.log(10), 2)).toThrow(PrivacySettingsError)
  })
})

/** Pack [header(2), per k: N_k, m_k, upper triangle of C_k] as the GGM does (eq. 13) from rows X and responsibilities. */
function packStats(X: number[][], resp: Float64Array, K: number): Float64Array {
  const M = X[0].length
  const block = 1 + M + (M * (M + 1)) / 2
  const out = new Float64Array(2 + K * block)
  out[1] = X.length
  X.forEach((x, n) => {
    for (let k = 0; k < K; k++) {
      const r = resp[n * K + k]
      const at = 2 + k * block
      out[at] += r
      let i = at + 1 + M
      for (let a = 0; a < M; a++) {
        out[at + 1 + a] += r * x[a]
        for (let b = a; b < M; b++) out[i++] += r * x[a] * x[b]
      }
    }
  })
  return out
}

describe('perturbation before sharing', () => {
  const K = 2
  const M = 2
  const posterior = {
    means: mat(K, M, Float64Array.from([0, 0, 3, 3])),
    precisions: [mat(M, M, Float64Array.from([1, 0.3, 0.3, 2])), mat(M, M, Float64Array.from([2, 0, 0, 1]))],
    lambdas: Float64Array.from([31, 11]),
  }
  const rng = new Rng('ldiv')
  const n = 30
  const X = Array.from({ length: n }, () => [rng.normal(), rng.normal()])

  it('restores entropy >= ln l0 on the effective weights of exactly what is shared, and logs it', () => {
    // component 1 is dominated by row 0 (r = 1) with crumbs from the others
    const resp = new Float64Array(n * K)
    for (let i = 0; i < n; i++) {
      const r1 = i === 0 ? 1 : 0.002
      resp[i * K] = 1 - r1
      resp[i * K + 1] = r1
    }
    const stats = packStats(X, resp, K)
    const ledger = PrivacyLedger.inMemory({ nodeId: 'n' })
    const l0 = 6
    const res = protectContribution(stats, mat(n, K, resp), { header: 2, K, M }, posterior, new Rng(1), ledger, { l0 })
    expect(res.report.exposed).toBe(true)
    expect(res.perturbed.map((p) => p.k)).toEqual([1])
    const p = res.perturbed[0]
    const L = p.samples.rows
    expect(L).toBe(6)
    // The shared block equals the statistics of the real rows plus L pseudo-rows of weight tau/L:
    const augX = [...X, ...Array.from({ length: L }, (_, l) => Array.from(p.samples.data.subarray(l * M, (l + 1) * M)))]
    const augR = new Float64Array(augX.length * K)
    for (let i = 0; i < n; i++) augR.set([resp[i * K], resp[i * K + 1]], i * K)
    for (let l = 0; l < L; l++) augR[(n + l) * K + 1] = p.tau / L
    const expected = packStats(augX, augR, K)
    const block = 1 + M + (M * (M + 1)) / 2
    for (let j = 0; j < block; j++) expect(res.stats[2 + block + j]).toBeCloseTo(expected[2 + block + j], 10)
    // component 0 is untouched
    for (let j = 0; j < block; j++) expect(res.stats[2 + j]).toBe(stats[2 + j])
    // and the monitor, run on the effective weights of the shared component, no longer fires
    const after = componentEntropies(mat(augX.length, K, augR), l0)
    expect(after.entropies[1]).toBeGreaterThanOrEqual(Math.log(l0) - 1e-12)
    expect(after.entropies[1]).toBeCloseTo(p.after, 10)
    expect(p.before).toBeLessThan(Math.log(l0))
    expect(ledger.entries.length).toBe(1)
    expect(ledger.entries[0].kind).toBe('ldiversity-perturbation')
    expect(ledger.entries[0].audience).toBe('peers')
    expect(ledger.spent('external').epsilon).toBe(0)
  })

  it('shares well-mixed statistics unchanged and logs nothing', () => {
    const resp = new Float64Array(n * K)
    for (let i = 0; i < n; i++) resp.set(i % 2 === 0 ? [0.7, 0.3] : [0.4, 0.6], i * K)
    const stats = packStats(X, resp, K)
    const ledger = PrivacyLedger.inMemory({ nodeId: 'n' })
    const res = protectContribution(stats, mat(n, K, resp), { header: 2, K, M }, posterior, new Rng(1), ledger, { l0: 6 })
    expect(res.report.exposed).toBe(false)
    expect(Array.from(res.stats)).toEqual(Array.from(stats))
    expect(ledger.entries.length).toBe(0)
  })
})
