/** Packed symmetric matrices (the consensus wire form of scatter statistics). */
import { describe, expect, it } from 'vitest'
import { addOuterPacked, packedAt, packedSymLength, packSym, unpackSym } from '../../src/numeric/matrix.js'
import { Rng } from '../../src/numeric/rng.js'

describe('packed symmetric matrices', () => {
  it('pack -> unpack is the identity on symmetric matrices; packedAt reads either triangle', () => {
    const rng = new Rng('pack')
    for (const M of [1, 2, 5, 30]) {
      const full = new Float64Array(M * M)
      for (let a = 0; a < M; a++) for (let b = a; b < M; b++) full[a * M + b] = full[b * M + a] = rng.normal()
      const out = new Float64Array(3 + packedSymLength(M))
      packSym(full, M, out, 3)
      expect(packedSymLength(M)).toBe((M * (M + 1)) / 2)
      expect(Array.from(unpackSym(out, M, 3))).toEqual(Array.from(full))
      for (let a = 0; a < M; a++) for (let b = 0; b < M; b++) expect(packedAt(out, M, 3, a, b)).toBe(full[a * M + b])
    }
  })

  it('addOuterPacked accumulates w z z^T exactly as the full outer product, upper triangle', () => {
    const rng = new Rng('outer')
    const M = 7
    const acc = new Float64Array(packedSymLength(M) + 1)
    const full = new Float64Array(M * M)
    for (let t = 0; t < 20; t++) {
      const z = Array.from({ length: M }, () => rng.normal())
      const w = rng.uniform()
      addOuterPacked(acc, 1, z, w)
      for (let a = 0; a < M; a++) for (let b = 0; b < M; b++) full[a * M + b] += w * z[a] * z[b]
    }
    const back = unpackSym(acc, M, 1)
    for (let i = 0; i < M * M; i++) expect(back[i]).toBeCloseTo(full[i], 12)
    expect(acc[0]).toBe(0)
  })
})
