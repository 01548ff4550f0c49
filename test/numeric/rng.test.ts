import { describe, expect, it } from 'vitest'
import { Rng, coreStream, lnExact, seedWords } from '../../src/numeric/rng.js'
import { InvalidInputError } from '../../src/numeric/errors.js'

describe('Rng: TypeScript and Rust streams are identical', () => {
  it.each([0, 1, 42, -7, 2 ** 40 + 3, 'org-17', ''])('seed %s: 1e5 u32, uniform and normal draws bitwise equal', (seed) => {
    const n = 100_000
    const u32 = coreStream(new Rng(seed), 'u32', n)
    const uni = coreStream(new Rng(seed), 'uniform', n)
    const nor = coreStream(new Rng(seed), 'normal', n)
    const a = new Rng(seed)
    const b = new Rng(seed)
    const c = new Rng(seed)
    let bad = -1
    for (let i = 0; i < n && bad < 0; i++) {
      if (a.nextU32() !== u32[i] || b.uniform() !== uni[i] || !Object.is(c.normal(), nor[i])) bad = i
    }
    expect(bad).toBe(-1)
  })

  it('reference xoshiro128** step and seeding (independent re-derivation with BigInt)', () => {
    // fmix32 / splitmix seeding and the xoshiro128** step redone with BigInt arithmetic.
    const M = 0xffffffffn
    const fmix = (z: bigint): bigint => {
      z ^= z >> 16n
      z = (z * 0x85ebca6bn) & M
      z ^= z >> 13n
      z = (z * 0xc2b2ae35n) & M
      return z ^ (z >> 16n)
    }
    const rotl = (x: bigint, k: bigint): bigint => ((x << k) | (x >> (32n - k))) & M
    const g = 0x9e3779b9n
    const [lo, hi] = seedWords(123456789).map(BigInt)
    const h = hi ^ g
    const s = [fmix((lo + g) & M), fmix((lo + 2n * g) & M), fmix((h + g) & M), fmix((h + 2n * g) & M)]
    const r = new Rng(123456789)
    for (let i = 0; i < 1000; i++) {
      const out = rotl((s[1] * 5n) & M, 7n) * 9n & M
      const t = (s[1] << 9n) & M
      s[2] ^= s[0]
      s[3] ^= s[1]
      s[1] ^= s[2]
      s[0] ^= s[3]
      s[2] ^= t
      s[3] = rotl(s[3], 11n)
      expect(r.nextU32()).toBe(Number(out))
    }
  })

  it('lnExact agrees with Math.log to a few ulps', () => {
    const r = new Rng(5)
    for (let i = 0; i < 10_000; i++) {
      const x = r.uniform() * 10 ** (r.int(40) - 20) + 1e-300
      const want = Math.log(x)
      expect(Math.abs(lnExact(x) - want)).toBeLessThanOrEqual(4e-16 * Math.max(1, Math.abs(want)))
    }
  })
})

describe('Rng: distributions and derived streams', () => {
  it('uniform and normal moments match their laws (n = 2e5)', () => {
    const r = new Rng('moments')
    const n = 200_000
    const u = r.fillUniform(new Float64Array(n))
    const z = r.fillNormal(new Float64Array(n))
    const mean = (x: Float64Array) => x.reduce((a, b) => a + b, 0) / x.length
    const mu = mean(u)
    expect(Math.abs(mu - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n))
    expect(u.reduce((a, b) => Math.min(a, b), 1)).toBeGreaterThanOrEqual(0)
    expect(u.reduce((a, b) => Math.max(a, b), 0)).toBeLessThan(1)
    const mz = mean(z)
    const vz = z.reduce((a, b) => a + (b - mz) ** 2, 0) / n
    const kurt = z.reduce((a, b) => a + (b - mz) ** 4, 0) / n / vz ** 2
    expect(Math.abs(mz)).toBeLessThan(5 / Math.sqrt(n))
    expect(Math.abs(vz - 1)).toBeLessThan(5 * Math.sqrt(2 / n))
    expect(Math.abs(kurt - 3)).toBeLessThan(5 * Math.sqrt(24 / n) * 1.5)
    // P(|Z| > 1.96) = 0.05
    const tail = z.filter((v) => Math.abs(v) > 1.959963984540054).length / n
    expect(Math.abs(tail - 0.05)).toBeLessThan(5 * Math.sqrt(0.05 * 0.95 / n))
  })

  it('int(n) is unbiased: chi-square over 7 bins and a non-power-of-two above 2^32', () => {
    const r = new Rng(99)
    const counts = new Array(7).fill(0)
    const n = 70_000
    for (let i = 0; i < n; i++) counts[r.int(7)]++
    const chi = counts.reduce((a, c) => a + (c - n / 7) ** 2 / (n / 7), 0)
    expect(chi).toBeLessThan(22.46) // chi-square(6) 0.999 quantile
    const big = 3 * 2 ** 33 + 1
    for (let i = 0; i < 1000; i++) {
      const v = r.int(big)
      expect(Number.isInteger(v) && v >= 0 && v < big).toBe(true)
    }
  })

  it('permutation is a permutation, and uniform over S_3', () => {
    const r = new Rng(3)
    const p = r.permutation(1000)
    expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i))
    const counts = new Map<string, number>()
    for (let i = 0; i < 60_000; i++) {
      const k = Array.from(r.permutation(3)).join('')
      counts.set(k, (counts.get(k) ?? 0) + 1)
    }
    expect(counts.size).toBe(6)
    const chi = [...counts.values()].reduce((a, c) => a + (c - 10_000) ** 2 / 10_000, 0)
    expect(chi).toBeLessThan(20.52) // chi-square(5) 0.999 quantile
    const items = ['a', 'b', 'c', 'd']
    expect(new Rng(3).shuffle(items)).toBe(items)
    expect([...items].sort()).toEqual(['a', 'b', 'c', 'd'])
  })

  it('same seed replays; fork depends on seed and label, not on draws made before', () => {
    const a = new Rng('net')
    const b = new Rng('net')
    expect(a.fillNormal(new Float64Array(10))).toEqual(b.fillNormal(new Float64Array(10)))
    const f1 = a.fork('node-3').fillUniform(new Float64Array(5))
    const f2 = new Rng('net').fork('node-3').fillUniform(new Float64Array(5))
    expect(f1).toEqual(f2)
    expect(new Rng('net').fork('node-4').nextU32()).not.toBe(new Rng('net').fork('node-3').nextU32())
    expect(new Rng('net').fork(3).nextU32()).not.toBe(new Rng('net').fork('3').nextU32())
    expect(new Rng('other').fork('node-3').nextU32()).not.toBe(new Rng('net').fork('node-3').nextU32())
    expect(new Rng(1).nextU32()).not.toBe(new Rng(2).nextU32())
  })

  it('rejects seeds that are not safe integers or strings', () => {
    expect(() => new Rng(1.5)).toThrow(InvalidInputError)
    expect(() => new Rng(Number.NaN)).toThrow(/safe integer/)
    expect(() => new Rng(0).int(0)).toThrow(InvalidInputError)
  })
})
