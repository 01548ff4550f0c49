/**
 * The classifier's network on the numeric core's dense layers (src/numeric/mlp.ts, Rust
 * kernels in wasm/src/mlp.rs): a stack of affine layers with ReLU between them and one of
 * three heads on the last layer's output s:
 *
 *   logistic  one logit,   loss ln(1 + e^s) - y s,        p(y = 1) = sigmoid(s)
 *   svm       one margin,  loss max(0, 1 - t s), t = 2y - 1 (hinge; subgradient 0 at the kink),
 *             p(y = 1) = sigmoid(s) (a monotone map of the margin, not a calibrated probability)
 *   softmax   K logits,    loss -ln softmax(s)_y (cross-entropy), p = softmax(s)
 *
 * Parameters are one packed vector: for each layer l, W_l (dout x din, row-major; row o
 * holds the weights into output o) then b_l (dout), PyTorch's Linear layout.
 *
 * Per-sample clipping for DP-SGD uses the per-example norm identity of an affine layer
 * (Goodfellow 2015, "Efficient per-example gradient computations"): the gradient of sample n
 * with respect to (W_l, b_l) is (delta_n a_n^T, delta_n), whose squared norm is
 * ||delta_n||^2 (||a_n||^2 + 1). So one forward and one backward pass give every sample's
 * norm, and a second weight-gradient pass with delta_n scaled by min(1, C / ||g_n||) gives
 * the clipped sum, without materialising per-sample gradients.
 */
import { mat, type Mat } from '../../numeric/matrix.js'
import { affineBackward, affineForward, relu, reluBackward } from '../../numeric/mlp.js'
import type { Rng } from '../../numeric/rng.js'

export type Head = 'logistic' | 'svm' | 'softmax'

/** Layer widths [M, hidden..., outputs] and the loss head. */
export interface NetShape {
  sizes: readonly number[]
  head: Head
}

export class ClassifierShapeError extends Error {
  override name = 'ClassifierShapeError'
}

/** Number of packed parameters of a network. */
export function paramCount(shape: NetShape): number {
  let p = 0
  for (let l = 1; l < shape.sizes.length; l++) p += shape.sizes[l] * shape.sizes[l - 1] + shape.sizes[l]
  return p
}

/** Offsets of W_l and b_l in the packed vector, per layer l = 1..L (index l - 1). */
export function layerOffsets(shape: NetShape): { w: number; b: number; din: number; dout: number }[] {
  const out: { w: number; b: number; din: number; dout: number }[] = []
  let o = 0
  for (let l = 1; l < shape.sizes.length; l++) {
    const din = shape.sizes[l - 1]
    const dout = shape.sizes[l]
    out.push({ w: o, b: o + din * dout, din, dout })
    o += din * dout + dout
  }
  return out
}

/** Mask of the weight entries (1) vs biases (0): the L2 penalty applies to weights only. */
export function weightMask(shape: NetShape): Uint8Array {
  const m = new Uint8Array(paramCount(shape))
  for (const l of layerOffsets(shape)) m.fill(1, l.w, l.w + l.din * l.dout)
  return m
}

/**
 * Initial parameters. Linear models (no hidden layer) start at zero: the loss is convex and
 * zero is the usual, seed-free start. MLPs: He-normal weights into ReLU layers (He et al.
 * 2015), Glorot-scale weights into the output, zero biases, from `rng` (the shared seed).
 */
export function initParams(shape: NetShape, rng: Rng): Float64Array {
  const p = new Float64Array(paramCount(shape))
  const layers = layerOffsets(shape)
  if (layers.length === 1) return p
  layers.forEach((l, i) => {
    const sd = i < layers.length - 1 ? Math.sqrt(2 / l.din) : Math.sqrt(1 / l.din)
    for (let k = 0; k < l.din * l.dout; k++) p[l.w + k] = sd * rng.normal()
  })
  return p
}

function weights(theta: Float64Array, l: { w: number; b: number; din: number; dout: number }): { w: Mat; b: Float64Array } {
  return { w: mat(l.dout, l.din, theta.subarray(l.w, l.w + l.din * l.dout)), b: theta.subarray(l.b, l.b + l.dout) }
}

/** Pre-activations z_l and activations a_l (a_0 = x); the last z is the head's input s. */
interface Forward {
  z: Mat[]
  a: Mat[]
}

function forward(shape: NetShape, theta: Float64Array, x: Mat): Forward {
  const layers = layerOffsets(shape)
  const z: Mat[] = []
  const a: Mat[] = [x]
  layers.forEach((l, i) => {
    const { w, b } = weights(theta, l)
    const zi = affineForward(a[i], w, b)
    z.push(zi)
    if (i < layers.length - 1) a.push(mat(zi.rows, zi.cols, relu(zi.data)))
  })
  return { z, a }
}

const sigmoid = (s: number): number => (s >= 0 ? 1 / (1 + Math.exp(-s)) : Math.exp(s) / (1 + Math.exp(s)))
/** ln(1 + e^s), stable for large |s|. */
const softplus = (s: number): number => (s > 0 ? s + Math.log1p(Math.exp(-s)) : Math.log1p(Math.exp(s)))

/** Class probabilities (rows x K; K = 2 for the binary heads) from the head's inputs. */
export function headProbabilities(head: Head, s: Mat): Mat {
  if (head !== 'softmax') {
    const out = new Float64Array(2 * s.rows)
    for (let n = 0; n < s.rows; n++) {
      const p1 = sigmoid(s.data[n])
      out[2 * n] = 1 - p1
      out[2 * n + 1] = p1
    }
    return mat(s.rows, 2, out)
  }
  const K = s.cols
  const out = new Float64Array(s.rows * K)
  for (let n = 0; n < s.rows; n++) {
    const row = s.data.subarray(n * K, (n + 1) * K)
    let mx = -Infinity
    for (let k = 0; k < K; k++) mx = Math.max(mx, row[k])
    let sum = 0
    for (let k = 0; k < K; k++) sum += Math.exp(row[k] - mx)
    for (let k = 0; k < K; k++) out[n * K + k] = Math.exp(row[k] - mx) / sum
  }
  return mat(s.rows, K, out)
}

/** Per-sample loss and dLoss/ds (n x outputs) of the head. */
function headLoss(head: Head, s: Mat, y: ArrayLike<number>): { loss: Float64Array; ds: Mat } {
  const n = s.rows
  const loss = new Float64Array(n)
  const ds = new Float64Array(s.data.length)
  if (head === 'logistic') {
    for (let i = 0; i < n; i++) {
      const v = s.data[i]
      loss[i] = softplus(v) - y[i] * v
      ds[i] = sigmoid(v) - y[i]
    }
  } else if (head === 'svm') {
    for (let i = 0; i < n; i++) {
      const t = 2 * y[i] - 1
      const m = 1 - t * s.data[i]
      loss[i] = Math.max(0, m)
      ds[i] = m > 0 ? -t : 0
    }
  } else {
    const K = s.cols
    const p = headProbabilities('softmax', s)
    for (let i = 0; i < n; i++) {
      const yi = y[i]
      loss[i] = -Math.log(Math.max(p.data[i * K + yi], 1e-300))
      for (let k = 0; k < K; k++) ds[i * K + k] = p.data[i * K + k] - (k === yi ? 1 : 0)
    }
  }
  return { loss, ds: mat(n, s.cols, ds) }
}

/** Class probabilities of every row of x (standardised features). */
export function predictProba(shape: NetShape, theta: Float64Array, x: Mat): Mat {
  const f = forward(shape, theta, x)
  return headProbabilities(shape.head, f.z[f.z.length - 1])
}

/** Mean loss of the rows (no penalty); NaN for no rows. */
export function meanLoss(shape: NetShape, theta: Float64Array, x: Mat, y: ArrayLike<number>): number {
  if (x.rows === 0) return Number.NaN
  const f = forward(shape, theta, x)
  const { loss } = headLoss(shape.head, f.z[f.z.length - 1], y)
  let s = 0
  for (let i = 0; i < loss.length; i++) s += loss[i]
  return s / loss.length
}

export interface GradientSum {
  /** Sum over rows of the (clipped) per-sample gradients, packed like theta. */
  grad: Float64Array
  /** Sum over rows of the per-sample losses. */
  loss: number
  /** Rows whose gradient norm exceeded the clip (0 without clipping). */
  clipped: number
}

/**
 * Sum over the rows of x of the per-sample loss gradients (backpropagation through the
 * affine and ReLU kernels); with `clip` = C each sample's whole gradient is first scaled
 * to L2 norm <= C (per-example norms as in the module comment).
 */
export function gradientSum(shape: NetShape, theta: Float64Array, x: Mat, y: ArrayLike<number>, clip: number | null = null): GradientSum {
  const P = paramCount(shape)
  const grad = new Float64Array(P)
  if (x.rows === 0) return { grad, loss: 0, clipped: 0 }
  if (y.length !== x.rows) throw new ClassifierShapeError(`gradientSum: ${x.rows} rows but ${y.length} labels`)
  const layers = layerOffsets(shape)
  const L = layers.length
  const f = forward(shape, theta, x)
  const head = headLoss(shape.head, f.z[L - 1], y)
  let loss = 0
  for (let i = 0; i < head.loss.length; i++) loss += head.loss[i]
  // backward: delta_l = dLoss/dz_l per row; the weight gradients come with it
  const deltas: Mat[] = new Array<Mat>(L)
  deltas[L - 1] = head.ds
  for (let l = L - 1; l >= 0; l--) {
    const { w } = weights(theta, layers[l])
    const r = affineBackward(f.a[l], w, deltas[l])
    if (clip === null) {
      grad.set(r.dw.data, layers[l].w)
      grad.set(r.db, layers[l].b)
    }
    if (l > 0) deltas[l - 1] = mat(r.dx.rows, r.dx.cols, reluBackward(f.z[l - 1].data, r.dx.data))
  }
  if (clip === null) return { grad, loss, clipped: 0 }
  // per-sample norms: sum_l ||delta_l,n||^2 (||a_{l-1},n||^2 + 1)
  const n = x.rows
  const norm2 = new Float64Array(n)
  for (let l = 0; l < L; l++) {
    const a = f.a[l]
    const d = deltas[l]
    for (let i = 0; i < n; i++) {
      let aa = 1
      for (let j = 0; j < a.cols; j++) aa += a.data[i * a.cols + j] ** 2
      let dd = 0
      for (let j = 0; j < d.cols; j++) dd += d.data[i * d.cols + j] ** 2
      norm2[i] += dd * aa
    }
  }
  let clipped = 0
  const factor = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const nrm = Math.sqrt(norm2[i])
    factor[i] = nrm > clip ? clip / nrm : 1
    if (nrm > clip) clipped++
  }
  for (let l = 0; l < L; l++) {
    const d = deltas[l]
    const scaled = new Float64Array(d.data.length)
    for (let i = 0; i < n; i++) for (let j = 0; j < d.cols; j++) scaled[i * d.cols + j] = d.data[i * d.cols + j] * factor[i]
    const { w } = weights(theta, layers[l])
    const r = affineBackward(f.a[l], w, mat(n, d.cols, scaled))
    grad.set(r.dw.data, layers[l].w)
    grad.set(r.db, layers[l].b)
  }
  return { grad, loss, clipped }
}
