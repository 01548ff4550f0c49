/**
 * Dense MLP layers of the numeric core (wasm/src/mlp.rs): affine, ReLU and softplus,
 * forward and backward, batched over the rows of a row-major `Mat`.
 *
 * Shapes: a batch `x` is n x din; an affine layer has weights `w` (dout x din, row o holds
 * the weights into output o) and bias `b` (dout), so y = x w^T + b (PyTorch's Linear).
 * Buffers follow the memory contract of ./wasm.ts (allocated and freed per call).
 */
import { mat, ShapeError, type Mat } from './matrix.js'
import { f64view, withScratch } from './wasm.js'

type Kernel = (...args: number[]) => void

function checkFinite(name: string, data: Float64Array): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw new ShapeError(`${name}[${i}] is ${data[i]}: layer inputs must be finite numbers`)
    }
  }
}

function checkAffine(x: Mat, w: Mat, b: Float64Array): void {
  if (w.cols !== x.cols) throw new ShapeError(`affine: x has ${x.cols} columns but w is ${w.rows} x ${w.cols} (expected dout x ${x.cols})`)
  if (b.length !== w.rows) throw new ShapeError(`affine: bias has ${b.length} values, expected dout = ${w.rows}`)
  checkFinite('x', x.data)
  checkFinite('w', w.data)
  checkFinite('b', b)
}

/** y (n x dout) = x (n x din) w^T + b. */
export function affineForward(x: Mat, w: Mat, b: Float64Array): Mat {
  checkAffine(x, w, b)
  const n = x.rows
  const dout = w.rows
  const y = withScratch((s, k) => {
    const px = s.put(x.data)
    const pw = s.put(w.data)
    const pb = s.put(b)
    const py = s.f64(n * dout)
    ;(k.cd_affine_forward as Kernel)(px, pw, pb, py, n, x.cols, dout)
    return f64view(py, n * dout).slice()
  })
  return mat(n, dout, y)
}

/** Gradients of an affine layer given dL/dy (n x dout): dx = dy w, dw = dy^T x, db = column sums of dy. */
export function affineBackward(x: Mat, w: Mat, dy: Mat): { dx: Mat; dw: Mat; db: Float64Array } {
  if (dy.rows !== x.rows || dy.cols !== w.rows) {
    throw new ShapeError(`affine backward: dy is ${dy.rows} x ${dy.cols}, expected ${x.rows} x ${w.rows}`)
  }
  checkAffine(x, w, new Float64Array(w.rows))
  checkFinite('dy', dy.data)
  const n = x.rows
  const din = x.cols
  const dout = w.rows
  return withScratch((s, k) => {
    const px = s.put(x.data)
    const pw = s.put(w.data)
    const pdy = s.put(dy.data)
    const pdx = s.f64(n * din)
    const pdw = s.f64(dout * din)
    const pdb = s.f64(dout)
    ;(k.cd_affine_backward as Kernel)(px, pw, pdy, pdx, pdw, pdb, n, din, dout)
    return {
      dx: mat(n, din, f64view(pdx, n * din).slice()),
      dw: mat(dout, din, f64view(pdw, dout * din).slice()),
      db: f64view(pdb, dout).slice(),
    }
  })
}

function elementwise(name: string, a: Float64Array, dy?: Float64Array): Float64Array {
  checkFinite('a', a)
  if (dy !== undefined) {
    if (dy.length !== a.length) throw new ShapeError(`${name}: dy has ${dy.length} values, a has ${a.length}`)
    checkFinite('dy', dy)
  }
  return withScratch((s, k) => {
    const pa = s.put(a)
    const pout = s.f64(a.length)
    if (dy === undefined) (k[name] as Kernel)(pa, pout, a.length)
    else (k[name] as Kernel)(pa, s.put(dy), pout, a.length)
    return f64view(pout, a.length).slice()
  })
}

/** max(a, 0) elementwise. */
export function relu(a: Float64Array): Float64Array {
  return elementwise('cd_relu_forward', a)
}

/** dL/da = dL/dy * [a > 0], for y = relu(a). */
export function reluBackward(a: Float64Array, dy: Float64Array): Float64Array {
  return elementwise('cd_relu_backward', a, dy)
}

/** ln(1 + e^a) elementwise (stable for large |a|). */
export function softplus(a: Float64Array): Float64Array {
  return elementwise('cd_softplus_forward', a)
}

/** dL/da = dL/dy * sigmoid(a), for y = softplus(a). */
export function softplusBackward(a: Float64Array, dy: Float64Array): Float64Array {
  return elementwise('cd_softplus_backward', a, dy)
}
