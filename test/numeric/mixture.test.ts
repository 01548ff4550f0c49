import { CholeskyDecomposition, Matrix } from 'ml-matrix'
import { describe, expect, it } from 'vitest'
import { eStep, gaussianLogDensities, mixtureStats } from '../../src/numeric/mixture.js'
import { spdInverse } from '../../src/numeric/linalg.js'
import { InvalidInputError, NotPositiveDefiniteError } from '../../src/numeric/errors.js'
import { fromRows, mat, type Mat } from '../../src/numeric/matrix.js'
import { Rng } from '../../src/numeric/rng.js'
import { core } from '../../src/numeric/wasm.js'
import { loadCsv, readGolden, zscore } from './data.js'
import { maxAbsDiff, mlData, randomMat, randomSpd, toMl } from './helpers.js'

interface GmmGolden {
  n: number
  d: number
  k: number
  trace_mean_loglik: number[]
  n_iter: number
  weights: number[]
  means: number[][]
  precisions: number[][][]
  per_sample_loglik: number[]
  labels: number[]
  init: { weights: number[]; means: number[][]; precisions: number[][][] }
}

/** Independent reference with ml-matrix: ln N via Cholesky logdet and (X - mu) Lambda (X - mu)^T row sums. */
function refLogDens(X: Mat, means: Mat, precisions: Mat[]): Float64Array {
  const n = X.rows
  const m = X.cols
  const k = means.rows
  const out = new Float64Array(n * k)
  const x = toMl(X)
  for (let c = 0; c < k; c++) {
    const P = toMl(precisions[c])
    const chol = new CholeskyDecomposition(P)
    let logdet = 0
    for (let i = 0; i < m; i++) logdet += 2 * Math.log(chol.lowerTriangularMatrix.get(i, i))
    const D = x.clone().subRowVector(Array.from(means.data.subarray(c * m, (c + 1) * m)))
    const Q = D.mmul(P).mul(D).sum('row')
    for (let i = 0; i < n; i++) out[i * k + c] = -0.5 * m * Math.log(2 * Math.PI) + 0.5 * logdet - 0.5 * Q[i]
  }
  return out
}

function refResp(logDens: Float64Array, logw: Float64Array, k: number): { resp: Float64Array; logLik: Float64Array } {
  const n = logDens.length / k
  const resp = new Float64Array(n * k)
  const logLik = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    let mx = -Infinity
    for (let c = 0; c < k; c++) mx = Math.max(mx, logw[c] + logDens[i * k + c])
    let s = 0
    for (let c = 0; c < k; c++) s += Math.exp(logw[c] + logDens[i * k + c] - mx)
    logLik[i] = mx + Math.log(s)
    for (let c = 0; c < k; c++) resp[i * k + c] = Math.exp(logw[c] + logDens[i * k + c] - logLik[i])
  }
  return { resp, logLik }
}

function refStats(X: Mat, resp: Float64Array, k: number): { nk: Float64Array; sums: Float64Array; scatter: Float64Array[] } {
  const R = Matrix.from1DArray(X.rows, k, Array.from(resp))
  const x = toMl(X)
  const nk = Float64Array.from(R.sum('column'))
  const sums = mlData(R.transpose().mmul(x))
  const scatter: Float64Array[] = []
  for (let c = 0; c < k; c++) {
    const w = x.clone().mulColumnVector(R.getColumn(c))
    scatter.push(mlData(w.transpose().mmul(x)))
  }
  return { nk, sums, scatter }
}

const mean = (a: Float64Array): number => a.reduce((s, v) => s + v, 0) / a.length

/** sklearn's M-step with reg_covar = 0: weights nk / n, means sums / nk, cov scatter / nk - mu mu^T. */
function mStep(st: { nk: Float64Array; sums: Mat; scatter: Mat[] }, n: number): { logw: Float64Array; means: Mat; precisions: Mat[] } {
  const k = st.nk.length
  const m = st.sums.cols
  const means = mat(k, m)
  const precisions: Mat[] = []
  for (let c = 0; c < k; c++) {
    for (let j = 0; j < m; j++) means.data[c * m + j] = st.sums.data[c * m + j] / st.nk[c]
    const cov = mat(m, m)
    for (let a = 0; a < m; a++)
      for (let b = 0; b < m; b++) cov.data[a * m + b] = st.scatter[c].data[a * m + b] / st.nk[c] - means.data[c * m + a] * means.data[c * m + b]
    precisions.push(spdInverse(cov).inverse)
  }
  return { logw: Float64Array.from(st.nk, (v) => Math.log(v / n)), means, precisions }
}

describe('mixture kernels reproduce scikit-learn GaussianMixture on new-thyroid (golden)', () => {
  const g = readGolden<GmmGolden>('gmm_newthyroid_k3.json')
  const X = zscore(loadCsv('ad_newthyroid.csv', ['anomaly']))
  const init = {
    logw: Float64Array.from(g.init.weights, Math.log),
    means: fromRows(g.init.means),
    precisions: g.init.precisions.map(fromRows),
  }

  it('initial E-step and one EM step give sklearn mean log-likelihoods to 1e-8', () => {
    expect(X.rows).toBe(g.n)
    const e0 = eStep(X, init.logw, init.means, init.precisions)
    expect(Math.abs(mean(e0.logLik) - g.trace_mean_loglik[0])).toBeLessThan(1e-8)
    const p1 = mStep(e0, X.rows)
    const e1 = eStep(X, p1.logw, p1.means, p1.precisions)
    expect(Math.abs(mean(e1.logLik) - g.trace_mean_loglik[1])).toBeLessThan(1e-8)
  })

  it('EM for n_iter steps reproduces the final parameters, per-sample log-likelihoods and labels', () => {
    let p: { logw: Float64Array; means: Mat; precisions: Mat[] } = init
    let e = eStep(X, p.logw, p.means, p.precisions)
    for (let it = 0; it < g.n_iter; it++) {
      expect(Math.abs(mean(e.logLik) - g.trace_mean_loglik[it])).toBeLessThan(1e-8)
      p = mStep(e, X.rows)
      e = eStep(X, p.logw, p.means, p.precisions)
    }
    expect(maxAbsDiff(Float64Array.from(p.logw, Math.exp), g.weights)).toBeLessThan(1e-8)
    expect(maxAbsDiff(p.means.data, g.means.flat())).toBeLessThan(1e-8)
    // under sklearn's final parameters: per-sample log p(x), densities and responsibilities
    const fin = { logw: Float64Array.from(g.weights, Math.log), means: fromRows(g.means), precisions: g.precisions.map(fromRows) }
    const ef = eStep(X, fin.logw, fin.means, fin.precisions)
    expect(maxAbsDiff(ef.logLik, g.per_sample_loglik)).toBeLessThan(1e-8)
    const ld = gaussianLogDensities(X, fin.means, fin.precisions)
    expect(maxAbsDiff(ld.data, refLogDens(X, fin.means, fin.precisions))).toBeLessThan(1e-10)
    expect(maxAbsDiff(ef.logDens.data, ld.data)).toBe(0)
    const ref = refResp(ld.data, fin.logw, 3)
    expect(maxAbsDiff(ef.resp.data, ref.resp)).toBeLessThan(1e-12)
    for (let i = 0; i < X.rows; i++) {
      const r = ef.resp.data.subarray(i * 3, i * 3 + 3)
      expect(r.indexOf(Math.max(...r))).toBe(g.labels[i])
    }
  })
})

describe('mixture kernels: parity with an ml-matrix reference on random inputs', () => {
  const rng = new Rng('mixture-tests')
  it.each([
    [50, 1, 1],
    [200, 4, 3],
    [20_000, 6, 4], // large enough to grow wasm memory
  ])('N = %i, M = %i, K = %i: log-densities, responsibilities, statistics', (n, m, k) => {
    const before = core().exports.memory.buffer.byteLength
    const X = randomMat(rng, n, m)
    const means = randomMat(rng, k, m)
    const precisions = Array.from({ length: k }, () => randomSpd(rng, m, 0.3))
    const w = rng.fillUniform(new Float64Array(k)).map((v) => v + 0.1)
    const tot = w.reduce((a, b) => a + b, 0)
    const logw = w.map((v) => Math.log(v / tot))
    const refLd = refLogDens(X, means, precisions)
    expect(maxAbsDiff(gaussianLogDensities(X, means, precisions).data, refLd)).toBeLessThan(1e-9)
    const e = eStep(X, logw, means, precisions)
    const rr = refResp(refLd, logw, k)
    expect(maxAbsDiff(e.resp.data, rr.resp)).toBeLessThan(1e-10)
    expect(maxAbsDiff(e.logLik, rr.logLik)).toBeLessThan(1e-9)
    const rs = refStats(X, rr.resp, k)
    const tol = 1e-9 * n
    expect(maxAbsDiff(e.nk, rs.nk)).toBeLessThan(tol)
    expect(maxAbsDiff(e.sums.data, rs.sums)).toBeLessThan(tol)
    for (let c = 0; c < k; c++) expect(maxAbsDiff(e.scatter[c].data, rs.scatter[c])).toBeLessThan(tol)
    const st = mixtureStats(X, e.resp)
    expect(maxAbsDiff(st.nk, e.nk)).toBe(0)
    expect(maxAbsDiff(st.sums.data, e.sums.data)).toBe(0)
    for (let c = 0; c < k; c++) expect(maxAbsDiff(st.scatter[c].data, e.scatter[c].data)).toBe(0)
    if (n > 10_000) expect(core().exports.memory.buffer.byteLength).toBeGreaterThan(before)
  })

  it('an empty component (log weight -Infinity) gets zero responsibility', () => {
    const X = randomMat(rng, 20, 2)
    const means = randomMat(rng, 2, 2)
    const P = [randomSpd(rng, 2), randomSpd(rng, 2)]
    const e = eStep(X, Float64Array.from([0, -Infinity]), means, P)
    for (let i = 0; i < 20; i++) {
      expect(e.resp.data[i * 2]).toBe(1)
      expect(e.resp.data[i * 2 + 1]).toBe(0)
    }
    expect(e.nk[1]).toBe(0)
  })
})

describe('mixture kernels: bad input gives named errors', () => {
  const rng = new Rng(7)
  const X = randomMat(rng, 10, 3)
  const means = randomMat(rng, 2, 3)
  const P = [randomSpd(rng, 3), randomSpd(rng, 3)]
  it('sizes, non-finite values, weights', () => {
    expect(() => gaussianLogDensities(X, randomMat(rng, 2, 4), P)).toThrow(/means must have 3 columns/)
    expect(() => gaussianLogDensities(X, means, [P[0]])).toThrow(/array of 2 matrices/)
    const bad = mat(10, 3, X.data.slice())
    bad.data[7] = Number.NaN
    expect(() => eStep(bad, Float64Array.from([-1, -1]), means, P)).toThrow(/X contains NaN at row 2, column 1/)
    expect(() => eStep(X, Float64Array.from([-1]), means, P)).toThrow(InvalidInputError)
    expect(() => eStep(X, Float64Array.from([-Infinity, -Infinity]), means, P)).toThrow(/all -Infinity/)
    expect(() => eStep(X, Float64Array.from([Number.NaN, 0]), means, P)).toThrow(InvalidInputError)
    expect(() => mixtureStats(X, mat(9, 2))).toThrow(/one row per sample/)
    expect(() => mixtureStats(X, mat(10, 2, new Float64Array(20).fill(-1)))).toThrow(/negative/)
  })
  it('a non-SPD precision names the component', () => {
    const notPd = mat(3, 3, Float64Array.from([1, 0, 0, 0, -1, 0, 0, 0, 1]))
    expect(() => gaussianLogDensities(X, means, [P[0], notPd])).toThrow(NotPositiveDefiniteError)
    expect(() => eStep(X, Float64Array.from([-1, -1]), means, [P[0], notPd])).toThrow(/precisions\[1\].*pivot 1/)
  })
})
