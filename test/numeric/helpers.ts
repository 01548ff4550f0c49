/** Shared test helpers: random SPD/symmetric matrices and comparisons. */
import { Matrix } from 'ml-matrix'
import { mat, type Mat } from '../../src/numeric/matrix.js'
import { Rng } from '../../src/numeric/rng.js'

export function randomMat(rng: Rng, rows: number, cols: number): Mat {
  return mat(rows, cols, rng.fillNormal(new Float64Array(rows * cols)))
}

/** A A^T / n + ridge I: symmetric positive definite with a moderate condition number. */
export function randomSpd(rng: Rng, n: number, ridge = 0.5): Mat {
  const a = randomMat(rng, n, n + 3)
  const out = new Float64Array(n * n)
  const m = a.cols
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0
      for (let k = 0; k < m; k++) s += a.data[i * m + k] * a.data[j * m + k]
      out[i * n + j] = out[j * n + i] = s / m + (i === j ? ridge : 0)
    }
  }
  return mat(n, n, out)
}

export function randomSymmetric(rng: Rng, n: number): Mat {
  const a = randomMat(rng, n, n)
  const out = new Float64Array(n * n)
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = 0.5 * (a.data[i * n + j] + a.data[j * n + i])
  return mat(n, n, out)
}

export function toMl(a: Mat): Matrix {
  return Matrix.from1DArray(a.rows, a.cols, Array.from(a.data))
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]))
  return m
}

export function mlData(m: Matrix): Float64Array {
  return Float64Array.from(m.to1DArray())
}
