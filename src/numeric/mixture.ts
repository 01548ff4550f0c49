/**
 * Batched Gaussian-mixture kernels of DESIGN.md eq. 12-13, computed by the WASM core
 * (wasm/src/mixture.rs). Components are precision-parameterised: Lambda_k is given and
 * its Cholesky factor is used, so no covariance is ever inverted here.
 * Shapes: X N x M (one sample per row), means K x M, precisions K matrices M x M (SPD),
 * logWeights K (ln pi_k; -Infinity marks an empty component).
 */
import { InvalidInputError, NotPositiveDefiniteError } from './errors.js'
import { mat, type Mat } from './matrix.js'
import { checkFinite, checkFiniteMat, checkSymmetric } from './validate.js'
import { core, f64view, readF64, WasmLoadError, withScratch, type CoreExports, type Scratch } from './wasm.js'

export interface EStepResult {
  /** N x K responsibilities r_nk (eq. 12), rows sum to 1. */
  resp: Mat
  /** N: ln sum_k pi_k N(x_n | mu_k, Lambda_k^{-1}). */
  logLik: Float64Array
  /** K: N_k = sum_n r_nk (eq. 13). */
  nk: Float64Array
  /** K x M: sum_n r_nk x_n (eq. 13). */
  sums: Mat
  /** K matrices M x M: sum_n r_nk x_n x_n^T (eq. 13), exactly symmetric. */
  scatter: Mat[]
  /** N x K: ln N(x_n | mu_k, Lambda_k^{-1}) (the same as gaussianLogDensities). */
  logDens: Mat
}

function checkModel(X: unknown, means: unknown, precisions: unknown): { n: number; m: number; k: number } {
  checkFiniteMat('X', X)
  checkFiniteMat('means', means)
  const m = X.cols
  if (means.cols !== m) throw new InvalidInputError(`means must have ${m} columns (one per feature of X), got ${means.rows} x ${means.cols}`)
  const k = means.rows
  if (!Array.isArray(precisions) || precisions.length !== k) {
    throw new InvalidInputError(`precisions must be an array of ${k} matrices (one per row of means), got ${Array.isArray(precisions) ? precisions.length : typeof precisions}`)
  }
  for (let c = 0; c < k; c++) {
    checkSymmetric(`precisions[${c}]`, precisions[c])
    const p = precisions[c] as Mat
    if (p.rows !== m) throw new InvalidInputError(`precisions[${c}] must be ${m} x ${m}, got ${p.rows} x ${p.cols}`)
  }
  return { n: X.rows, m, k }
}

function putPrecisions(s: Scratch, precisions: Mat[], m: number): number {
  const k = precisions.length
  const all = new Float64Array(k * m * m)
  for (let c = 0; c < k; c++) all.set(precisions[c].data, c * m * m)
  return s.put(all)
}

function precisionError(rc: number, m: number): NotPositiveDefiniteError {
  const c = Math.floor((rc - 1) / m)
  const p = (rc - 1) % m
  return new NotPositiveDefiniteError(
    `precisions[${c}] is not positive definite (Cholesky pivot ${p} <= 0): regularise that component's covariance (add a ridge, e.g. regCovar = 1e-6) before inverting it, or drop the component`,
    p,
  )
}

/** N x K matrix of ln N(x_n | mu_k, Lambda_k^{-1}) (eq. 12's densities, in log space). */
export function gaussianLogDensities(X: Mat, means: Mat, precisions: Mat[]): Mat {
  const { n, m, k } = checkModel(X, means, precisions)
  return withScratch((s, core) => {
    const px = s.put(X.data)
    const pm = s.put(means.data)
    const pp = putPrecisions(s, precisions, m)
    const po = s.f64(n * k)
    const rc = core.cd_gauss_logdens(px, n, m, pm, k, pp, po)
    if (rc !== 0) throw precisionError(rc, m)
    return mat(n, k, readF64(po, n * k))
  })
}

/**
 * E-step in one pass: log-sum-exp responsibilities (eq. 12), per-sample log-likelihood
 * and the sufficient statistics N_k, sum r x, sum r x x^T (eq. 13).
 */
export function eStep(X: Mat, logWeights: Float64Array, means: Mat, precisions: Mat[]): EStepResult {
  const { n, m, k } = checkModel(X, means, precisions)
  if (!(logWeights instanceof Float64Array) || logWeights.length !== k) {
    throw new InvalidInputError(`logWeights must be a Float64Array of length ${k} (ln pi_k per component)`)
  }
  let anyFinite = false
  for (let c = 0; c < k; c++) {
    const w = logWeights[c]
    if (Number.isNaN(w) || w === Infinity) throw new InvalidInputError(`logWeights[${c}] is ${w}: pass ln(pi_k), finite or -Infinity for an empty component`)
    if (Number.isFinite(w)) anyFinite = true
  }
  if (k > 0 && !anyFinite) throw new InvalidInputError('logWeights are all -Infinity: at least one component needs positive weight')
  if (k === 0 && n > 0) throw new InvalidInputError('eStep needs at least one component (means has 0 rows)')
  return withScratch((s, core) => {
    const px = s.put(X.data)
    const pw = s.put(logWeights)
    const pm = s.put(means.data)
    const pp = putPrecisions(s, precisions, m)
    const pr = s.f64(n * k)
    const pd = s.f64(n * k)
    const pl = s.f64(n)
    const pn = s.f64(k)
    const ps = s.f64(k * m)
    const pc = s.f64(k * m * m)
    const rc = core.cd_estep(px, n, m, pw, pm, k, pp, pr, pd, pl, pn, ps, pc)
    if (rc !== 0) throw precisionError(rc, m)
    return {
      resp: mat(n, k, readF64(pr, n * k)),
      logDens: mat(n, k, readF64(pd, n * k)),
      logLik: readF64(pl, n),
      ...readStats(pn, ps, pc, k, m),
    }
  })
}

function readStats(pn: number, ps: number, pc: number, k: number, m: number): { nk: Float64Array; sums: Mat; scatter: Mat[] } {
  const scatterAll = readF64(pc, k * m * m)
  const scatter: Mat[] = []
  for (let c = 0; c < k; c++) scatter.push(mat(m, m, scatterAll.slice(c * m * m, (c + 1) * m * m)))
  return { nk: readF64(pn, k), sums: mat(k, m, readF64(ps, k * m)), scatter }
}

/** Sufficient statistics of eq. 13 for given responsibilities resp (N x K, entries >= 0). */
export function mixtureStats(X: Mat, resp: Mat): { nk: Float64Array; sums: Mat; scatter: Mat[] } {
  checkFiniteMat('X', X)
  checkFiniteMat('resp', resp)
  if (resp.rows !== X.rows) throw new InvalidInputError(`resp must have one row per sample of X (${X.rows}), got ${resp.rows} x ${resp.cols}`)
  checkFinite('resp', resp.data, resp.cols)
  for (let i = 0; i < resp.data.length; i++) {
    if (resp.data[i] < 0) throw new InvalidInputError(`resp has a negative weight ${resp.data[i]} at row ${Math.floor(i / resp.cols)}: responsibilities must be >= 0`)
  }
  const n = X.rows
  const m = X.cols
  const k = resp.cols
  return withScratch((s: Scratch, core: CoreExports) => {
    const px = s.put(X.data)
    const pr = s.put(resp.data)
    const pn = s.f64(k)
    const ps = s.f64(k * m)
    const pc = s.f64(k * m * m)
    core.cd_mixture_stats(px, n, m, pr, k, pn, ps, pc)
    return readStats(pn, ps, pc, k, m)
  })
}

const residentBlocks = new FinalizationRegistry<{ ptr: number; bytes: number }>((b) => core().exports.cd_free(b.ptr, b.bytes))

/**
 * A mixture kept in WASM memory for repeated scoring (a loaded model behind the scoring API):
 * the means and the Cholesky factors of the precisions are copied and factored once, so a
 * request copies only its samples in and its log-densities out. The block is freed by
 * `dispose()`, or when the object is garbage-collected.
 */
export class ResidentMixture {
  readonly k: number
  readonly m: number
  private ptr: number
  private readonly bytes: number
  private readonly token = {}

  constructor(means: Mat, precisions: Mat[]) {
    checkFiniteMat('means', means)
    const m = means.cols
    const k = means.rows
    if (!Array.isArray(precisions) || precisions.length !== k) {
      throw new InvalidInputError(`precisions must be an array of ${k} matrices (one per row of means), got ${Array.isArray(precisions) ? precisions.length : typeof precisions}`)
    }
    for (let c = 0; c < k; c++) {
      checkSymmetric(`precisions[${c}]`, precisions[c])
      if (precisions[c].rows !== m) throw new InvalidInputError(`precisions[${c}] must be ${m} x ${m}, got ${precisions[c].rows} x ${precisions[c].cols}`)
    }
    this.k = k
    this.m = m
    // layout: means (k m) | U factors (k m m) | log-normalisers (k)
    this.bytes = Math.max(1, k * m + k * m * m + k) * 8
    const c = core().exports
    const ptr = c.cd_alloc(this.bytes)
    if (ptr === 0) throw new WasmLoadError(`wasm allocation of ${this.bytes} bytes failed (memory exhausted)`)
    this.ptr = ptr
    f64view(ptr, k * m).set(means.data)
    const rc = withScratch((s, kx) => kx.cd_mixture_prepare(putPrecisions(s, precisions, m), m, k, ptr + k * m * 8, ptr + (k * m + k * m * m) * 8))
    if (rc !== 0) {
      c.cd_free(ptr, this.bytes)
      this.ptr = 0
      throw precisionError(rc, m)
    }
    residentBlocks.register(this, { ptr, bytes: this.bytes }, this.token)
  }

  /** N x K matrix of ln N(x_n | mu_k, Lambda_k^{-1}), the same numbers as gaussianLogDensities. */
  logDensities(X: Mat): Mat {
    if (this.ptr === 0) throw new InvalidInputError('this ResidentMixture was disposed: create a new one from the model')
    checkFiniteMat('X', X)
    const { k, m } = this
    if (X.cols !== m) throw new InvalidInputError(`X must have ${m} columns (one per feature), got ${X.rows} x ${X.cols}`)
    const n = X.rows
    const ptr = this.ptr
    return withScratch((s, kx) => {
      const px = s.put(X.data)
      const po = s.f64(n * k)
      kx.cd_gauss_logdens_prepared(px, n, m, ptr, k, ptr + k * m * 8, ptr + (k * m + k * m * m) * 8, po)
      return mat(n, k, readF64(po, n * k))
    })
  }

  /** Free the WASM block now (idempotent). */
  dispose(): void {
    if (this.ptr === 0) return
    residentBlocks.unregister(this.token)
    core().exports.cd_free(this.ptr, this.bytes)
    this.ptr = 0
  }
}
