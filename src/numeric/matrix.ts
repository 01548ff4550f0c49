/**
 * Row-major dense matrix over a Float64Array: element (i, j) is data[i * cols + j].
 * The one matrix shape the whole engine passes around (datasets, covariances, weights).
 */
export interface Mat {
  readonly rows: number
  readonly cols: number
  readonly data: Float64Array
}

export class ShapeError extends Error {
  override name = 'ShapeError'
}

/** A rows x cols matrix, zero-filled, or wrapping `data` (not copied) when given. */
export function mat(rows: number, cols: number, data?: Float64Array): Mat {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
    throw new ShapeError(`matrix shape must be non-negative integers, got ${rows} x ${cols}`)
  }
  const d = data ?? new Float64Array(rows * cols)
  if (d.length !== rows * cols) {
    throw new ShapeError(`matrix data has ${d.length} values, expected ${rows} x ${cols} = ${rows * cols}`)
  }
  return { rows, cols, data: d }
}

/** Matrix from nested arrays (each row the same length). */
export function fromRows(rows: ArrayLike<ArrayLike<number>>): Mat {
  const n = rows.length
  const m = n === 0 ? 0 : rows[0].length
  const out = new Float64Array(n * m)
  for (let i = 0; i < n; i++) {
    const r = rows[i]
    if (r.length !== m) throw new ShapeError(`row ${i} has ${r.length} values, expected ${m}`)
    for (let j = 0; j < m; j++) out[i * m + j] = r[j]
  }
  return { rows: n, cols: m, data: out }
}

/** Nested arrays from a matrix (for JSON output). */
export function toRows(a: Mat): number[][] {
  const out: number[][] = []
  for (let i = 0; i < a.rows; i++) out.push(Array.from(a.data.subarray(i * a.cols, (i + 1) * a.cols)))
  return out
}

/** The rows listed in `idx`, copied into a new matrix. */
export function selectRows(a: Mat, idx: ArrayLike<number>): Mat {
  const out = new Float64Array(idx.length * a.cols)
  for (let r = 0; r < idx.length; r++) {
    const i = idx[r]
    out.set(a.data.subarray(i * a.cols, (i + 1) * a.cols), r * a.cols)
  }
  return { rows: idx.length, cols: a.cols, data: out }
}

/*
 * Symmetric matrices on the wire: the upper triangle, row-major (a <= b), M(M+1)/2 values.
 * Sufficient statistics such as sum_n r x x^T are symmetric, so sending the full M x M
 * block would double the off-diagonal traffic of every consensus round for nothing.
 */

/** Values in the packed upper triangle of an M x M symmetric matrix. */
export function packedSymLength(M: number): number {
  return (M * (M + 1)) / 2
}

/** Offset of entry (a, b), a <= b, in the packed upper triangle. */
function packedIndex(M: number, a: number, b: number): number {
  return a * M - (a * (a - 1)) / 2 + (b - a)
}

/** Write the upper triangle of the M x M row-major `full` into out[at ..]. */
export function packSym(full: ArrayLike<number>, M: number, out: Float64Array, at: number): void {
  let i = at
  for (let a = 0; a < M; a++) for (let b = a; b < M; b++) out[i++] = full[a * M + b]
}

/** The full M x M row-major matrix of the packed upper triangle at src[at ..]. */
export function unpackSym(src: ArrayLike<number>, M: number, at: number): Float64Array {
  const full = new Float64Array(M * M)
  let i = at
  for (let a = 0; a < M; a++) {
    for (let b = a; b < M; b++) {
      const v = src[i++]
      full[a * M + b] = v
      full[b * M + a] = v
    }
  }
  return full
}

/** out[at ..] (packed upper triangle) += w z z^T. */
export function addOuterPacked(out: Float64Array, at: number, z: ArrayLike<number>, w: number): void {
  const M = z.length
  let i = at
  for (let a = 0; a < M; a++) {
    const wa = w * z[a]
    for (let b = a; b < M; b++) out[i++] += wa * z[b]
  }
}

/** Entry (a, b) of the packed upper triangle at src[at ..], either order. */
export function packedAt(src: ArrayLike<number>, M: number, at: number, a: number, b: number): number {
  return a <= b ? src[at + packedIndex(M, a, b)] : src[at + packedIndex(M, b, a)]
}
