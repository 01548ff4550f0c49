/**
 * Known answers from ../shared/golden: scikit-learn GaussianMixture EM on new-thyroid
 * (plain EM path: estimator 'ml', rho = 0, ridge = 0, the golden start) and R glasso
 * (one MAP optimize step with K = 1 reduces to glasso on S / b with penalty rho/(N+1)).
 */
import { describe, expect, it } from 'vitest'
import { createGgm, exactNetwork, STATS_HEADER } from '../../../src/models/ggm/index.js'
import { fromRows, mat, type Mat } from '../../../src/numeric/matrix.js'
import { loadCsv } from '../../../src/data/csv.js'
import { flat, golden, maxAbsDiff, refLogDensity, thyroid, zscore } from './helpers.js'

interface GmmGolden {
  n: number
  d: number
  trace_mean_loglik: number[]
  weights: number[]
  means: number[][]
  precisions: number[][][]
  init: { weights: number[]; means: number[][]; precisions: number[][][] }
  per_sample_loglik: number[]
  labels: number[]
}
interface GlassoGolden {
  alpha: number
  S: number[][]
  precision: number[][]
}

const plainEm = { K: 3, rho: 0, lambda0: 0, ridge: 0, delta: 0, estimator: 'ml', tol: 0 } as const

describe('plain-EM path vs scikit-learn GaussianMixture (gmm_newthyroid_k3.json)', () => {
  const g = golden<GmmGolden>('gmm_newthyroid_k3.json')
  const x = thyroid()
  const start = {
    means: fromRows(g.init.means),
    precisions: g.init.precisions.map((p) => fromRows(p)),
    weights: g.init.weights,
  }

  it('E-step at the golden start: statistics equal a direct computation and the first trace value', async () => {
    const model = createGgm({ ...plainEm, maxIter: 1 })
    await model.prepare(x, exactNetwork(1).aggregate(0))
    model.setStart(start)
    const stats = model.localUpdate(x)
    const z = zscore(x)
    const M = 5
    const K = 3
    const nk = new Float64Array(K)
    const sums = new Float64Array(K * M)
    const scatter = new Float64Array(K * M * M)
    let total = 0
    for (let n = 0; n < z.rows; n++) {
      const row = z.data.subarray(n * M, (n + 1) * M)
      const lp = g.init.means.map((mu, k) => Math.log(g.init.weights[k]) + refLogDensity(row, mu, start.precisions[k]))
      const mx = Math.max(...lp)
      const lse = mx + Math.log(lp.reduce((s, v) => s + Math.exp(v - mx), 0))
      total += lse
      for (let k = 0; k < K; k++) {
        const r = Math.exp(lp[k] - lse)
        nk[k] += r
        for (let a = 0; a < M; a++) {
          sums[k * M + a] += r * row[a]
          for (let b = 0; b < M; b++) scatter[k * M * M + a * M + b] += r * row[a] * row[b]
        }
      }
    }
    // C_k travels as its upper triangle, row-major (a <= b)
    expect(stats.length).toBe(STATS_HEADER + K * (1 + M + (M * (M + 1)) / 2) + 1 + K)
    expect(stats[1]).toBe(215)
    // the drop vote: one voter, and no component voted out before the first optimize
    expect(Array.from(stats.subarray(stats.length - 1 - K))).toEqual([1, ...new Array<number>(K).fill(0)])
    expect(Math.abs(stats[0] - total)).toBeLessThan(1e-9)
    expect(Math.abs(stats[0] / 215 - g.trace_mean_loglik[0])).toBeLessThan(1e-10)
    const block = 1 + M + (M * (M + 1)) / 2
    for (let k = 0; k < K; k++) {
      const at = STATS_HEADER + k * block
      expect(Math.abs(stats[at] - nk[k])).toBeLessThan(1e-10)
      expect(maxAbsDiff(stats.subarray(at + 1, at + 1 + M), sums.subarray(k * M, (k + 1) * M))).toBeLessThan(1e-10)
      const upper: number[] = []
      for (let a = 0; a < M; a++) for (let b = a; b < M; b++) upper.push(scatter[k * M * M + a * M + b])
      expect(maxAbsDiff(stats.subarray(at + 1 + M, at + block), Float64Array.from(upper))).toBeLessThan(1e-9)
    }
    // responsibilities for the l-diversity monitor: rows sum to one, columns to N_k
    const resp = model.responsibilities!
    expect(resp.rows).toBe(215)
    for (let k = 0; k < K; k++) {
      let s = 0
      for (let n = 0; n < 215; n++) s += resp.data[n * K + k]
      expect(Math.abs(s - nk[k])).toBeLessThan(1e-10)
    }
  })

  for (const weights of ['shared', 'local'] as const) {
    it(`23 EM iterations (${weights} weights, one node) reproduce the log-likelihood trace and the final mixture`, async () => {
      const model = createGgm({ ...plainEm, weights, maxIter: 23 })
      await model.prepare(x, exactNetwork(1).aggregate(0))
      model.setStart(start)
      while (!model.converged) model.optimize(model.localUpdate(x))
      expect(model.iteration).toBe(23)
      expect(model.stopReason).toBe('maxIter')
      const trace = model.trace.map((e) => e.objective)
      expect(maxAbsDiff(trace, g.trace_mean_loglik)).toBeLessThan(1e-9)
      const rel = model.release()
      expect(maxAbsDiff(rel.means.data, flat(g.means))).toBeLessThan(1e-7)
      expect(maxAbsDiff(model.weights, g.weights)).toBeLessThan(1e-8)
      for (let k = 0; k < 3; k++) {
        const want = flat(g.precisions[k])
        const scale = Math.max(...want.map(Math.abs))
        expect(maxAbsDiff(rel.precisions[k].data, want) / scale).toBeLessThan(1e-7)
      }
      expect(maxAbsDiff(model.logLikelihood(x), g.per_sample_loglik)).toBeLessThan(1e-7)
    })
  }
})

describe('glasso step vs R glasso (glasso_*.json)', () => {
  const cases: [string, Mat][] = [
    ['glasso_thy_a0.05.json', thyroid()],
    ['glasso_thy_a0.2.json', thyroid()],
    ['glasso_wdbc_a0.1.json', wdbc()],
    ['glasso_wdbc_a0.5.json', wdbc()],
  ]
  for (const [file, x] of cases) {
    it(`${file}: one MAP optimize with K = 1 gives b * glasso(S, alpha)`, async () => {
      const gl = golden<GlassoGolden>(file)
      const N = x.rows
      const M = x.cols
      // eq. 16 runs glasso(Sigma / b, rho / (N + 1)); with rho = alpha N that is glasso(Sigma / b, alpha / b) = b * glasso(Sigma, alpha).
      const rho = gl.alpha * N
      const model = createGgm({ K: 1, rho, lambda0: 0, ridge: 0, delta: 0, penalizeDiagonal: false, maxIter: 1, glassoTol: 1e-12, glassoInexact: false })
      await model.prepare(x, exactNetwork(1).aggregate(0))
      model.optimize(model.localUpdate(x))
      const b = (N + 1) / N
      const P = model.release().precisions[0]
      const want = flat(gl.precision).map((v) => v * b)
      const scale = Math.max(...want.map(Math.abs))
      expect(maxAbsDiff(P.data, want) / scale).toBeLessThan(1e-6)
      // and the model's Sigma_1 is the golden S (population covariance of z-scored rows)
      const z = zscore(x)
      const S = mat(M, M)
      for (let n = 0; n < N; n++) {
        for (let a = 0; a < M; a++) for (let c = 0; c < M; c++) S.data[a * M + c] += (z.data[n * M + a] * z.data[n * M + c]) / N
      }
      expect(maxAbsDiff(S.data, flat(gl.S))).toBeLessThan(1e-12)
    })
  }
})

function wdbc(): Mat {
  return loadCsv('data/wdbc_sklearn.csv', { dropCols: ['target', 'diagnosis'] }).features
}
