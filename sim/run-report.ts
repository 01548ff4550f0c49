/**
 * A simulated training run's report, assembled from the trained network (sim/network-run.ts)
 * and its evaluation (sim/run-evaluate.ts): iteration rows, node rows, rerun sessions,
 * outcome, privacy. Deterministic: no wall-clock figure.
 */
import type { ConsensusStats, SessionRecord } from '../src/consensus/index.js'
import type { TrainingConfig, TrainingResult } from '../src/learning/index.js'
import type { LedgerEntry } from '../src/privacy/ledger.js'
import type { SpectralReport, Topology } from '../topologies/index.js'
import type { SimData } from './data.js'
import type { NetworkRun, SimNode } from './network-run.js'
import { DEFAULT_VIRTUAL_LIMIT_MS, REPORT_FORMAT, REPORT_VERSION, type IterationRow, type NodeRow, type SessionRow, type SimReport } from './report-types.js'
import type { RunEvaluation } from './run-evaluate.js'
import { topologySummary, TRACED_LABEL } from './run-common.js'
import type { Scenario } from './scenario.js'

/**
 * What the report reads of a node: a SimNode of the one-thread run, or the same facts
 * gathered from a worker thread (sim/workers/train.ts).
 */
export interface NodeView {
  ledger: { readonly entries: readonly LedgerEntry[]; spent(audience: 'external'): { epsilon: number } } | null
  consensus: { readonly stats: ConsensusStats } | null
  checkpoint: { iteration: number } | null
  result: TrainingResult | null
  status: SimNode['status']
  carried: SimNode['carried']
}

/** What the report reads of a trained network (NetworkRun, or its multi-worker twin). */
export interface RunView {
  readonly nodes: readonly NodeView[]
  readonly probe: { errors(session: number): number[] | null }
  readonly sessionInputs: ReadonlyMap<string, { maxErr: number }>
  readonly net: { stats: { sent: number; delivered: number; lost: number; dropped: number } } | null
  readonly crashRecords: NetworkRun['crashRecords']
  readonly rejoinLog: NetworkRun['rejoinLog']
  readonly firstFailure: Error | null
  readonly failedNode: number
  readonly stalled: boolean
  readonly stallReason: string | null
  readonly virtualMs: number
}

const mean = (a: number[]): number => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : 0)

export function buildRunReport(sc: Scenario, data: SimData, topology: Topology, spec: SpectralReport, run: RunView, ev: RunEvaluation): SimReport {
  const config = sc.training
  const nodes = run.nodes
  const labelToSession = new Map<string, SessionRecord>()
  for (const x of nodes) for (const h of x.consensus?.stats.history ?? []) if (!labelToSession.has(h.label)) labelToSession.set(h.label, h)
  const iterRows = iterationRows(run, labelToSession, sc.transport === 'exact')
  const nodeRows = nodes.map((x, s) => nodeRow(x, s, data, config, ev))
  const bytes = nodeRows.map((n) => n.bytesSent)
  const frames = nodeRows.map((n) => n.framesSent)
  const tracedLabel = TRACED_LABEL
  const tracedSession = labelToSession.get(tracedLabel)
  const errs = tracedSession ? run.probe.errors(tracedSession.session) : null
  const results = nodes.filter((x) => x.status === 'finished' && x.result).map((x) => x.result as TrainingResult)
  const net = run.net
  return {
    format: REPORT_FORMAT,
    version: REPORT_VERSION,
    scenario: sc,
    data: {
      source: data.source,
      columns: data.columns.length,
      rows: data.counts.rows,
      normal: data.counts.normal,
      anomalies: data.counts.anomalies,
      trainRows: data.nodes.map((n) => n.train.rows),
      pinned: (results[0]?.model.preprocessing?.pinned ?? []).map((j) => data.columns[j] ?? `#${j + 1}`),
      ...(data.missing !== undefined ? { missing: Object.fromEntries(data.missing.flatMap((n, j) => (n > 0 ? [[data.columns[j], n]] : []))) } : {}),
    },
    topology: topologySummary(topology, spec, config),
    outcome: outcomeOf(run, results),
    iterations: iterRows,
    consensus: {
      sessions: Math.max(0, ...nodes.map((x) => x.consensus?.stats.sessions ?? 0)),
      roundsTotal: Math.max(0, ...nodeRows.map((n) => n.rounds)),
      bytesPerNode: { mean: mean(bytes), max: Math.max(0, ...bytes) },
      framesPerNode: { mean: mean(frames), max: Math.max(0, ...frames) },
      network: net ? { sent: net.stats.sent, delivered: net.stats.delivered, lost: net.stats.lost, dropped: net.stats.dropped } : null,
      errorPerRound: errs ? { label: tracedLabel, chunk: 0, errors: errs } : null,
      reruns: rerunRows(nodes, labelToSession, sc.nodes),
    },
    auc: ev.auc,
    privacy: privacySection(sc, nodes, results),
    faults: { loss: sc.faults.loss, latency: sc.faults.latency ?? null, crashes: run.crashRecords, rejoins: run.rejoinLog },
    nodes: nodeRows,
  }
}

/** One row per iteration, from the finished nodes' records. */
function iterationRows(run: RunView, labelToSession: Map<string, SessionRecord>, exact: boolean): IterationRow[] {
  const nodes = run.nodes
  const rows: IterationRow[] = []
  // Each node's records read once (a result builds them on each read), node by node, into
  // per-iteration columns in node order: each node's first record of each iteration.
  const byIteration = new Map<number, { objs: number[]; participants: number; exposed: number; perturbed: number; aggregateMs: number[] }>()
  let nIter = 0
  for (const x of nodes) {
    const records = x.result?.records
    nIter = Math.max(nIter, records?.length ?? x.checkpoint?.iteration ?? 0)
    if (records === undefined) continue
    const seen = new Set<number>()
    for (const r of records) {
      if (seen.has(r.iteration)) continue
      seen.add(r.iteration)
      let col = byIteration.get(r.iteration)
      if (col === undefined) {
        col = { objs: [], participants: r.participants, exposed: 0, perturbed: 0, aggregateMs: [] }
        byIteration.set(r.iteration, col)
      }
      col.objs.push(r.objective)
      if (r.exposure?.exposed) col.exposed++
      if (r.exposure?.perturbed) col.perturbed++
      col.aggregateMs.push(r.aggregateMs)
    }
  }
  for (let i = 0; i < nIter; i++) {
    const col = byIteration.get(i)
    if (col === undefined) continue
    const objs = col.objs
    const label = `iter:${i}:stats`
    const hist = labelToSession.get(label)
    // Against the exact sum of all inputs; a rerun leaves shares out on purpose, so no error is reported for it.
    const err = exact ? 0 : hist && hist.attempts > 1 ? null : (run.sessionInputs.get(label)?.maxErr ?? null)
    rows.push({
      iteration: i,
      objective: mean(objs),
      objectiveMin: Math.min(...objs),
      objectiveMax: Math.max(...objs),
      participants: col.participants,
      rounds: hist ? Math.max(...hist.rounds) : 0,
      attempts: hist ? hist.attempts : 1,
      consensusError: err,
      exposedNodes: col.exposed,
      perturbedNodes: col.perturbed,
      aggregateMs: Math.max(...col.aggregateMs),
    })
  }
  return rows
}

function nodeRow(x: NodeView, s: number, data: SimData, config: TrainingConfig, ev: RunEvaluation): NodeRow {
  const cs = x.consensus?.stats
  const r = x.result
  const rel = r?.release ?? null
  return {
    node: s,
    trainRows: data.nodes[s].train.rows,
    testRows: data.nodes[s].testNormal.rows,
    status: x.status === 'running' ? 'failed' : x.status,
    iterations: r?.iterations ?? x.checkpoint?.iteration ?? 0,
    framesSent: x.carried.framesSent + (cs?.framesSent ?? 0),
    bytesSent: x.carried.bytesSent + (cs?.bytesSent ?? 0),
    rounds: x.carried.rounds + (cs ? cs.history.reduce((a, h) => a + Math.max(...h.rounds), 0) : 0),
    threshold: r?.threshold ?? null,
    minEntropy: r?.minEntropy ?? null,
    effectiveL: r?.minEntropy === null || r?.minEntropy === undefined ? null : Math.exp(r.minEntropy),
    exposures: r?.exposures ?? 0,
    perturbations: r?.perturbations ?? 0,
    epsilon: rel && 'epsilon' in rel ? rel.epsilon : null,
    spentEpsilon: x.ledger ? x.ledger.spent('external').epsilon : null,
    release: !config.privacy.release.enabled ? 'disabled' : rel === null ? 'none' : 'refused' in rel ? 'refused' : 'released',
    ...(rel && 'refused' in rel ? { releaseRefused: rel.refused } : {}),
    rocAuc: ev.collabByNode.get(s)?.rocAuc ?? null,
    prAuc: ev.collabByNode.get(s)?.prAuc ?? null,
    localRocAuc: ev.localByNode.get(s) ?? null,
    centralRocAuc: ev.centralByNode.get(s) ?? null,
  }
}

/** One row per rerun session: the excluded set every survivor ended with (sets only grow and merge). */
function rerunRows(nodes: readonly NodeView[], labelToSession: Map<string, SessionRecord>, S: number): SessionRow[] {
  const reruns = new Map<number, SessionRow>()
  for (const x of nodes) {
    const cs = x.consensus?.stats
    if (!cs) continue
    for (const rr of cs.reruns) {
      const h = cs.history.find((q) => q.session === rr.session)
      const row = reruns.get(rr.session) ?? {
        session: rr.session,
        label: h?.label ?? [...labelToSession.values()].find((q) => q.session === rr.session)?.label ?? `session ${rr.session}`,
        rounds: 0,
        attempts: 0,
        members: S,
        excluded: [],
      }
      row.excluded = [...new Set([...row.excluded, ...rr.excluded])].sort((a, b) => a - b)
      if (h) {
        row.rounds = Math.max(row.rounds, ...h.rounds)
        row.attempts = Math.max(row.attempts, h.attempts)
        row.members = Math.min(row.members, h.members)
      }
      reruns.set(rr.session, row)
    }
  }
  return [...reruns.values()].sort((a, b) => a.session - b.session)
}

function outcomeOf(run: RunView, results: TrainingResult[]): SimReport['outcome'] {
  const fail = run.firstFailure
  const waiting = run.nodes.map((x, s) => (x.status === 'running' ? s : -1)).filter((s) => s >= 0)
  return {
    status: fail === null && !run.stalled ? 'completed' : 'stopped',
    reason:
      fail !== null
        ? `node ${run.failedNode}: ${fail.name}: ${fail.message}`
        : run.stalled
          ? `SimulationStalled: nodes ${waiting.join(', ')} still waiting (${run.stallReason ?? `after ${DEFAULT_VIRTUAL_LIMIT_MS} virtual ms`})`
          : null,
    converged: results.length > 0 && results.every((r) => r.converged),
    stopReason: results[0]?.stopReason ?? null,
    iterations: Math.max(0, ...results.map((r) => r.iterations)),
    virtualMs: run.virtualMs,
  }
}

function privacySection(sc: Scenario, nodes: readonly NodeView[], results: TrainingResult[]): SimReport['privacy'] {
  const config = sc.training
  const ledgers = nodes
    .map((x, s) => ({
      node: s,
      entries: x.ledger ? x.ledger.entries.map((e) => ({ kind: e.kind, label: e.label, audience: e.audience, epsilon: e.epsilon })) : [],
    }))
    .filter((l) => l.entries.length > 0)
  const releases = results.map((r) => r.release).filter((r): r is Exclude<typeof r, null | { refused: string }> => r !== null && !('refused' in r))
  const minEnt = results.map((r) => r.minEntropy).filter((v): v is number => v !== null)
  return {
    noise: { source: 'simulation-secret', derivedFrom: sc.noiseSeed === undefined ? 'scenario seed' : 'noiseSeed' },
    monitor: config.privacy.monitor,
    l0: config.privacy.l0,
    exposedNodes: results.filter((r) => r.exposures > 0).length,
    perturbations: results.reduce((a, r) => a + r.perturbations, 0),
    minEntropy: minEnt.length ? Math.min(...minEnt) : null,
    release: config.privacy.release.enabled,
    released: releases.length
      ? {
          epsilon: releases[0].epsilon,
          delta: releases[0].delta,
          nodes: releases.length,
          // one release for the network: every member publishes the same file
          identicalFiles: releases.every((r) => JSON.stringify(r.released) === JSON.stringify(releases[0].released)),
        }
      : null,
    spent: releases.length ? { epsilon: Math.max(...releases.map((r) => r.spent.epsilon)), delta: releases[0].spent.delta } : null,
    ledgers,
  }
}
