/**
 * Fused multi-task VAE kernels of the numeric core (wasm/src/vae.rs): the ELBO of a batch
 * with its hand-written gradients w.r.t. the encoder phi and the decoder theta
 * (DESIGN.md eq. 28/30 with the KL sign corrected, eq. 33-34), and the anomaly score of eq. 39.
 *
 * Networks (eq. 23):
 *   encoder  q = ReLU(W1 x + b1), m  = W2 q + b2, h     = softplus(W3 q + b3) + latentFloor
 *   decoder  q = ReLU(W1 z + b1), mu = W2 q + b2, sigma = softplus(W3 q + b3) + scaleFloor
 * Packed parameters of a network with input din, hidden H, output dout (row-major, weights
 * out x in): [W1 (H x din), b1 (H), W2 (dout x H), b2 (dout), W3 (dout x H), b3 (dout)];
 * encoder din = M, dout = d; decoder din = d, dout = M.
 * Draws: `draws` holds J x B x d standard normals (J blocks of the batch's B x d), so that
 * z_j = h (.) v_j + m; the caller draws them from the seeded `Rng`.
 */
import { ShapeError, type Mat } from './matrix.js'
import { f64view, withScratch } from './wasm.js'

type Kernel = (...args: number[]) => number | void

/** Sizes of the two networks: M features, hidden width H, latent dimension d. */
export interface VaeShape {
  features: number
  hidden: number
  latent: number
}

/** Positive floors added to h and sigma after the softplus (keep ln h, ln sigma finite). */
export interface VaeFloors {
  latentFloor: number
  scaleFloor: number
}

/** Result of one ELBO evaluation over a batch (sums over its rows, not means). */
export interface ElboGrad {
  /** L = sum_n [-KL_n + (1/J) sum_j ln N(x_n | mu(z_nj), diag sigma(z_nj)^2)] (eq. 28/30). */
  elbo: number
  /** sum_n KL(q(z | x_n) || N(0, I)). */
  kl: number
  /** sum_n (1/J) sum_j ln N(x_n | ...). */
  recon: number
  /** dL/dphi, packed like the encoder. */
  gradEncoder: Float64Array
  /** dL/dtheta, packed like the decoder. */
  gradDecoder: Float64Array
  /** sum_n KL_n,i per latent dimension i (length d): the posterior-collapse monitor's input. */
  klPerDim: Float64Array
}

function intArg(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new ShapeError(`${name} must be a positive integer, got ${v}`)
}

/** Lengths of the packed encoder and decoder vectors. */
export function vaeParamLengths(shape: VaeShape): { encoder: number; decoder: number } {
  intArg('features', shape.features)
  intArg('hidden', shape.hidden)
  intArg('latent', shape.latent)
  const net = (din: number, h: number, dout: number): number => h * din + h + 2 * (dout * h + dout)
  return {
    encoder: net(shape.features, shape.hidden, shape.latent),
    decoder: net(shape.latent, shape.hidden, shape.features),
  }
}

function check(shape: VaeShape, encoder: Float64Array, decoder: Float64Array, x: Mat, draws: Float64Array, floors: VaeFloors): number {
  const len = vaeParamLengths(shape)
  if (encoder.length !== len.encoder) throw new ShapeError(`encoder has ${encoder.length} values, expected ${len.encoder} for this shape`)
  if (decoder.length !== len.decoder) throw new ShapeError(`decoder has ${decoder.length} values, expected ${len.decoder} for this shape`)
  if (x.cols !== shape.features) throw new ShapeError(`batch has ${x.cols} columns, the model has ${shape.features} features`)
  if (x.rows < 1) throw new ShapeError('batch is empty: pass at least one row')
  const block = x.rows * shape.latent
  const j = draws.length / block
  if (!Number.isInteger(j) || j < 1) {
    throw new ShapeError(`draws has ${draws.length} values, expected J x ${x.rows} x ${shape.latent} for some J >= 1`)
  }
  if (!(floors.latentFloor > 0) || !(floors.scaleFloor > 0)) throw new ShapeError('latentFloor and scaleFloor must be > 0')
  for (const [name, a] of [['encoder', encoder], ['decoder', decoder], ['x', x.data], ['draws', draws]] as const) {
    for (let i = 0; i < a.length; i++) {
      // NaN in x is a missing value: the kernels feed the encoder 0 there and skip (training) or take the expectation of (score) its reconstruction term
      if (name === 'x' && Number.isNaN(a[i])) continue
      if (!Number.isFinite(a[i])) throw new ShapeError(`${name}[${i}] is ${a[i]}: VAE inputs must be finite (check the data and the learning rate)`)
    }
  }
  return j
}

/** ELBO of the batch and its gradients w.r.t. encoder and decoder (eq. 28/30, 33-34). */
export function vaeElboGrad(shape: VaeShape, encoder: Float64Array, decoder: Float64Array, x: Mat, draws: Float64Array, floors: VaeFloors): ElboGrad {
  const j = check(shape, encoder, decoder, x, draws, floors)
  const { features: m, hidden, latent: d } = shape
  return withScratch((s, k) => {
    const pPhi = s.put(encoder)
    const pTheta = s.put(decoder)
    const px = s.put(x.data)
    const pv = s.put(draws)
    const gPhi = s.f64(encoder.length)
    const gTheta = s.f64(decoder.length)
    const pKl = s.f64(d)
    const pSums = s.f64(3)
    ;(k.cd_vae_elbo_grad as Kernel)(m, hidden, d, x.rows, j, pPhi, pTheta, px, pv, floors.latentFloor, floors.scaleFloor, gPhi, gTheta, pKl, pSums)
    const sums = f64view(pSums, 3).slice()
    return {
      elbo: sums[0],
      kl: sums[1],
      recon: sums[2],
      gradEncoder: f64view(gPhi, encoder.length).slice(),
      gradDecoder: f64view(gTheta, decoder.length).slice(),
      klPerDim: f64view(pKl, d).slice(),
    }
  })
}

/** `vaeElboGrad` with the decoder gradient kept per sample (for DP-SGD's per-sample clipping). */
export interface ElboGradPerSample extends Omit<ElboGrad, 'gradDecoder'> {
  /**
   * B x P_theta (row-major): row n is d L_n / d theta, the decoder gradient of sample n's
   * own ELBO term (its J draws averaged). The rows sum to `vaeElboGrad(...).gradDecoder`
   * up to rounding.
   */
  gradDecoderRows: Mat
  /** B x P_phi (row-major): row n is d L_n / d phi; the rows sum to `gradEncoder` up to rounding. */
  gradEncoderRows: Mat
}

/**
 * ELBO of the batch with per-sample decoder gradients (wasm/src/vae.rs
 * `elbo_grad_per_sample`; eq. 28/30, 34 per sample): the input DP-SGD clips row by row.
 * ELBO, KL, encoder gradient and KL per dimension are batch totals as in `vaeElboGrad`.
 */
export function vaeElboGradPerSample(shape: VaeShape, encoder: Float64Array, decoder: Float64Array, x: Mat, draws: Float64Array, floors: VaeFloors): ElboGradPerSample {
  const j = check(shape, encoder, decoder, x, draws, floors)
  const { features: m, hidden, latent: d } = shape
  const P = decoder.length
  return withScratch((s, k) => {
    const pPhi = s.put(encoder)
    const pTheta = s.put(decoder)
    const px = s.put(x.data)
    const pv = s.put(draws)
    const gPhi = s.f64(encoder.length)
    const gPhiRows = s.f64(x.rows * encoder.length)
    const gRows = s.f64(x.rows * P)
    const pKl = s.f64(d)
    const pSums = s.f64(3)
    ;(k.cd_vae_elbo_grad_per_sample as Kernel)(m, hidden, d, x.rows, j, pPhi, pTheta, px, pv, floors.latentFloor, floors.scaleFloor, gPhi, gPhiRows, gRows, pKl, pSums)
    const sums = f64view(pSums, 3).slice()
    return {
      elbo: sums[0],
      kl: sums[1],
      recon: sums[2],
      gradEncoder: f64view(gPhi, encoder.length).slice(),
      gradDecoderRows: { rows: x.rows, cols: P, data: f64view(gRows, x.rows * P).slice() },
      gradEncoderRows: { rows: x.rows, cols: encoder.length, data: f64view(gPhiRows, x.rows * encoder.length).slice() },
      klPerDim: f64view(pKl, d).slice(),
    }
  })
}

/**
 * Per-row anomaly score a(x) = -(1/J) sum_j ln N(x | mu(z_j), diag sigma(z_j)^2) (eq. 39),
 * plus `klWeight` x KL(q(z | x) || N(0, I)) of the row (0, the default: eq. 39 exactly;
 * 1: the row's negative ELBO).
 */
export function vaeScore(shape: VaeShape, encoder: Float64Array, decoder: Float64Array, x: Mat, draws: Float64Array, floors: VaeFloors, klWeight = 0): Float64Array {
  const j = check(shape, encoder, decoder, x, draws, floors)
  if (!(klWeight >= 0 && Number.isFinite(klWeight))) throw new ShapeError(`klWeight must be a finite number >= 0, got ${klWeight}`)
  const { features: m, hidden, latent: d } = shape
  return withScratch((s, k) => {
    const pPhi = s.put(encoder)
    const pTheta = s.put(decoder)
    const px = s.put(x.data)
    const pv = s.put(draws)
    const pOut = s.f64(x.rows)
    ;(k.cd_vae_score as Kernel)(m, hidden, d, x.rows, j, pPhi, pTheta, px, pv, floors.latentFloor, floors.scaleFloor, klWeight, pOut)
    return f64view(pOut, x.rows).slice()
  })
}
