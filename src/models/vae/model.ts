/**
 * The multi-task VAE of CollabDict (DESIGN.md eq. 21-40) as a `CollabModel`: a private
 * encoder phi^s on each node, one decoder theta shared by all, trained on the network-wide
 * sum of the nodes' decoder gradients. Not exported from the package: build it with
 * `createVaeModel` / `loadVaeModel` (./index.ts).
 */
import { selectRows, type Mat } from '../../numeric/matrix.js'
import { Rng } from '../../numeric/rng.js'
import { vaeElboGrad, vaeElboGradPerSample, vaeParamLengths, vaeScore, type VaeShape } from '../../numeric/vae.js'
import { dpSgdRdp, poissonBatch, type NoiseRng } from '../../privacy/mechanisms.js'
import type { PrivacyLedger } from '../../privacy/ledger.js'
import { chargeVaeStep } from './dpsgd.js'
import { DEFAULT_ORDERS } from '../../privacy/rdp.js'
import { SecretRng } from '../../numeric/secret-rng.js'
import { buildId } from '../../numeric/wasm.js'
import type { Aggregate, SavedModel, TraceEntry } from '../model.js'
import {
  networkPreprocessing,
  preprocessingFromJson,
  preprocessingToJson,
  preprocessTraining,
  hasMissing,
  standardise,
  type Preprocessing,
  type PreprocessingJson,
} from '../preprocess.js'
import type { VaeHyper } from './hyper.js'
import { Ascent } from './optimizer.js'

/** Version of the saved form (`SavedModel.version`) and of the exportGlobal() layout. */
export const VAE_FORMAT_VERSION = 1
/** Rows per kernel call when scoring or evaluating (bounds the draws buffer to J x 512 x d). */
const SCORE_CHUNK = 512
/** softplus^-1(1): initial bias of both scale heads, so h and sigma start at 1 (prior, standardised data). */
const SCALE_BIAS_INIT = Math.log(Math.E - 1)

export class VaeStateError extends Error {
  override name = 'VaeStateError'
}

/** Posterior-collapse monitor: KL per latent dimension (nats per sample over this node's rows). */
export interface CollapseReport {
  klPerDim: number[]
  /** True when every dimension's KL is below `threshold` (the decoder ignores z). */
  collapsed: boolean
  threshold: number
}

/** Mean per-sample ELBO terms of a data set at the current parameters. */
export interface VaeEvaluation {
  elbo: number
  kl: number
  recon: number
  klPerDim: number[]
}

/**
 * RDP cost of one localUpdate under DP-SGD (`privacyCost()`): `steps` Poisson-subsampled
 * Gaussian steps at rate q and noise multiplier z (the network sum's noise), over `orders`.
 */
export interface VaePrivacyCost {
  /** Ledger label, e.g. 'vae/dp-sgd/iter/12'. */
  label: string
  rdp: Float64Array
  orders: Float64Array
  details: { iteration: number; q: number; noiseMultiplier: number; clip: number; nodes: number; steps: number; batchRows: number; clippedRows: number; noise: 'os-entropy' | 'injected'; encoder: 'dp' | 'exact' }
}

interface LocalSummary {
  elbo: number
  rows: number
  kl: number
  klPerDim: Float64Array
}

/** Initial weights of one packed network (He-normal first layer, small heads). */
function initNetwork(rng: Rng, din: number, hid: number, dout: number): Float64Array {
  const p = new Float64Array(hid * din + hid + 2 * (dout * hid + dout))
  let o = 0
  const normals = (n: number, sd: number): void => {
    for (let i = 0; i < n; i++) p[o + i] = sd * rng.normal()
    o += n
  }
  normals(hid * din, Math.sqrt(2 / din)) // W1, He et al. (2015) for ReLU
  o += hid // b1 = 0
  normals(dout * hid, Math.sqrt(1 / hid)) // W2 (location head)
  o += dout // b2 = 0
  normals(dout * hid, 0.1 * Math.sqrt(1 / hid)) // W3 (scale head): scale starts near softplus(b3)
  p.fill(SCALE_BIAS_INIT, o, o + dout) // b3
  return p
}

/** Scale `g` in place so that its L2 norm is at most `max` (no-op when max is undefined). */
function clipNorm(g: Float64Array, max: number | null): void {
  if (max === null) return
  let s = 0
  for (let i = 0; i < g.length; i++) s += g[i] * g[i]
  const norm = Math.sqrt(s)
  if (norm > max) for (let i = 0; i < g.length; i++) g[i] *= max / norm
}

/** Why VAE training stopped (null: still training). */
export type VaeStopReason = 'validation' | 'plateau' | 'maxIter' | null

/** Early-stopping state in a saved VAE (params.earlyStopping; validated by ./index.ts). */
export interface VaeEarlyStoppingJson {
  /** Best network validation ELBO so far, its iteration and the parameters of that step (null: none measured yet). */
  best: { elbo: number; iteration: number; decoder: number[]; encoder: number[] } | null
  stopReason: VaeStopReason
}

export class VaeModelImpl {
  readonly kind = 'vae' as const
  private pre: Preprocessing | undefined
  private shapeValue: VaeShape | undefined
  private theta: Float64Array = new Float64Array(0)
  private phi: Float64Array = new Float64Array(0)
  private decOpt: Ascent | undefined
  private encOpt: Ascent | undefined
  private iter = 0
  private done = false
  private readonly traceList: TraceEntry[] = []
  private readonly history: number[] = []
  private local: LocalSummary | undefined
  private cache: { raw: Mat; data: Mat; clipped: number } | undefined
  private lastDp: { iteration: number; steps: number; batchRows: number; clippedRows: number } | undefined
  private noiseRng: NoiseRng | undefined
  private readonly injected: boolean
  /** This node's held-out validation rows (model coordinates), from training(). */
  private valData: Mat | null = null
  /** phi^s when the validation ELBO of the current localUpdate was measured. */
  private phiAtVal: Float64Array | null = null
  private best: { elbo: number; iteration: number; theta: Float64Array; phi: Float64Array } | null = null
  private reason: VaeStopReason = null

  /**
   * `noise`: the DP-SGD noise and sampling source (the node's secret generator); without
   * it a fresh OS-entropy SecretRng. It must be one peers cannot recompute.
   */
  constructor(
    readonly hyper: VaeHyper,
    noise?: NoiseRng,
    private readonly ledger?: PrivacyLedger,
  ) {
    this.noiseRng = noise
    this.injected = noise !== undefined
  }

  get dim(): number {
    return this.shapeValue?.features ?? 0
  }
  get iteration(): number {
    return this.iter
  }
  get converged(): boolean {
    return this.done
  }
  /** Why training stopped: early stopping on the network validation ELBO, the window plateau, or the cap. */
  get stopReason(): VaeStopReason {
    return this.reason
  }
  get trace(): readonly TraceEntry[] {
    return this.traceList
  }
  /** Network sizes (features M, hidden, latent d); throws before prepare(). */
  get shape(): VaeShape {
    return this.ready().shape
  }
  /** Training rows of the last localUpdate() moved by clipping (0 without clipRadius). */
  get clipped(): number {
    return this.cache?.clipped ?? 0
  }
  /** The agreed preprocessing (network mean and sd), or undefined before prepare(). */
  get preprocessing(): Preprocessing | undefined {
    return this.pre
  }
  /** Latest posterior-collapse report (from the last localUpdate()). */
  get collapse(): CollapseReport {
    const kl = this.local === undefined ? [] : Array.from(this.local.klPerDim)
    return { klPerDim: kl, collapsed: kl.length > 0 && kl.every((k) => k < this.hyper.collapseThreshold), threshold: this.hyper.collapseThreshold }
  }
  /** Copy of the shared decoder theta (packed, see src/numeric/vae.ts). */
  decoder(): Float64Array {
    return this.ready().theta.slice()
  }
  /** Copy of this node's private encoder phi^s (packed, see src/numeric/vae.ts). */
  encoder(): Float64Array {
    return this.ready().phi.slice()
  }

  private ready(): { shape: VaeShape; pre: Preprocessing; theta: Float64Array; phi: Float64Array; decOpt: Ascent; encOpt: Ascent } {
    if (this.shapeValue === undefined || this.pre === undefined || this.decOpt === undefined || this.encOpt === undefined) {
      throw new VaeStateError('the VAE is not initialised: call prepare(data, aggregate) (or importGlobal / loadVaeModel) first')
    }
    return { shape: this.shapeValue, pre: this.pre, theta: this.theta, phi: this.phi, decOpt: this.decOpt, encOpt: this.encOpt }
  }

  private rng(label: string): Rng {
    return new Rng(this.hyper.seed).fork(label)
  }

  private get nodeLabel(): string {
    return `vae/node/${String(this.hyper.node)}`
  }

  /** Set sizes and fresh parameters: theta from the shared seed, phi^s from the seed forked by node. */
  private initialise(features: number): void {
    const shape: VaeShape = { features, hidden: this.hyper.hidden, latent: this.hyper.latent }
    const len = vaeParamLengths(shape)
    this.shapeValue = shape
    this.theta = initNetwork(this.rng('vae/decoder-init'), shape.latent, shape.hidden, features)
    this.phi = initNetwork(this.rng(`${this.nodeLabel}/encoder-init`), features, shape.hidden, shape.latent)
    const opts = { beta1: this.hyper.adamBeta1, beta2: this.hyper.adamBeta2, epsilon: this.hyper.adamEpsilon }
    this.decOpt = new Ascent(this.hyper.optimizer, len.decoder, opts)
    this.encOpt = new Ascent(this.hyper.optimizer, len.encoder, opts)
    this.iter = 0
    this.done = false
    this.traceList.length = 0
    this.history.length = 0
    this.local = undefined
    this.cache = undefined
    this.valData = null
    this.phiAtVal = null
    this.best = null
    this.reason = null
  }

  /**
   * Agreed start: the network standardisation of src/models/preprocess.ts (one aggregate
   * of [n, sum x, sum x^2]); with standardise = false and no clipping the data are used
   * as given, and only the row count is summed (so a caller that already transformed its
   * rows, e.g. a local-only baseline with a constant column, needs no moments). Then theta
   * from the shared seed, phi^s from the seed forked by node.
   */
  async prepare(data: Mat, aggregate: Aggregate): Promise<void> {
    let pre: Preprocessing
    if (!this.hyper.missing && hasMissing(data)) {
      throw new VaeStateError('the training rows hold missing values (NaN): declare them in the data config (data.missing) or set the model hyper missing: true on every node')
    }
    if (this.hyper.standardise || this.hyper.clipRadius !== null || this.hyper.missing) {
      pre = await networkPreprocessing(data, aggregate, {
        standardise: this.hyper.standardise,
        radius: this.hyper.clipRadius,
        label: 'vae/preprocess',
        missing: this.hyper.missing,
      })
    } else {
      const count = (await aggregate(Float64Array.of(data.rows), 'vae/preprocess/count'))[0]
      const m = data.cols
      pre = { shift: new Float64Array(m), scale: new Float64Array(m).fill(1), m0: new Float64Array(m), radius: null, count }
    }
    this.initialise(data.cols)
    this.pre = pre
  }

  private training(data: Mat): Mat {
    const { pre } = this.ready()
    if (this.cache !== undefined && this.cache.raw === data) return this.cache.data
    if (data.rows < 1) throw new VaeStateError('localUpdate needs at least one row on this node')
    const t = preprocessTraining(data, pre)
    // early stopping: hold out a private share of the rows (the same ones every call)
    const nVal = Math.min(Math.floor(this.hyper.validation * t.data.rows), t.data.rows - 1)
    let train = t.data
    this.valData = null
    if (nVal >= 1) {
      const perm = this.rng(`${this.nodeLabel}/validation`).permutation(t.data.rows)
      this.valData = selectRows(t.data, perm.subarray(0, nVal))
      train = selectRows(t.data, perm.subarray(nVal))
    }
    this.cache = { raw: data, data: train, clipped: t.clipped }
    return train
  }

  /** ELBO sum of this node's validation rows at the current parameters (fixed draws per iteration). */
  private validationElbo(shape: VaeShape, phi: Float64Array, theta: Float64Array): { sum: number; rows: number } {
    const v = this.valData
    if (v === null) return { sum: 0, rows: 0 }
    const draws = new Float64Array(this.hyper.draws * v.rows * shape.latent)
    this.rng(`${this.nodeLabel}/validation/${this.iter}`).fillNormal(draws)
    return { sum: vaeElboGrad(shape, phi, theta, v, draws, this.floors()).elbo, rows: v.rows }
  }

  private floors(): { latentFloor: number; scaleFloor: number } {
    return { latentFloor: this.hyper.latentFloor, scaleFloor: this.hyper.scaleFloor }
  }

  /**
   * eq. 33-34: `localSteps` encoder ascent steps phi^s <- phi^s + eta dL^s/dphi^s (mean
   * gradient over the step's rows), each with fresh draws; returns the statistics vector
   * [dL^s/dtheta (decoder length), ELBO sum, row count] (decoder part and sums averaged
   * over the steps), whose network-wide sum optimize() consumes.
   *
   * With hyper.dpSgd each step is a DP-SGD step on the decoder part: Poisson batch at rate
   * q, per-sample decoder gradients clipped to C and summed, plus this node's noise share
   * N(0, z^2 C^2 / S); the row count entry is the expected batch size q n_s. The ELBO sum
   * is NOT privatised (it is a training read-out). The encoder (never shared) steps on its
   * jointly clipped, locally noised gradient (dpSgd.encoder 'dp') or on the exact batch
   * gradient ('exact'); see dpStep. privacyCost() then describes the step.
   */
  localUpdate(data: Mat): Float64Array {
    const { shape, theta, phi } = this.ready()
    const x = this.training(data)
    const P = theta.length
    const steps = this.hyper.localSteps
    const dp = this.hyper.dpSgd
    const out = new Float64Array(P + 4)
    const val = this.validationElbo(shape, phi, theta)
    out[P + 2] = val.sum
    out[P + 3] = val.rows
    this.phiAtVal = val.rows > 0 ? phi.slice() : null
    const klPerDim = new Float64Array(shape.latent)
    let kl = 0
    let batchRows = 0
    let clippedRows = 0
    const lrEnc = this.hyper.encoderLearningRate ?? this.hyper.learningRate
    for (let step = 0; step < steps; step++) {
      const rng = this.rng(`${this.nodeLabel}/round/${this.iter}/step/${step}`)
      let batch: Mat
      let noise: NoiseRng | undefined
      if (dp !== null) {
        noise = this.dpNoise()
        batch = selectRows(x, poissonBatch(x.rows, dp.sampleRate, noise))
      } else {
        const bs = this.hyper.batchSize
        batch = bs !== undefined && bs < x.rows ? selectRows(x, rng.permutation(x.rows).slice(0, bs)) : x
      }
      batchRows += batch.rows
      if (dp !== null && noise !== undefined) {
        const noisy = this.dpStep(batch, rng, noise, lrEnc, x.rows, steps, out, klPerDim)
        kl += noisy.kl
        clippedRows += noisy.clippedRows
        continue
      }
      const draws = new Float64Array(this.hyper.draws * batch.rows * shape.latent)
      rng.fillNormal(draws)
      const r = vaeElboGrad(shape, phi, theta, batch, draws, this.floors())
      this.encoderStep(r.gradEncoder, batch.rows, lrEnc)
      for (let i = 0; i < P; i++) out[i] += r.gradDecoder[i] / steps
      out[P] += r.elbo / steps
      out[P + 1] += batch.rows / steps
      kl += r.kl / batch.rows / steps
      for (let i = 0; i < shape.latent; i++) klPerDim[i] += r.klPerDim[i] / batch.rows / steps
    }
    this.local = { elbo: out[P] / Math.max(out[P + 1], 1e-300), rows: out[P + 1], kl, klPerDim }
    this.lastDp = dp === null ? undefined : { iteration: this.iter, steps, batchRows, clippedRows }
    // DP-SGD: charged to the node's ledger before the vector can be shared (throws past the budget)
    if (dp !== null && this.ledger !== undefined) chargeVaeStep(this, this.ledger)
    return out
  }

  /**
   * One DP-SGD step on the Poisson batch: per-sample gradients; with dpSgd.encoder 'dp'
   * each sample's encoder row and decoder row are clipped to C / sqrt(2) each (the pair
   * to C), the
   * encoder sum gets N(0, z^2 C^2) (this node's own noise: it never leaves the node) and
   * the step divides by the expected batch size q n_s; with 'exact' only the decoder row
   * is clipped and the encoder steps on the exact batch mean. The decoder sum gets this
   * node's share N(0, z^2 C^2 / S) and is added (divided by `steps`) into `out`, with the
   * ELBO sum and the expected row count q n_s. `rng` supplies the Monte-Carlo draws.
   */
  private dpStep(batch: Mat, rng: Rng, noise: NoiseRng, lrEnc: number, nodeRows: number, steps: number, out: Float64Array, klPerDim: Float64Array): { kl: number; clippedRows: number } {
    const { shape, theta, phi } = this.ready()
    const dp = this.hyper.dpSgd
    if (dp === null) throw new VaeStateError('dpStep needs hyper.dpSgd')
    const P = theta.length
    const Q = phi.length
    const expected = dp.sampleRate * nodeRows
    const dec = new Float64Array(P)
    const enc = new Float64Array(Q)
    let clippedRows = 0
    let kl = 0
    if (batch.rows > 0) {
      const draws = new Float64Array(this.hyper.draws * batch.rows * shape.latent)
      rng.fillNormal(draws)
      const r = vaeElboGradPerSample(shape, phi, theta, batch, draws, this.floors())
      const joint = dp.encoder === 'dp'
      // 'dp': each part clipped to C / sqrt(2), so the pair has norm <= C (sensitivity C)
      // and the decoder keeps a fixed share of the bound whatever the encoder's norm
      const bound = joint ? dp.clip / Math.SQRT2 : dp.clip
      const clipInto = (g: Float64Array, acc: Float64Array): boolean => {
        let ss = 0
        for (let i = 0; i < g.length; i++) ss += g[i] * g[i]
        const nrm = Math.sqrt(ss)
        const c = nrm > bound ? bound / nrm : 1
        for (let i = 0; i < g.length; i++) acc[i] += g[i] * c
        return c < 1
      }
      for (let n = 0; n < batch.rows; n++) {
        let hit = clipInto(r.gradDecoderRows.data.subarray(n * P, (n + 1) * P), dec)
        if (joint) hit = clipInto(r.gradEncoderRows.data.subarray(n * Q, (n + 1) * Q), enc) || hit
        if (hit) clippedRows++
      }
      if (!joint) this.encoderStep(r.gradEncoder, batch.rows, lrEnc)
      out[P] += r.elbo / steps
      kl = r.kl / batch.rows / steps
      for (let i = 0; i < shape.latent; i++) klPerDim[i] += r.klPerDim[i] / batch.rows / steps
    }
    if (dp.encoder === 'dp') {
      const std = dp.noiseMultiplier * dp.clip
      for (let i = 0; i < Q; i++) enc[i] += std * noise.normal()
      this.encoderStep(enc, Math.max(expected, 1e-300), lrEnc)
    }
    // distributed DP-SGD: this node's std z C / sqrt(S), so the network sum carries z C
    const share = (dp.noiseMultiplier * dp.clip) / Math.sqrt(dp.nodes)
    for (let i = 0; i < P; i++) out[i] += (dec[i] + share * noise.normal()) / steps
    out[P + 1] += expected / steps
    return { kl, clippedRows }
  }

  /** eq. 34 on the batch's summed encoder gradient g (modified in place). */
  private encoderStep(g: Float64Array, rows: number, lr: number): void {
    const { phi, encOpt } = this.ready()
    for (let i = 0; i < g.length; i++) g[i] /= rows
    clipNorm(g, this.hyper.maxGradNorm)
    encOpt.apply(phi, g, lr)
  }

  /**
   * Noise and Poisson-sampling source of DP-SGD: the injected secret generator, else one
   * fresh OS-entropy SecretRng (peers cannot recompute either).
   */
  private dpNoise(): NoiseRng {
    if (this.noiseRng === undefined) this.noiseRng = SecretRng.fromOsEntropy()
    return this.noiseRng
  }

  /**
   * RDP cost of the most recent localUpdate() under DP-SGD, or null (dpSgd off, or no
   * localUpdate yet): `localSteps` compositions of the Poisson-subsampled Gaussian at
   * q = dpSgd.sampleRate, noise multiplier z = dpSgd.noiseMultiplier (Mironov, Talwar &
   * Zhang 2019; dpSgdRdp), over `orders` (default DEFAULT_ORDERS; pass the ledger's).
   * Charge it once per localUpdate, before the vector is shared (chargeVaeStep).
   */
  privacyCost(orders: ArrayLike<number> = DEFAULT_ORDERS): VaePrivacyCost | null {
    const dp = this.hyper.dpSgd
    const last = this.lastDp
    if (dp === null || last === undefined) return null
    return {
      label: `vae/dp-sgd/iter/${last.iteration}`,
      rdp: dpSgdRdp(dp.sampleRate, dp.noiseMultiplier, last.steps, orders),
      orders: Float64Array.from(orders),
      details: {
        iteration: last.iteration,
        q: dp.sampleRate,
        noiseMultiplier: dp.noiseMultiplier,
        clip: dp.clip,
        nodes: dp.nodes,
        steps: last.steps,
        batchRows: last.batchRows,
        clippedRows: last.clippedRows,
        noise: this.injected ? 'injected' : 'os-entropy',
        encoder: dp.encoder,
      },
    }
  }

  /** eq. 35-36: theta <- theta + eta * (sum_s dL^s/dtheta) / N, identically on every node. */
  optimize(sums: Float64Array): void {
    const { theta, decOpt } = this.ready()
    const P = theta.length
    if (sums.length !== P + 4) throw new VaeStateError(`optimize got ${sums.length} values, expected ${P + 4} (the sum of localUpdate vectors)`)
    const n = sums[P + 1]
    if (!(n > 0)) throw new VaeStateError(`network sums carry ${n} rows: pass the sum of localUpdate() vectors`)
    if (!Number.isFinite(sums[P])) {
      throw new VaeStateError(`the network ELBO is ${sums[P]}: training diverged; lower learningRate or maxGradNorm, or use optimizer 'adam'`)
    }
    const valRows = sums[P + 3]
    const valElbo = valRows > 0 ? sums[P + 2] / valRows : NaN
    // the validation ELBO was measured at the parameters before this step: remember them if best
    if (valRows > 0 && (this.best === null || valElbo > this.best.elbo + this.hyper.tol * (Math.abs(this.best.elbo) + 1))) {
      this.best = { elbo: valElbo, iteration: this.iter, theta: theta.slice(), phi: this.phiAtVal ?? this.ready().phi.slice() }
    }
    const g = new Float64Array(P)
    for (let i = 0; i < P; i++) g[i] = sums[i] / n
    clipNorm(g, this.hyper.maxGradNorm)
    decOpt.apply(theta, g, this.hyper.learningRate)
    this.iter++
    const objective = sums[P] / n
    this.history.push(objective)
    const c = this.collapse
    const entry: TraceEntry = { iteration: this.iter, objective, rows: n, collapsed: c.collapsed }
    if (valRows > 0) entry.validationElbo = valElbo
    if (this.local !== undefined) {
      entry.nodeElbo = this.local.elbo
      entry.nodeKl = this.local.kl
      entry.klPerDim = c.klPerDim
    }
    this.traceList.push(entry)
    if (this.done) return
    if (this.best !== null && this.iter - this.best.iteration > this.hyper.patience) {
      // no better network validation ELBO for `patience` steps: every node returns to the best parameters
      theta.set(this.best.theta)
      this.ready().phi.set(this.best.phi)
      this.done = true
      this.reason = 'validation'
    } else if (this.plateau()) {
      this.done = true
      this.reason = 'plateau'
    } else if (this.iter >= this.hyper.maxIter) {
      this.done = true
      this.reason = 'maxIter'
    }
  }

  /** Window-mean network ELBO changed by less than tol * (|ELBO| + 1). */
  private plateau(): boolean {
    const w = this.hyper.window
    const h = this.history
    if (h.length < 2 * w) return false
    let a = 0
    let b = 0
    for (let i = 0; i < w; i++) {
      a += h[h.length - 1 - i] / w
      b += h[h.length - 1 - w - i] / w
    }
    return Math.abs(a - b) <= this.hyper.tol * (Math.abs(a) + 1)
  }

  /**
   * eq. 39-40: a(x) = -(1/J) sum_j ln N(x | mu(z_j), diag sigma(z_j)^2), z_j ~ q(z | x, phi^s),
   * J = scoreDraws, in standardised coordinates (the constant sum ln sd of the change of
   * units is left out: it shifts every score alike). Draws come from a fixed fork of the
   * seed, so the same model scores the same rows identically on every call.
   */
  score(samples: Mat): Float64Array {
    const { shape, pre, theta, phi } = this.ready()
    const x = this.modelRows(samples, pre)
    const out = new Float64Array(x.rows)
    const rng = this.rng(`${this.nodeLabel}/score`)
    const J = this.hyper.scoreDraws
    for (let lo = 0; lo < x.rows; lo += SCORE_CHUNK) {
      const hi = Math.min(x.rows, lo + SCORE_CHUNK)
      const chunk = { rows: hi - lo, cols: x.cols, data: x.data.subarray(lo * x.cols, hi * x.cols) }
      const draws = new Float64Array(J * chunk.rows * shape.latent)
      rng.fillNormal(draws)
      out.set(vaeScore(shape, phi, theta, chunk, draws, this.floors(), this.hyper.scoreKlWeight), lo)
    }
    return out
  }

  /** Standardised rows (a missing value stays NaN: the kernels handle it, src/numeric/vae.ts); NaN without `missing` is refused. */
  private modelRows(samples: Mat, pre: Preprocessing): Mat {
    if (!this.hyper.missing && hasMissing(samples)) throw new VaeStateError('the rows hold missing values (NaN) but the model was trained without missing: true')
    return standardise(samples, pre)
  }

  /** Mean ELBO, KL and reconstruction per sample of `data` at the current parameters (fixed draws, scoreDraws of them). */
  evaluate(data: Mat): VaeEvaluation {
    const { shape, pre, theta, phi } = this.ready()
    const x = this.modelRows(data, pre)
    if (x.rows < 1) throw new VaeStateError('evaluate needs at least one row')
    const rng = this.rng(`${this.nodeLabel}/evaluate`)
    const J = this.hyper.scoreDraws
    let elbo = 0
    let kl = 0
    let recon = 0
    const klPerDim = new Array<number>(shape.latent).fill(0)
    for (let lo = 0; lo < x.rows; lo += SCORE_CHUNK) {
      const hi = Math.min(x.rows, lo + SCORE_CHUNK)
      const chunk = { rows: hi - lo, cols: x.cols, data: x.data.subarray(lo * x.cols, hi * x.cols) }
      const draws = new Float64Array(J * chunk.rows * shape.latent)
      rng.fillNormal(draws)
      const r = vaeElboGrad(shape, phi, theta, chunk, draws, this.floors())
      elbo += r.elbo
      kl += r.kl
      recon += r.recon
      for (let i = 0; i < shape.latent; i++) klPerDim[i] += r.klPerDim[i]
    }
    const n = x.rows
    return { elbo: elbo / n, kl: kl / n, recon: recon / n, klPerDim: klPerDim.map((k) => k / n) }
  }

  save(): SavedModel {
    const { shape, pre, theta, phi, decOpt, encOpt } = this.ready()
    return {
      format: 'collabdict-model',
      version: VAE_FORMAT_VERSION,
      kind: 'vae',
      hyper: { ...this.hyper },
      numericBuild: buildId(),
      params: {
        features: shape.features,
        preprocessing: preprocessingToJson(pre),
        decoder: Array.from(theta),
        encoder: Array.from(phi),
        decoderOptimizer: Array.from(decOpt.exportState()),
        encoderOptimizer: Array.from(encOpt.exportState()),
        iteration: this.iter,
        converged: this.done,
        history: [...this.history],
        earlyStopping: this.earlyStoppingState(),
      },
      trace: this.traceList.map((t) => ({ ...t })),
    }
  }

  /** Restore from validated saved parameters (see ./index.ts loadVaeModel). */
  restore(p: {
    features: number
    preprocessing: PreprocessingJson
    decoder: number[]
    encoder: number[]
    decoderOptimizer: number[]
    encoderOptimizer: number[]
    iteration: number
    converged: boolean
    history: number[]
    earlyStopping?: VaeEarlyStoppingJson
  }, trace: TraceEntry[]): void {
    this.initialise(p.features)
    this.pre = preprocessingFromJson(p.preprocessing)
    const { theta, phi, decOpt, encOpt } = this.ready()
    if (p.decoder.length !== theta.length || p.encoder.length !== phi.length) {
      throw new VaeStateError(`saved parameters have ${p.encoder.length} / ${p.decoder.length} values, the hyper-parameters need ${phi.length} / ${theta.length}`)
    }
    theta.set(p.decoder)
    phi.set(p.encoder)
    decOpt.importState(p.decoderOptimizer)
    encOpt.importState(p.encoderOptimizer)
    if (this.pre.shift.length !== p.features) throw new VaeStateError('saved preprocessing does not match the feature count')
    this.iter = p.iteration
    this.done = p.converged
    this.history.push(...p.history)
    this.traceList.push(...trace)
    if (p.earlyStopping !== undefined) this.restoreEarlyStopping(p.earlyStopping, theta.length, phi.length)
  }

  /**
   * What early stopping needs to carry on where it was (a node restarted from its checkpoint
   * must stop at the same step with the same parameters as one that never stopped): the best
   * network validation ELBO, its iteration (patience counts from it) and the parameters of
   * that step, and why training stopped. Written by save(), read back by restore().
   */
  private earlyStoppingState(): VaeEarlyStoppingJson {
    const b = this.best
    return {
      best: b === null ? null : { elbo: b.elbo, iteration: b.iteration, decoder: Array.from(b.theta), encoder: Array.from(b.phi) },
      stopReason: this.reason,
    }
  }

  private restoreEarlyStopping(e: VaeEarlyStoppingJson, P: number, Q: number): void {
    const b = e.best
    if (b !== null) {
      if (b.decoder.length !== P || b.encoder.length !== Q) {
        throw new VaeStateError(`saved early-stopping parameters have ${b.encoder.length} / ${b.decoder.length} values, the hyper-parameters need ${Q} / ${P}; the checkpoint is damaged or from other hyper-parameters`)
      }
      if (b.iteration > this.iter) {
        throw new VaeStateError(`saved best validation step ${b.iteration} is after the saved iteration ${this.iter}; the checkpoint is damaged: delete it to start afresh`)
      }
      this.best = { elbo: b.elbo, iteration: b.iteration, theta: Float64Array.from(b.decoder), phi: Float64Array.from(b.encoder) }
    }
    this.reason = e.stopReason
  }

  /**
   * The shared part: [version, M, theta (P), decoder optimiser state (0 or 1 + 2P),
   * shift (M), scale (M), m0 (M), R (NaN = no clipping), network row count].
   * No private part (phi^s, encoder optimiser) is included.
   */
  exportGlobal(): { iteration: number; converged: boolean; state: Float64Array } {
    const { shape, pre, theta, decOpt } = this.ready()
    const M = shape.features
    const opt = decOpt.exportState()
    const state = new Float64Array(2 + theta.length + opt.length + 3 * M + 2)
    let o = 0
    state[o++] = VAE_FORMAT_VERSION
    state[o++] = M
    state.set(theta, o)
    o += theta.length
    state.set(opt, o)
    o += opt.length
    for (const v of [pre.shift, pre.scale, pre.m0]) {
      state.set(v, o)
      o += M
    }
    state[o++] = pre.radius ?? Number.NaN
    state[o] = pre.count
    return { iteration: this.iter, converged: this.done, state }
  }

  /** Adopt another node's exportGlobal(); keeps this node's encoder (initialised from the seed if it had none). */
  importGlobal(global: { iteration: number; converged: boolean; state: Float64Array }): void {
    const s = global.state
    if (s.length < 2 || s[0] !== VAE_FORMAT_VERSION || !Number.isInteger(s[1]) || s[1] < 1) {
      throw new VaeStateError(`not a VAE global state of format ${VAE_FORMAT_VERSION}: export it with exportGlobal() from a node of this network`)
    }
    const M = s[1]
    if (this.shapeValue === undefined || this.shapeValue.features !== M) this.initialise(M)
    const theta = this.theta
    const decOpt = this.decOpt as Ascent
    const expected = 2 + theta.length + decOpt.stateLength + 3 * M + 2
    if (s.length !== expected) {
      throw new VaeStateError(`global state has ${s.length} values, expected ${expected} for these hyper-parameters (hidden, latent, optimizer must match the network)`)
    }
    let o = 2
    theta.set(s.subarray(o, o + theta.length))
    o += theta.length
    decOpt.importState(s.subarray(o, o + decOpt.stateLength))
    o += decOpt.stateLength
    const take = (): Float64Array => {
      const v = s.slice(o, o + M)
      o += M
      return v
    }
    const shift = take()
    const scale = take()
    const m0 = take()
    const radius = Number.isNaN(s[o]) ? null : s[o]
    const count = s[o + 1]
    this.pre = { shift, scale, m0, radius, count }
    this.iter = global.iteration
    this.done = global.converged
    this.history.length = 0
    this.cache = undefined
  }
}
