/** Shared fixtures for the GGM tests: real data, an independent Gaussian log-density (ml-matrix). */
import { readFileSync } from 'node:fs'
import { CholeskyDecomposition, Matrix } from 'ml-matrix'
import { loadCsv } from '../../../src/data/csv.js'
import { fromRows, selectRows, type Mat } from '../../../src/numeric/matrix.js'

export function thyroid(): Mat {
  return loadCsv('data/ad_newthyroid.csv', { labelCol: 'anomaly' }).features
}

/** z-score with population std (ddof = 0), as the golden files do. */
export function zscore(x: Mat): Mat {
  const { rows: n, cols: m } = x
  const out = new Float64Array(x.data)
  for (let j = 0; j < m; j++) {
    let s = 0
    for (let i = 0; i < n; i++) s += x.data[i * m + j]
    const mu = s / n
    let v = 0
    for (let i = 0; i < n; i++) v += (x.data[i * m + j] - mu) ** 2
    const sd = Math.sqrt(v / n)
    for (let i = 0; i < n; i++) out[i * m + j] = (x.data[i * m + j] - mu) / sd
  }
  return { rows: n, cols: m, data: out }
}

/** Contiguous uneven parts of the rows (cut points given). */
export function cut(x: Mat, cuts: number[]): Mat[] {
  const parts: Mat[] = []
  for (let s = 0; s + 1 < cuts.length; s++) {
    parts.push(selectRows(x, Int32Array.from({ length: cuts[s + 1] - cuts[s] }, (_, i) => cuts[s] + i)))
  }
  return parts
}

export function golden<T>(name: string): T {
  return JSON.parse(readFileSync(`test/golden/${name}`, 'utf8')) as T
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity
  let d = 0
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]))
  return d
}

export function flat(rows: number[][] | number[][][]): number[] {
  return (rows as unknown[]).flat(2) as number[]
}

/**
 * ln N(x | mu, Lambda^-1) computed independently with ml-matrix:
 * -M/2 ln 2pi + 1/2 ln|Lambda| - 1/2 (x - mu)^T Lambda (x - mu).
 */
export function refLogDensity(x: ArrayLike<number>, mu: ArrayLike<number>, precision: Mat): number {
  const M = mu.length
  // symmetrised: published matrices can differ from their transpose in the last bit
  const P = new Matrix(
    Array.from({ length: M }, (_, i) => Array.from({ length: M }, (_, j) => 0.5 * (precision.data[i * M + j] + precision.data[j * M + i]))),
  )
  const chol = new CholeskyDecomposition(P)
  const L = chol.lowerTriangularMatrix
  let logdet = 0
  for (let i = 0; i < M; i++) logdet += 2 * Math.log(L.get(i, i))
  const d = Matrix.columnVector(Array.from({ length: M }, (_, i) => x[i] - mu[i]))
  const q = d.transpose().mmul(P).mmul(d).get(0, 0)
  return -0.5 * M * Math.log(2 * Math.PI) + 0.5 * logdet - 0.5 * q
}

export { fromRows }
