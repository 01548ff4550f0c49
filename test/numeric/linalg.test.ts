import { CholeskyDecomposition, EigenvalueDecomposition, inverse, Matrix, solve } from 'ml-matrix'
import { describe, expect, it } from 'vitest'
import {
  cholesky,
  clipEigenvalues,
  eigh,
  eigvalsh,
  logdetSpd,
  solveSpd,
  solveTriangular,
  spdInverse,
} from '../../src/numeric/linalg.js'
import { ConvergenceError, InvalidInputError, NotPositiveDefiniteError } from '../../src/numeric/errors.js'
import { mat, type Mat } from '../../src/numeric/matrix.js'
import { Rng } from '../../src/numeric/rng.js'
import { core } from '../../src/numeric/wasm.js'
import { maxAbsDiff, mlData, randomMat, randomSpd, randomSymmetric, toMl } from './helpers.js'

const rng = new Rng('linalg-tests')

describe('linalg parity with ml-matrix on random inputs', () => {
  it('large inputs grow wasm memory and still agree (n = 300)', () => {
    const before = core().exports.memory.buffer.byteLength
    const n = 300
    const a = randomSpd(rng, n, 1)
    const { inverse: inv } = spdInverse(a)
    // a * inv = I, checked with ml-matrix's product (independent of the wasm code)
    const prod = toMl(a).mmul(toMl(inv))
    expect(maxAbsDiff(mlData(prod), mlData(Matrix.eye(n)))).toBeLessThan(1e-10)
    const vals = eigvalsh(a)
    const ref = new EigenvalueDecomposition(toMl(a), { assumeSymmetric: true }).realEigenvalues.sort((x, y) => x - y)
    expect(maxAbsDiff(vals, ref)).toBeLessThan(1e-10)
    expect(core().exports.memory.buffer.byteLength).toBeGreaterThan(before)
  })

  it.each([1, 2, 7, 30, 101])('cholesky, logdet, inverse, solves (n = %i)', (n) => {
    const a = randomSpd(rng, n)
    const ref = new CholeskyDecomposition(toMl(a))
    expect(ref.isPositiveDefinite()).toBe(true)
    const Lref = ref.lowerTriangularMatrix
    const { L, logdet } = cholesky(a)
    expect(maxAbsDiff(L.data, mlData(Lref))).toBeLessThan(1e-12)
    let ld = 0
    for (let i = 0; i < n; i++) ld += 2 * Math.log(Lref.get(i, i))
    expect(Math.abs(logdet - ld)).toBeLessThan(1e-10 * Math.max(1, Math.abs(ld)))
    expect(logdetSpd(a)).toBe(logdet)

    const { inverse: inv, logdet: ld2 } = spdInverse(a)
    expect(ld2).toBeCloseTo(logdet, 12)
    expect(maxAbsDiff(inv.data, mlData(inverse(toMl(a))))).toBeLessThan(1e-9)
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) expect(inv.data[i * n + j]).toBe(inv.data[j * n + i])

    const b = randomMat(rng, n, 3)
    const x = solveSpd(a, b)
    expect(maxAbsDiff(x.data, mlData(ref.solve(toMl(b))))).toBeLessThan(1e-9)

    // Triangular solves, all four variants, against ml-matrix's general solve.
    const U = mat(n, n, mlData(Lref.transpose()))
    for (const [T, lower, transpose] of [
      [L, true, false],
      [L, true, true],
      [U, false, false],
      [U, false, true],
    ] as Array<[Mat, boolean, boolean]>) {
      const op = transpose ? toMl(T).transpose() : toMl(T)
      const want = solve(op, toMl(b))
      const got = solveTriangular(T, b, { lower, transpose })
      expect(maxAbsDiff(got.data, mlData(want))).toBeLessThan(1e-9)
    }
  })

  it.each([1, 3, 10, 64])('eigh matches ml-matrix EigenvalueDecomposition (n = %i)', (n) => {
    const a = randomSymmetric(rng, n)
    const { values, vectors } = eigh(a)
    const ref = new EigenvalueDecomposition(toMl(a), { assumeSymmetric: true })
    const rv = [...ref.realEigenvalues].sort((x, y) => x - y)
    expect(maxAbsDiff(values, rv)).toBeLessThan(1e-11)
    for (let j = 1; j < n; j++) expect(values[j]).toBeGreaterThanOrEqual(values[j - 1])
    // A V = V diag(values) and V^T V = I
    const A = toMl(a)
    const V = toMl(vectors)
    const AV = A.mmul(V)
    const VD = V.mmul(Matrix.diag(Array.from(values)))
    expect(maxAbsDiff(mlData(AV), mlData(VD))).toBeLessThan(1e-11)
    expect(maxAbsDiff(mlData(V.transpose().mmul(V)), mlData(Matrix.eye(n)))).toBeLessThan(1e-12)
    expect(maxAbsDiff(eigvalsh(a), values)).toBeLessThan(1e-12)
  })

  it('eigh handles repeated eigenvalues and diagonal / zero matrices', () => {
    const I = mat(4, 4, Float64Array.from([2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 5]))
    const { values, vectors } = eigh(I)
    expect(Array.from(values)).toEqual([2, 2, 2, 5])
    expect(Math.abs(vectors.data[3 * 4 + 3])).toBeCloseTo(1, 14)
    expect(Array.from(eigvalsh(mat(3, 3)))).toEqual([0, 0, 0])
  })

  // accuracy only: its speed is a benchmark figure (npm run bench -- numeric), not a test deadline
  it('eigvalsh of a 1009-node cycle Laplacian matches the closed form 2 - 2 cos(2 pi k / n)', () => {
    const n = 1009
    const a = mat(n, n)
    for (let i = 0; i < n; i++) {
      a.data[i * n + i] = 2
      a.data[i * n + ((i + 1) % n)] = -1
      a.data[i * n + ((i + n - 1) % n)] = -1
    }
    const got = eigvalsh(a)
    const want = Array.from({ length: n }, (_, k) => 2 - 2 * Math.cos((2 * Math.PI * k) / n)).sort((x, y) => x - y)
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-11)
  })

  it('clipEigenvalues bounds the spectrum and keeps eigenvectors', () => {
    const a = randomSymmetric(rng, 12)
    const c = clipEigenvalues(a, { min: -0.5, max: 1 })
    for (let i = 0; i < 12; i++) for (let j = 0; j < i; j++) expect(c.data[i * 12 + j]).toBe(c.data[j * 12 + i])
    const { values, vectors } = eigh(a)
    const cv = eigvalsh(c)
    const want = Array.from(values, (v) => Math.min(1, Math.max(-0.5, v))).sort((x, y) => x - y)
    expect(maxAbsDiff(cv, want)).toBeLessThan(1e-12)
    // unclipped eigenvector of the top of the spectrum is still an eigenvector with value 1 (clipped)
    const V = toMl(vectors)
    const top = V.getColumnVector(11)
    expect(maxAbsDiff(mlData(toMl(c).mmul(top)), mlData(top.mul(Math.min(1, values[11]))))).toBeLessThan(1e-12)
    // no-op clip reproduces the matrix
    expect(maxAbsDiff(clipEigenvalues(a, {}).data, a.data)).toBeLessThan(1e-12)
  })
})

describe('linalg: bad input gives named errors', () => {
  const good = randomSpd(new Rng(1), 3)
  it('NaN / Infinity, wrong shapes, non-symmetric', () => {
    const nan = mat(3, 3, good.data.slice())
    nan.data[4] = Number.NaN
    expect(() => cholesky(nan)).toThrow(InvalidInputError)
    expect(() => cholesky(nan)).toThrow(/row 1, column 1/)
    const inf = mat(3, 3, good.data.slice())
    inf.data[0] = Infinity
    expect(() => eigh(inf)).toThrow(InvalidInputError)
    expect(() => cholesky(mat(2, 3))).toThrow(/square/)
    expect(() => solveSpd(good, mat(2, 1))).toThrow(/3 rows/)
    const asym = mat(3, 3, good.data.slice())
    asym.data[1] += 0.1
    expect(() => spdInverse(asym)).toThrow(/not symmetric.*\(1, 0\)/)
    expect(() => cholesky({ rows: 2, cols: 2, data: new Float64Array(3) })).toThrow(InvalidInputError)
    expect(() => solveTriangular(mat(2, 2), mat(2, 1), { lower: true })).toThrow(/singular/)
    expect(() => clipEigenvalues(good, { min: 2, max: 1 })).toThrow(InvalidInputError)
  })

  it('large matrices (checked inside WASM) give the same named errors', () => {
    const big = randomSpd(new Rng(2), 20)
    const nan = mat(20, 20, big.data.slice())
    nan.data[3 * 20 + 7] = Number.NaN
    expect(() => cholesky(nan)).toThrow(/a contains NaN at row 3, column 7/)
    const inf = mat(20, 20, big.data.slice())
    inf.data[19 * 20 + 19] = -Infinity
    expect(() => eigvalsh(inf)).toThrow(InvalidInputError)
    const asym = mat(20, 20, big.data.slice())
    asym.data[5 * 20 + 2] += 1e-3
    expect(() => spdInverse(asym)).toThrow(/not symmetric: entries \(5, 2\)/)
    // within tolerance (relative 1e-8 of the diagonal scale) is accepted
    const nearly = mat(20, 20, big.data.slice())
    nearly.data[5 * 20 + 2] += 1e-12
    expect(cholesky(nearly).logdet).toBeCloseTo(cholesky(big).logdet, 9)
  })

  it('non-SPD input names the failing pivot and suggests a ridge', () => {
    const a = mat(3, 3, Float64Array.from([1, 2, 0, 2, 1, 0, 0, 0, 1]))
    let err: unknown
    try {
      cholesky(a)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(NotPositiveDefiniteError)
    expect((err as NotPositiveDefiniteError).name).toBe('NotPositiveDefiniteError')
    expect((err as NotPositiveDefiniteError).pivot).toBe(1)
    expect((err as Error).message).toMatch(/pivot 1.*ridge/)
    expect(() => solveSpd(a, mat(3, 1))).toThrow(NotPositiveDefiniteError)
    expect(() => spdInverse(mat(2, 2))).toThrow(NotPositiveDefiniteError)
    expect(ConvergenceError.name).toBe('ConvergenceError')
  })
})
