/**
 * The numeric core's MLP layers and fused VAE kernel against independent references:
 * central finite differences (every analytic gradient) and the plain-TypeScript
 * implementation of src/models/vae/reference.ts (parity).
 */
import { describe, expect, it } from 'vitest'
import { mat, type Mat } from '../../../src/numeric/matrix.js'
import { Rng } from '../../../src/numeric/rng.js'
import { affineBackward, affineForward, relu, reluBackward, softplus, softplusBackward } from '../../../src/numeric/mlp.js'
import { vaeElboGrad, vaeParamLengths, vaeScore, type VaeShape } from '../../../src/numeric/vae.js'
import { referenceElboGrad, referenceScore } from '../../../src/models/vae/reference.js'

const floors = { latentFloor: 1e-3, scaleFloor: 1e-3 }

function normals(rng: Rng, n: number, sd = 1): Float64Array {
  const v = new Float64Array(n)
  rng.fillNormal(v)
  for (let i = 0; i < n; i++) v[i] *= sd
  return v
}

/**
 * Fourth-order central difference (f(p-2h) - 8 f(p-h) + 8 f(p+h) - f(p+2h)) / 12h of f
 * with respect to every entry of p (restored afterwards).
 */
function finiteDiff(p: Float64Array, f: () => number, h: number): Float64Array {
  const g = new Float64Array(p.length)
  for (let i = 0; i < p.length; i++) {
    const o = p[i]
    const at = (t: number): number => {
      p[i] = o + t
      return f()
    }
    g[i] = (at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h)
    p[i] = o
  }
  return g
}

/** Worst relative error |a - b| / max(|a|, |b|), entries with both below `floor` skipped. */
function worstRel(a: Float64Array, b: Float64Array, floor = 1e-9): number {
  let worst = 0
  for (let i = 0; i < a.length; i++) {
    const s = Math.max(Math.abs(a[i]), Math.abs(b[i]))
    if (s < floor) continue
    worst = Math.max(worst, Math.abs(a[i] - b[i]) / s)
  }
  return worst
}

/** Naive y = x w^T + b, one dot product at a time. */
function naiveAffine(x: Mat, w: Mat, b: Float64Array): Float64Array {
  const y = new Float64Array(x.rows * w.rows)
  for (let n = 0; n < x.rows; n++) {
    for (let o = 0; o < w.rows; o++) {
      let s = b[o]
      for (let i = 0; i < x.cols; i++) s += x.data[n * x.cols + i] * w.data[o * w.cols + i]
      y[n * w.rows + o] = s
    }
  }
  return y
}

describe('dense layers (wasm/src/mlp.rs)', () => {
  it('affine forward equals the naive product, odd and even sizes, large enough to grow memory', () => {
    const rng = new Rng('mlp/affine')
    for (const [n, din, dout] of [
      [1, 1, 1],
      [3, 5, 7],
      [9, 30, 64],
      [2000, 64, 31],
    ]) {
      const x = mat(n, din, normals(rng, n * din))
      const w = mat(dout, din, normals(rng, dout * din))
      const b = normals(rng, dout)
      const y = affineForward(x, w, b).data
      const ref = naiveAffine(x, w, b)
      // entries are sums of din products of N(0, 1) values: compare at that scale
      expect(Math.max(...y.map((v, i) => Math.abs(v - ref[i])))).toBeLessThan(1e-14 * din)
    }
  })

  it('affine backward matches finite differences of a random linear read-out', () => {
    const rng = new Rng('mlp/affine-back')
    const [n, din, dout] = [5, 7, 3]
    const x = mat(n, din, normals(rng, n * din))
    const w = mat(dout, din, normals(rng, dout * din))
    const b = normals(rng, dout)
    const G = normals(rng, n * dout) // L = sum G (.) y
    const L = (): number => naiveAffine(x, w, b).reduce((s, y, i) => s + G[i] * y, 0)
    const { dx, dw, db } = affineBackward(x, w, mat(n, dout, G))
    expect(worstRel(dx.data, finiteDiff(x.data, L, 1e-3))).toBeLessThan(1e-9)
    expect(worstRel(dw.data, finiteDiff(w.data, L, 1e-3))).toBeLessThan(1e-9)
    expect(worstRel(db, finiteDiff(b, L, 1e-3))).toBeLessThan(1e-9)
  })

  it('ReLU and softplus forward/backward match closed forms and finite differences', () => {
    const rng = new Rng('mlp/act')
    // keep away from the ReLU kink so the difference quotient is meaningful
    const a = normals(rng, 101).map((v) => (Math.abs(v) < 0.05 ? v + 0.1 : v))
    a[0] = 800 // softplus must not overflow
    a[1] = -800
    const G = normals(rng, a.length)
    expect(Array.from(relu(a))).toEqual(Array.from(a, (v) => Math.max(v, 0)))
    const sp = softplus(a)
    for (let i = 0; i < a.length; i++) expect(sp[i]).toBeCloseTo(Math.max(a[i], 0) + Math.log1p(Math.exp(-Math.abs(a[i]))), 14)
    // elementwise maps: perturb every entry at once and difference entry by entry
    const fd = (f: (v: Float64Array) => Float64Array, h: number): Float64Array => {
      const at = (t: number): Float64Array => f(a.map((v) => v + t))
      const [m2, m1, p1, p2] = [at(-2 * h), at(-h), at(h), at(2 * h)]
      return G.map((g, i) => (g * (m2[i] - 8 * m1[i] + 8 * p1[i] - p2[i])) / (12 * h))
    }
    expect(worstRel(reluBackward(a, G), fd(relu, 1e-3))).toBeLessThan(1e-9)
    expect(worstRel(softplusBackward(a, G), fd(softplus, 1e-3))).toBeLessThan(1e-9)
    expect(softplusBackward(a, G)[0]).toBe(G[0])
  })

  it('rejects wrong shapes and non-finite inputs with ShapeError', () => {
    const x = mat(2, 3)
    expect(() => affineForward(x, mat(4, 2), new Float64Array(4))).toThrow(expect.objectContaining({ name: 'ShapeError' }))
    expect(() => relu(Float64Array.of(1, Number.NaN))).toThrow(expect.objectContaining({ name: 'ShapeError' }))
  })
})

/** Random small VAE problem whose ReLU pre-activations all stay at least `margin` from 0. */
function problem(seed: number, shape: VaeShape, B: number, J: number, margin: number) {
  const len = vaeParamLengths(shape)
  for (let attempt = 0; ; attempt++) {
    const rng = new Rng(seed).fork(attempt)
    const enc = normals(rng, len.encoder, 0.5)
    const dec = normals(rng, len.decoder, 0.5)
    const x = mat(B, shape.features, normals(rng, B * shape.features))
    const v = normals(rng, J * B * shape.latent)
    if (minPreActivation(shape, enc, dec, x, v) > margin) return { enc, dec, x, v }
  }
}

/** Smallest |first-layer pre-activation| of encoder and decoder over the batch and draws. */
function minPreActivation(shape: VaeShape, enc: Float64Array, dec: Float64Array, x: Mat, v: Float64Array): number {
  const { features: M, hidden: H, latent: d } = shape
  const sp = (a: number): number => Math.log1p(Math.exp(a))
  let least = Infinity
  const J = v.length / (x.rows * d)
  for (let n = 0; n < x.rows; n++) {
    const q = new Float64Array(H)
    for (let k = 0; k < H; k++) {
      let a = enc[H * M + k]
      for (let i = 0; i < M; i++) a += enc[k * M + i] * x.data[n * M + i]
      least = Math.min(least, Math.abs(a))
      q[k] = Math.max(a, 0)
    }
    const o2 = H * M + H
    const o3 = o2 + d * H + d
    for (let j = 0; j < J; j++) {
      const z = new Float64Array(d)
      for (let i = 0; i < d; i++) {
        let m = enc[o2 + d * H + i]
        let hp = enc[o3 + d * H + i]
        for (let k = 0; k < H; k++) {
          m += enc[o2 + i * H + k] * q[k]
          hp += enc[o3 + i * H + k] * q[k]
        }
        z[i] = (sp(hp) + floors.latentFloor) * v[(j * x.rows + n) * d + i] + m
      }
      for (let k = 0; k < H; k++) {
        let a = dec[H * d + k]
        for (let i = 0; i < d; i++) a += dec[k * d + i] * z[i]
        least = Math.min(least, Math.abs(a))
      }
    }
  }
  return least
}

describe('fused VAE kernel (wasm/src/vae.rs)', () => {
  it('every analytic ELBO gradient (encoder and decoder) matches central finite differences to 1e-6', () => {
    for (const [seed, shape, B, J] of [
      [1, { features: 4, hidden: 5, latent: 2 }, 3, 2],
      [2, { features: 3, hidden: 6, latent: 3 }, 2, 1],
    ] as const) {
      const { enc, dec, x, v } = problem(seed, shape, B, J, 0.02)
      const r = vaeElboGrad(shape, enc, dec, x, v, floors)
      const elbo = (): number => vaeElboGrad(shape, enc, dec, x, v, floors).elbo
      const h = 1e-4
      const fdEnc = finiteDiff(enc, elbo, h)
      const fdDec = finiteDiff(dec, elbo, h)
      expect(worstRel(r.gradEncoder, fdEnc)).toBeLessThan(1e-6)
      expect(worstRel(r.gradDecoder, fdDec)).toBeLessThan(1e-6)
      // the same holds for the independent TypeScript reference
      const ref = referenceElboGrad(shape, enc, dec, x, v, floors)
      expect(worstRel(ref.gradEncoder, fdEnc)).toBeLessThan(1e-6)
      expect(worstRel(ref.gradDecoder, fdDec)).toBeLessThan(1e-6)
      // no gradient is trivially zero: every parameter block is exercised
      expect(r.gradEncoder.filter((g) => g !== 0).length).toBeGreaterThan(enc.length / 2)
      expect(r.gradDecoder.filter((g) => g !== 0).length).toBeGreaterThan(dec.length / 2)
    }
  })

  it('ELBO equals its two terms, KL per dimension sums to the KL, and the KL has its closed form', () => {
    const shape = { features: 4, hidden: 5, latent: 3 }
    const { enc, dec, x, v } = problem(3, shape, 6, 2, 0)
    const r = vaeElboGrad(shape, enc, dec, x, v, floors)
    expect(r.elbo).toBeCloseTo(r.recon - r.kl, 12)
    expect(r.klPerDim.reduce((s, k) => s + k, 0)).toBeCloseTo(r.kl, 12)
    expect(r.kl).toBeGreaterThan(0)
  })

  it('WASM kernel equals the plain TypeScript reference (ELBO, gradients, KL per dimension, score)', () => {
    for (const [seed, shape, B, J] of [
      [4, { features: 7, hidden: 5, latent: 3 }, 9, 2],
      [5, { features: 30, hidden: 64, latent: 8 }, 64, 1],
      [6, { features: 9, hidden: 16, latent: 4 }, 1, 3],
    ] as const) {
      const { enc, dec, x, v } = problem(seed, shape, B, J, 0)
      const a = vaeElboGrad(shape, enc, dec, x, v, floors)
      const b = referenceElboGrad(shape, enc, dec, x, v, floors)
      expect(Math.abs(a.elbo - b.elbo)).toBeLessThan(1e-10 * Math.abs(b.elbo))
      expect(Math.abs(a.kl - b.kl)).toBeLessThan(1e-10 * Math.abs(b.kl))
      expect(worstRel(a.gradEncoder, b.gradEncoder, 1e-12)).toBeLessThan(1e-9)
      expect(worstRel(a.gradDecoder, b.gradDecoder, 1e-12)).toBeLessThan(1e-9)
      expect(worstRel(a.klPerDim, b.klPerDim)).toBeLessThan(1e-12)
      expect(worstRel(vaeScore(shape, enc, dec, x, v, floors), referenceScore(shape, enc, dec, x, v, floors))).toBeLessThan(1e-12)
      expect(worstRel(vaeScore(shape, enc, dec, x, v, floors, 1), referenceScore(shape, enc, dec, x, v, floors, 1))).toBeLessThan(1e-12)
    }
  })

  it('missing entries (NaN): kernel equals the reference, gradients match finite differences of the masked ELBO, no decoder gradient reaches a feature missing everywhere', () => {
    const shape = { features: 6, hidden: 5, latent: 3 }
    const { enc, dec, x, v } = problem(11, shape, 8, 2, 0.02)
    const rng = new Rng('vae-missing')
    for (let i = 0; i < x.data.length; i++) if (rng.uniform() < 0.25) x.data[i] = NaN
    for (let n = 0; n < x.rows; n++) x.data[n * 6 + 4] = NaN // feature 4 missing on every row
    const a = vaeElboGrad(shape, enc, dec, x, v, floors)
    const b = referenceElboGrad(shape, enc, dec, x, v, floors)
    expect(Number.isFinite(a.elbo)).toBe(true)
    expect(Math.abs(a.elbo - b.elbo)).toBeLessThan(1e-10 * Math.abs(b.elbo))
    expect(worstRel(a.gradEncoder, b.gradEncoder, 1e-12)).toBeLessThan(1e-9)
    expect(worstRel(a.gradDecoder, b.gradDecoder, 1e-12)).toBeLessThan(1e-9)
    const elbo = (): number => vaeElboGrad(shape, enc, dec, x, v, floors).elbo
    // relative 1e-6 plus the finite difference's round-off (~6e-9 here: parameters with no influence, such as the encoder
    // weights of feature 4, which always reads 0, have an exact gradient of 0)
    for (const [g, p] of [[a.gradEncoder, enc], [a.gradDecoder, dec]] as const) {
      const fd = finiteDiff(p, elbo, 1e-4)
      for (let i = 0; i < g.length; i++) expect(Math.abs(g[i] - fd[i])).toBeLessThan(1e-6 * Math.max(Math.abs(g[i]), Math.abs(fd[i])) + 5e-8)
    }
    // decoder layout (src/numeric/vae.ts): w1 (H x d), b1 (H), loc weights (M x H), loc bias (M), scale weights (M x H), scale bias (M)
    const { features: M, hidden: H, latent: d } = shape
    const locW = H * d + H
    const locB = locW + M * H
    const scaleW = locB + M
    const scaleB = scaleW + M * H
    const own = [...Array.from({ length: H }, (_, i) => locW + 4 * H + i), locB + 4, ...Array.from({ length: H }, (_, i) => scaleW + 4 * H + i), scaleB + 4]
    for (const i of own) expect(a.gradDecoder[i]).toBe(0)
    expect(a.gradDecoder[locB + 3]).not.toBe(0)
    expect(worstRel(vaeScore(shape, enc, dec, x, v, floors), referenceScore(shape, enc, dec, x, v, floors))).toBeLessThan(1e-12)
  })

  it('score is minus the mean log-density over the draws (J = 1 per draw, averaged)', () => {
    const shape = { features: 5, hidden: 4, latent: 2 }
    const { enc, dec, x, v } = problem(7, shape, 4, 3, 0)
    const all = vaeScore(shape, enc, dec, x, v, floors)
    const block = x.rows * shape.latent
    const perDraw = [0, 1, 2].map((j) => vaeScore(shape, enc, dec, x, v.slice(j * block, (j + 1) * block), floors))
    for (let n = 0; n < x.rows; n++) expect(all[n]).toBeCloseTo((perDraw[0][n] + perDraw[1][n] + perDraw[2][n]) / 3, 12)
    // with klWeight 1 the score is the row's negative ELBO: summed, minus the batch ELBO
    const negElbo = vaeScore(shape, enc, dec, x, v, floors, 1).reduce((s, a) => s + a, 0)
    expect(negElbo).toBeCloseTo(-vaeElboGrad(shape, enc, dec, x, v, floors).elbo, 9)
  })

  it('rejects mismatched sizes and non-finite parameters with ShapeError', () => {
    const shape = { features: 3, hidden: 2, latent: 2 }
    const len = vaeParamLengths(shape)
    const x = mat(2, 3)
    const ok = { enc: new Float64Array(len.encoder), dec: new Float64Array(len.decoder) }
    expect(() => vaeElboGrad(shape, ok.enc, ok.dec, x, new Float64Array(3), floors)).toThrow(expect.objectContaining({ name: 'ShapeError' }))
    expect(() => vaeElboGrad(shape, new Float64Array(1), ok.dec, x, new Float64Array(4), floors)).toThrow(expect.objectContaining({ name: 'ShapeError' }))
    const bad = ok.dec.slice()
    bad[0] = Number.NaN
    expect(() => vaeScore(shape, ok.enc, bad, x, new Float64Array(4), floors)).toThrow(/finite/)
  })
})
