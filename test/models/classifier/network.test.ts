/**
 * The classifier's network on the WASM dense-layer kernels against an independent
 * per-sample TypeScript reference: summed gradients and losses of the three heads, the
 * per-example clipped sum of DP-SGD (the norm identity vs clipping every sample's
 * materialised gradient), and probabilities.
 */
import { describe, expect, it } from 'vitest'
import { gradientSum, initParams, paramCount, predictProba, type Head } from '../../../src/models/classifier/index.js'
import { Rng } from '../../../src/numeric/rng.js'
import { sampleGradient } from './reference.js'

const cases: { name: string; sizes: number[]; head: Head; classes: number }[] = [
  { name: 'logistic regression', sizes: [5, 1], head: 'logistic', classes: 2 },
  { name: 'linear SVM', sizes: [5, 1], head: 'svm', classes: 2 },
  { name: 'MLP 5-7-4-3 softmax', sizes: [5, 7, 4, 3], head: 'softmax', classes: 3 },
]

function data(rng: Rng, n: number, m: number, classes: number): { x: { rows: number; cols: number; data: Float64Array }; y: Int32Array } {
  const x = { rows: n, cols: m, data: rng.fillNormal(new Float64Array(n * m)) }
  const y = Int32Array.from({ length: n }, () => rng.int(classes))
  return { x, y }
}

describe('classifier network (WASM kernels) vs a per-sample TypeScript reference', () => {
  for (const c of cases) {
    it(`${c.name}: gradient and loss sums agree to 1e-12`, () => {
      const rng = new Rng(`net/${c.name}`)
      const shape = { sizes: c.sizes, head: c.head }
      const theta = initParams(shape, rng)
      // linear models start at zero: move them so that every head has non-zero gradients
      if (c.sizes.length === 2) rng.fillNormal(theta)
      const { x, y } = data(rng, 23, c.sizes[0], c.classes)
      const got = gradientSum(shape, theta, x, y)
      const want = new Float64Array(paramCount(shape))
      let loss = 0
      for (let i = 0; i < x.rows; i++) {
        const r = sampleGradient(c.sizes, c.head, theta, x.data.subarray(i * x.cols, (i + 1) * x.cols), y[i])
        loss += r.loss
        for (let k = 0; k < want.length; k++) want[k] += r.grad[k]
      }
      expect(got.loss).toBeCloseTo(loss, 10)
      for (let k = 0; k < want.length; k++) expect(Math.abs(got.grad[k] - want[k])).toBeLessThan(1e-12 * Math.max(1, Math.abs(want[k])))
    })

    it(`${c.name}: per-example clipped sum equals clipping each materialised gradient`, () => {
      const rng = new Rng(`clip/${c.name}`)
      const shape = { sizes: c.sizes, head: c.head }
      const theta = initParams(shape, rng)
      if (c.sizes.length === 2) rng.fillNormal(theta)
      const { x, y } = data(rng, 17, c.sizes[0], c.classes)
      const C = 0.7
      const got = gradientSum(shape, theta, x, y, C)
      const want = new Float64Array(paramCount(shape))
      let clipped = 0
      for (let i = 0; i < x.rows; i++) {
        const g = sampleGradient(c.sizes, c.head, theta, x.data.subarray(i * x.cols, (i + 1) * x.cols), y[i]).grad
        const norm = Math.hypot(...g)
        const f = norm > C ? C / norm : 1
        if (norm > C) clipped++
        for (let k = 0; k < g.length; k++) want[k] += f * g[k]
      }
      expect(got.clipped).toBe(clipped)
      expect(clipped).toBeGreaterThan(0)
      for (let k = 0; k < want.length; k++) expect(Math.abs(got.grad[k] - want[k])).toBeLessThan(1e-12)
    })
  }

  it('probabilities are a distribution per row and follow the head (sigmoid / softmax)', () => {
    const rng = new Rng('proba')
    const mlp = { sizes: [4, 6, 3], head: 'softmax' as const }
    const theta = initParams(mlp, rng)
    const { x } = data(rng, 9, 4, 3)
    const p = predictProba(mlp, theta, x)
    expect(p.cols).toBe(3)
    for (let i = 0; i < p.rows; i++) expect(p.data[3 * i] + p.data[3 * i + 1] + p.data[3 * i + 2]).toBeCloseTo(1, 12)
    const lin = { sizes: [4, 1], head: 'logistic' as const }
    const w = Float64Array.of(0.5, -1, 2, 0.25, -0.3)
    const q = predictProba(lin, w, x)
    for (let i = 0; i < x.rows; i++) {
      let s = w[4]
      for (let j = 0; j < 4; j++) s += w[j] * x.data[4 * i + j]
      expect(q.data[2 * i + 1]).toBeCloseTo(1 / (1 + Math.exp(-s)), 12)
    }
  })

  it('an empty batch (an empty Poisson sample) contributes nothing', () => {
    const shape = { sizes: [3, 2], head: 'softmax' as const }
    const g = gradientSum(shape, new Float64Array(paramCount(shape)), { rows: 0, cols: 3, data: new Float64Array(0) }, [], 1)
    expect(g.loss).toBe(0)
    expect(Array.from(g.grad).every((v) => v === 0)).toBe(true)
  })
})
