/**
 * Argument checks shared by the numeric wrappers: kernels assume valid input, so every
 * public function validates here first and throws InvalidInputError naming the argument.
 */
import { InvalidInputError } from './errors.js'
import type { Mat } from './matrix.js'
import type { CoreExports } from './wasm.js'

/** Relative tolerance for symmetry checks (see checkSymmetric). */
export const SYM_TOL = 1e-8

export function checkMat(name: string, a: unknown): asserts a is Mat {
  const m = a as Partial<Mat> | null
  if (m === null || typeof m !== 'object' || !(m.data instanceof Float64Array)) {
    throw new InvalidInputError(`${name} must be a Mat {rows, cols, data: Float64Array}`)
  }
  if (!Number.isInteger(m.rows) || !Number.isInteger(m.cols) || (m.rows as number) < 0 || (m.cols as number) < 0) {
    throw new InvalidInputError(`${name} has invalid shape ${String(m.rows)} x ${String(m.cols)}`)
  }
  if (m.data.length !== (m.rows as number) * (m.cols as number)) {
    throw new InvalidInputError(
      `${name} has ${m.data.length} values but shape ${m.rows} x ${m.cols}: build it with mat(rows, cols, data)`,
    )
  }
}

export function checkFinite(name: string, data: Float64Array, cols = 0): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]
    if (!Number.isFinite(v)) {
      const at = cols > 0 ? `row ${Math.floor(i / cols)}, column ${i % cols}` : `index ${i}`
      throw new InvalidInputError(`${name} contains ${v} at ${at}: remove or impute non-finite values first`)
    }
  }
}

/** A finite matrix (any shape). */
export function checkFiniteMat(name: string, a: unknown): asserts a is Mat {
  checkMat(name, a)
  checkFinite(name, a.data, a.cols)
}

/** A finite square matrix. */
export function checkSquare(name: string, a: unknown): asserts a is Mat {
  checkFiniteMat(name, a)
  if (a.rows !== a.cols) throw new InvalidInputError(`${name} must be square, got ${a.rows} x ${a.cols}`)
}

/**
 * A finite square symmetric matrix: |a_ij - a_ji| <= SYM_TOL * (D + |a_ij| + |a_ji|) with
 * D = max(1, max_k |a_kk|) (the diagonal sets the scale of a covariance's entries).
 * The same rule runs inside WASM for larger matrices (wasm/src/linalg.rs check_symmetric).
 */
export function checkSymmetric(name: string, a: unknown): asserts a is Mat {
  checkMat(name, a)
  if (a.rows !== a.cols) throw new InvalidInputError(`${name} must be square, got ${a.rows} x ${a.cols}`)
  const n = a.rows
  const d = a.data
  let diag = 1
  for (let i = 0; i < n; i++) {
    const v = d[i * n + i]
    const av = v < 0 ? -v : v
    // !(av <= MAX) is true exactly for NaN and +-Infinity
    if (!(av <= Number.MAX_VALUE)) checkFinite(name, d, n)
    if (av > diag) diag = av
  }
  for (let i = 1; i < n; i++) {
    const ri = i * n
    for (let j = 0; j < i; j++) {
      const x = d[ri + j]
      const y = d[j * n + i]
      const ax = x < 0 ? -x : x
      const ay = y < 0 ? -y : y
      if (!(ax <= Number.MAX_VALUE) || !(ay <= Number.MAX_VALUE)) checkFinite(name, d, n)
      const diff = x - y
      if ((diff < 0 ? -diff : diff) > SYM_TOL * (diag + ax + ay)) {
        throw new InvalidInputError(
          `${name} is not symmetric: entries (${i}, ${j}) and (${j}, ${i}) differ by ${Math.abs(diff).toExponential(3)}; pass (A + A^T) / 2`,
        )
      }
    }
  }
}

export function checkNumber(name: string, v: unknown, opts: { min?: number; max?: number; integer?: boolean } = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidInputError(`${name} must be a finite number, got ${String(v)}`)
  if (opts.integer === true && !Number.isInteger(v)) throw new InvalidInputError(`${name} must be an integer, got ${v}`)
  if (opts.min !== undefined && v < opts.min) throw new InvalidInputError(`${name} must be >= ${opts.min}, got ${v}`)
  if (opts.max !== undefined && v > opts.max) throw new InvalidInputError(`${name} must be <= ${opts.max}, got ${v}`)
  return v
}

/** Below this size the JavaScript check is as fast as a round trip to the WASM checker. */
const WASM_CHECK_MIN = 16

/**
 * Shape check of a symmetric-matrix argument; finiteness and symmetry are checked later by
 * `checkSymmetricIn` on the copy in wasm memory (fast path), so call both.
 */
export function checkSquareShape(name: string, a: unknown): asserts a is Mat {
  checkMat(name, a)
  if (a.rows !== a.cols) throw new InvalidInputError(`${name} must be square, got ${a.rows} x ${a.cols}`)
  if (a.rows < WASM_CHECK_MIN) checkSymmetric(name, a)
}

/**
 * Same rule as checkSymmetric, run by the WASM core on the copy of `a` at `ptr` (for n >=
 * WASM_CHECK_MIN; smaller matrices were checked by checkSquareShape). On failure the
 * JavaScript checker locates the entry and throws the named error.
 */
export function checkSymmetricIn(k: CoreExports, name: string, a: Mat, ptr: number): void {
  if (a.rows < WASM_CHECK_MIN) return
  if (k.cd_check_symmetric(ptr, a.rows, SYM_TOL) !== 0) {
    checkSymmetric(name, a)
    throw new InvalidInputError(`${name} must be finite and symmetric`)
  }
}
