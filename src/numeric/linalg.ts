/**
 * Dense symmetric linear algebra on `Mat` (row-major), computed by the WASM core
 * (wasm/src/linalg.rs). Every function validates its arguments here and throws
 * InvalidInputError / NotPositiveDefiniteError / ConvergenceError, never a wasm trap
 * or a silent NaN.
 */
import { ConvergenceError, InvalidInputError, NotPositiveDefiniteError } from './errors.js'
import { mat, type Mat } from './matrix.js'
import { checkFiniteMat, checkSquare, checkSquareShape, checkSymmetricIn } from './validate.js'
import { f64at, readF64, withScratch } from './wasm.js'

export { ConvergenceError, InvalidInputError, NotPositiveDefiniteError } from './errors.js'

/** The error for a failed Cholesky pivot of argument `name`. */
export function notPositiveDefinite(name: string, pivot: number, n: number): NotPositiveDefiniteError {
  return new NotPositiveDefiniteError(
    `${name} (${n} x ${n}) is not positive definite: Cholesky pivot ${pivot} is <= 0; ` +
      `add a ridge (e.g. 1e-6 * mean diagonal) to the diagonal, or check for constant or duplicated columns`,
    pivot,
  )
}

/** Lower Cholesky factor L (a = L L^T, upper triangle zero) and logdet = ln|a|. a: n x n SPD. */
export function cholesky(a: Mat): { L: Mat; logdet: number } {
  checkSquareShape('a', a)
  const n = a.rows
  return withScratch((s, k) => {
    const pa = s.put(a.data)
    checkSymmetricIn(k, 'a', a, pa)
    const pl = s.f64(n * n)
    const pd = s.f64(1)
    const rc = k.cd_cholesky(pa, n, pl, pd)
    if (rc !== 0) throw notPositiveDefinite('a', rc - 1, n)
    return { L: mat(n, n, readF64(pl, n * n)), logdet: n === 0 ? 0 : f64at(pd) }
  })
}

/** ln|a| of a symmetric positive definite matrix (via Cholesky). */
export function logdetSpd(a: Mat): number {
  return cholesky(a).logdet
}

/**
 * Solve op(L) X = b for triangular L (n x n) and b (n x m): op(L) = L, or L^T when
 * `transpose`; `lower` says which triangle of L is used (the other is ignored).
 */
export function solveTriangular(L: Mat, b: Mat, opts: { lower: boolean; transpose?: boolean }): Mat {
  checkSquare('L', L)
  checkFiniteMat('b', b)
  if (typeof opts?.lower !== 'boolean') throw new InvalidInputError('opts.lower must be true or false (which triangle of L holds the factor)')
  const n = L.rows
  if (b.rows !== n) throw new InvalidInputError(`b must have ${n} rows to match L (${n} x ${n}), got ${b.rows} x ${b.cols}`)
  for (let i = 0; i < n; i++) {
    if (L.data[i * n + i] === 0) throw new InvalidInputError(`L is singular: diagonal entry ${i} is 0; a triangular factor needs a non-zero diagonal`)
  }
  const m = b.cols
  return withScratch((s, k) => {
    const pl = s.put(L.data)
    const px = s.put(b.data)
    k.cd_solve_triangular(pl, n, px, m, opts.lower ? 1 : 0, opts.transpose === true ? 1 : 0)
    const x = readF64(px, n * m)
    checkResult('solveTriangular', x, 'L is too ill-conditioned for this right-hand side')
    return mat(n, m, x)
  })
}

/** Solve a X = b for symmetric positive definite a (n x n) and b (n x m). */
export function solveSpd(a: Mat, b: Mat): Mat {
  checkSquareShape('a', a)
  checkFiniteMat('b', b)
  const n = a.rows
  if (b.rows !== n) throw new InvalidInputError(`b must have ${n} rows to match a (${n} x ${n}), got ${b.rows} x ${b.cols}`)
  const m = b.cols
  return withScratch((s, k) => {
    const pa = s.put(a.data)
    checkSymmetricIn(k, 'a', a, pa)
    const px = s.put(b.data)
    const pd = s.f64(1)
    const rc = k.cd_solve_spd(pa, n, px, m, pd)
    if (rc !== 0) throw notPositiveDefinite('a', rc - 1, n)
    return mat(n, m, readF64(px, n * m))
  })
}

/** Inverse (symmetric) and ln|a| of a symmetric positive definite matrix. */
export function spdInverse(a: Mat): { inverse: Mat; logdet: number } {
  checkSquareShape('a', a)
  const n = a.rows
  return withScratch((s, k) => {
    const pa = s.put(a.data)
    checkSymmetricIn(k, 'a', a, pa)
    const pi = s.f64(n * n)
    const pd = s.f64(1)
    const rc = k.cd_spd_inverse(pa, n, pi, pd)
    if (rc !== 0) throw notPositiveDefinite('a', rc - 1, n)
    const inv = readF64(pi, n * n)
    checkResult('spdInverse', inv, 'a is too ill-conditioned to invert; add a ridge to its diagonal')
    return { inverse: mat(n, n, inv), logdet: n === 0 ? 0 : f64at(pd) }
  })
}

/**
 * Symmetric eigendecomposition: values ascending; column j of `vectors` is the unit
 * eigenvector of values[j]. Householder tridiagonalisation + implicit QL.
 */
export function eigh(a: Mat): { values: Float64Array; vectors: Mat } {
  checkSquareShape('a', a)
  const n = a.rows
  return withScratch((s, k) => {
    const pa = s.put(a.data)
    checkSymmetricIn(k, 'a', a, pa)
    const pv = s.f64(n)
    const pw = s.f64(n * n)
    const rc = k.cd_eigh(pa, n, pv, pw)
    if (rc !== 0) throw noConvergence(rc - 1)
    return { values: readF64(pv, n), vectors: mat(n, n, readF64(pw, n * n)) }
  })
}

/** Eigenvalues only, ascending (O(n^3) with a small constant: n = 1009 takes about a second). */
export function eigvalsh(a: Mat): Float64Array {
  checkSquareShape('a', a)
  const n = a.rows
  return withScratch((s, k) => {
    const pa = s.put(a.data)
    checkSymmetricIn(k, 'a', a, pa)
    const pv = s.f64(n)
    const rc = k.cd_eigh(pa, n, pv, 0)
    if (rc !== 0) throw noConvergence(rc - 1)
    return readF64(pv, n)
  })
}

/** V clip(D, min, max) V^T for symmetric a = V D V^T; the output is exactly symmetric. */
export function clipEigenvalues(a: Mat, opts: { max?: number; min?: number }): Mat {
  checkSquareShape('a', a)
  const lo = opts?.min ?? -Infinity
  const hi = opts?.max ?? Infinity
  if (Number.isNaN(lo) || Number.isNaN(hi)) throw new InvalidInputError('clipEigenvalues: opts.min and opts.max must be numbers')
  if (lo > hi) throw new InvalidInputError(`clipEigenvalues: opts.min (${lo}) must be <= opts.max (${hi})`)
  const n = a.rows
  return withScratch((s, k) => {
    const pa = s.put(a.data)
    checkSymmetricIn(k, 'a', a, pa)
    const po = s.f64(n * n)
    const rc = k.cd_clip_eigenvalues(pa, n, lo, hi, po)
    if (rc !== 0) throw noConvergence(rc - 1)
    return mat(n, n, readF64(po, n * n))
  })
}

function noConvergence(index: number): ConvergenceError {
  return new ConvergenceError(
    `eigh: the QL iteration did not converge for eigenvalue ${index}; check the matrix for extreme dynamic range (rescale it)`,
  )
}

function checkResult(what: string, x: Float64Array, advice: string): void {
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) throw new InvalidInputError(`${what} produced a non-finite value: ${advice}`)
  }
}
