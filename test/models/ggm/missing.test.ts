import { describe, expect, it } from 'vitest'
import { eStepMissing, incompleteRows, scoreIncomplete } from '../../../src/models/ggm/missing.js'
import { fitCentralised, fitExact } from '../../../src/models/ggm/index.js'
import { GgmError } from '../../../src/models/ggm/model.js'
import { networkPreprocessing } from '../../../src/models/preprocess.js'
import { exactNetwork } from '../../../src/models/ggm/exact.js'
import { eStep, Rng, spdInverse } from '../../../src/numeric/index.js'
import { mat, selectRows, type Mat } from '../../../src/numeric/matrix.js'
import { scoreMixture } from '../../../src/privacy/mixture-score.js'

const M = 4
// a covariance with strong correlations, so a missing coordinate is well predicted by the others
const SIGMA = [
  [1.0, 0.8, 0.3, 0.1],
  [0.8, 1.5, 0.4, 0.2],
  [0.3, 0.4, 1.0, 0.6],
  [0.1, 0.2, 0.6, 2.0],
]
const sigma = mat(M, M, Float64Array.from(SIGMA.flat()))
const precision = spdInverse(sigma).inverse

function lowerCholesky(S: number[][]): number[][] {
  const n = S.length
  const L = S.map(() => new Array<number>(n).fill(0))
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = S[i][j]
      for (let k = 0; k < j; k++) s -= L[i][k] * L[j][k]
      L[i][j] = i === j ? Math.sqrt(s) : s / L[j][j]
    }
  }
  return L
}

/** n rows from a two-component mixture (means +-2 on the first axis, covariance SIGMA). */
function sample(n: number, rng: Rng): Mat {
  const L = lowerCholesky(SIGMA)
  const out = mat(n, M)
  const e = new Float64Array(M)
  for (let i = 0; i < n; i++) {
    const shift = rng.uniform() < 0.4 ? -2 : 2
    rng.fillNormal(e)
    for (let a = 0; a < M; a++) {
      let v = a === 0 ? shift : a === 2 ? shift / 2 : 0
      for (let b = 0; b <= a; b++) v += L[a][b] * e[b]
      out.data[i * M + a] = v
    }
  }
  return out
}

/** Each entry missing with probability p (never a whole row). */
function knockOut(X: Mat, p: number, rng: Rng): Mat {
  const out = mat(X.rows, X.cols, Float64Array.from(X.data))
  for (let i = 0; i < X.rows; i++) {
    for (let a = 0; a < X.cols - 1; a++) if (rng.uniform() < p) out.data[i * X.cols + a] = NaN
  }
  return out
}

describe('GGM with missing values (EM on the observed entries)', () => {
  it('E-step of a row with missing entries: marginal density and conditional moments equal the precision-form reference', () => {
    const mu = mat(1, M, Float64Array.of(0.5, -0.2, 0.1, 0.3))
    const row = mat(1, M, Float64Array.of(1.2, NaN, -0.4, NaN))
    const r = eStepMissing(row, Float64Array.of(0), mu, [precision], [sigma])
    // reference 1: the marginal of x_o is N(mu_o, Sigma_oo); evaluate it with the WASM kernel on the 2-d problem
    const o = [0, 2]
    const m = [1, 3]
    const Soo = mat(2, 2, Float64Array.from(o.flatMap((a) => o.map((b) => SIGMA[a][b]))))
    const marginal = eStep(mat(1, 2, Float64Array.of(1.2, -0.4)), Float64Array.of(0), mat(1, 2, Float64Array.of(0.5, 0.1)), [spdInverse(Soo).inverse])
    expect(r.logLik[0]).toBeCloseTo(marginal.logLik[0], 12)
    // reference 2: conditional mean and covariance from the precision: E[x_m | x_o] = mu_m - Lambda_mm^-1 Lambda_mo (x_o - mu_o), Cov = Lambda_mm^-1
    const P = precision.data
    const Lmm = mat(2, 2, Float64Array.from(m.flatMap((a) => m.map((b) => P[a * M + b]))))
    const LmmInv = spdInverse(Lmm).inverse.data
    const d = [1.2 - 0.5, -0.4 - 0.1]
    const t = m.map((a) => o.reduce((s, b, j) => s + P[a * M + b] * d[j], 0))
    const xm = [-0.2 - (LmmInv[0] * t[0] + LmmInv[1] * t[1]), 0.3 - (LmmInv[2] * t[0] + LmmInv[3] * t[1])]
    expect(r.sums.data[1]).toBeCloseTo(xm[0], 10)
    expect(r.sums.data[3]).toBeCloseTo(xm[1], 10)
    // second moment of a missing coordinate: xhat^2 + conditional variance; of a pair: xhat_a xhat_b + conditional covariance
    expect(r.scatter[0].data[1 * M + 1]).toBeCloseTo(xm[0] * xm[0] + LmmInv[0], 10)
    expect(r.scatter[0].data[1 * M + 3]).toBeCloseTo(xm[0] * xm[1] + LmmInv[1], 10)
    expect(r.scatter[0].data[0 * M + 1]).toBeCloseTo(1.2 * xm[0], 10)
    expect(r.nk[0]).toBe(1)
  })

  it('score of a row with missing entries equals the Monte Carlo mean of complete-row scores over the conditional (K = 1)', async () => {
    const rng = new Rng(7)
    const X = sample(400, rng)
    const model = await fitCentralised(X, { K: 1, rho: 0, missing: true, seed: 1 })
    const row = mat(1, M, Float64Array.of(0.4, NaN, -0.3, NaN))
    const got = model.score(row)[0]
    // reference: complete the row by draws from the fitted conditional (in raw units), score with the complete-row kernel
    const pre = model.preprocessing!
    const mu = model.release().means.data
    const cov = spdInverse(model.release().precisions[0]).inverse.data
    const z = [0, 2].map((a) => (row.data[a] - pre.shift[a]) / pre.scale[a])
    const o = [0, 2]
    const m = [1, 3]
    const Soo = spdInverse(mat(2, 2, Float64Array.from(o.flatMap((a) => o.map((b) => cov[a * M + b]))))).inverse.data
    const B = m.map((a) => o.map((_, j) => o.reduce((s, b, c) => s + cov[a * M + b] * Soo[c * 2 + j], 0)))
    const cmean = m.map((a, i) => mu[a] + B[i][0] * (z[0] - mu[0]) + B[i][1] * (z[1] - mu[2]))
    const ccov = m.map((a, i) => m.map((b) => cov[a * M + b] - B[i][0] * cov[0 * M + b] - B[i][1] * cov[2 * M + b]))
    const Lc = lowerCholesky(ccov)
    const draws = 20_000
    const filled = mat(draws, M)
    const e = new Float64Array(2)
    const mc = new Rng(11)
    for (let n = 0; n < draws; n++) {
      mc.fillNormal(e)
      const zm = [cmean[0] + Lc[0][0] * e[0], cmean[1] + Lc[1][0] * e[0] + Lc[1][1] * e[1]]
      filled.data[n * M + 0] = row.data[0]
      filled.data[n * M + 2] = row.data[2]
      filled.data[n * M + 1] = zm[0] * pre.scale[1] + pre.shift[1]
      filled.data[n * M + 3] = zm[1] * pre.scale[3] + pre.shift[3]
    }
    const s = model.score(filled)
    const mean = s.reduce((a, v) => a + v, 0) / draws
    const sd = Math.sqrt(s.reduce((a, v) => a + (v - mean) ** 2, 0) / draws)
    expect(Math.abs(got - mean)).toBeLessThan(4 * (sd / Math.sqrt(draws)) + 1e-9)
  })

  it('EM on 25 % missing entries: observed-data likelihood never decreases, and the means are recovered', async () => {
    const rng = new Rng(3)
    const full = sample(1500, rng)
    const X = knockOut(full, 0.25, rng)
    expect(incompleteRows(X).length).toBeGreaterThan(500)
    const hyper = { K: 2, rho: 0, lambda0: 0, estimator: 'ml' as const, weights: 'shared' as const, missing: true, seed: 5, tol: 1e-10, maxIter: 200, standardise: false }
    const model = await fitCentralised(X, hyper)
    const obj = model.trace.map((t) => t.objective)
    for (let t = 1; t < obj.length; t++) expect(obj[t]).toBeGreaterThanOrEqual(obj[t - 1] - 1e-9)
    const means = model.release().means
    const first = [means.data[0], means.data[M]].sort((a, b) => a - b)
    expect(first[0]).toBeCloseTo(-2, 0)
    expect(first[1]).toBeCloseTo(2, 0)
    // the fit on incomplete rows is close to the fit on the complete rows
    const ref = await fitCentralised(full, hyper)
    const refFirst = [ref.release().means.data[0], ref.release().means.data[M]].sort((a, b) => a - b)
    expect(Math.abs(first[0] - refFirst[0])).toBeLessThan(0.15)
    expect(Math.abs(first[1] - refFirst[1])).toBeLessThan(0.15)
  })

  it('decentralised == centralised with missing values (shared weights, exact sums over 3 nodes)', async () => {
    const rng = new Rng(4)
    const X = knockOut(sample(600, rng), 0.2, rng)
    const hyper = { K: 'auto' as const, weights: 'shared' as const, missing: true, seed: 9, select: { kMax: 3, rhos: [0, 5], restarts: 1, iterK: 10, iterRho: 5 } }
    const cuts = [0, 100, 350, 600]
    const parts = [0, 1, 2].map((s) => selectRows(X, Int32Array.from({ length: cuts[s + 1] - cuts[s] }, (_, i) => cuts[s] + i)))
    const central = await fitCentralised(X, hyper)
    const nodes = await fitExact(parts, hyper)
    expect(nodes[0].K).toBe(central.K)
    expect(nodes[0].rho).toBe(central.rho)
    const a = nodes[0].release().means.data
    const b = central.release().means.data
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], 6)
    const probe = knockOut(sample(50, new Rng(8)), 0.3, new Rng(9))
    const sa = nodes[1].score(probe)
    const sb = central.score(probe)
    for (let i = 0; i < sa.length; i++) expect(sa[i]).toBeCloseTo(sb[i], 5)
  })

  it('network moments count only observed values; a model without `missing` refuses NaN with a named error', async () => {
    const X = mat(4, 2, Float64Array.of(1, 10, NaN, 20, 3, NaN, 5, 40))
    const net = exactNetwork(2)
    const parts = [selectRows(X, Int32Array.of(0, 1)), selectRows(X, Int32Array.of(2, 3))]
    const pres = await Promise.all(parts.map((p, s) => networkPreprocessing(p, net.aggregate(s), { missing: true })))
    expect(pres[0].shift[0]).toBeCloseTo(3, 12) // (1 + 3 + 5) / 3
    expect(pres[1].shift[1]).toBeCloseTo(70 / 3, 12)
    expect(pres[0].scale[0]).toBeCloseTo(Math.sqrt(8 / 3), 12)
    await expect(fitCentralised(X, { K: 1 })).rejects.toThrow(GgmError)
    await expect(fitCentralised(X, { K: 1 })).rejects.toThrow(/missing: true/)
  })

  it('plain mixture parameters (a released file) score rows with missing entries as the trained model does', async () => {
    const rng = new Rng(21)
    const X = knockOut(sample(500, rng), 0.2, rng)
    const model = await fitCentralised(X, { K: 2, rho: 0.5, missing: true, weights: 'shared', seed: 2 })
    const r = model.release()
    const M2 = r.dim
    const params = {
      dim: M2,
      K: r.K,
      means: Array.from({ length: r.K }, (_, k) => r.means.data.subarray(k * M2, (k + 1) * M2)),
      precisions: r.precisions,
      weights: model.weights,
      transform: { shift: model.preprocessing!.shift, scale: model.preprocessing!.scale },
    }
    const probe = knockOut(sample(40, new Rng(22)), 0.4, new Rng(23))
    expect(incompleteRows(probe).length).toBeGreaterThan(10)
    const a = scoreMixture(params, probe)
    const b = model.score(probe)
    // the model marginalises with the graphical lasso's W, the file with Lambda^-1: equal to the glasso's tolerance
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], 6)
  })

  it('scoreIncomplete and the model agree on which rows are incomplete', () => {
    const z = mat(3, M, Float64Array.of(0, 0, 0, 0, NaN, 1, 1, 1, 0, 0, 0, NaN))
    expect(Array.from(incompleteRows(z))).toEqual([1, 2])
    const out = scoreIncomplete(z, incompleteRows(z), Float64Array.of(0), mat(1, M), [sigma])
    expect(out.score.every(Number.isFinite)).toBe(true)
  })
})
