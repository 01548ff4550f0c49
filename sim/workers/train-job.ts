/**
 * Training on one worker thread: the nodes of its partition, each running runTraining (the
 * code a peer node runs) exactly as sim/network-run.ts sets them up on one thread (same
 * secret streams, ledgers, guards, releasers), over the partition's network and the
 * coordinator-driven clock. What the report needs comes back in node order.
 */
import { createConsensusNode, type ConsensusNode, type ConsensusStats, type SessionWait } from '../../src/consensus/index.js'
import { runTraining, type LearningContext, type TrainingConfig, type TrainingEvent, type TrainingResult } from '../../src/learning/index.js'
import { createNodeModel, modelChargesLedger } from '../../src/learning/models.js'
import { createLedger } from '../../src/learning/privacy.js'
import type { Aggregate, CollabModel, SavedModel } from '../../src/models/model.js'
import { Rng } from '../../src/numeric/rng.js'
import type { LedgerEntry, PrivacyLedger } from '../../src/privacy/ledger.js'
import type { Topology } from '../../topologies/index.js'
import type { SimData } from '../data.js'
import { relNorm, RoundProbe, sessionPhase, simNodeContext, simulationSecret, TRACED_LABEL } from '../run-common.js'
import { anomalySampler, evaluatedFinished, evaluateTrainedNode, type NodeEvaluation } from '../run-evaluate.js'
import type { Scenario } from '../scenario.js'
import type { PartitionNetwork } from './partition-network.js'
import type { Partition } from './partition.js'
import type { FromWorker, NodeInput } from './protocol.js'
import type { StepClock } from './step-clock.js'
import type { WorkerJob } from './worker-runtime.js'
import { engineOptions } from '../../src/learning/config.js'

interface LocalNode {
  model: CollabModel
  ledger: PrivacyLedger | null
  consensus: ConsensusNode
  controller: AbortController
  result: TrainingResult | null
  status: 'running' | 'finished' | 'failed'
}

/** One node as the main thread rebuilds it (sim/workers/train.ts). */
export interface NodeOutcome {
  node: number
  status: 'finished' | 'failed' | 'running'
  /** The training result without its model (sent as `saved`). */
  result: Omit<TrainingResult, 'model'> | null
  saved: SavedModel | null
  ledger: { entries: LedgerEntry[]; spentExternal: number } | null
  stats: ConsensusStats
}

export interface TrainWorkerResult {
  nodes: NodeOutcome[]
  /** Largest relative error of a node's statistics sum, per session label. */
  maxErr: Record<string, number>
  /** Per-round probe values of the traced session for this worker's nodes. */
  probe: { session: number; rounds: Float64Array[] } | null
  evaluations: NodeEvaluation[]
  network: { sent: number; delivered: number; lost: number; dropped: number }
}

/** Outputs of statistics sessions waiting for the exact sum (it comes once every input is in). */
interface ErrorTrack {
  sum: Float64Array | null
  pending: Float64Array[]
  maxErr: number
}

export class TrainJob implements WorkerJob {
  private readonly nodes: LocalNode[]
  private readonly probe: RoundProbe
  private readonly errors = new Map<string, ErrorTrack>()
  private readonly config: TrainingConfig
  private shownIteration = -1
  private inputs: NodeInput[] = []
  private inputsQueued = false
  private readonly running_: Promise<void>[] = []

  constructor(
    private readonly sc: Scenario,
    private readonly data: SimData,
    topology: Topology,
    private readonly part: Partition,
    private readonly net: PartitionNetwork,
    private readonly clock: StepClock,
    private readonly post: (m: FromWorker, transfer?: ArrayBuffer[]) => void,
  ) {
    const config = sc.training
    this.config = config
    const root = new Rng(sc.seed)
    this.probe = new RoundProbe(sc.nodes, Number.POSITIVE_INFINITY, root.fork('probe'), TRACED_LABEL)
    const vnow = (): Date => new Date(clock.now())
    this.nodes = []
    for (let s = part.lo; s < part.hi; s++) {
      const ledger = config.privacy.monitor || config.privacy.release.enabled || modelChargesLedger(config) ? createLedger(config, `node-${s}`, { now: vnow }) : null
      this.nodes.push({
        model: createNodeModel(config, { noise: simulationSecret(sc, s).fork('model'), ledger: ledger ?? undefined }),
        ledger,
        consensus: createConsensusNode({
          topology,
          transport: net.transports[s - part.lo],
          clock,
          ...engineOptions(config),
          noise: simulationSecret(sc, s).fork('consensus/from-session-0'),
          firstSession: 0,
          onRound: (e) => this.probe.onRound(s, e),
          onRoundFor: (session, label) => this.probe.wants(session, label),
        }),
        controller: new AbortController(),
        result: null,
        status: 'running',
      })
    }
  }

  start(): void {
    for (let s = this.part.lo; s < this.part.hi; s++) this.running_.push(this.runNode(s))
  }

  running(): number {
    let n = 0
    for (const x of this.nodes) if (x.status === 'running') n++
    return n
  }

  abort(): void {
    for (const x of this.nodes) if (x.status === 'running') x.controller.abort()
    for (const x of this.nodes) x.consensus.close()
  }

  waits(): SessionWait[] {
    return this.nodes.flatMap((x) => (x.status === 'running' ? x.consensus.waiting() : []))
  }

  onSum(label: string, sum: Float64Array): void {
    const e = this.track(label)
    e.sum = sum
    for (const v of e.pending) e.maxErr = Math.max(e.maxErr, relNorm(v, sum))
    e.pending = []
  }

  async finish(): Promise<{ result: unknown; transfer: ArrayBuffer[] }> {
    await Promise.all(this.running_)
    this.net.close()
    for (const x of this.nodes) x.consensus.close()
    const maxErr: Record<string, number> = {}
    for (const [label, e] of this.errors) maxErr[label] = e.maxErr
    const traced = this.nodes.map((x) => x.consensus.stats.history.find((h) => h.label === TRACED_LABEL)).find((h) => h !== undefined)
    const rounds = traced === undefined ? undefined : this.probe.roundsOf(traced.session)
    const anomaliesFor = anomalySampler(this.sc, this.data, new Rng(this.sc.seed))
    const mine = (s: number): boolean => s >= this.part.lo && s < this.part.hi
    const evaluations = evaluatedFinished(this.sc, (s) => mine(s) && this.nodes[s - this.part.lo].status === 'finished').map((s) =>
      evaluateTrainedNode(this.sc, this.data, s, this.nodes[s - this.part.lo].result as TrainingResult, anomaliesFor),
    )
    const st = this.net.stats
    const result: TrainWorkerResult = {
      nodes: this.nodes.map((x, i) => this.outcome(x, this.part.lo + i)),
      maxErr,
      probe: traced !== undefined && rounds !== undefined ? { session: traced.session, rounds } : null,
      evaluations,
      network: { sent: st.sent, delivered: st.delivered, lost: st.lost, dropped: st.dropped },
    }
    return { result, transfer: [] }
  }

  private outcome(x: LocalNode, s: number): NodeOutcome {
    let result: NodeOutcome['result'] = null
    if (x.result !== null) {
      const { model: _model, ...rest } = x.result
      result = rest
    }
    return {
      node: s,
      status: x.status,
      result,
      saved: x.result ? x.result.model.save() : null,
      ledger: x.ledger ? { entries: x.ledger.entries.map((e) => ({ ...e })), spentExternal: x.ledger.spent('external').epsilon } : null,
      stats: x.consensus.stats,
    }
  }

  private track(label: string): ErrorTrack {
    let e = this.errors.get(label)
    if (e === undefined) {
      e = { sum: null, pending: [], maxErr: 0 }
      this.errors.set(label, e)
    }
    return e
  }

  /** Node s's aggregate: its consensus sum, with the input sent to the coordinator for the exact sum. */
  private aggregateFor(s: number): Aggregate {
    const x = this.nodes[s - this.part.lo]
    return async (vec, label, opts) => {
      if (s === 0 && sessionPhase(label) !== null) this.postNow({ type: 'session', label })
      const isStats = label.startsWith('iter:')
      if (isStats) {
        const copy = Float64Array.from(vec)
        this.queueInput({ label, node: s, vec: copy })
      }
      const out = await x.consensus.sum(vec, label, opts)
      if (isStats) {
        const e = this.track(label)
        if (e.sum !== null) e.maxErr = Math.max(e.maxErr, relNorm(out, e.sum))
        else e.pending.push(Float64Array.from(out))
      }
      return out
    }
  }

  /**
   * Inputs wait for the end of the event-loop turn and go in one message (one postMessage
   * per node and session was ~3 % of a worker's time on shuttle-1000); every other message
   * posts them first, so the coordinator sees a node's inputs before its progress or failure.
   */
  private queueInput(i: NodeInput): void {
    this.inputs.push(i)
    if (this.inputsQueued) return
    this.inputsQueued = true
    setImmediate(() => this.flush())
  }

  /** Post the inputs waiting (the runtime calls this before its idle report). */
  flush(): void {
    this.inputsQueued = false
    if (this.inputs.length === 0) return
    const inputs = this.inputs
    this.inputs = []
    this.post({ type: 'inputs', inputs }, inputs.map((i) => i.vec.buffer as ArrayBuffer))
  }

  private postNow(m: FromWorker): void {
    this.flush()
    this.post(m)
  }

  private onEvent(e: TrainingEvent): void {
    if (e.type !== 'iteration' || e.record.iteration <= this.shownIteration) return
    this.shownIteration = e.record.iteration
    this.postNow({ type: 'progress', iteration: e.record.iteration, objective: e.record.objective })
  }

  private runNode(s: number): Promise<void> {
    const { sc, data, config } = this
    const x = this.nodes[s - this.part.lo]
    const ctx: LearningContext = simNodeContext({
      sc,
      config,
      s,
      train: data.nodes[s].train,
      model: x.model,
      ledger: x.ledger,
      aggregate: this.aggregateFor(s),
      clock: this.clock,
      // a node resuming inside the release phase would read it (restarts are refused with workers)
      results: () => this.nodes.map((o) => o.result),
    })
    return runTraining(ctx, { config, signal: x.controller.signal, onEvent: (e) => this.onEvent(e) }).then(
      (r) => {
        x.result = r
        x.status = 'finished'
      },
      (e: unknown) => this.onNodeError(s, e),
    )
  }

  /** A node's training threw: the run fails (no rejoins without faults); stop this worker's nodes and tell the coordinator. */
  private onNodeError(s: number, e: unknown): void {
    const x = this.nodes[s - this.part.lo]
    x.status = 'failed'
    const err = e instanceof Error ? e : new Error(String(e))
    this.postNow({ type: 'failed', node: s, name: err.name, message: err.message })
    this.abort()
  }
}
