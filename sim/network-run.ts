/**
 * The training phase of a simulated network: S nodes in this process, each running
 * runTraining (the code a peer node runs) on its own slice, over exact sums, the in-memory
 * transport (virtual clock, seeded latency/loss/crashes) or real libp2p on loopback.
 * Scheduled crashes silence a node halfway through a session's rounds; restarts and
 * rejoins (after the peers excluded a node) resume from the node's in-memory checkpoint,
 * as a peer node does from disk (node/training.ts).
 */
import {
  createConsensusNode,
  createMemoryNetwork,
  createVirtualClock,
  formatWaits,
  type ConsensusNode,
  type MemoryNetwork,
  type RoundEvent,
  type VirtualClock,
} from '../src/consensus/index.js'
import { systemClock, type Clock } from '../src/consensus/transport.js'
import { createExactAggregator, type ExactAggregator } from '../src/learning/exact.js'
import { runTraining, TrainingStoppedError, type Checkpoint, type LearningContext, type TrainingConfig, type TrainingEvent, type TrainingResult } from '../src/learning/index.js'
import { consensusPayloadLimit, createNodeModel, loadNodeModel, modelChargesLedger } from '../src/learning/models.js'
import { createLedger } from '../src/learning/privacy.js'
import type { Aggregate, CollabModel } from '../src/models/model.js'
import type { Rng } from '../src/numeric/rng.js'
import type { PrivacyLedger } from '../src/privacy/ledger.js'
import type { Topology } from '../topologies/index.js'
import type { SimData } from './data.js'
import { createLibp2pMesh, type Libp2pMesh } from './libp2p.js'
import { SimulationError, type RunHooks, type SimReport } from './report-types.js'
import { driveClock, latencyFn, relNorm, RoundProbe, SessionProgress, simNodeContext, simulationSecret, TRACED_LABEL } from './run-common.js'
import type { Scenario } from './scenario.js'
import { engineOptions } from '../src/learning/config.js'

/** How often a node excluded by its peers (a false timeout) rejoins before giving up. */
export const MAX_REJOINS = 3

export interface SimNode {
  model: CollabModel
  ledger: PrivacyLedger | null
  consensus: ConsensusNode | null
  controller: AbortController
  checkpoint: Checkpoint | null
  result: TrainingResult | null
  status: 'running' | 'finished' | 'crashed' | 'failed'
  error: Error | null
  /** Consensus counters of earlier incarnations (before a crash). */
  carried: { framesSent: number; bytesSent: number; rounds: number }
  /** Times the node rejoined after its peers excluded it from a session. */
  rejoins: number
}

/**
 * Exact sum of one statistics session's inputs, for the consensus error of what nodes
 * received. Results that arrive before every input is in wait in `pending` (rare: rounds >= diameter).
 * Inputs wait in `unsummed` and are added in node order (not arrival order), so the sum is
 * the same bits however the nodes are scheduled, on one thread or on several (sim/workers/).
 */
export interface SessionInputs {
  sum: Float64Array
  inputs: number
  pending: Float64Array[]
  maxErr: number
  unsummed: Array<{ node: number; vec: Float64Array }>
}

/** Add the waiting inputs to the sum, in node order. */
function foldInputs(e: SessionInputs): void {
  if (e.unsummed.length === 0) return
  e.unsummed.sort((a, b) => a.node - b.node)
  for (const { vec } of e.unsummed) for (let i = 0; i < vec.length; i++) e.sum[i] += vec[i]
  e.unsummed = []
}

export interface NetworkRunOptions {
  sc: Scenario
  data: SimData
  topology: Topology
  /** Rounds the scheme is predicted to need (a scheduled crash strikes halfway). */
  predictedRounds: number
  /** The run's root generator (the probe's direction). */
  root: Rng
  hooks: RunHooks
}

export class NetworkRun {
  readonly nodes: SimNode[]
  readonly probe: RoundProbe
  readonly sessionInputs = new Map<string, SessionInputs>()
  readonly crashRecords: SimReport['faults']['crashes']
  readonly rejoinLog: { node: number; iteration: number }[] = []
  firstFailure: Error | null = null
  failedNode = -1
  /** Some node was still waiting when the virtual clock ran out of events or time. */
  stalled = false
  /** What the stalled nodes were waiting for (the virtual clock's stall report), if it stalled. */
  stallReason: string | null = null
  /** Highest iteration any node has reported (progress). */
  shownIteration = -1
  readonly virtual: VirtualClock | null
  readonly net: MemoryNetwork | null = null
  private readonly config: TrainingConfig
  private readonly exact: ExactAggregator | null
  /** Progress of the start and the release (node 0's sums). */
  private readonly sessionProgress: SessionProgress
  private mesh: Libp2pMesh | null = null
  /** Nodes due to crash at a round of a session (set when they open it). */
  private readonly pendingCrash = new Map<number, { session: number; round: number }>()
  private readonly crashDone = new Set<number>()
  private readonly frozen: Clock = createVirtualClock()
  private readonly running: Promise<void>[] = []
  private readonly rejoinable: boolean
  private readonly crashOf: Map<number, Scenario['faults']['crashes'][number]>

  constructor(private readonly o: NetworkRunOptions) {
    const { sc, topology } = o
    this.config = sc.training
    this.sessionProgress = new SessionProgress(sc.training.maxIterations, o.hooks.onProgress)
    const S = sc.nodes
    this.virtual = sc.transport === 'memory' ? createVirtualClock() : null
    this.exact = sc.transport === 'exact' ? createExactAggregator(S) : null
    const faulty = sc.faults.loss > 0 || sc.faults.latency !== undefined || sc.faults.crashes.length > 0
    if (this.exact && faulty) throw new SimulationError('exact sums have no network to fail; use transport: memory for faults')
    if (sc.transport === 'libp2p' && faulty) throw new SimulationError('faults are injected by the in-memory transport only; remove faults or use transport: memory')
    this.probe = new RoundProbe(S, Number.POSITIVE_INFINITY, o.root.fork('probe'), TRACED_LABEL)
    if (this.virtual) this.net = createMemoryNetwork(topology, { clock: this.virtual, latencyMs: latencyFn(sc.faults.latency), loss: sc.faults.loss, seed: `${sc.seed}/network` })
    this.rejoinable = this.exact === null && (faulty || sc.transport === 'libp2p')
    this.crashOf = new Map(sc.faults.crashes.map((c) => [c.node, c]))
    this.crashRecords = sc.faults.crashes.map((c) => ({ node: c.node, atIteration: c.atIteration, restartAtIteration: c.restartAtIteration ?? null, rejoinedAt: null, adoptedIteration: null }))
    const vnow = (): Date => new Date(this.virtual ? this.virtual.now() : 0)
    const config = this.config
    this.nodes = o.data.nodes.map((_, s) => {
      const ledger = config.privacy.monitor || config.privacy.release.enabled || modelChargesLedger(config) ? createLedger(config, `node-${s}`, { now: vnow }) : null
      return {
        model: createNodeModel(config, { noise: simulationSecret(sc, s).fork('model'), ledger: ledger ?? undefined }),
        ledger,
        consensus: null,
        controller: new AbortController(),
        checkpoint: null,
        result: null,
        status: 'running',
        error: null,
        carried: { framesSent: 0, bytesSent: 0, rounds: 0 },
        rejoins: 0,
      }
    })
  }

  /** Virtual time of the run so far (ms; 0 off the virtual clock). */
  get virtualMs(): number {
    return this.virtual ? this.virtual.now() : 0
  }

  /** Train every node until all finish, one fails for good, or the network stalls. */
  async train(): Promise<void> {
    const { sc, data } = this.o
    if (sc.transport === 'libp2p') this.mesh = await createLibp2pMesh(sc.nodes, { maxPayload: consensusPayloadLimit(this.config, data.columns.length, sc.nodes), chunks: this.config.consensus.chunks })
    for (const [s, st] of this.nodes.entries()) st.consensus = this.makeConsensus(s, 0)
    for (let s = 0; s < sc.nodes; s++) this.running.push(this.runNode(s, null, null))
    const all = (async (): Promise<void> => {
      // Restarts push new promises while we wait.
      for (let i = 0; i < this.running.length; i++) await this.running[i]
    })()
    if (this.virtual) {
      this.stallReason = await driveClock(this.virtual, all, () =>
        formatWaits(this.nodes.flatMap((x, s) => (x.status === 'running' ? (x.consensus?.waiting() ?? [{ node: s, session: -1, label: '(no consensus node)', attempt: 0, chunks: [], openMs: 0 }]) : []))),
      )
    }
    if (this.virtual && this.nodes.some((x) => x.status === 'running')) {
      this.stalled = true
      for (const x of this.nodes) if (x.status === 'running') x.controller.abort()
      for (const x of this.nodes) x.consensus?.close()
    }
    await all
    await this.mesh?.close()
    for (const e of this.sessionInputs.values()) {
      foldInputs(e)
      for (const v of e.pending) e.maxErr = Math.max(e.maxErr, relNorm(v, e.sum))
      e.pending = []
    }
    this.net?.close()
    for (const x of this.nodes) x.consensus?.close()
  }

  private transportOf(s: number): MemoryNetwork['transports'][number] | null {
    return this.net ? this.net.transports[s] : this.mesh ? this.mesh.transports[s] : null
  }

  private makeConsensus(s: number, firstSession: number): ConsensusNode | null {
    const transport = this.transportOf(s)
    if (transport === null) return null
    return createConsensusNode({
      topology: this.o.topology,
      transport,
      clock: this.virtual ?? systemClock,
      ...engineOptions(this.config),
      // chunk noise from the node's secret stream, a fresh one per incarnation
      noise: simulationSecret(this.o.sc, s).fork(`consensus/from-session-${firstSession}`),
      firstSession,
      onRound: (e) => this.onRound(s, e),
      // the traced session's rounds, and the one a crash is due in
      onRoundFor: (session, label) => this.probe.wants(session, label) || this.pendingCrash.get(s)?.session === session,
    })
  }

  private onRound(s: number, e: RoundEvent): void {
    this.probe.onRound(s, e)
    const pc = this.pendingCrash.get(s)
    if (pc !== undefined && e.session === pc.session && e.round >= pc.round) {
      this.pendingCrash.delete(s)
      // Silence the node at once (zero-latency delivery may finish the whole session in
      // this microtask); stop its engine and training right after.
      this.net?.crash(s)
      queueMicrotask(() => this.crashNow(s))
    }
  }

  /** Running nodes (memo: every status change resets it; settleErrors asks on each sum, O(S) each time otherwise). */
  private liveMemo = -1
  private liveCount(): number {
    if (this.liveMemo < 0) this.liveMemo = this.nodes.filter((x) => x.status === 'running').length
    return this.liveMemo
  }

  private settleErrors(e: SessionInputs): void {
    if (e.inputs < this.liveCount()) return
    foldInputs(e)
    for (const v of e.pending) e.maxErr = Math.max(e.maxErr, relNorm(v, e.sum))
    e.pending = []
  }

  /** Node s's aggregate: a scheduled crash, then its consensus (or exact) sum, with the exact sum tracked for the error. */
  private aggregateFor(s: number): Aggregate {
    const crash = this.crashOf.get(s)
    return async (vec, label, opts) => {
      const st = this.nodes[s]
      if (s === 0) this.sessionProgress.opening(label, this.shownIteration)
      if (crash && label === `iter:${crash.atIteration}:stats` && st.status === 'running' && !this.crashDone.has(s) && st.consensus) {
        this.crashDone.add(s)
        if (this.config.consensus.protection === 'shamir') {
          // Shamir sessions have no rounds: the node dies as it opens the session
          this.crashNow(s)
          throw new SimulationError(`node ${s} crashed (scheduled)`)
        }
        // Scheduled crash: the node joins this session and dies halfway through its rounds.
        this.pendingCrash.set(s, { session: st.consensus.nextSession, round: Math.max(1, Math.floor(this.o.predictedRounds / 2)) })
      }
      const isStats = label.startsWith('iter:') && this.exact === null
      let e: SessionInputs | undefined
      if (isStats) {
        e = this.sessionInputs.get(label)
        if (e === undefined) {
          e = { sum: new Float64Array(vec.length), inputs: 0, pending: [], maxErr: 0, unsummed: [] }
          this.sessionInputs.set(label, e)
        }
        e.unsummed.push({ node: s, vec: Float64Array.from(vec) })
        e.inputs++
        this.settleErrors(e)
      }
      const out = this.exact ? await this.exact.forNode(s)(vec, label) : await (st.consensus as ConsensusNode).sum(vec, label, opts)
      if (e !== undefined) {
        e.pending.push(Float64Array.from(out))
        this.settleErrors(e)
      }
      return out
    }
  }

  private crashNow(s: number): void {
    const st = this.nodes[s]
    if (st.status !== 'running') return
    this.net?.crash(s)
    st.status = 'crashed'
    this.liveMemo = -1
    st.controller.abort()
    const cs = st.consensus?.stats
    if (cs) st.carried = { framesSent: st.carried.framesSent + cs.framesSent, bytesSent: st.carried.bytesSent + cs.bytesSent, rounds: st.carried.rounds + cs.history.reduce((a, h) => a + Math.max(...h.rounds), 0) }
    st.consensus?.close()
  }

  private onEvent(e: TrainingEvent): void {
    const { sc, hooks } = this.o
    hooks.onEvent?.(e)
    if (e.type !== 'iteration' || e.record.iteration <= this.shownIteration) return
    this.shownIteration = e.record.iteration
    hooks.onProgress?.({ iteration: e.record.iteration + 1, maxIterations: this.config.maxIterations, objective: e.record.objective, phase: 'train' })
    // Scheduled restarts: the network has finished iteration r-1, node rejoins for r.
    for (const c of sc.faults.crashes) {
      if (c.restartAtIteration !== undefined && c.restartAtIteration === e.record.iteration + 1 && this.nodes[c.node].status === 'crashed') {
        this.restart(c.node, e.nodeIndex)
      }
    }
  }

  private runNode(s: number, resume: Checkpoint | null, fetchFrom: number | null): Promise<void> {
    const { sc, data } = this.o
    const config = this.config
    const st = this.nodes[s]
    const ctx: LearningContext = {
      ...simNodeContext({
        sc,
        config,
        s,
        train: data.nodes[s].train,
        model: st.model,
        ledger: st.ledger,
        aggregate: this.aggregateFor(s),
        // exact sums take no time: a clock that never advances keeps the report free of wall-clock figures
        clock: this.virtual ?? (this.mesh ? systemClock : this.frozen),
        results: () => this.nodes.map((o) => o.result),
      }),
      fetchGlobal: fetchFrom === null ? undefined : async () => this.nodes[fetchFrom].model.exportGlobal(),
    }
    // Checkpoints (kept in memory, as a disk would) for nodes that may restart or rejoin.
    const restarts = this.crashOf.get(s)?.restartAtIteration !== undefined || this.rejoinable
    return runTraining(ctx, {
      config,
      resume: resume ?? undefined,
      signal: st.controller.signal,
      onEvent: (e) => this.onEvent(e),
      checkpoint: restarts
        ? async (cp) => {
            st.checkpoint = cp
          }
        : undefined,
    }).then(
      (r) => {
        st.result = r
        st.status = 'finished'
        this.liveMemo = -1
      },
      (e: unknown) => this.onNodeError(s, e),
    )
  }

  /** A node's training threw: rejoin when its peers excluded it, else fail the run. */
  private onNodeError(s: number, e: unknown): void {
    const st = this.nodes[s]
    if (st.status === 'crashed') return
    // Excluded by its peers (they timed out on it): rejoin from the checkpoint once a peer
    // has finished that session, as a peer node does (node/training.ts).
    const cause = e instanceof TrainingStoppedError ? (e.cause as Error | undefined) : undefined
    if (e instanceof TrainingStoppedError && cause?.name === 'ExcludedError' && this.rejoinable && st.checkpoint !== null && st.rejoins < MAX_REJOINS) {
      st.rejoins++
      this.rejoinLog.push({ node: s, iteration: e.iteration })
      this.running.push(this.waitAndRejoin(s, e.iteration))
      return
    }
    st.status = 'failed'
    this.liveMemo = -1
    st.error = e instanceof Error ? e : new Error(String(e))
    if (this.firstFailure === null) {
      this.firstFailure = st.error
      this.failedNode = s
    }
    // One node failed for good: stop the others rather than let them wait.
    for (const o of this.nodes) if (o.status === 'running') o.controller.abort()
    this.exact?.fail(st.error)
    for (const o of this.nodes) o.consensus?.close()
  }

  private restart(s: number, from: number): void {
    const st = this.nodes[s]
    const cp = st.checkpoint
    if (cp === null) return
    const peerCn = this.nodes[from].consensus
    // The session id of the next statistics session: the peer's last one + 1.
    const last = peerCn?.stats.history.filter((h) => h.label.startsWith('iter:')).at(-1)
    const firstSession = last ? last.session + 1 : 0
    this.net?.restart(s)
    st.model = loadNodeModel(this.config, cp.model, { ledger: st.ledger ?? undefined })
    st.consensus = this.makeConsensus(s, firstSession)
    st.controller = new AbortController()
    st.status = 'running'
    this.liveMemo = -1
    const rec = this.crashRecords.find((c) => c.node === s)
    this.running.push(
      this.runNode(s, cp, from).then(() => {
        if (rec) {
          rec.rejoinedAt = st.result?.resumedFrom ?? null
          rec.adoptedIteration = st.result?.adoptedIteration ?? null
        }
      }),
    )
  }

  private sleep(ms: number): Promise<void> {
    const clock: Clock = this.virtual ?? systemClock
    return new Promise((r) => clock.setTimeout(r, ms))
  }

  private async waitAndRejoin(s: number, behind: number): Promise<void> {
    for (let tries = 0; tries < 10_000; tries++) {
      const from = this.nodes.findIndex((p, j) => j !== s && (p.status === 'running' || p.status === 'finished') && p.model.iteration > behind)
      if (from >= 0) {
        this.nodes[s].consensus?.close()
        this.restart(s, from)
        return
      }
      if (this.firstFailure !== null) return
      await this.sleep(50)
    }
  }
}
