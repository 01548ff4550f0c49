/**
 * External release of the GGM pattern dictionary with a Rényi-DP guarantee (Theorem 1 of
 * Idé, Phan, Raymond 2024), and the file format a third party loads and scores with.
 *
 * Mechanism: every surviving component's mean is published as a draw from its posterior,
 *   mu_k ~ N(w_k, (lambda_k Lambda_k)^-1),  lambda_k = lambda0 + Nbar_k,  w_k the MAP mean (eq. 15),
 * after enforcing the theorem's bounds: the eigenvalues of Lambda_k are clipped at B
 * (here, `clipEigenvalues`), samples were clipped to radius R/2 around m0 in preprocessing
 * (pairwise distance <= R; the model reports R, this module refuses to release without it),
 * and components with Nbar_k < minNbar (the paper's delta) are dropped.
 *
 * What Theorem 1 covers: the released means. If one training sample is moved anywhere in the
 * R-ball while the responsibilities r_k^(n), the counts Nbar_k and the precisions Lambda_k
 * are held fixed, w_k moves by r (x' - x) / lambda_k, so
 *   KL = sum_k lambda_k/2 dw_k^T Lambda_k dw_k <= sum_k B R^2 / (2 lambda_k) <= K B R^2 / (2 lambda0),
 * and the order-alpha Rényi divergence of the Gaussian pair is alpha times the same
 * quadratic: epsilon(alpha) = alpha K B R^2 / (2 lambda0). That curve is charged to the
 * ledger (audience `external`) BEFORE any draw; a refused charge means no release.
 *
 * What it does not cover (published as computed, without noise): the clipped precisions
 * Lambda_k, the mixture weights (derived from Nbar_k), the number of surviving components,
 * the standardisation (shift, scale), and the way one sample changes the responsibilities
 * of the EM fixed point. The released file says so in `privacy.covers` / `privacy.notCovered`.
 *
 * The noise must be unpredictable to everyone else: pass a `SecureNoiseRng` (./secure.ts)
 * for a real release. A seeded `Rng` whose seed others know (e.g. forked from the network's
 * agreed seed) lets them recompute and subtract the noise; use one only in simulations.
 */
import { z } from 'zod'
import { cholesky, clipEigenvalues, eigvalsh, solveTriangular } from '../numeric/linalg.js'
import { mat, type Mat } from '../numeric/matrix.js'
import { PrivacySettingsError } from './errors.js'
import type { LedgerEntry, PrivacyLedger } from './ledger.js'
import type { NoiseRng } from './mechanisms.js'
import { linearRdp } from './rdp.js'

export const RELEASE_FORMAT = 'collabdict-released-model'
export const RELEASE_VERSION = 1

/**
 * What the model hands to the release (compatible with GgmModel.release() of
 * src/models/ggm), in model coordinates.
 */
export interface ReleaseInput {
  /** Posterior means w_k (eq. 15), K x M. */
  means: Mat
  /** Precision matrices Lambda_k, K of M x M, symmetric positive definite. */
  precisions: Mat[]
  /** Network counts Nbar_k (length K). */
  nbar: Float64Array
  /** Prior strength lambda0 (> 0 for the theorem). */
  lambda0: number
  /** Prior mean and clip centre m0 (length M). */
  m0: Float64Array
  /** R: pairwise distance bound enforced by clipping training rows to radius R/2 around m0; null = not enforced. */
  radius: number | null
  /** Mixture weights for scoring (length K); default Nbar_k / sum Nbar. */
  weights?: Float64Array
  /** Stable component ids (length K), kept in the released file. */
  ids?: Int32Array
  /** Standardisation so a third party can score raw rows: z = (x - shift) / scale. */
  transform?: { shift: Float64Array; scale: Float64Array }
}

export interface ReleaseOptions {
  /** B: eigenvalue cap applied to every Lambda_k before release (> 0). */
  eigCap: number
  /** The paper's delta: components with Nbar_k < minNbar are dropped (>= 0). */
  minNbar: number
  /** Ledger label (default 'posterior release'). */
  label?: string
}

const OptionsSchema = z.object({
  eigCap: z.number().positive().finite(),
  minNbar: z.number().nonnegative().finite(),
  label: z.string().optional(),
})

const num = z.number().finite()
const ReleasedModelSchema = z.object({
  format: z.literal(RELEASE_FORMAT),
  version: z.literal(RELEASE_VERSION),
  kind: z.literal('ggm'),
  dim: z.number().int().positive(),
  K: z.number().int().positive(),
  means: z.array(z.array(num)),
  precisions: z.array(z.array(z.array(num))),
  weights: z.array(num.nonnegative()),
  ids: z.array(z.number().int()),
  transform: z.object({ shift: z.array(num), scale: z.array(num.positive()) }).nullable(),
  privacy: z.object({
    mechanism: z.literal('posterior-sampling'),
    reference: z.string(),
    lambda0: num.positive(),
    radius: num.positive(),
    eigCap: num.positive(),
    minNbar: num.nonnegative(),
    /** epsilon(1) = K B R^2 / (2 lambda0): the KL bound of Theorem 1; epsilon(alpha) = alpha * kl. */
    kl: num.nonnegative(),
    ledger: z.object({
      nodeId: z.string(),
      seq: z.number().int().nonnegative(),
      /** Cumulative external (epsilon, delta) of the node after this release. */
      epsilon: num.nonnegative(),
      delta: num,
      order: num,
      conversion: z.enum(['classic', 'improved']),
    }),
    covers: z.string(),
    notCovered: z.string(),
  }),
})

/** The file that leaves the network: versioned JSON any third party can load and score with. */
export type ReleasedModel = z.infer<typeof ReleasedModelSchema>

export class ReleasedModelError extends Error {
  override name = 'ReleasedModelError'
}

const COVERS =
  'the component means mu_k: (alpha, alpha*kl)-RDP for every alpha > 1 with respect to moving one training sample within the R-ball, ' +
  'responsibilities, counts and precisions held fixed (Theorem 1)'
const NOT_COVERED =
  'the clipped precisions Lambda_k, the weights (from Nbar_k), the number of components, the standardisation transform, ' +
  'and the influence of one sample on the EM responsibilities are published without noise'

/** The RDP cost of one release: epsilon(alpha) = alpha K B R^2 / (2 lambda0) (Theorem 1). */
export function releaseRdp(K: number, eigCap: number, radius: number, lambda0: number, orders: ArrayLike<number>): Float64Array {
  return linearRdp((K * eigCap * radius * radius) / (2 * lambda0), orders) // Theorem 1
}

/** Validate the theorem's settings; returns R. Throws PrivacySettingsError with what to configure. */
export function checkReleaseSettings(input: ReleaseInput, opts: ReleaseOptions): number {
  if (!(input.lambda0 > 0) || !Number.isFinite(input.lambda0)) {
    throw new PrivacySettingsError(
      `lambda0 must be > 0 for a private release (Theorem 1 divides by it), got ${input.lambda0}; train the GGM with estimator 'map' and lambda0 > 0`,
    )
  }
  if (input.radius === null || input.radius === undefined) {
    throw new PrivacySettingsError('R is missing: the guarantee needs training rows clipped to radius R/2 around m0; set the model\'s `radius` hyper-parameter and retrain')
  }
  if (!(input.radius > 0) || !Number.isFinite(input.radius)) throw new PrivacySettingsError(`R must be a positive finite number, got ${input.radius}`)
  const parsed = OptionsSchema.safeParse(opts)
  if (!parsed.success) {
    throw new PrivacySettingsError(
      `invalid release options: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}; ` +
        'eigCap is B (the cap on the eigenvalues of Lambda_k, > 0) and minNbar is the paper\'s delta (>= 0)',
    )
  }
  const K = input.precisions.length
  const M = input.means.cols
  if (input.means.rows !== K || input.nbar.length !== K || input.m0.length !== M) {
    throw new PrivacySettingsError(`inconsistent release input: ${input.means.rows} means, ${K} precisions, ${input.nbar.length} counts, m0 of length ${input.m0.length} for M = ${M}`)
  }
  return input.radius
}

/**
 * `count` draws from N(mean, P^-1) for a symmetric positive definite precision P
 * (P = L L^T, x = mean + L^-T z, z ~ N(0, I)). Returns count x M.
 */
export function samplePrecisionGaussian(mean: ArrayLike<number>, P: Mat, count: number, rng: NoiseRng): Mat {
  const M = P.rows
  const { L } = cholesky(P)
  const z = mat(M, count)
  for (let i = 0; i < z.data.length; i++) z.data[i] = rng.normal()
  const x = solveTriangular(L, z, { lower: true, transpose: true }) // M x count, cov P^-1
  const out = mat(count, M)
  for (let c = 0; c < count; c++) for (let a = 0; a < M; a++) out.data[c * M + a] = mean[a] + x.data[a * count + c]
  return out
}

function scaled(P: Mat, s: number): Mat {
  const d = new Float64Array(P.data.length)
  for (let i = 0; i < d.length; i++) d[i] = P.data[i] * s
  return mat(P.rows, P.cols, d)
}

/** Prepared (validated, clipped) release parameters, before any noise. */
export interface PreparedRelease {
  keep: number[]
  /** lambda_k = lambda0 + Nbar_k of the kept components. */
  lambdas: Float64Array
  /** Lambda_k with eigenvalues clipped at B (kept components). */
  clipped: Mat[]
  /** w_k of the kept components (K' x M). */
  means: Mat
  radius: number
  /** KL bound K B R^2 / (2 lambda0). */
  kl: number
}

/** Validate, drop Nbar_k < minNbar, clip eigenvalues at B (no randomness, no ledger). */
export function prepareRelease(input: ReleaseInput, opts: ReleaseOptions): PreparedRelease {
  const R = checkReleaseSettings(input, opts)
  const M = input.means.cols
  const keep: number[] = []
  for (let k = 0; k < input.nbar.length; k++) if (input.nbar[k] >= opts.minNbar && input.nbar[k] > 0) keep.push(k)
  if (keep.length === 0) throw new PrivacySettingsError(`every component has Nbar_k < minNbar = ${opts.minNbar}; nothing to release (lower minNbar)`)
  const clipped = keep.map((k) => {
    const c = clipEigenvalues(input.precisions[k], { max: opts.eigCap })
    const ev = eigvalsh(c)
    if (!(ev[0] > 0)) throw new PrivacySettingsError(`precision of component ${k} is not positive definite (smallest eigenvalue ${ev[0]}); the model is invalid`)
    return c
  })
  const means = mat(keep.length, M)
  keep.forEach((k, i) => means.data.set(input.means.data.subarray(k * M, (k + 1) * M), i * M))
  const lambdas = Float64Array.from(keep, (k) => input.lambda0 + input.nbar[k])
  return { keep, lambdas, clipped, means, radius: R, kl: (keep.length * opts.eigCap * R * R) / (2 * input.lambda0) }
}

/** Draw the released means from the posterior N(w_k, (lambda_k clip(Lambda_k))^-1), K' x M. */
export function drawReleasedMeans(p: PreparedRelease, rng: NoiseRng): Mat {
  const K = p.keep.length
  const M = p.means.cols
  const out = mat(K, M)
  for (let i = 0; i < K; i++) {
    const draw = samplePrecisionGaussian(p.means.data.subarray(i * M, (i + 1) * M), scaled(p.clipped[i], p.lambdas[i]), 1, rng)
    out.data.set(draw.data, i * M)
  }
  return out
}

/**
 * Release the model (Theorem 1): validate the settings, drop small components, clip
 * eigenvalues at B, charge epsilon(alpha) = alpha K B R^2 / (2 lambda0) to the ledger
 * (throws PrivacyBudgetExceededError and releases nothing when over budget), then draw
 * the means from the posterior and return the released model.
 */
export function release(input: ReleaseInput, rng: NoiseRng, ledger: PrivacyLedger, opts: ReleaseOptions): ReleasedModel {
  const p = prepareRelease(input, opts)
  const K = p.keep.length
  const M = input.means.cols
  const entry: LedgerEntry = ledger.charge({
    kind: 'release',
    audience: 'external',
    label: opts.label ?? 'posterior release',
    rdp: releaseRdp(K, opts.eigCap, p.radius, input.lambda0, ledger.orders),
    details: { K, dim: M, lambda0: input.lambda0, radius: p.radius, eigCap: opts.eigCap, minNbar: opts.minNbar, kl: p.kl },
  })
  const mus = drawReleasedMeans(p, rng)
  let weights: number[]
  if (input.weights) {
    weights = p.keep.map((k) => input.weights![k])
  } else {
    weights = p.keep.map((k) => input.nbar[k])
  }
  const wsum = weights.reduce((a, b) => a + b, 0)
  weights = weights.map((w) => w / wsum)
  const rows = (m: Mat): number[][] => Array.from({ length: m.rows }, (_, i) => Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols)))
  return {
    format: RELEASE_FORMAT,
    version: RELEASE_VERSION,
    kind: 'ggm',
    dim: M,
    K,
    means: rows(mus),
    precisions: p.clipped.map(rows),
    weights,
    ids: p.keep.map((k) => (input.ids ? input.ids[k] : k)),
    transform: input.transform ? { shift: Array.from(input.transform.shift), scale: Array.from(input.transform.scale) } : null,
    privacy: {
      mechanism: 'posterior-sampling',
      reference: 'Idé, Phan, Raymond 2024, Theorem 1',
      lambda0: input.lambda0,
      radius: p.radius,
      eigCap: opts.eigCap,
      minNbar: opts.minNbar,
      kl: p.kl,
      ledger: {
        nodeId: ledger.settings.nodeId,
        seq: entry.seq,
        epsilon: entry.epsilon,
        delta: ledger.settings.delta,
        order: entry.order,
        conversion: ledger.settings.conversion,
      },
      covers: COVERS,
      notCovered: NOT_COVERED,
    },
  }
}

/** Parse and validate a released model (e.g. JSON.parse of the file). Throws ReleasedModelError. */
export function loadReleasedModel(json: unknown): ReleasedModel {
  const r = ReleasedModelSchema.safeParse(json)
  if (!r.success) {
    throw new ReleasedModelError(`not a valid released model: ${r.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
  }
  const m = r.data
  const bad =
    m.means.length !== m.K || m.precisions.length !== m.K || m.weights.length !== m.K || m.ids.length !== m.K ||
    m.means.some((row) => row.length !== m.dim) ||
    m.precisions.some((P) => P.length !== m.dim || P.some((row) => row.length !== m.dim)) ||
    (m.transform !== null && (m.transform.shift.length !== m.dim || m.transform.scale.length !== m.dim))
  if (bad) throw new ReleasedModelError(`released model shapes disagree with K = ${m.K}, dim = ${m.dim}`)
  return m
}

/**
 * Plain mixture parameters for scoring (what a released model holds): K means (M each),
 * K precisions (M x M), weights, and an optional standardisation z = (x - shift) / scale.
 */
export interface MixtureParams {
  dim: number
  K: number
  means: ArrayLike<number>[]
  precisions: ArrayLike<number>[][] | Mat[]
  weights: ArrayLike<number>
  transform: { shift: ArrayLike<number>; scale: ArrayLike<number> } | null
}

interface Compiled {
  M: number
  K: number
  logW: Float64Array
  mus: Float64Array
  precs: Float64Array[]
  halfLogdet: Float64Array
  shift: Float64Array | null
  scale: Float64Array | null
}

const compiledCache = new WeakMap<object, Compiled>()

function flatPrecision(P: ArrayLike<number>[] | Mat, M: number): Float64Array {
  if ('data' in P && 'rows' in P) return Float64Array.from(P.data)
  const rows = P
  const out = new Float64Array(M * M)
  rows.forEach((r, i) => out.set(Array.from(r), i * M))
  return out
}

function compile(model: MixtureParams): Compiled {
  const hit = compiledCache.get(model)
  if (hit) return hit
  const M = model.dim
  const K = model.K
  const precs = (model.precisions as (ArrayLike<number>[] | Mat)[]).map((P) => flatPrecision(P, M))
  const mus = new Float64Array(K * M)
  model.means.forEach((m, k) => mus.set(Array.from(m), k * M))
  const c: Compiled = {
    M,
    K,
    logW: Float64Array.from(Array.from(model.weights), (w) => (w > 0 ? Math.log(w) : -Infinity)),
    mus,
    precs,
    halfLogdet: Float64Array.from(precs, (P) => 0.5 * cholesky(mat(M, M, P)).logdet),
    shift: model.transform ? Float64Array.from(model.transform.shift) : null,
    scale: model.transform ? Float64Array.from(model.transform.scale) : null,
  }
  compiledCache.set(model, c)
  return c
}

/** Per-row, per-component ln pi_k + ln N(z | mu_k, Lambda_k^-1), with z the transformed row. */
function componentLogDensities(c: Compiled, X: Mat): Float64Array {
  if (X.cols !== c.M) throw new ReleasedModelError(`samples have ${X.cols} columns, the released model expects ${c.M}`)
  const { M, K } = c
  const out = new Float64Array(X.rows * K)
  const z = new Float64Array(M)
  const d = new Float64Array(M)
  const halfLn2pi = 0.5 * M * Math.log(2 * Math.PI)
  for (let n = 0; n < X.rows; n++) {
    for (let a = 0; a < M; a++) {
      const x = X.data[n * M + a]
      z[a] = c.shift ? (x - c.shift[a]) / c.scale![a] : x
    }
    for (let k = 0; k < K; k++) {
      for (let a = 0; a < M; a++) d[a] = z[a] - c.mus[k * M + a]
      const P = c.precs[k]
      let q = 0
      for (let a = 0; a < M; a++) {
        let s = 0
        for (let b = 0; b < M; b++) s += P[a * M + b] * d[b]
        q += d[a] * s
      }
      out[n * K + k] = c.logW[k] - halfLn2pi + c.halfLogdet[k] - 0.5 * q
    }
  }
  return out
}

/** ln p(x) = ln sum_k pi_k N(x | mu_k, Lambda_k^-1) under the released model (model coordinates after transform). */
export function logDensityReleased(model: ReleasedModel, X: Mat): Float64Array {
  return logDensityMixture(model, X)
}

/** ln sum_k pi_k N(z | mu_k, Lambda_k^-1) for any mixture parameters (z the transformed row). */
export function logDensityMixture(model: MixtureParams, X: Mat): Float64Array {
  const c = compile(model)
  const lp = componentLogDensities(c, X)
  const out = new Float64Array(X.rows)
  for (let n = 0; n < X.rows; n++) out[n] = rowLogSumExp(lp, c.K, n)
  return out
}

/** ln sum_k exp(lp[n K + k]) of row n of an n x K table, shifted by its maximum. */
function rowLogSumExp(lp: Float64Array, K: number, n: number): number {
  let mx = -Infinity
  for (let k = 0; k < K; k++) mx = Math.max(mx, lp[n * K + k])
  let s = 0
  for (let k = 0; k < K; k++) s += Math.exp(lp[n * K + k] - mx)
  return mx + Math.log(s)
}

/**
 * Anomaly score with the released parameters (eq. 20):
 * a(x) = sum_k r_k(x) [M/2 ln 2pi - 1/2 ln|Lambda_k| + 1/2 (x - mu_k)^T Lambda_k (x - mu_k)],
 * r_k(x) the responsibilities under the released weights. Raw rows are transformed first
 * when the model carries a transform. Higher = more anomalous.
 */
export function scoreReleased(model: ReleasedModel, X: Mat): Float64Array {
  return scoreMixture(model, X)
}

/** eq. 20 for any mixture parameters (see scoreReleased). */
export function scoreMixture(model: MixtureParams, X: Mat): Float64Array {
  const c = compile(model)
  const lp = componentLogDensities(c, X)
  const out = new Float64Array(X.rows)
  for (let n = 0; n < X.rows; n++) {
    const lse = rowLogSumExp(lp, c.K, n)
    let a = 0
    for (let k = 0; k < c.K; k++) {
      const r = Math.exp(lp[n * c.K + k] - lse)
      if (r > 0) a -= r * (lp[n * c.K + k] - c.logW[k]) // eq. 20: -ln N(x | mu_k, Lambda_k^-1) weighted by r_k(x)
    }
    out[n] = a
  }
  return out
}
