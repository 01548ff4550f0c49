/**
 * The network chooses the GGM's number of components K and l1 penalty rho (K: 'auto'),
 * without pooling rows: every quantity the choice reads is a network sum through the
 * same `aggregate` as the learning loop, so S nodes choose exactly what one node holding
 * every row would choose (test/models/ggm/select.test.ts).
 *
 *  1. Seeding (greedy k-means++ with shared candidates): at step j every node draws the
 *     same C candidate centres from N(network mean, network covariance) (shared seed; no
 *     node's rows are ever a candidate), scores each by its rows' potential
 *     sum_n min(D_n, ||z_n - c||^2), the network sums the scores, and every node keeps the
 *     candidate with the lowest network potential. kMax steps give the seeds of every
 *     K <= kMax (k-means++ is sequential: the first K centres seed K); `restarts` seedings
 *     run side by side from different forks of the seed.
 *  2. Lloyd steps: per seeding and K, network sums of the rows nearest each centre
 *     (count, sum, squared distance) move the centres; the start of EM is these centres,
 *     the network covariance scaled to each cluster's spread, and the cluster shares.
 *  3. Stage 1 (K): every (K, restart) runs `iterK` EM iterations at rho = select.rhoK (0:
 *     full covariances, as the reference GaussianMixture; no graphical lasso, so it is fast),
 *     all candidates packed in one statistics vector per iteration (one consensus per
 *     iteration, not one per candidate), with shared weights (classic distributed EM, so
 *     the sums are exactly the pooled fit's). One more E-step gives each candidate's
 *     network log-likelihood LL; per K the restart with the highest LL is kept; the K with
 *     the lowest BIC = -2 LL + df ln N wins, df = (K - 1) + K M + the non-zero entries of
 *     the upper triangles of Lambda_k (the graphical lasso's degrees of freedom).
 *  4. Stage 2 (rho): at that K, each rho in `rhos` continues from the stage-1 fit for
 *     `iterRho` iterations; the lowest BIC wins.
 * Each choice is confirmed by a vote (one-hot, summed): if consensus error ever made two
 * nodes rank near-equal candidates differently, every node still takes the majority's.
 */
import { Rng, spdInverse } from '../../numeric/index.js'
import { mat, type Mat } from '../../numeric/matrix.js'
import type { Aggregate } from '../model.js'
import type { GgmHyper } from './hyper.js'

/** What the selection needs from a candidate fit (a GGM mixture with fixed K and rho). */
export interface SelectionCandidate {
  readonly K: number
  localUpdate(data: Mat): Float64Array
  optimize(sums: Float64Array): void
  /** Current means (K x M), precisions and weights. */
  snapshot(): { means: Mat; precisions: Mat[]; weights: Float64Array }
}

/** Creates a candidate with K components, penalty rho, from an explicit start (all nodes identically). */
export type CandidateFactory = (K: number, rho: number, start: { means: Mat; precisions: Mat[]; weights: Float64Array }) => SelectionCandidate

/** One row of the selection table (every node holds the same table). */
export interface SelectionRow {
  stage: 'K' | 'rho'
  K: number
  rho: number
  restart: number
  /** Components left after drops. */
  Kfinal: number
  /** Network log-likelihood (sum over all rows). */
  logLik: number
  df: number
  bic: number
  /** A candidate whose fit failed (ill-conditioned) is skipped. */
  failed: boolean
}

export interface GgmSelection {
  K: number
  rho: number
  restart: number
  /** Network row count N of the BIC. */
  rows: number
  table: SelectionRow[]
  /** Consensus sessions the selection used. */
  sessions: number
}

/** Candidate centres drawn per k-means++ step (greedy k-means++ uses 2 + ln k; shared candidates need more). */
export const SEED_CANDIDATES = 16
/** Lloyd steps after seeding. */
export const LLOYD_STEPS = 20

/** Longest vector any selection session sends (the host's frame limit must allow it). */
export function selectionPayloadLength(h: GgmHyper, M: number): number {
  const { kMax, restarts, rhos } = h.select
  const block = 1 + M + (M * (M + 1)) / 2
  let stage1 = 0
  for (let K = 1; K <= kMax; K++) stage1 += (K === 1 ? 1 : restarts) * (2 + K * block)
  const stage2 = rhos.length * (2 + kMax * block)
  let lloyd = 1 // the count of changed assignments
  for (let K = 1; K <= kMax; K++) lloyd += (K === 1 ? 1 : restarts) * K * (M + 2)
  const votes = stage1
  return Math.max(stage1, stage2, lloyd, restarts * SEED_CANDIDATES, votes)
}

interface Env {
  z: Mat
  data: Mat
  aggregate: Aggregate
  sessions: number
}

async function sum(env: Env, vec: Float64Array, label: string, noiseGroups?: Int32Array): Promise<Float64Array> {
  env.sessions++
  return env.aggregate(vec, `ggm/select:${label}`, noiseGroups === undefined ? undefined : { noiseGroups })
}

function sqDist(z: Mat, n: number, c: ArrayLike<number>, at: number): number {
  const M = z.cols
  let d = 0
  for (let a = 0; a < M; a++) {
    const v = z.data[n * M + a] - c[at + a]
    d += v * v
  }
  return d
}

/** Step 1: `restarts` greedy k-means++ seedings of kMax centres each (kMax x M per restart). */
async function seedCenters(env: Env, mean: Float64Array, L: Mat, kMax: number, restarts: number, seed: GgmHyper['seed']): Promise<Mat[]> {
  const { z } = env
  const M = z.cols
  const N = z.rows
  const C = SEED_CANDIDATES
  const centers = Array.from({ length: restarts }, () => mat(kMax, M))
  const D = Array.from({ length: restarts }, () => new Float64Array(N).fill(Infinity))
  const e = new Float64Array(M)
  for (let j = 0; j < kMax; j++) {
    const cands = new Float64Array(restarts * C * M)
    for (let r = 0; r < restarts; r++) {
      const rng = new Rng(seed).fork(`ggm/kmeans++/${r}/${j}`)
      for (let c = 0; c < C; c++) {
        rng.fillNormal(e)
        const at = (r * C + c) * M
        for (let a = 0; a < M; a++) {
          let v = mean[a]
          for (let b = 0; b <= a; b++) v += L.data[a * M + b] * e[b]
          cands[at + a] = v
        }
      }
    }
    const local = new Float64Array(restarts * C)
    for (let r = 0; r < restarts; r++) {
      for (let c = 0; c < C; c++) {
        let pot = 0
        for (let n = 0; n < N; n++) pot += Math.min(D[r][n], sqDist(z, n, cands, (r * C + c) * M))
        local[r * C + c] = pot
      }
    }
    const pots = await sum(env, local, `seed:${j}`)
    for (let r = 0; r < restarts; r++) {
      let best = 0
      for (let c = 1; c < C; c++) if (pots[r * C + c] < pots[r * C + best]) best = c
      const at = (r * C + best) * M
      centers[r].data.set(cands.subarray(at, at + M), j * M)
      for (let n = 0; n < N; n++) D[r][n] = Math.min(D[r][n], sqDist(z, n, cands, at))
    }
  }
  return centers
}

interface Seeded {
  K: number
  restart: number
  means: Mat
  /** Cluster count and mean squared distance to the centre, per component. */
  counts: Float64Array
  spread: Float64Array
}

/**
 * Step 2: Lloyd steps for every (K, restart) at once (K in `Ks`; K = 1 needs one restart);
 * returns the EM starts. Each pass's vector ends with this node's count of rows whose
 * nearest centre changed since the previous pass (in any clustering). When the network's
 * count is 0 no assignment moved, so the next centres would equal the current ones (the
 * same rows summed) and every later pass would repeat this one: the steps stop there, with
 * the counts and spreads this pass measured, exactly where LLOYD_STEPS passes would end.
 * The count is an integer summed in its own chunk-noise group (consensus error << 1/2), so
 * every node stops at the same pass.
 */
async function lloyd(env: Env, centers: Mat[], Ks: number[], restarts: number): Promise<Seeded[]> {
  const { z } = env
  const M = z.cols
  const seeds: Seeded[] = []
  for (const K of Ks) {
    for (let r = 0; r < (K === 1 ? 1 : restarts); r++) {
      seeds.push({ K, restart: r, means: mat(K, M, centers[r].data.slice(0, K * M)), counts: new Float64Array(K), spread: new Float64Array(K) })
    }
  }
  const assigned = seeds.map(() => new Int32Array(z.rows).fill(-1))
  for (let t = 0; t <= LLOYD_STEPS; t++) {
    let len = 1
    for (const s of seeds) len += s.K * (M + 2)
    const local = new Float64Array(len)
    let at = 0
    let changed = 0
    for (const [si, s] of seeds.entries()) {
      for (let n = 0; n < z.rows; n++) {
        let best = 0
        let bd = Infinity
        for (let k = 0; k < s.K; k++) {
          const d = sqDist(z, n, s.means.data, k * M)
          if (d < bd) {
            bd = d
            best = k
          }
        }
        if (assigned[si][n] !== best) changed++
        assigned[si][n] = best
        const o = at + best * (M + 2)
        local[o] += 1
        local[o + 1] += bd
        for (let a = 0; a < M; a++) local[o + 2 + a] += z.data[n * M + a]
      }
      at += s.K * (M + 2)
    }
    local[len - 1] = changed
    const groups = new Int32Array(len)
    groups[len - 1] = 1
    const sums = await sum(env, local, `lloyd:${t}`, groups)
    const settled = t > 0 && Math.round(sums[len - 1]) === 0
    at = 0
    for (const s of seeds) {
      for (let k = 0; k < s.K; k++) {
        const o = at + k * (M + 2)
        const cnt = sums[o]
        s.counts[k] = cnt
        s.spread[k] = cnt > 0 ? sums[o + 1] / cnt : 0
        // the last pass only measures (counts and spreads of the final centres)
        if (t < LLOYD_STEPS && !settled && cnt > 0) for (let a = 0; a < M; a++) s.means.data[k * M + a] = sums[o + 2 + a] / cnt
      }
      at += s.K * (M + 2)
    }
    if (settled) break
  }
  return seeds
}

/** The EM start of a seeded clustering: its centres, the network covariance scaled to each cluster's spread, its shares. */
function emStart(s: Seeded, G: Mat): { means: Mat; precisions: Mat[]; weights: Float64Array } {
  const M = G.rows
  let trace = 0
  for (let a = 0; a < M; a++) trace += G.data[a * M + a]
  let total = 0
  for (const c of s.counts) total += c
  const precisions: Mat[] = []
  const weights = new Float64Array(s.K)
  for (let k = 0; k < s.K; k++) {
    // an empty or single-point cluster keeps the network covariance (EM will drop or move it)
    const f = s.counts[k] > 1 && s.spread[k] > 0 ? Math.min(1, s.spread[k] / trace) : 1
    const cov = mat(M, M, Float64Array.from(G.data, (v) => v * f))
    precisions.push(spdInverse(cov).inverse)
    weights[k] = (s.counts[k] + 1) / (total + s.K)
  }
  return { means: mat(s.K, M, Float64Array.from(s.means.data)), precisions, weights }
}

/** Errors that mean a candidate's fit is ill-posed (not a bug): the candidate is skipped. */
const FIT_ERRORS = new Set(['GgmError', 'GlassoError', 'NotPositiveDefiniteError'])

interface Running {
  K: number
  rho: number
  restart: number
  cand: SelectionCandidate
  failed: boolean
}

/** EM iterations of all candidates packed in one vector per iteration, then one E-step for each one's network LL. */
async function runPacked(env: Env, runs: Running[], iterations: number, stage: string): Promise<{ logLik: Float64Array; rows: number }> {
  const logLik = new Float64Array(runs.length).fill(-Infinity)
  let rows = 0
  for (let t = 0; t <= iterations; t++) {
    const parts = runs.map((r) => (r.failed ? new Float64Array(0) : r.cand.localUpdate(env.data)))
    let len = 0
    for (const p of parts) len += p.length
    const vec = new Float64Array(len)
    let at = 0
    for (const p of parts) {
      vec.set(p, at)
      at += p.length
    }
    const sums = await sum(env, vec, t < iterations ? `${stage}:em:${t}` : `${stage}:ll`)
    at = 0
    runs.forEach((r, i) => {
      const part = sums.subarray(at, at + parts[i].length)
      at += parts[i].length
      if (r.failed) return
      if (t === iterations) {
        logLik[i] = part[0]
        rows = part[1]
        return
      }
      try {
        r.cand.optimize(part)
      } catch (err) {
        // every node sees the same sums, so every node drops the same candidate
        if (!(err instanceof Error) || !FIT_ERRORS.has(err.name)) throw err
        r.failed = true
      }
    })
  }
  return { logLik, rows }
}

/** Non-zero entries of the upper triangle (diagonal included) of a precision matrix. */
function nonZeros(P: Mat): number {
  const M = P.rows
  let n = 0
  for (let a = 0; a < M; a++) {
    for (let b = a; b < M; b++) {
      const scale = Math.sqrt(Math.abs(P.data[a * M + a] * P.data[b * M + b]))
      if (Math.abs(P.data[a * M + b]) > 1e-9 * scale) n++
    }
  }
  return n
}

function rowFor(stage: SelectionRow['stage'], r: Running, logLik: number, rows: number, M: number): SelectionRow {
  if (r.failed || !Number.isFinite(logLik)) {
    return { stage, K: r.K, rho: r.rho, restart: r.restart, Kfinal: r.failed ? 0 : r.cand.K, logLik, df: NaN, bic: Infinity, failed: true }
  }
  const snap = r.cand.snapshot()
  const K = r.cand.K
  let df = K - 1 + K * M
  for (const P of snap.precisions) df += nonZeros(P)
  return { stage, K: r.K, rho: r.rho, restart: r.restart, Kfinal: K, logLik, df, bic: -2 * logLik + df * Math.log(rows), failed: false }
}

/** Every node's choice (index into `options`), confirmed by a summed one-hot vote: the majority's choice, lowest index on ties. */
async function vote(env: Env, choice: number, options: number, label: string): Promise<number> {
  const v = new Float64Array(options)
  v[choice] = 1
  const tally = await sum(env, v, `vote:${label}`)
  let best = 0
  for (let i = 1; i < options; i++) if (tally[i] > tally[best] + 0.5) best = i
  return best
}

/**
 * a is lower than b by more than rounding (1e-9 relative): two restarts that reach the same
 * optimum tie, and the first (lowest index) is kept, whatever order the sums were added in.
 */
function better(a: number, b: number): boolean {
  return a < b - 1e-9 * Math.max(1, Math.abs(b))
}

function argminBic(rows: SelectionRow[]): number {
  let best = -1
  for (let i = 0; i < rows.length; i++) {
    if (rows[i].failed) continue
    if (best < 0 || better(rows[i].bic, rows[best].bic)) best = i
  }
  return best
}

/**
 * The start of a fixed-K fit (init 'kmeans++'): one greedy k-means++ seeding and Lloyd
 * steps, every score and centre a network sum, every draw from the shared seed; the
 * network covariance scaled to each cluster's spread, the cluster shares as weights.
 */
export async function kmeansStart(
  input: { z: Mat; aggregate: Aggregate; mean: Float64Array; G: Mat; L: Mat; K: number; seed: GgmHyper['seed'] },
): Promise<{ means: Mat; precisions: Mat[]; weights: Float64Array }> {
  const env: Env = { z: input.z, data: input.z, aggregate: input.aggregate, sessions: 0 }
  const centers = await seedCenters(env, input.mean, input.L, input.K, 1, input.seed)
  const [seeded] = await lloyd(env, centers, [input.K], 1)
  return emStart(seeded, input.G)
}

export class GgmSelectionError extends Error {
  override name = 'GgmSelectionError'
}

/**
 * Choose K and rho for the network (K: 'auto'). `z` are this node's training rows in model
 * coordinates, `data` the raw rows the candidates' localUpdate reads; `mean`, `G` (with
 * Cholesky factor `L`) the network mean and covariance of z. Returns the choice and the
 * winning candidate (continue training from it).
 */
export async function selectModel(
  input: { z: Mat; data: Mat; aggregate: Aggregate; mean: Float64Array; G: Mat; L: Mat; hyper: GgmHyper },
  create: CandidateFactory,
): Promise<{ selection: GgmSelection; winner: SelectionCandidate }> {
  const { hyper: h, G } = input
  const M = input.z.cols
  const { kMax, restarts, iterK, iterRho, rhos } = h.select
  const env: Env = { z: input.z, data: input.data, aggregate: input.aggregate, sessions: 0 }
  const centers = await seedCenters(env, input.mean, input.L, kMax, restarts, h.seed)
  const seeds = await lloyd(env, centers, Array.from({ length: kMax }, (_, i) => i + 1), restarts)

  // Stage 1: K (and the restart) at select.rhoK
  const rhoK = h.select.rhoK
  const stage1: Running[] = seeds.map((s) => ({ K: s.K, rho: rhoK, restart: s.restart, cand: create(s.K, rhoK, emStart(s, G)), failed: false }))
  const r1 = await runPacked(env, stage1, iterK, 'K')
  const table1 = stage1.map((r, i) => rowFor('K', r, r1.logLik[i], r1.rows, M))
  // per K the restart with the highest network log-likelihood, then the lowest BIC over K
  const bestPerK: number[] = []
  for (let K = 1; K <= kMax; K++) {
    let best = -1
    stage1.forEach((r, i) => {
      if (r.K !== K || table1[i].failed) return
      if (best < 0 || better(-table1[i].logLik, -table1[best].logLik)) best = i
    })
    if (best >= 0) bestPerK.push(best)
  }
  const localK = argminBic(bestPerK.map((i) => table1[i]))
  if (localK < 0) throw new GgmSelectionError('every candidate of the model selection failed: set K and rho explicitly, or raise ridge')
  const win1 = bestPerK[await vote(env, localK, bestPerK.length, 'K')]
  const chosen = stage1[win1]

  // Stage 2: rho at the chosen K, each continuing from the stage-1 fit
  const from = chosen.cand.snapshot()
  const stage2: Running[] = rhos.map((rho) => ({
    K: chosen.K,
    rho,
    restart: chosen.restart,
    cand: create(chosen.cand.K, rho, { means: from.means, precisions: from.precisions, weights: from.weights }),
    failed: false,
  }))
  const r2 = await runPacked(env, stage2, iterRho, 'rho')
  const table2 = stage2.map((r, i) => rowFor('rho', r, r2.logLik[i], r2.rows, M))
  const localRho = argminBic(table2)
  if (localRho < 0) throw new GgmSelectionError(`every rho of the model selection failed at K = ${chosen.K}: set rho explicitly, or raise ridge`)
  const win2 = await vote(env, localRho, table2.length, 'rho')
  const w = stage2[win2]
  return {
    selection: { K: w.K, rho: w.rho, restart: w.restart, rows: r1.rows, table: [...table1, ...table2], sessions: env.sessions },
    winner: w.cand,
  }
}
