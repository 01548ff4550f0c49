/**
 * Argument checks shared by the numeric wrappers: kernels assume valid input, so every
 * public function validates here first and throws InvalidInputError naming the argument.
 */
import { InvalidInputError } from './errors.js'
import type { Mat } from './matrix.js'

/** Relative tolerance for symmetry checks: |a_ij - a_ji| <= SYM_TOL * max(1, max|a|). */
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

/** A finite square symmetric matrix (within SYM_TOL relative to its largest entry). */
export function checkSymmetric(name: string, a: unknown): asserts a is Mat {
  checkSquare(name, a)
  const n = a.rows
  const d = a.data
  let scale = 1
  for (let i = 0; i < d.length; i++) scale = Math.max(scale, Math.abs(d[i]))
  const tol = SYM_TOL * scale
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      const diff = Math.abs(d[i * n + j] - d[j * n + i])
      if (diff > tol) {
        throw new InvalidInputError(
          `${name} is not symmetric: entries (${i}, ${j}) and (${j}, ${i}) differ by ${diff.toExponential(3)}; pass (A + A^T) / 2`,
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
