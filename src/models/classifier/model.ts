/**
 * The decentralised classifier as a `CollabModel`: one network every node holds identically
 * (no private part), trained by the same consensus as the CollabDict models. Not exported
 * from the package: build it with `createClassifier` / `loadClassifier` (./index.ts).
 *
 * Training rows are the node's features with the class label as the LAST column
 * (labels 0..classes-1); `dim` is the number of features. Scoring takes rows of `dim`
 * features (a training matrix with its label column is accepted and the label ignored).
 *
 * One round (Algorithm 1 with a classifier's statistics):
 *   aggregation 'gradient':  stats = [sum_n grad l_n(w) over the node's rows or its Poisson
 *                            sample, loss sum, rows]; optimize: w <- w - lr (sum grad / N + l2 W)
 *                            (full batch: exactly centralised gradient descent)
 *   aggregation 'model':     w_s = localEpochs of minibatch SGD from w on the node's rows;
 *                            stats = [|D_s| w_s, |D_s| loss, |D_s|]; optimize: w <- sum |D_s| w_s / sum |D_s|
 *                            (federated averaging, the global-DP paper's protocol)
 * with DP-SGD or mix-up noise added to the shared part before it leaves the node
 * (./privacy.ts), and local DP applied to the inputs once.
 */
import { selectRows, type Mat } from '../../numeric/matrix.js'
import { Rng } from '../../numeric/rng.js'
import { SecretRng } from '../../numeric/secret-rng.js'
import { buildId } from '../../numeric/wasm.js'
import { poissonBatch, type NoiseRng } from '../../privacy/mechanisms.js'
import type { Aggregate, SavedModel, TraceEntry } from '../model.js'
import {
  networkPreprocessing,
  preprocessingFromJson,
  preprocessingToJson,
  standardise,
  type Preprocessing,
  type PreprocessingJson,
} from '../preprocess.js'
import { Ascent } from '../vae/optimizer.js'
import type { ClassifierHyper } from './hyper.js'
import { gradientSum, initParams, meanLoss, paramCount, predictProba, weightMask, type NetShape } from './network.js'
import { chargeCost, dpSgdNoiseMultiplier, ldpCost, mixupSigma, perturbInputs, sharedCost, type ClassifierLedger, type PlannedCost } from './privacy.js'

/** Version of the saved form (`SavedModel.version`) and of the exportGlobal() layout. */
export const CLASSIFIER_FORMAT_VERSION = 1

/** Probability above which a binary classifier predicts class 1 (argmax of two probabilities). */
export const DECISION_THRESHOLD = 0.5

export class ClassifierStateError extends Error {
  override name = 'ClassifierStateError'
}

/** Training rows split into standardised (and, with ldp, perturbed) features and labels. */
interface TrainingRows {
  raw: Mat
  x: Mat
  y: Int32Array
}

/** What the last localUpdate did (for the trace and the reports). */
interface LastRound {
  batchRows: number
  clippedRows: number
  nodeLoss: number
}

/** Split a training matrix (label last) into features and integer labels in 0..classes-1. */
export function splitLabels(data: Mat, classes: number): { features: Mat; labels: Int32Array } {
  if (data.cols < 2) throw new ClassifierStateError(`training rows need at least one feature and the label column, got ${data.cols} column(s)`)
  const m = data.cols - 1
  const features = new Float64Array(data.rows * m)
  const labels = new Int32Array(data.rows)
  for (let i = 0; i < data.rows; i++) {
    features.set(data.data.subarray(i * data.cols, i * data.cols + m), i * m)
    const y = data.data[i * data.cols + m]
    if (!Number.isInteger(y) || y < 0 || y >= classes) {
      throw new ClassifierStateError(`row ${i}: label ${y} is not a class in 0..${classes - 1}; the label must be the last column of the training rows`)
    }
    labels[i] = y
  }
  return { features: { rows: data.rows, cols: m, data: features }, labels }
}

/** Append labels as the last column: the training layout the classifier reads. */
export function withLabels(features: Mat, labels: ArrayLike<number>): Mat {
  if (labels.length !== features.rows) throw new ClassifierStateError(`${features.rows} rows but ${labels.length} labels`)
  const m = features.cols
  const out = new Float64Array(features.rows * (m + 1))
  for (let i = 0; i < features.rows; i++) {
    out.set(features.data.subarray(i * m, (i + 1) * m), i * (m + 1))
    out[i * (m + 1) + m] = labels[i]
  }
  return { rows: features.rows, cols: m + 1, data: out }
}

/** Preprocessing that scales features to [0, 1] by public per-feature bounds (no data-dependent statistic). */
export function rangePreprocessing(bounds: { lower: number | number[]; upper: number | number[] }, M: number, count: number): Preprocessing {
  const expand = (v: number | number[], what: string): Float64Array => {
    if (!Array.isArray(v)) return new Float64Array(M).fill(v)
    if (v.length !== M) throw new ClassifierStateError(`bounds.${what} has ${v.length} values but the data have ${M} features; give one per feature`)
    return Float64Array.from(v)
  }
  const shift = expand(bounds.lower, 'lower')
  const upper = expand(bounds.upper, 'upper')
  const scale = new Float64Array(M)
  for (let j = 0; j < M; j++) {
    scale[j] = upper[j] - shift[j]
    if (!(scale[j] > 0)) throw new ClassifierStateError(`bounds: feature ${j + 1} has upper ${upper[j]} <= lower ${shift[j]}; upper must exceed lower`)
  }
  return { shift, scale, m0: new Float64Array(M), radius: null, count }
}

function l2norm(v: ArrayLike<number>): number {
  let s = 0
  for (let i = 0; i < v.length; i++) s += v[i] * v[i]
  return Math.sqrt(s)
}

export class ClassifierModelImpl {
  readonly kind = 'classifier' as const
  private pre: Preprocessing | undefined
  private shapeValue: NetShape | undefined
  private theta: Float64Array = new Float64Array(0)
  private mask: Uint8Array = new Uint8Array(0)
  private opt: Ascent | undefined
  private iter = 0
  private done = false
  private readonly traceList: TraceEntry[] = []
  private cache: TrainingRows | undefined
  private last: LastRound | undefined
  private noiseRng: NoiseRng | undefined
  private readonly injected: boolean
  private readonly ledger: ClassifierLedger | undefined
  /** Restored from a saved state: the round in flight at the crash may be shared again. */
  private resumed = false
  /** DP-SGD noise multiplier (calibrated once). */
  private z: number | undefined

  /**
   * `noise`: the node's secret generator for every privacy noise (DP-SGD noise and Poisson
   * sampling, mix-up noise, Laplace inputs); default a fresh OS-entropy SecretRng.
   * `ledger`: the node's privacy ledger, charged before any noised vector is shared.
   */
  constructor(
    readonly hyper: ClassifierHyper,
    options: { noise?: NoiseRng; ledger?: ClassifierLedger } = {},
  ) {
    this.noiseRng = options.noise
    this.injected = options.noise !== undefined
    this.ledger = options.ledger
  }

  get dim(): number {
    return this.shapeValue?.sizes[0] ?? 0
  }
  get iteration(): number {
    return this.iter
  }
  get converged(): boolean {
    return this.done
  }
  get trace(): readonly TraceEntry[] {
    return this.traceList
  }
  get classes(): number {
    return this.hyper.architecture === 'mlp' ? this.hyper.classes : 2
  }
  /** Probability of a non-reference class above which score() calls a row positive (binary: p(1) > 0.5). */
  get decisionThreshold(): number {
    return DECISION_THRESHOLD
  }
  get shape(): NetShape {
    return this.ready().shape
  }
  get preprocessing(): Preprocessing | undefined {
    return this.pre
  }
  /** Whether the loss sum is shared (not under DP-SGD or mix-up: it would leak unprotected). */
  get sharesLoss(): boolean {
    return this.hyper.dpSgd === null && this.hyper.mixup === null
  }
  /** Copy of the shared parameters (packed, see ./network.ts). */
  parameters(): Float64Array {
    return this.ready().theta.slice()
  }

  private ready(): { shape: NetShape; pre: Preprocessing; theta: Float64Array; opt: Ascent } {
    if (this.shapeValue === undefined || this.pre === undefined || this.opt === undefined) {
      throw new ClassifierStateError('the classifier is not initialised: call prepare(data, aggregate) (or importGlobal / loadClassifier) first')
    }
    return { shape: this.shapeValue, pre: this.pre, theta: this.theta, opt: this.opt }
  }

  private rng(label: string): Rng {
    return new Rng(this.hyper.seed).fork(label)
  }

  private get nodeLabel(): string {
    return `classifier/node/${String(this.hyper.node)}`
  }

  private noise(): NoiseRng {
    if (this.noiseRng === undefined) this.noiseRng = SecretRng.fromOsEntropy()
    return this.noiseRng
  }

  private initialise(features: number): void {
    const h = this.hyper
    const sizes = h.architecture === 'mlp' ? [features, ...h.hidden, h.classes] : [features, 1]
    const shape: NetShape = { sizes, head: h.architecture === 'mlp' ? 'softmax' : h.architecture }
    this.shapeValue = shape
    this.theta = initParams(shape, this.rng('classifier/init'))
    this.mask = weightMask(shape)
    this.opt = new Ascent(h.optimizer, paramCount(shape), { beta1: h.adamBeta1, beta2: h.adamBeta2, epsilon: h.adamEpsilon })
    this.iter = 0
    this.done = false
    this.traceList.length = 0
    this.cache = undefined
    this.last = undefined
  }

  /**
   * Agreed start: the network standardisation of the features (one aggregate of
   * [n, sum x, sum x^2], src/models/preprocess.ts), the initial weights from the shared
   * seed, and, under DP-SGD or mix-up, the whole training's cost charged to the ledger
   * (maxIter rounds) before anything noised is shared.
   */
  async prepare(data: Mat, aggregate: Aggregate): Promise<void> {
    const { features } = splitLabels(data, this.classes)
    const b = this.hyper.bounds
    const pre =
      b === null
        ? await networkPreprocessing(features, aggregate, { standardise: this.hyper.standardise, label: 'classifier/preprocess' })
        : rangePreprocessing(b, features.cols, (await aggregate(Float64Array.of(features.rows), 'classifier/preprocess/count'))[0])
    this.initialise(features.cols)
    this.pre = pre
    if (this.ledger !== undefined) {
      const cost = sharedCost(this.hyper, this.hyper.maxIter, data.rows, this.ledger.orders)
      if (cost !== null) chargeCost(this.ledger, cost, { noise: this.noiseOrigin, plan: 'whole training, charged before the first round' })
    }
  }

  private get noiseOrigin(): string {
    return this.injected ? 'injected' : 'os-entropy'
  }

  /** The node's rows in model coordinates (cached per data matrix); local DP is drawn (and charged) once. */
  private training(data: Mat): TrainingRows {
    if (this.cache !== undefined && this.cache.raw === data) return this.cache
    const { pre, shape } = this.ready()
    const { features, labels } = splitLabels(data, this.classes)
    if (features.cols !== shape.sizes[0]) throw new ClassifierStateError(`training rows have ${features.cols} features, the model ${shape.sizes[0]}`)
    let x = standardise(features, pre)
    // public bounds: training rows clipped into the range (scaled to [0, 1])
    if (this.hyper.bounds !== null) for (let i = 0; i < x.data.length; i++) x.data[i] = Math.min(1, Math.max(0, x.data[i]))
    const ldp = this.hyper.ldp
    if (ldp !== null) {
      if (this.ledger !== undefined) {
        const c = ldpCost(this.hyper, x.cols, this.ledger.orders)
        this.ledger.charge({
          kind: 'laplace-ldp',
          label: 'classifier local DP on inputs (Laplace, once per row)',
          audience: 'external',
          rdp: c.rdp,
          details: { epsilonPerRow: c.epsilon, scale: ldp.scale, clip: ldp.clip, features: x.cols, rows: x.rows, labels: 'not perturbed', noise: this.noiseOrigin },
        })
      }
      x = perturbInputs(x, ldp, this.noise())
    }
    this.cache = { raw: data, x, y: labels }
    return this.cache
  }

  /**
   * The statistics vector of this round (length P + 2: the shared part, the loss sum, the
   * row count), noised as the privacy options say. See the module comment.
   */
  localUpdate(data: Mat): Float64Array {
    const rows = this.training(data)
    if (this.resumed && this.ledger !== undefined) {
      // the round in flight at the crash may already have been shared with other noise
      const cost = sharedCost(this.hyper, 1, rows.x.rows, this.ledger.orders)
      if (cost !== null) chargeCost(this.ledger, cost, { noise: this.noiseOrigin, plan: `round ${this.iter} re-run after a restart` })
    }
    this.resumed = false
    return this.hyper.aggregation === 'gradient' ? this.gradientRound(rows) : this.modelRound(rows)
  }

  /** aggregation 'gradient': the (clipped, noised) gradient sum over the round's rows. */
  private gradientRound(rows: TrainingRows): Float64Array {
    const { shape, theta } = this.ready()
    const h = this.hyper
    const P = theta.length
    const n = rows.x.rows
    const dp = h.dpSgd
    let idx: number[] | null = null
    if (dp !== null) idx = poissonBatch(n, h.sampleRate, this.noise())
    else if (h.sampleRate < 1) idx = poissonBatch(n, h.sampleRate, this.rng(`${this.nodeLabel}/round/${this.iter}`))
    const x = idx === null ? rows.x : selectRows(rows.x, idx)
    const y = idx === null ? rows.y : Int32Array.from(idx, (i) => rows.y[i])
    const g = gradientSum(shape, theta, x, y, dp === null ? null : dp.clip)
    const out = new Float64Array(P + 2)
    out.set(g.grad)
    if (dp !== null) {
      // distributed DP-SGD: this node's share N(0, z^2 C^2 / S), so the network sum carries z C
      this.z ??= dpSgdNoiseMultiplier(h)
      const share = (this.z * dp.clip) / Math.sqrt(dp.nodes)
      const noise = this.noise()
      for (let i = 0; i < P; i++) out[i] += share * noise.normal()
    }
    out[P] = this.sharesLoss ? g.loss : 0
    // DP-SGD divides by the expected batch q N (the actual size is private)
    out[P + 1] = dp !== null ? h.sampleRate * n : x.rows
    this.last = { batchRows: x.rows, clippedRows: g.clipped, nodeLoss: x.rows > 0 ? g.loss / x.rows : Number.NaN }
    return out
  }

  /** aggregation 'model': localEpochs of minibatch SGD from the shared model; the weighted (clipped, noised) local model. */
  private modelRound(rows: TrainingRows): Float64Array {
    const { shape, theta } = this.ready()
    const h = this.hyper
    const P = theta.length
    const n = rows.x.rows
    const lossBefore = n > 0 ? meanLoss(shape, theta, rows.x, rows.y) : 0
    const w = theta.slice()
    const rng = this.rng(`${this.nodeLabel}/round/${this.iter}`)
    const bs = Math.min(h.batchSize ?? n, n)
    for (let e = 0; e < h.localEpochs && n > 0; e++) {
      const perm = bs < n ? rng.permutation(n) : null
      for (let lo = 0; lo < n; lo += bs) {
        const take = perm === null ? null : Array.from(perm.subarray(lo, Math.min(n, lo + bs)))
        const xb = take === null ? rows.x : selectRows(rows.x, take)
        const yb = take === null ? rows.y : Int32Array.from(take, (i) => rows.y[i])
        const g = gradientSum(shape, w, xb, yb)
        for (let i = 0; i < P; i++) w[i] -= h.learningRate * (g.grad[i] / xb.rows + h.l2 * this.mask[i] * w[i])
      }
    }
    const out = new Float64Array(P + 2)
    const m = h.mixup
    if (m !== null) {
      // the paper's clipping of the local model, then its mix-up noise
      const norm = l2norm(w)
      if (norm > m.clip) for (let i = 0; i < P; i++) w[i] *= m.clip / norm
      const sigma = mixupSigma(h, n)
      const noise = this.noise()
      if (m.noise === 'per-node') {
        for (let i = 0; i < P; i++) out[i] = n * (w[i] + sigma * noise.normal())
      } else {
        for (let i = 0; i < P; i++) out[i] = n * w[i] + sigma * noise.normal()
      }
    } else {
      for (let i = 0; i < P; i++) out[i] = n * w[i]
    }
    out[P] = this.sharesLoss ? n * lossBefore : 0
    out[P + 1] = n
    this.last = { batchRows: n, clippedRows: 0, nodeLoss: lossBefore }
    return out
  }

  /** One chunk-noise group for the shared parameters, one for the loss sum, one for the row count. */
  statsNoiseGroups(length: number): Int32Array {
    const g = new Int32Array(length)
    if (length >= 2) {
      g[length - 2] = 1
      g[length - 1] = 2
    }
    return g
  }

  /** The round's update from the network sums (identical on every node); see the module comment. */
  optimize(sums: Float64Array): void {
    const { theta, opt } = this.ready()
    const h = this.hyper
    const P = theta.length
    if (sums.length !== P + 2) throw new ClassifierStateError(`optimize got ${sums.length} values, expected ${P + 2} (the sum of localUpdate vectors)`)
    const N = sums[P + 1]
    if (!(N > 0)) throw new ClassifierStateError(`network sums carry ${N} rows: pass the sum of localUpdate() vectors`)
    let penalty = 0
    for (let i = 0; i < P; i++) if (this.mask[i] === 1) penalty += theta[i] * theta[i]
    const objective = this.sharesLoss ? sums[P] / N + (h.l2 / 2) * penalty : Number.NaN
    const entry: TraceEntry = { iteration: this.iter + 1, objective, rows: N }
    if (h.aggregation === 'gradient') {
      const g = new Float64Array(P)
      for (let i = 0; i < P; i++) g[i] = sums[i] / N + h.l2 * this.mask[i] * theta[i]
      const gradNorm = l2norm(g)
      if (!Number.isFinite(gradNorm)) throw new ClassifierStateError(`the network gradient is ${gradNorm}: training diverged; lower learningRate`)
      for (let i = 0; i < P; i++) g[i] = -g[i]
      opt.apply(theta, g, h.learningRate)
      entry.gradNorm = gradNorm
      const exact = h.dpSgd === null && h.sampleRate === 1
      if (exact && gradNorm <= h.tol) this.done = true
    } else {
      for (let i = 0; i < P; i++) theta[i] = sums[i] / N
      if (!theta.every(Number.isFinite)) throw new ClassifierStateError('the averaged model is not finite: training diverged; lower learningRate')
    }
    if (this.last !== undefined) {
      entry.nodeLoss = this.last.nodeLoss
      entry.batchRows = this.last.batchRows
      entry.clippedRows = this.last.clippedRows
    }
    this.iter++
    this.traceList.push(entry)
    this.done = this.done || this.iter >= h.maxIter
  }

  /** Class probabilities (rows x classes) of rows of `dim` features (a trailing label column is ignored). */
  probabilities(samples: Mat): Mat {
    const { shape, pre, theta } = this.ready()
    const m = shape.sizes[0]
    let x = samples
    if (samples.cols === m + 1) x = splitLabels(samples, this.classes).features
    else if (samples.cols !== m) throw new ClassifierStateError(`rows have ${samples.cols} values; the model expects ${m} features`)
    if (x.rows === 0) return { rows: 0, cols: this.classes, data: new Float64Array(0) }
    return predictProba(shape, theta, standardise(x, pre))
  }

  /** Most probable class of every row. */
  predict(samples: Mat): Int32Array {
    const p = this.probabilities(samples)
    const out = new Int32Array(p.rows)
    for (let i = 0; i < p.rows; i++) {
      let best = 0
      for (let k = 1; k < p.cols; k++) if (p.data[i * p.cols + k] > p.data[i * p.cols + best]) best = k
      out[i] = best
    }
    return out
  }

  /** 1 - p(class 0): the probability that a row is not of the reference class (binary: p(1)); higher = more likely positive. */
  score(samples: Mat): Float64Array {
    const p = this.probabilities(samples)
    const out = new Float64Array(p.rows)
    for (let i = 0; i < p.rows; i++) out[i] = 1 - p.data[i * p.cols]
    return out
  }

  /** Mean loss (no penalty) of labelled rows (label last) under the current model. */
  loss(data: Mat): number {
    const { shape, pre, theta } = this.ready()
    const { features, labels } = splitLabels(data, this.classes)
    return meanLoss(shape, theta, standardise(features, pre), labels)
  }

  /** What training costs (per the hyper-parameters), over `orders`: the shared mechanism for `rounds` rounds, and local DP per row. */
  privacyPlan(orders: readonly number[], nodeRows: number, rounds = this.hyper.maxIter): { shared: PlannedCost | null; ldp: { epsilon: number; rdp: Float64Array } | null } {
    return {
      shared: sharedCost(this.hyper, rounds, nodeRows, orders),
      ldp: this.hyper.ldp === null || this.dim === 0 ? null : ldpCost(this.hyper, this.dim, orders),
    }
  }

  save(): SavedModel {
    const { shape, pre, theta, opt } = this.ready()
    return {
      format: 'collabdict-model',
      version: CLASSIFIER_FORMAT_VERSION,
      kind: 'classifier',
      hyper: { ...this.hyper },
      numericBuild: buildId(),
      params: {
        features: shape.sizes[0],
        preprocessing: preprocessingToJson(pre),
        parameters: Array.from(theta),
        optimizer: Array.from(opt.exportState()),
        iteration: this.iter,
        converged: this.done,
      },
      trace: this.traceList.map((t) => ({ ...t })),
    }
  }

  /** Restore from validated saved parameters (see ./index.ts loadClassifier). */
  restore(p: { features: number; preprocessing: PreprocessingJson; parameters: number[]; optimizer: number[]; iteration: number; converged: boolean }, trace: TraceEntry[]): void {
    this.initialise(p.features)
    const { theta, opt } = this.ready0()
    if (p.parameters.length !== theta.length) {
      throw new ClassifierStateError(`saved parameters have ${p.parameters.length} values, the hyper-parameters need ${theta.length}`)
    }
    theta.set(p.parameters)
    opt.importState(p.optimizer)
    this.pre = preprocessingFromJson(p.preprocessing)
    if (this.pre.shift.length !== p.features) throw new ClassifierStateError('saved preprocessing does not match the feature count')
    this.iter = p.iteration
    this.done = p.converged
    this.traceList.push(...trace)
    this.resumed = true
  }

  /** theta and optimiser after initialise(), before preprocessing exists. */
  private ready0(): { theta: Float64Array; opt: Ascent } {
    if (this.opt === undefined) throw new ClassifierStateError('not initialised')
    return { theta: this.theta, opt: this.opt }
  }

  /** The shared part: [version, M, theta (P), optimiser state, shift (M), scale (M), network row count]. */
  exportGlobal(): { iteration: number; converged: boolean; state: Float64Array } {
    const { shape, pre, theta, opt } = this.ready()
    const M = shape.sizes[0]
    const os = opt.exportState()
    const state = new Float64Array(2 + theta.length + os.length + 2 * M + 1)
    let o = 0
    state[o++] = CLASSIFIER_FORMAT_VERSION
    state[o++] = M
    state.set(theta, o)
    o += theta.length
    state.set(os, o)
    o += os.length
    state.set(pre.shift, o)
    o += M
    state.set(pre.scale, o)
    o += M
    state[o] = pre.count
    return { iteration: this.iter, converged: this.done, state }
  }

  importGlobal(global: { iteration: number; converged: boolean; state: Float64Array }): void {
    const s = global.state
    if (s.length < 2 || s[0] !== CLASSIFIER_FORMAT_VERSION || !Number.isInteger(s[1]) || s[1] < 1) {
      throw new ClassifierStateError(`not a classifier global state of format ${CLASSIFIER_FORMAT_VERSION}: export it with exportGlobal() from a node of this network`)
    }
    const M = s[1]
    if (this.shapeValue === undefined || this.shapeValue.sizes[0] !== M) this.initialise(M)
    const { theta, opt } = this.ready0()
    const expected = 2 + theta.length + opt.stateLength + 2 * M + 1
    if (s.length !== expected) {
      throw new ClassifierStateError(`global state has ${s.length} values, expected ${expected} for these hyper-parameters (architecture, hidden, optimizer must match the network)`)
    }
    let o = 2
    theta.set(s.subarray(o, o + theta.length))
    o += theta.length
    opt.importState(s.subarray(o, o + opt.stateLength))
    o += opt.stateLength
    const shift = s.slice(o, o + M)
    const scale = s.slice(o + M, o + 2 * M)
    const count = s[o + 2 * M]
    this.pre = { shift, scale, m0: new Float64Array(M), radius: null, count }
    this.iter = global.iteration
    this.done = global.converged
    this.cache = undefined
  }
}
