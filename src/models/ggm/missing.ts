/**
 * Missing values in the GGM mixture (hyper `missing: true`): EM on the observed entries.
 *
 * A row x with observed coordinates o and missing ones m (NaN in model coordinates) enters
 * the E-step through its marginal density, and the M-step through the expectation of the
 * complete-data statistics under each component (the textbook EM for Gaussian mixtures with
 * values missing at random: Ghahramani & Jordan 1994, Little & Rubin ch. 11):
 *
 *   r_k(x)  proportional to  pi_k N(x_o | mu_k,o, Sigma_k,oo)
 *   E_k[x_m | x_o]      = xhat_k,m = mu_k,m + B_k (x_o - mu_k,o),   B_k = Sigma_k,mo Sigma_k,oo^-1
 *   Cov_k[x_m | x_o]    = C_k = Sigma_k,mm - B_k Sigma_k,om
 *   contribution to N_k, m_k, C_k:  r_k,  r_k xhat_k,  r_k (xhat_k xhat_k^T + [C_k on the m x m block])
 *
 * So a node's statistics vector keeps its layout and meaning (sums of expected sufficient
 * statistics), the network sums it unchanged, and the M-step, graphical lasso, drop vote and
 * selection are untouched; the objective and BIC use the observed-data log-likelihood
 * sum_n ln sum_k pi_k N(x_o), which EM increases. B_k and C_k depend only on the pattern of
 * missing coordinates, so they are computed once per (pattern, component) per E-step.
 *
 * Scores (eq. 20) of a row with missing entries: the expected complete-data score
 *   a(x) = -sum_k r_k(x_o) ( ln N(x_o | mu_k,o, Sigma_k,oo) + E_k[ln N(x_m | xhat_k,m, C_k)] ),
 *   E_k[ln N(x_m | xhat, C)] = -(|m| ln(2 pi e) + ln|C_k|) / 2,
 * on the scale of a complete row's a(x) (a marginal density alone would make rows with fewer
 * observed values look more normal just for having fewer terms).
 *
 * Complete rows keep the WASM kernels; only rows with a NaN take this path (TypeScript,
 * small dense blocks: the dimension is that of a table's features).
 */
import { cholesky, eStep, mat, spdInverse, type EStepResult, type Mat } from '../../numeric/index.js'

const LN_2PI = Math.log(2 * Math.PI)

/** Indices of the rows with at least one NaN. */
export function incompleteRows(z: Mat): Int32Array {
  const { rows: n, cols: m, data } = z
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      if (Number.isNaN(data[i * m + j])) {
        out.push(i)
        break
      }
    }
  }
  return Int32Array.from(out)
}

/** What a component needs for one pattern of missing coordinates. */
interface Block {
  o: Int32Array
  m: Int32Array
  /** Sigma_oo^-1, |o| x |o| row-major. */
  inv: Float64Array
  /** ln |Sigma_oo|. */
  logdet: number
  /** B = Sigma_mo Sigma_oo^-1, |m| x |o|. */
  B: Float64Array
  /** C = Sigma_mm - B Sigma_om, |m| x |m|. */
  C: Float64Array
  /** E_k[ln N(x_m | xhat, C)] = -(|m| ln(2 pi e) + ln|C|) / 2. */
  condTerm: number
}

function subBlock(S: Float64Array, M: number, rows: Int32Array, cols: Int32Array): Float64Array {
  const out = new Float64Array(rows.length * cols.length)
  for (let a = 0; a < rows.length; a++) for (let b = 0; b < cols.length; b++) out[a * cols.length + b] = S[rows[a] * M + cols[b]]
  return out
}

function symmetric(S: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n)
  for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) out[a * n + b] = 0.5 * (S[a * n + b] + S[b * n + a])
  return out
}

function block(S: Float64Array, M: number, mask: Uint8Array): Block {
  const o: number[] = []
  const m: number[] = []
  for (let j = 0; j < M; j++) (mask[j] === 1 ? m : o).push(j)
  const oi = Int32Array.from(o)
  const mi = Int32Array.from(m)
  const no = oi.length
  const nm = mi.length
  const { inverse, logdet } = spdInverse(mat(no, no, symmetric(subBlock(S, M, oi, oi), no)))
  const inv = inverse.data
  const Smo = subBlock(S, M, mi, oi)
  const B = new Float64Array(nm * no)
  for (let a = 0; a < nm; a++) {
    for (let b = 0; b < no; b++) {
      let s = 0
      for (let c = 0; c < no; c++) s += Smo[a * no + c] * inv[c * no + b]
      B[a * no + b] = s
    }
  }
  const C = subBlock(S, M, mi, mi)
  for (let a = 0; a < nm; a++) {
    for (let b = 0; b < nm; b++) {
      let s = 0
      for (let c = 0; c < no; c++) s += B[a * no + c] * Smo[b * no + c]
      C[a * nm + b] -= s
    }
  }
  const Cs = symmetric(C, nm)
  const condTerm = -0.5 * (nm * (LN_2PI + 1) + cholesky(mat(nm, nm, Cs)).logdet)
  return { o: oi, m: mi, inv, logdet, B, C: Cs, condTerm }
}

/**
 * Per-(pattern, component) blocks for the given covariances, built on first use. One
 * instance per E-step or scoring call (the covariances change at every optimize).
 */
class Blocks {
  private readonly cache = new Map<string, Block[]>()
  constructor(
    private readonly covariances: readonly Mat[],
    private readonly M: number,
  ) {}

  of(row: Float64Array): Block[] {
    const mask = new Uint8Array(this.M)
    let key = ''
    for (let j = 0; j < this.M; j++) {
      mask[j] = Number.isNaN(row[j]) ? 1 : 0
      key += mask[j]
    }
    let bs = this.cache.get(key)
    if (bs === undefined) {
      if (!mask.includes(0)) throw new RangeError('a row with every value missing cannot be scored or fitted; drop it')
      bs = this.covariances.map((S) => block(S.data, this.M, mask))
      this.cache.set(key, bs)
    }
    return bs
  }
}

/** ln N(x_o | mu_o, Sigma_oo) and the residual d = x_o - mu_o (written into d). */
function marginal(row: Float64Array, mu: Float64Array, b: Block, d: Float64Array): number {
  const no = b.o.length
  for (let a = 0; a < no; a++) d[a] = row[b.o[a]] - mu[b.o[a]]
  let q = 0
  for (let a = 0; a < no; a++) {
    let s = 0
    for (let c = 0; c < no; c++) s += b.inv[a * no + c] * d[c]
    q += d[a] * s
  }
  return -0.5 * (q + b.logdet + no * LN_2PI)
}

/** Log-sum-exp of v into responsibilities r (in place) and the log-normaliser. */
function normalise(v: Float64Array, r: Float64Array): number {
  let mx = -Infinity
  for (const x of v) mx = Math.max(mx, x)
  let s = 0
  for (let k = 0; k < v.length; k++) {
    r[k] = Math.exp(v[k] - mx)
    s += r[k]
  }
  for (let k = 0; k < v.length; k++) r[k] /= s
  return mx + Math.log(s)
}

/**
 * The E-step of model.ts (eq. 12-13) for rows that may hold NaN: complete rows through the
 * WASM kernel, incomplete rows as in the module comment. Same result shape as eStep; logDens
 * of an incomplete row is its marginal ln N(x_o | mu_k,o, Sigma_k,oo).
 */
export function eStepMissing(z: Mat, logWeights: Float64Array, means: Mat, precisions: Mat[], covariances: Mat[]): EStepResult {
  const miss = incompleteRows(z)
  if (miss.length === 0) return eStep(z, logWeights, means, precisions)
  const { rows: N, cols: M } = z
  const K = means.rows
  const isMissing = new Uint8Array(N)
  for (const i of miss) isMissing[i] = 1
  const complete: number[] = []
  for (let i = 0; i < N; i++) if (isMissing[i] === 0) complete.push(i)
  const sub = mat(complete.length, M)
  complete.forEach((i, r) => sub.data.set(z.data.subarray(i * M, (i + 1) * M), r * M))
  const part = eStep(sub, logWeights, means, precisions)
  const resp = mat(N, K)
  const logDens = mat(N, K)
  const logLik = new Float64Array(N)
  complete.forEach((i, r) => {
    resp.data.set(part.resp.data.subarray(r * K, (r + 1) * K), i * K)
    logDens.data.set(part.logDens.data.subarray(r * K, (r + 1) * K), i * K)
    logLik[i] = part.logLik[r]
  })
  const nk = Float64Array.from(part.nk)
  const sums = mat(K, M, Float64Array.from(part.sums.data))
  const scatter = part.scatter.map((S) => mat(M, M, Float64Array.from(S.data)))
  const blocks = new Blocks(covariances, M)
  const d = new Float64Array(M)
  const v = new Float64Array(K)
  const r = new Float64Array(K)
  const xhat = new Float64Array(M)
  for (const i of miss) {
    const row = z.data.subarray(i * M, (i + 1) * M)
    const bs = blocks.of(row)
    for (let k = 0; k < K; k++) {
      logDens.data[i * K + k] = marginal(row, means.data.subarray(k * M, (k + 1) * M), bs[k], d)
      v[k] = logWeights[k] + logDens.data[i * K + k]
    }
    logLik[i] = normalise(v, r)
    resp.data.set(r, i * K)
    for (let k = 0; k < K; k++) {
      const w = r[k]
      if (w === 0) continue
      const b = bs[k]
      const mu = means.data.subarray(k * M, (k + 1) * M)
      const no = b.o.length
      const nm = b.m.length
      for (let a = 0; a < no; a++) d[a] = row[b.o[a]] - mu[b.o[a]]
      for (let a = 0; a < no; a++) xhat[b.o[a]] = row[b.o[a]]
      for (let a = 0; a < nm; a++) {
        let s = mu[b.m[a]]
        for (let c = 0; c < no; c++) s += b.B[a * no + c] * d[c]
        xhat[b.m[a]] = s
      }
      nk[k] += w
      const S = scatter[k].data
      for (let a = 0; a < M; a++) {
        sums.data[k * M + a] += w * xhat[a]
        for (let c = 0; c < M; c++) S[a * M + c] += w * xhat[a] * xhat[c]
      }
      for (let a = 0; a < nm; a++) for (let c = 0; c < nm; c++) S[b.m[a] * M + b.m[c]] += w * b.C[a * nm + c]
    }
  }
  return { resp, logLik, nk, sums, scatter, logDens }
}

/**
 * Per row with missing values: the mixture's log-density on the observed entries plus the
 * expected log-density of the missing ones, and eq. 20's expected complete-data score, for
 * the given weights (module comment). `rows` are indices into z; results follow their order.
 */
export function scoreIncomplete(
  z: Mat,
  rows: Int32Array,
  logWeights: Float64Array,
  means: Mat,
  covariances: Mat[],
): { logLik: Float64Array; score: Float64Array } {
  const M = z.cols
  const K = means.rows
  const blocks = new Blocks(covariances, M)
  const d = new Float64Array(M)
  const dens = new Float64Array(K)
  const v = new Float64Array(K)
  const r = new Float64Array(K)
  const logLik = new Float64Array(rows.length)
  const score = new Float64Array(rows.length)
  rows.forEach((i, n) => {
    const row = z.data.subarray(i * M, (i + 1) * M)
    const bs = blocks.of(row)
    for (let k = 0; k < K; k++) {
      dens[k] = marginal(row, means.data.subarray(k * M, (k + 1) * M), bs[k], d)
      v[k] = logWeights[k] + dens[k]
    }
    const lse = normalise(v, r)
    let expected = 0
    let a = 0
    for (let k = 0; k < K; k++) {
      expected += r[k] * bs[k].condTerm
      a -= r[k] * (dens[k] + bs[k].condTerm)
    }
    logLik[n] = lse + expected
    score[n] = a
  })
  return { logLik, score }
}
