import { describe, expect, it } from 'vitest'
import { Rng } from '../../src/numeric/rng.js'
import { fromWords, ShamirInputError, ShamirRangeError, shamirAdd, shamirDecode, shamirEncode, shamirReconstruct, shamirSplit, toWords } from '../../src/consensus/index.js'

describe('Shamir secret sharing over GF(2^127-1) with fixed-point encoding', () => {
  it('encode/decode round trip is off by at most 2^-(f+1) per value', () => {
    const rng = new Rng(1)
    const v = rng.fillNormal(new Float64Array(2000)).map((x) => x * 1000)
    for (const f of [8, 16, 24]) {
      const back = shamirDecode(shamirEncode(v, { fractionBits: f }), { fractionBits: f })
      let worst = 0
      for (let i = 0; i < v.length; i++) worst = Math.max(worst, Math.abs(back[i] - v[i]))
      expect(worst).toBeLessThanOrEqual(2 ** -(f + 1))
      expect(worst).toBeGreaterThan(2 ** -(f + 1) / 4) // the bound is attained, not loose
    }
  })

  it('any threshold shares of the summed shares give the sum of the secrets within n 2^-(f+1)', () => {
    const rng = new Rng(2)
    const parties = 7
    const threshold = 4
    const secrets = Array.from({ length: parties }, () => rng.fillNormal(new Float64Array(50)).map((x) => x * 100))
    const truth = new Float64Array(50)
    for (const s of secrets) for (let i = 0; i < 50; i++) truth[i] += s[i]
    const all = secrets.map((s) => shamirSplit(s, parties, threshold, rng))
    // Party j adds the shares it received from everyone.
    const held = Array.from({ length: parties }, (_, j) => all.map((sh) => sh[j]).reduce(shamirAdd))
    for (const pick of [[0, 1, 2, 3], [6, 4, 2, 0], [1, 2, 3, 4, 5, 6]]) {
      const sum = shamirReconstruct(pick.map((j) => held[j]))
      for (let i = 0; i < 50; i++) expect(Math.abs(sum[i] - truth[i])).toBeLessThanOrEqual(parties * 2 ** -25)
    }
  })

  it('fewer than threshold shares reveal nothing: a share is uniform whatever the secret', () => {
    // With threshold 2, one share y = s + a x, a uniform: the share's low bits are uniform
    // for the secret 0 and for the secret 1e6 alike (chi-square over 16 bins).
    const rng = new Rng(3)
    for (const secret of [0, 1e6]) {
      const bins = new Array(16).fill(0)
      const n = 4000
      for (let k = 0; k < n; k++) {
        const sh = shamirSplit(Float64Array.of(secret), 3, 2, rng)
        bins[Number(sh[0].y[0] & 15n)]++
      }
      const e = n / 16
      const chi2 = bins.reduce((a, b) => a + (b - e) ** 2 / e, 0)
      expect(chi2).toBeLessThan(37.7) // chi-square 15 dof, p = 0.001
    }
  })

  it('rejects out-of-range values and bad arguments with named errors', () => {
    expect(() => shamirEncode(Float64Array.of(2 ** 94))).toThrow(ShamirRangeError)
    expect(() => shamirEncode(Float64Array.of(Number.NaN))).toThrow(ShamirRangeError)
    expect(() => shamirSplit(Float64Array.of(1), 3, 4, new Rng(1))).toThrow(ShamirInputError)
    const sh = shamirSplit(Float64Array.of(1), 3, 2, new Rng(1))
    expect(() => shamirAdd(sh[0], sh[1])).toThrow(ShamirInputError)
    expect(() => shamirReconstruct([sh[0], sh[0]])).toThrow(ShamirInputError)
    // Too few shares reconstruct garbage, not the secret (out of range, or a wrong value).
    let got: number | null = null
    try {
      got = shamirReconstruct([sh[0]])[0]
    } catch (e) {
      expect(e).toBeInstanceOf(ShamirRangeError)
    }
    if (got !== null) expect(Math.abs(got - 1)).toBeGreaterThan(1)
    // words round trip, and a word above p is refused
    const w = new Float64Array(4)
    toWords(sh[1].y[0], w, 0)
    expect(fromWords(w, 0)).toBe(sh[1].y[0])
    expect(fromWords([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], 0)).toBeNull()
    expect(fromWords([1.5, 0, 0, 0], 0)).toBeNull()
  })
})
