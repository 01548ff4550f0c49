/**
 * Training a simulated network on N worker threads (scenario `workers: N`, `collab sim
 * --workers N`): the main thread coordinates (sim/workers/coordinator.ts) and then gathers
 * what the report needs in node order, so that report.json is byte-identical to the
 * one-thread run of the same scenario and seed (sim/network-run.ts).
 */
import { loadNodeModel } from '../../src/learning/models.js'
import type { CollabModel } from '../../src/models/model.js'
import type { Rng } from '../../src/numeric/rng.js'
import { topologySpectrum, type Topology } from '../../topologies/index.js'
import type { SimData } from '../data.js'
import type { RunHooks } from '../report-types.js'
import { RoundProbe, SessionProgress } from '../run-common.js'
import { anomalySampler, combineEvaluation, referenceEvaluation, type NodeEvaluation, type RunEvaluation } from '../run-evaluate.js'
import type { NodeView, RunView } from '../run-report.js'
import type { Scenario } from '../scenario.js'
import { WorkerPool, type PoolHandlers } from './coordinator.js'
import { WorkersUnsupportedError } from './limits.js'
import type { TrainWorkerResult } from './train-job.js'
import { sumNetworkCounts } from './protocol.js'

export interface WorkersTraining {
  run: RunView
  evaluation: RunEvaluation
  models: (CollabModel | null)[]
}

/** Inputs of one statistics session, by node, until all are in (then summed in node order). */
interface InputSet {
  vecs: (Float64Array | null)[]
  count: number
  summed: boolean
}

function sumInNodeOrder(vecs: readonly (Float64Array | null)[]): Float64Array {
  const len = vecs.find((v) => v !== null)?.length ?? 0
  const sum = new Float64Array(len)
  for (const v of vecs) if (v !== null) for (let i = 0; i < len; i++) sum[i] += v[i]
  return sum
}

/** Train sc's network on `workers` threads, evaluate it, and return the report's view of it. */
export async function trainOnWorkers(o: { sc: Scenario; data: SimData; topology: Topology; root: Rng; workers: number; hooks: RunHooks }): Promise<WorkersTraining> {
  const { sc, data, topology, hooks } = o
  if (hooks.onEvent !== undefined) {
    throw new WorkersUnsupportedError('RunHooks.onEvent (every node\'s training events) is not available with workers > 1: the events stay in the worker threads; use onProgress, or workers: 1')
  }
  const S = sc.nodes
  const config = sc.training
  const inputs = new Map<string, InputSet>()
  let failed = 0
  let firstFailure: Error | null = null
  let failedNode = -1
  let aborting = false
  let shown = -1
  const sessionProgress = new SessionProgress(config.maxIterations, hooks.onProgress)
  const sendSum = (label: string, e: InputSet): void => {
    e.summed = true
    const sum = sumInNodeOrder(e.vecs)
    e.vecs = []
    pool.broadcast({ type: 'sum', label, sum })
  }
  const handlers: PoolHandlers = {
    onInput(m) {
      let e = inputs.get(m.label)
      if (e === undefined) {
        e = { vecs: new Array<Float64Array | null>(S).fill(null), count: 0, summed: false }
        inputs.set(m.label, e)
      }
      e.vecs[m.node] = m.vec
      e.count++
      if (e.count >= S - failed) sendSum(m.label, e)
    },
    onSession(m) {
      sessionProgress.opening(m.label, shown)
    },
    onProgress(m) {
      if (m.iteration <= shown) return
      shown = m.iteration
      hooks.onProgress?.({ iteration: m.iteration + 1, maxIterations: config.maxIterations, objective: m.objective, phase: 'train' })
    },
    onFailed(m) {
      failed++
      const err = new Error(m.message)
      err.name = m.name
      // after a stall every running node is stopped at once: name the lowest, as one thread does
      if (firstFailure === null || (aborting && m.node < failedNode)) {
        firstFailure = err
        failedNode = m.node
      }
      if (!aborting) {
        aborting = true
        pool.abortAll()
      }
    },
  }
  const pool = new WorkerPool(o.workers, handlers)
  // the centralised fit runs here, on the main thread: its rows stay here
  const shared: SimData = { ...data, trainAll: { rows: 0, cols: data.trainAll.cols, data: new Float64Array(0) } }
  let stalled = false
  let stallReason: string | null = null
  try {
    await pool.start((worker, peers) => ({ type: 'init', mode: 'train', worker, workers: o.workers, peers, sc, topology, spectrum: topologySpectrum(topology), data: shared }))
    const driving = pool.drive(true)
    driving.catch(() => undefined) // awaited below; a failure meanwhile must not count as unhandled
    // The baselines (local-only and centralised fits) need no trained network: the main
    // thread computes them while the workers train (it only coordinates otherwise).
    const refs = await referenceEvaluation(sc, data, anomalySampler(sc, data, o.root))
    let end = await driving
    if (end.kind === 'stall') {
      stalled = true
      stallReason = await pool.stallReason(end)
      aborting = true
      pool.abortAll()
      end = await pool.drive(false)
    }
    for (const [label, e] of inputs) if (!e.summed) sendSum(label, e)
    hooks.onProgress?.({ iteration: shown + 1, maxIterations: config.maxIterations, objective: null, phase: 'evaluate' })
    const results = (await pool.finish()) as TrainWorkerResult[]
    return assemble(sc, o.root, results, inputs, refs, { firstFailure, failedNode, stalled, stallReason, virtualMs: pool.now })
  } finally {
    await pool.close()
  }
}

function assemble(
  sc: Scenario,
  root: Rng,
  results: TrainWorkerResult[],
  inputs: Map<string, InputSet>,
  refs: Awaited<ReturnType<typeof referenceEvaluation>>,
  out: Pick<RunView, 'firstFailure' | 'failedNode' | 'stalled' | 'stallReason' | 'virtualMs'>,
): WorkersTraining {
  const config = sc.training
  const nodes: NodeView[] = []
  const models: (CollabModel | null)[] = []
  for (const r of results) {
    for (const x of r.nodes) {
      const model = x.saved === null ? null : loadNodeModel(config, x.saved)
      const ledger = x.ledger
      nodes.push({
        status: x.status,
        result: x.result === null || model === null ? null : ({ ...x.result, model }),
        ledger: ledger === null ? null : { entries: ledger.entries, spent: () => ({ epsilon: ledger.spentExternal }) },
        consensus: { stats: x.stats },
        checkpoint: null,
        carried: { framesSent: 0, bytesSent: 0, rounds: 0 },
      })
      models.push(x.status === 'finished' ? model : null)
    }
  }
  const probe = new RoundProbe(sc.nodes, Number.POSITIVE_INFINITY, root.fork('probe'))
  for (const r of results) if (r.probe) probe.merge(r.probe.session, r.probe.rounds)
  const sessionInputs = new Map<string, { maxErr: number }>()
  for (const label of inputs.keys()) sessionInputs.set(label, { maxErr: Math.max(0, ...results.map((r) => r.maxErr[label] ?? 0)) })
  const net = sumNetworkCounts(results)
  const evaluations: NodeEvaluation[] = results.flatMap((r) => r.evaluations).sort((a, b) => a.node - b.node)
  return {
    run: { nodes, probe, sessionInputs, net: { stats: net }, crashRecords: [], rejoinLog: [], ...out },
    evaluation: combineEvaluation(sc, evaluations, refs),
    models,
  }
}
