import { describe, expect, it } from 'vitest'
import { createCipheriv } from 'node:crypto'
import { SecretRng } from '../../src/numeric/secret-rng.js'
import { Rng } from '../../src/numeric/rng.js'

const draws = (r: { nextU32(): number }, n: number): number[] => Array.from({ length: n }, () => r.nextU32())

describe('SecretRng (keyed AES-256-CTR stream)', () => {
  it('is the AES-256-CTR keystream of its key, read big-endian 32 bits at a time', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1)
    const ks = createCipheriv('aes-256-ctr', key, new Uint8Array(16)).update(new Uint8Array(64))
    const want = Array.from({ length: 16 }, (_, i) => ks.readUInt32BE(4 * i))
    expect(draws(new SecretRng(key), 16)).toEqual(want)
  })

  it('is the same keystream across its growing refills (256 bytes doubling to 16 KB)', () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => 255 - i)
    const n = 20_000 // 80 KB: the small first refills and several full ones
    const ks = createCipheriv('aes-256-ctr', key, new Uint8Array(16)).update(new Uint8Array(4 * n))
    const got = draws(new SecretRng(key), n)
    let mismatches = 0
    for (let i = 0; i < n; i++) if (got[i] !== ks.readUInt32BE(4 * i)) mismatches++
    expect(mismatches).toBe(0)
  })

  it('replays for the same key and fork label; differs across labels, nodes and OS-entropy instances', () => {
    const a = SecretRng.forSimulation('noise-seed', 3)
    const b = SecretRng.forSimulation('noise-seed', 3)
    expect(draws(a.fork('release'), 8)).toEqual(draws(b.fork('release'), 8))
    expect(draws(a.fork('release'), 8)).not.toEqual(draws(a.fork('protect'), 8))
    expect(draws(SecretRng.forSimulation('noise-seed', 4), 8)).not.toEqual(draws(SecretRng.forSimulation('noise-seed', 3), 8))
    expect(draws(SecretRng.fromOsEntropy(), 8)).not.toEqual(draws(SecretRng.fromOsEntropy(), 8))
    // a fork does not depend on what the parent drew before
    const c = SecretRng.forSimulation('noise-seed', 3)
    c.normal()
    expect(draws(c.fork('x'), 4)).toEqual(draws(SecretRng.forSimulation('noise-seed', 3).fork('x'), 4))
  })

  it('shares nothing with the seeded xoshiro stream of the same seed (a peer holding the config cannot recompute it)', () => {
    const shared = draws(new Rng(7).fork('node:0'), 64)
    const secret = draws(SecretRng.forSimulation(7, 0), 64)
    expect(secret.filter((v) => shared.includes(v))).toHaveLength(0)
    expect(SecretRng.forSimulation(7, 0).origin).toBe('simulation')
    expect(SecretRng.fromOsEntropy().fork('a').origin).toBe('os-entropy')
  })

  it('gives uniform [0, 1), standard normal and unbiased integer draws', () => {
    const r = SecretRng.fromOsEntropy()
    const n = 20000
    let su = 0
    let sn = 0
    let sn2 = 0
    const counts = new Array<number>(5).fill(0)
    for (let i = 0; i < n; i++) {
      const u = r.uniform()
      expect(u >= 0 && u < 1).toBe(true)
      su += u
      const z = r.normal()
      sn += z
      sn2 += z * z
      counts[r.int(5)]++
    }
    expect(Math.abs(su / n - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n))
    expect(Math.abs(sn / n)).toBeLessThan(5 / Math.sqrt(n))
    expect(Math.abs(sn2 / n - 1)).toBeLessThan(5 * Math.sqrt(2 / n))
    // chi-square with 4 degrees of freedom: 99.99th percentile is about 23.5
    const chi = counts.reduce((a, c) => a + (c - n / 5) ** 2 / (n / 5), 0)
    expect(chi).toBeLessThan(23.5)
    const p = r.permutation(50)
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i))
  })

  it('refuses keys that are not 32 bytes', () => {
    expect(() => new SecretRng(new Uint8Array(16))).toThrow(/32-byte key/)
  })
})
