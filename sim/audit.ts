/**
 * `collab privacy audit`: the attacks of src/privacy on one scenario, written as JSON and
 * a self-contained HTML report with plots.
 *
 * 1. The curious neighbour against random chunking: every node's first statistics vector
 *    (GGM E-step of iteration 0, with the loop's vote entries) summed over the scenario's
 *    topology with its chunking settings; a spy on every link records round 0, and every
 *    peer estimates every sender (src/privacy/neighbour-attack.ts). Per view and pooled
 *    over repeated sums of the same vector.
 * 2. The curious member against Shamir sharing: the share it holds of every other
 *    member's vector, read as the value.
 * 3. Outsiders against the network's release, at each epsilon: membership inference of a
 *    canary (a row at the corner of the public box in place of the most exposed training
 *    row, or not; score: its log-density under the released model) and the empirical
 *    epsilon lower bound that game certifies,
 *    next to the ledger's epsilon and the largest AUC (epsilon, delta)-DP allows. The
 *    release is run by one party on the pooled rows, as the network's release with one
 *    member (noise variance exactly sigma^2; a network adds S/(S-1) times it): the
 *    attacker's best case.
 */
import { performance } from 'node:perf_hooks'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DEFAULT_CHUNK_SCALE, DEFAULT_CHUNKS } from '../src/consensus/index.js'
import { loopNoiseGroups } from '../src/learning/index.js'
import { releaseSettings, runGgmRelease } from '../src/learning/release.js'
import { createGgm, exactNetwork } from '../src/models/ggm/index.js'
import { mat, type Mat } from '../src/numeric/matrix.js'
import { Rng } from '../src/numeric/rng.js'
import { dpAucBound, epsilonLowerBound, shamirShareAttack } from '../src/privacy/audit.js'
import { membershipAuc } from '../src/privacy/attack.js'
import { logDensityReleasedGgm } from '../src/privacy/ggm-release.js'
import { PrivacyLedger } from '../src/privacy/ledger.js'
import { neighbourAttack } from '../src/privacy/neighbour-attack.js'
import { lineChartSpec, renderSvg } from './charts.js'
import { loadSimData } from './data.js'
import { htmlReport, reportJson } from './report.js'
import { scenarioTopology, simulationSecret } from './run.js'
import type { Scenario } from './scenario.js'
import { tableRange } from './run-common.js'

export const AUDIT_FORMAT = 'collabdict-privacy-audit'

export interface AuditOptions {
  /** Network-level epsilons of the release to attack. */
  epsilons: number[]
  /** Releases per side (target in / replaced) and epsilon. */
  trials: number
  /** Sums of the same vectors the neighbour sees (chunking) and sharings (Shamir). */
  sessions: number
  onProgress?: (what: string) => void
}

export interface ReleaseAuditRow {
  epsilon: number
  /** The ledger's (epsilon, delta) for one release at this setting. */
  ledgerEpsilon: number
  delta: number
  membershipAuc: number
  /** Largest AUC any attack can reach against an (epsilon, delta)-DP mechanism. */
  aucBound: number
  /** Epsilon the membership game certifies empirically (95 % confidence). */
  empiricalEpsilon: number
}

export interface AuditReport {
  format: typeof AUDIT_FORMAT
  scenario: string
  nodes: number
  statistics: number
  chunking: {
    chunks: number
    chunkScale: number
    views: number
    minRelativeError: number
    medianRelativeError: number
    belowOne: number
    pooled: { sessions: number; minRelativeError: number; medianRelativeError: number }
    exposedSessions: number
  }
  shamir: { threshold: number; views: number; minRelativeError: number; medianRelativeError: number; correlation: number }
  release: { target: string; bounds: string; rows: number; trials: number; members: 'one (attacker best case)'; table: ReleaseAuditRow[] }
  wallMs: number
}

/** Each node's iteration-0 statistics vector (with the two vote entries) and its noise groups. */
async function firstStatistics(parts: Mat[], seed: number): Promise<{ vectors: Float64Array[]; groups: Int32Array }> {
  const net = exactNetwork(parts.length)
  const models = parts.map(() => createGgm({ K: 2, seed }))
  await Promise.all(models.map((m, s) => m.prepare(parts[s], net.aggregate(s))))
  const vectors = models.map((m, s) => {
    const st = m.localUpdate(parts[s])
    const v = new Float64Array(st.length + 2)
    v.set(st)
    v[st.length + 1] = 1
    return v
  })
  return { vectors, groups: loopNoiseGroups(models[0], vectors[0].length - 2) }
}

/** The training row farthest from the pooled mean in standardised units: the most exposed member. */
function mostExposed(X: Mat): number {
  const M = X.cols
  const mean = new Float64Array(M)
  const sd = new Float64Array(M)
  for (let i = 0; i < X.rows; i++) for (let j = 0; j < M; j++) mean[j] += X.data[i * M + j] / X.rows
  for (let i = 0; i < X.rows; i++) for (let j = 0; j < M; j++) sd[j] += (X.data[i * M + j] - mean[j]) ** 2 / X.rows
  let best = 0
  let far = -1
  for (let i = 0; i < X.rows; i++) {
    let d = 0
    for (let j = 0; j < M; j++) d += (X.data[i * M + j] - mean[j]) ** 2 / Math.max(sd[j], 1e-12)
    if (d > far) {
      far = d
      best = i
    }
  }
  return best
}

export async function runPrivacyAudit(sc: Scenario, o: AuditOptions): Promise<AuditReport> {
  const t0 = performance.now()
  const data = loadSimData(sc, new Rng(sc.seed).fork('data'))
  const topology = scenarioTopology(sc)
  const S = sc.nodes
  const parts = data.nodes.map((n) => n.train)
  const config = sc.training
  const c = config.consensus

  o.onProgress?.('chunking: the curious neighbour')
  const { vectors, groups } = await firstStatistics(parts, config.seed)
  const chunks = c.protection === 'chunking' ? c.chunks : DEFAULT_CHUNKS
  const chunkScale = c.protection === 'chunking' ? c.chunkScale : DEFAULT_CHUNK_SCALE
  const nb = await neighbourAttack({
    topology,
    vectors,
    sessions: o.sessions,
    consensus: { chunks, chunkScale, scheme: c.scheme, tol: c.tol, seed: config.seed },
    noiseGroups: groups,
    noise: (s) => simulationSecret(sc, s).fork('audit/chunking'),
  })

  o.onProgress?.('Shamir: the curious member')
  const threshold = c.shamirThreshold ?? Math.floor(S / 2) + 1
  const sh = shamirShareAttack(vectors, Math.min(threshold, S), Math.max(1, Math.ceil(o.sessions / 4)), (s) => simulationSecret(sc, s).fork('audit/shamir'))

  // the release game (a canary, as DP audits do): D' = the training rows, D = the same
  // with the most exposed row replaced by a canary at the corner of the public box (the
  // largest move one row can make); the attacker scores the canary's log-density
  const Dout = data.trainAll
  const baseRelease = config.privacy.release.bounds !== undefined ? config : { ...config, privacy: { ...config.privacy, release: { ...config.privacy.release, bounds: tableRange(Dout) } } }
  const target = mostExposed(Dout)
  const corner = releaseSettings(baseRelease, Dout.cols).bounds.upper
  const D = mat(Dout.rows, Dout.cols, Float64Array.from(Dout.data))
  D.data.set(corner, target * Dout.cols)
  const targetRow = mat(1, Dout.cols, Float64Array.from(corner))
  const rows: ReleaseAuditRow[] = []
  for (const eps of o.epsilons) {
    o.onProgress?.(`release at epsilon ${eps}`)
    const settings = { ...releaseSettings({ ...baseRelease, privacy: { ...baseRelease.privacy, release: { ...baseRelease.privacy.release, epsilon: eps } } }, D.cols) }
    const game = async (X: Mat, side: string): Promise<{ scores: number[]; ledgerEpsilon: number }> => {
      const scores: number[] = []
      let ledgerEpsilon = 0
      for (let t = 0; t < o.trials; t++) {
        const ledger = PrivacyLedger.inMemory({ nodeId: 'audit', delta: settings.delta })
        const out = await runGgmRelease({ settings, data: X, aggregate: async (v) => v, noise: simulationSecret(sc, `audit/${eps}/${side}/${t}`), members: 1, ledger, releaseId: 'audit' })
        scores.push(logDensityReleasedGgm(out.released, targetRow)[0])
        ledgerEpsilon = ledger.spent().epsilon
      }
      return { scores, ledgerEpsilon }
    }
    const inside = await game(D, 'in')
    const outside = await game(Dout, 'out')
    rows.push({
      epsilon: eps,
      ledgerEpsilon: inside.ledgerEpsilon,
      delta: settings.delta,
      membershipAuc: membershipAuc(inside.scores, outside.scores),
      aucBound: dpAucBound(inside.ledgerEpsilon, settings.delta),
      empiricalEpsilon: epsilonLowerBound(inside.scores, outside.scores, settings.delta),
    })
  }
  return {
    format: AUDIT_FORMAT,
    scenario: sc.name,
    nodes: S,
    statistics: vectors[0].length,
    chunking: {
      chunks,
      chunkScale,
      views: nb.observations.length,
      minRelativeError: nb.minRelativeError,
      medianRelativeError: nb.medianRelativeError,
      belowOne: nb.belowOne,
      pooled: { sessions: o.sessions, ...nb.pooled },
      exposedSessions: nb.exposedSessions,
    },
    shamir: { threshold, views: sh.views, minRelativeError: sh.minRelativeError, medianRelativeError: sh.medianRelativeError, correlation: sh.correlation },
    release: {
      target: `a canary at the upper corner of the public box in place of training row ${target} (the farthest from the mean)`,
      bounds: config.privacy.release.bounds !== undefined ? 'the scenario\'s public bounds' : 'min..max of the training rows (a stand-in: the scenario gives no public bounds)',
      rows: D.rows, trials: o.trials, members: 'one (attacker best case)', table: rows },
    wallMs: performance.now() - t0,
  }
}


/** Write audit.json and audit.html (plots: attack AUC and empirical epsilon against the ledger's) into `dir`. */
export async function writeAuditReport(dir: string, r: AuditReport): Promise<{ json: string; html: string }> {
  mkdirSync(dir, { recursive: true })
  const json = join(dir, 'audit.json')
  writeFileSync(json, reportJson(r))
  const t = r.release.table
  const auc = await renderSvg(
    lineChartSpec(
      [
        { name: 'membership-inference AUC (measured)', points: t.map((x) => ({ x: x.ledgerEpsilon, y: x.membershipAuc })) },
        { name: 'largest AUC (epsilon, delta)-DP allows', points: t.map((x) => ({ x: x.ledgerEpsilon, y: x.aucBound })) },
      ],
      { title: 'Membership inference against the network release', subtitle: `${r.release.trials} releases per side and epsilon; ${r.release.target}`, xTitle: 'epsilon of the release (ledger, delta 1e-5)', yTitle: 'ROC-AUC of the attack', logX: true },
    ),
  )
  const eps = await renderSvg(
    lineChartSpec(
      [
        { name: 'epsilon certified by the attack (95 % lower bound)', points: t.map((x) => ({ x: x.ledgerEpsilon, y: x.empiricalEpsilon })) },
        { name: "the ledger's epsilon (upper bound)", points: t.map((x) => ({ x: x.ledgerEpsilon, y: x.ledgerEpsilon })) },
      ],
      { title: 'Empirical privacy loss vs the accounting', xTitle: 'epsilon of the release (ledger)', yTitle: 'epsilon', logX: true },
    ),
  )
  const f = (v: number): string => (Number.isFinite(v) ? v.toPrecision(3) : String(v))
  const html = join(dir, 'audit.html')
  writeFileSync(
    html,
    htmlReport(`CollabDict privacy audit: ${r.scenario}`, [
      {
        heading: 'What a neighbour sees: random chunking',
        text: `${r.nodes} nodes, ${r.statistics} statistics per vector, ${r.chunking.chunks} chunks, chunkScale ${r.chunking.chunkScale}. Relative error of a peer's linear estimate of a node's statistics from everything it received in round 0 of every chunk of one sum (>= 1: no better than guessing zero).`,
        table: {
          head: ['views', 'min relative error', 'median', 'views below 1', `pooled over ${r.chunking.pooled.sessions} sums: min`, 'pooled median', 'sessions with a peer in every chunk'],
          rows: [[r.chunking.views, f(r.chunking.minRelativeError), f(r.chunking.medianRelativeError), f(r.chunking.belowOne), f(r.chunking.pooled.minRelativeError), f(r.chunking.pooled.medianRelativeError), r.chunking.exposedSessions]],
        },
      },
      {
        heading: 'What a member sees: Shamir sharing',
        text: `Threshold ${r.shamir.threshold} of ${r.nodes}: the one share a member holds of another member's vector, read as the value.`,
        table: { head: ['views', 'min relative error', 'median', 'correlation of share and value'], rows: [[r.shamir.views, f(r.shamir.minRelativeError), f(r.shamir.medianRelativeError), f(r.shamir.correlation)]] },
      },
      { heading: 'What an outsider sees: the released model', svg: auc },
      { svg: eps, heading: 'Empirical epsilon' },
      {
        heading: 'Release audit table',
        table: {
          head: ['target epsilon', 'ledger epsilon', 'delta', 'attack AUC', 'AUC bound', 'empirical epsilon'],
          rows: t.map((x) => [x.epsilon, f(x.ledgerEpsilon), x.delta, f(x.membershipAuc), f(x.aucBound), f(x.empiricalEpsilon)]),
        },
      },
    ]),
  )
  return { json, html }
}
