/**
 * Plain TypeScript implementation of the VAE maths (eq. 23, 28/30, 33-34, 39), written
 * one sample at a time for clarity, with no WebAssembly: the independent reference the
 * parity tests hold the fused WASM kernel (src/numeric/vae.ts) against, and the baseline
 * of bench/vae.ts. Same packing, draws layout and floors as src/numeric/vae.ts.
 */
import type { Mat } from '../../numeric/matrix.js'
import type { ElboGrad, VaeFloors, VaeShape } from '../../numeric/vae.js'

const HALF_LN_2PI = 0.5 * Math.log(2 * Math.PI)

/** Views of one packed network: W1 (hid x din), b1, W2 (dout x hid), b2, W3 (dout x hid), b3. */
interface Net {
  din: number
  hid: number
  dout: number
  w1: Float64Array
  b1: Float64Array
  w2: Float64Array
  b2: Float64Array
  w3: Float64Array
  b3: Float64Array
}

function unpack(p: Float64Array, din: number, hid: number, dout: number): Net {
  let o = 0
  const take = (n: number): Float64Array => {
    const v = p.subarray(o, o + n)
    o += n
    return v
  }
  const w1 = take(hid * din)
  const b1 = take(hid)
  const w2 = take(dout * hid)
  const b2 = take(dout)
  const w3 = take(dout * hid)
  const b3 = take(dout)
  return { din, hid, dout, w1, b1, w2, b2, w3, b3 }
}

const softplus = (a: number): number => (a > 0 ? a + Math.log1p(Math.exp(-a)) : Math.log1p(Math.exp(a)))
const sigmoid = (a: number): number => (a >= 0 ? 1 / (1 + Math.exp(-a)) : Math.exp(a) / (1 + Math.exp(a)))

/** out = W v + b for W (rows x cols) row-major. */
function affine(w: Float64Array, b: Float64Array, v: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows)
  for (let r = 0; r < rows; r++) {
    let s = b[r]
    for (let c = 0; c < cols; c++) s += w[r * cols + c] * v[c]
    out[r] = s
  }
  return out
}

interface Pass {
  a1: Float64Array
  q: Float64Array
  loc: Float64Array
  pre: Float64Array
  scale: Float64Array
}

/** One sample through a network (eq. 23). */
function forward(net: Net, input: ArrayLike<number>, floor: number): Pass {
  const a1 = affine(net.w1, net.b1, input, net.hid, net.din)
  const q = a1.map((a) => Math.max(a, 0))
  const loc = affine(net.w2, net.b2, q, net.dout, net.hid)
  const pre = affine(net.w3, net.b3, q, net.dout, net.hid)
  const scale = pre.map((a) => softplus(a) + floor)
  return { a1, q, loc, pre, scale }
}

/**
 * Backpropagate dL/dloc and dL/dpre of one sample through a network: adds the parameter
 * gradient into `g` (a Net of gradient views) and returns dL/dinput.
 */
function backward(net: Net, g: Net, p: Pass, input: ArrayLike<number>, dloc: Float64Array, dpre: Float64Array): Float64Array {
  const dq = new Float64Array(net.hid)
  for (let o = 0; o < net.dout; o++) {
    g.b2[o] += dloc[o]
    g.b3[o] += dpre[o]
    for (let k = 0; k < net.hid; k++) {
      g.w2[o * net.hid + k] += dloc[o] * p.q[k]
      g.w3[o * net.hid + k] += dpre[o] * p.q[k]
      dq[k] += dloc[o] * net.w2[o * net.hid + k] + dpre[o] * net.w3[o * net.hid + k]
    }
  }
  const dIn = new Float64Array(net.din)
  for (let k = 0; k < net.hid; k++) {
    const da = p.a1[k] > 0 ? dq[k] : 0
    g.b1[k] += da
    for (let i = 0; i < net.din; i++) {
      g.w1[k * net.din + i] += da * input[i]
      dIn[i] += da * net.w1[k * net.din + i]
    }
  }
  return dIn
}

/** What the encoder reads: a missing entry (NaN) at 0, the network mean in model coordinates. */
function encoderInput(xn: Float64Array): Float64Array {
  return Float64Array.from(xn, (v) => (Number.isNaN(v) ? 0 : v))
}

function check(shape: VaeShape, x: Mat, draws: Float64Array): number {
  return draws.length / (x.rows * shape.latent)
}

/** ELBO of the batch and its gradients (eq. 28/30 with the KL sign corrected; eq. 33-34). */
export function referenceElboGrad(shape: VaeShape, encoder: Float64Array, decoder: Float64Array, x: Mat, draws: Float64Array, floors: VaeFloors): ElboGrad {
  const { features: M, hidden: H, latent: d } = shape
  const J = check(shape, x, draws)
  const B = x.rows
  const enc = unpack(encoder, M, H, d)
  const dec = unpack(decoder, d, H, M)
  const gradEncoder = new Float64Array(encoder.length)
  const gradDecoder = new Float64Array(decoder.length)
  const gEnc = unpack(gradEncoder, M, H, d)
  const gDec = unpack(gradDecoder, d, H, M)
  const klPerDim = new Float64Array(d)
  let kl = 0
  let recon = 0
  for (let n = 0; n < B; n++) {
    const xn = x.data.subarray(n * M, (n + 1) * M)
    const xin = encoderInput(xn)
    const e = forward(enc, xin, floors.latentFloor)
    const dm = new Float64Array(d)
    const dh = new Float64Array(d)
    for (let j = 0; j < J; j++) {
      const v = draws.subarray((j * B + n) * d, (j * B + n + 1) * d)
      const z = new Float64Array(d)
      for (let i = 0; i < d; i++) z[i] = e.scale[i] * v[i] + e.loc[i]
      const p = forward(dec, z, floors.scaleFloor)
      const dmu = new Float64Array(M)
      const dpre = new Float64Array(M)
      for (let k = 0; k < M; k++) {
        if (Number.isNaN(xn[k])) continue // missing: no term, no gradient
        const s = p.scale[k]
        const r = xn[k] - p.loc[k]
        // ln N(x_k | mu_k, s^2) = -1/2 ln 2pi - ln s - r^2 / (2 s^2)
        recon += (-HALF_LN_2PI - Math.log(s) - (r * r) / (2 * s * s)) / J
        dmu[k] = r / (s * s) / J
        dpre[k] = ((-1 / s + (r * r) / (s * s * s)) / J) * sigmoid(p.pre[k])
      }
      const dz = backward(dec, gDec, p, z, dmu, dpre)
      for (let i = 0; i < d; i++) {
        dm[i] += dz[i]
        dh[i] += dz[i] * v[i]
      }
    }
    // KL(q || N(0, I)) = -1/2 sum_i (ln h^2 + 1 - h^2 - m^2)   (eq. 30, sign corrected)
    const dpreH = new Float64Array(d)
    for (let i = 0; i < d; i++) {
      const m = e.loc[i]
      const h = e.scale[i]
      const kli = -0.5 * (Math.log(h * h) + 1 - h * h - m * m)
      klPerDim[i] += kli
      kl += kli
      dm[i] -= m
      dpreH[i] = (dh[i] + 1 / h - h) * sigmoid(e.pre[i])
    }
    backward(enc, gEnc, e, xin, dm, dpreH)
  }
  return { elbo: recon - kl, kl, recon, gradEncoder, gradDecoder, klPerDim }
}

/** Per-row anomaly score -(1/J) sum_j ln N(x | mu(z_j), diag sigma(z_j)^2) (eq. 39), plus klWeight x KL of the row. */
export function referenceScore(shape: VaeShape, encoder: Float64Array, decoder: Float64Array, x: Mat, draws: Float64Array, floors: VaeFloors, klWeight = 0): Float64Array {
  const { features: M, hidden: H, latent: d } = shape
  const J = check(shape, x, draws)
  const B = x.rows
  const enc = unpack(encoder, M, H, d)
  const dec = unpack(decoder, d, H, M)
  const out = new Float64Array(B)
  for (let n = 0; n < B; n++) {
    const xn = x.data.subarray(n * M, (n + 1) * M)
    const e = forward(enc, encoderInput(xn), floors.latentFloor)
    for (let i = 0; i < d; i++) out[n] -= klWeight * 0.5 * (Math.log(e.scale[i] ** 2) + 1 - e.scale[i] ** 2 - e.loc[i] ** 2)
    for (let j = 0; j < J; j++) {
      const v = draws.subarray((j * B + n) * d, (j * B + n + 1) * d)
      const z = new Float64Array(d)
      for (let i = 0; i < d; i++) z[i] = e.scale[i] * v[i] + e.loc[i]
      const p = forward(dec, z, floors.scaleFloor)
      let ll = 0
      for (let k = 0; k < M; k++) {
        const s = p.scale[k]
        // a missing entry: E[(x - mu)^2 / s^2] = 1 under the decoder
        const q = Number.isNaN(xn[k]) ? 1 : ((xn[k] - p.loc[k]) / s) ** 2
        ll += -HALF_LN_2PI - Math.log(s) - q / 2
      }
      out[n] -= ll / J
    }
  }
  return out
}
