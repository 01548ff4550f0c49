/**
 * ResidentMixture (a model's means and factored precisions kept in WASM memory for scoring)
 * gives exactly the log-densities of the per-call kernel, and an independent ml-matrix
 * computation to rounding; it is rebuilt when a model's parameters change.
 */
import { CholeskyDecomposition, inverse, Matrix } from 'ml-matrix'
import { describe, expect, it } from 'vitest'
import { gaussianLogDensities, InvalidInputError, NotPositiveDefiniteError, ResidentMixture, Rng } from '../../src/numeric/index.js'
import { mat, type Mat } from '../../src/numeric/matrix.js'
import { fitCentralised, loadGgm } from '../../src/models/ggm/index.js'
import { maxAbsDiff, randomMat, toMl } from './helpers.js'
import { loadCsv, zscore } from './data.js'

function randomSpd(rng: Rng, m: number): Mat {
  const a = toMl(randomMat(rng, m + 4, m))
  const c = a.transpose().mmul(a).div(m + 4)
  for (let i = 0; i < m; i++) c.set(i, i, c.get(i, i) + 0.3)
  return mat(m, m, Float64Array.from(c.to1DArray()))
}

describe('ResidentMixture', () => {
  const rng = new Rng('resident')
  const m = 7
  const k = 4
  const means = randomMat(rng, k, m)
  const precisions = Array.from({ length: k }, () => randomSpd(rng, m))

  it('equals gaussianLogDensities bit for bit and an ml-matrix reference to 1e-12, over repeated calls', () => {
    const r = new ResidentMixture(means, precisions)
    for (const n of [1, 8, 300]) {
      const X = randomMat(rng, n, m)
      const got = r.logDensities(X)
      expect(Array.from(got.data)).toEqual(Array.from(gaussianLogDensities(X, means, precisions).data))
      // independent: -m/2 ln 2pi + 1/2 ln|P| - 1/2 (x - mu)^T P (x - mu)
      for (let c = 0; c < k; c++) {
        const P = toMl(precisions[c])
        const L = new CholeskyDecomposition(P).lowerTriangularMatrix
        let logdet = 0
        for (let i = 0; i < m; i++) logdet += 2 * Math.log(L.get(i, i))
        for (let s = 0; s < n; s++) {
          const d = Matrix.rowVector(Array.from(X.data.subarray(s * m, (s + 1) * m), (v, j) => v - means.data[c * m + j]))
          const q = d.mmul(P).mmul(d.transpose()).get(0, 0)
          expect(Math.abs(got.data[s * k + c] - (-0.5 * m * Math.log(2 * Math.PI) + 0.5 * logdet - 0.5 * q))).toBeLessThan(1e-10)
        }
      }
    }
    r.dispose()
    r.dispose()
    expect(() => r.logDensities(randomMat(rng, 2, m))).toThrow(/disposed/)
  })

  it('named errors: a precision that is not positive definite, wrong columns', () => {
    const bad = precisions.map((p) => mat(m, m, p.data.slice()))
    bad[2] = mat(m, m, Float64Array.from(inverse(toMl(bad[2])).mul(-1).to1DArray()))
    expect(() => new ResidentMixture(means, bad)).toThrow(NotPositiveDefiniteError)
    const r = new ResidentMixture(means, precisions)
    expect(() => r.logDensities(randomMat(rng, 2, m + 1))).toThrow(InvalidInputError)
  })

  it('a GGM scores with it and follows its parameters: after another M-step, the scores of a freshly loaded copy', async () => {
    const x = zscore(loadCsv('ad_newthyroid.csv', ['anomaly']))
    const model = await fitCentralised(x, { K: 3, seed: 'resident', maxIter: 5, tol: 0 })
    const s1 = model.score(x)
    expect(Array.from(s1)).toEqual(Array.from(loadGgm(model.save()).score(x)))
    model.optimize(model.localUpdate(x)) // one more EM iteration on the one node's rows: new parameters
    const s2 = model.score(x)
    expect(maxAbsDiff(s1, s2)).toBeGreaterThan(0)
    expect(Array.from(s2)).toEqual(Array.from(loadGgm(model.save()).score(x)))
  })
})
