/**
 * One simulated network: S nodes in this process, each running runTraining (the code a
 * peer node runs) on its own slice, over exact sums, the in-memory transport (virtual
 * clock, seeded latency/loss/crashes) or real libp2p on loopback. Produces the report's
 * figures: per-iteration objective, consensus rounds, bytes and error, AUCs of local /
 * CollabDict / centralised models, privacy ledger and l-diversity per node, faults.
 *
 * Determinism: on the exact and in-memory transports everything (split, chunks,
 * relabelling, latency, loss, crashes, noise) comes from seeded generators and the virtual
 * clock, and the report holds no wall-clock figure, so the same scenario and seed give
 * the same report bytes. Wall time is returned beside the report, not inside it.
 */
import { performance } from 'node:perf_hooks'
import {
  createConsensusNode,
  createMemoryNetwork,
  sessionTol,
  createVirtualClock,
  type ConsensusNode,
  type MemoryNetwork,
  type RoundEvent,
  type SessionRecord,
  type VirtualClock,
} from '../src/consensus/index.js'
import { systemClock, type Clock } from '../src/consensus/transport.js'
import { createExactAggregator } from '../src/learning/exact.js'
import {
  runTraining,
  TrainingStoppedError,
  type Checkpoint,
  type LearningContext,
  type TrainingConfig,
  type TrainingEvent,
  type TrainingResult,
} from '../src/learning/index.js'
import { consensusPayloadLimit, createNodeModel, loadNodeModel, modelChargesLedger } from '../src/learning/models.js'
import { createLedger, createPrivacyGuard, createReleaser } from '../src/learning/privacy.js'
import type { Aggregate, CollabModel } from '../src/models/model.js'
import { selectRows, type Mat } from '../src/numeric/matrix.js'
import { Rng } from '../src/numeric/rng.js'
import { SecretRng } from '../src/numeric/secret-rng.js'
import type { PrivacyLedger } from '../src/privacy/ledger.js'
import { scoreReleasedGgm } from '../src/privacy/ggm-release.js'
import { generateTopology, loadTopology, spectralReport, type SpectralReport, type Topology } from '../topologies/index.js'
import { loadSimData, type SimData } from './data.js'
import { createLibp2pMesh, type Libp2pMesh } from './libp2p.js'
import { decisionThreshold, evaluateNode, evaluatedNodes, summarise, trainingThreshold, type NodeScore, type Summary } from './evaluate.js'
import type { Latency, Scenario } from './scenario.js'

export const REPORT_FORMAT = 'collabdict-sim-report'
export const REPORT_VERSION = 1

/** Virtual-time ceiling of one run: a network still busy after this long has stalled. */
export const DEFAULT_VIRTUAL_LIMIT_MS = 24 * 3600 * 1000

export class SimulationError extends Error {
  override name = 'SimulationError'
}

export interface Progress {
  iteration: number
  maxIterations: number
  objective: number | null
  phase: 'train' | 'evaluate' | 'done'
}

export interface RunHooks {
  onProgress?: (p: Progress) => void
  /** Per-node events (large networks: called often). */
  onEvent?: (e: TrainingEvent) => void
}

export interface IterationRow {
  iteration: number
  /** Objective per node: mean, min, max (they differ by the consensus error and private parts). */
  objective: number
  objectiveMin: number
  objectiveMax: number
  participants: number
  /** Consensus rounds of this iteration's statistics session (max over chunks, first live node). */
  rounds: number
  attempts: number
  /** max_s ||sum_s - exact sum|| / ||exact sum|| over the nodes that received a sum. */
  consensusError: number | null
  exposedNodes: number
  perturbedNodes: number
  /** Virtual ms spent in this iteration's aggregate (max over nodes). */
  aggregateMs: number
}

export interface NodeRow {
  node: number
  trainRows: number
  testRows: number
  status: 'finished' | 'crashed' | 'failed'
  iterations: number
  framesSent: number
  bytesSent: number
  /** Rounds summed over every session this node ran. */
  rounds: number
  threshold: number | null
  minEntropy: number | null
  effectiveL: number | null
  exposures: number
  perturbations: number
  epsilon: number | null
  spentEpsilon: number | null
  release: 'released' | 'refused' | 'disabled' | 'none'
  releaseRefused?: string
  rocAuc: number | null
  prAuc: number | null
  localRocAuc: number | null
  centralRocAuc: number | null
}

export interface SessionRow {
  session: number
  label: string
  rounds: number
  attempts: number
  members: number
  excluded: number[]
}

export interface SimReport {
  format: typeof REPORT_FORMAT
  version: typeof REPORT_VERSION
  scenario: Scenario
  data: { source: string; columns: number; rows: number; normal: number; anomalies: number; trainRows: number[] }
  topology: {
    nodes: number
    edges: number
    maxDegree: number
    lambda2: number
    lambdaMax: number
    scheme: string
    rho: number
    predictedRounds: number
  }
  outcome: {
    status: 'completed' | 'stopped'
    /** Named reason when stopped (error name and message). */
    reason: string | null
    converged: boolean
    stopReason: string | null
    iterations: number
    /** Virtual time of the training (ms; 0 for exact sums). */
    virtualMs: number
  }
  iterations: IterationRow[]
  consensus: {
    sessions: number
    roundsTotal: number
    bytesPerNode: { mean: number; max: number }
    framesPerNode: { mean: number; max: number }
    network: { sent: number; delivered: number; lost: number; dropped: number } | null
    /** Relative disagreement per round in the traced session (max_s |u.x_s(t) - mean| / same at t = 0). */
    errorPerRound: { label: string; chunk: number; errors: number[] } | null
    reruns: SessionRow[]
  }
  /** released: the DP-released models (Theorem 1), scored as a third party would. */
  auc: { collab: Summary; local: Summary | null; centralised: Summary | null; released: Summary | null }
  privacy: {
    /**
     * Where protecting noise came from: the simulator's per-node secret streams (keyed
     * from `noiseSeed`, or from the scenario seed when none is given), never the shared
     * training seed. A real node keys them from OS entropy.
     */
    noise: { source: 'simulation-secret'; derivedFrom: 'noiseSeed' | 'scenario seed' }
    monitor: boolean
    l0: number
    exposedNodes: number
    perturbations: number
    minEntropy: number | null
    release: boolean
    /** Network-level (epsilon, delta) of the network's one release (null without one). */
    released: { epsilon: number; delta: number; nodes: number; identicalFiles: boolean } | null
    /** Largest external (epsilon, delta) spent by a node's ledger. */
    spent: { epsilon: number; delta: number } | null
    ledgers: { node: number; entries: { kind: string; label: string; audience: string; epsilon: number }[] }[]
  }
  faults: {
    loss: number
    latency: Latency | null
    crashes: { node: number; atIteration: number; restartAtIteration: number | null; rejoinedAt: number | null; adoptedIteration: number | null }[]
    /** Nodes their peers excluded (timed out on) that rejoined from their checkpoint, and the iteration they were excluded in. */
    rejoins: { node: number; iteration: number }[]
  }
  nodes: NodeRow[]
}

export interface RunOutcome {
  report: SimReport
  /** Wall time of the run (not in the report, which must be deterministic). */
  wallMs: number
  /** Trained models of the nodes that finished (index = node; null otherwise). */
  models: (CollabModel | null)[]
}

function latencyFn(l: Latency | undefined): ((rng: Rng) => number) | undefined {
  if (l === undefined) return undefined
  switch (l.kind) {
    case 'fixed':
      return () => l.ms
    case 'uniform':
      return (r) => l.minMs + (l.maxMs - l.minMs) * r.uniform()
    case 'exponential':
      return (r) => -l.meanMs * Math.log(1 - r.uniform())
    case 'lognormal':
      return (r) => l.medianMs * Math.exp(l.sigma * r.normal())
  }
}

/** The scenario's topology (generated or loaded), checked against the node count. */
export function scenarioTopology(sc: Scenario): Topology {
  const t = 'file' in sc.topology ? loadTopology(sc.topology.file) : generateTopology(sc.topology.kind, sc.nodes, { degree: sc.topology.degree, seed: sc.topology.seed })
  if (t.nodes.length !== sc.nodes) {
    throw new SimulationError(`topology has ${t.nodes.length} nodes but the scenario has nodes: ${sc.nodes}; make them equal`)
  }
  return t
}

/** Config for the single-node reference runs (local-only and centralised): same model, no network privacy. */
function referenceConfig(config: TrainingConfig): TrainingConfig {
  return { ...config, privacy: { ...config.privacy, monitor: false, release: { ...config.privacy.release, enabled: false } } }
}

/** Algorithm 1 on one node holding `data` with exact sums (the local-only and centralised baselines). */
export async function trainAlone(config: TrainingConfig, data: Mat, noise: SecretRng): Promise<TrainingResult> {
  const agg = createExactAggregator(1)
  return runTraining({ nodeIndex: 0, data, model: createNodeModel(config, { noise: noise.fork('model') }), aggregate: agg.forNode(0), noise: noise.fork('learning') }, { config })
}

/** The simulator's secret stream of node `node` (see Scenario.noiseSeed): replayable, unrelated to training.seed. */
export function simulationSecret(sc: Scenario, node: number | string): SecretRng {
  return SecretRng.forSimulation(sc.noiseSeed ?? `scenario-seed:${sc.seed}`, node)
}

function relNorm(a: Float64Array, ref: Float64Array): number {
  let d = 0
  let n = 0
  for (let i = 0; i < ref.length; i++) {
    d += (a[i] - ref[i]) ** 2
    n += ref[i] ** 2
  }
  return n > 0 ? Math.sqrt(d / n) : Math.sqrt(d)
}

/** The session whose per-round disagreement the report plots. */
const TRACED_LABEL = 'iter:0:stats'

/** Tracks the first statistics session's per-round disagreement via a fixed random projection. */
class RoundProbe {
  /** session -> chunk 0, attempt -> round -> values by node */
  private readonly data = new Map<number, Map<number, Float64Array[]>>()
  private readonly dirs = new Map<number, Float64Array>()
  /**
   * `keep(session)`: false once a session is known (finished somewhere) not to be the traced
   * one; its rounds are then dropped, so a long prepare (the GGM's model selection) before
   * the traced session costs no memory.
   */
  constructor(
    private readonly S: number,
    private readonly maxSessions: number,
    private readonly rng: Rng,
    private readonly keep: (session: number) => boolean | undefined = () => undefined,
  ) {}
  private dir(len: number): Float64Array {
    let u = this.dirs.get(len)
    if (u === undefined) {
      u = this.rng.fork(`probe/${len}`).fillNormal(new Float64Array(len))
      this.dirs.set(len, u)
    }
    return u
  }
  onRound(node: number, e: RoundEvent): void {
    if (e.chunk !== 0 || e.session >= this.maxSessions) return
    let byAttempt = this.data.get(e.session)
    if (byAttempt === undefined) {
      for (const old of this.data.keys()) if (this.keep(old) === false) this.data.delete(old)
      byAttempt = new Map()
      this.data.set(e.session, byAttempt)
    }
    let rounds = byAttempt.get(e.attempt)
    if (rounds === undefined) {
      rounds = []
      byAttempt.set(e.attempt, rounds)
    }
    while (rounds.length <= e.round) rounds.push(new Float64Array(this.S).fill(Number.NaN))
    const u = this.dir(e.value.length)
    let p = 0
    for (let i = 0; i < u.length; i++) p += u[i] * e.value[i]
    rounds[e.round][node] = p
  }
  /** Relative disagreement per round of `session` (attempt 0), or null if not traced. */
  errors(session: number): number[] | null {
    const rounds = this.data.get(session)?.get(0)
    if (rounds === undefined || rounds.length === 0) return null
    const spread = (v: Float64Array): number => {
      let s = 0
      let n = 0
      for (const x of v) if (!Number.isNaN(x)) {
        s += x
        n++
      }
      const mean = s / n
      let m = 0
      for (const x of v) if (!Number.isNaN(x)) m = Math.max(m, Math.abs(x - mean))
      return m
    }
    const e0 = spread(rounds[0])
    return rounds.map((r) => (e0 > 0 ? spread(r) / e0 : 0))
  }
}

interface NodeState {
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

/** How often a node excluded by its peers (a false timeout) rejoins before giving up. */
export const MAX_REJOINS = 3

const emptySummary = (): Summary => summarise([], 0)

/** The report's topology section: size, spectrum, and the scheme's rate and predicted rounds. */
function topologySummary(topology: Topology, spec: SpectralReport, config: TrainingConfig): SimReport['topology'] {
  const schemeInfo = spec.schemes[config.consensus.scheme]
  return {
    nodes: topology.nodes.length,
    edges: topology.edges.length,
    maxDegree: spec.maxDegree,
    lambda2: spec.lambda2,
    lambdaMax: spec.lambdaMax,
    scheme: config.consensus.scheme,
    rho: schemeInfo.rho,
    predictedRounds: schemeInfo.rounds,
  }
}

/**
 * Consensus only: every node sums one random vector (length sc.vectorLength) over the
 * in-memory transport with the scenario's scheme, tolerance, chunks and faults; the report
 * gives rounds (measured and predicted), the error against the exact sum and traffic.
 */
export async function runConsensusScenario(sc: Scenario): Promise<RunOutcome> {
  const wall0 = performance.now()
  const topology = scenarioTopology(sc)
  const config = sc.training
  const S = sc.nodes
  const spec = spectralReport(topology, sessionTol(config.consensus.tol, config.consensus.chunks, config.consensus.chunkScale, sc.vectorLength))
  const root = new Rng(sc.seed)
  const clock = createVirtualClock()
  const net = createMemoryNetwork(topology, { clock, latencyMs: latencyFn(sc.faults.latency), loss: sc.faults.loss, seed: `${sc.seed}/network` })
  const probe = new RoundProbe(S, 1, root.fork('probe'))
  const cns = net.transports.map((t, s) =>
    createConsensusNode({
      topology,
      transport: t,
      clock,
      scheme: config.consensus.scheme,
      tol: config.consensus.tol,
      chunks: config.consensus.chunks,
      chunkScale: config.consensus.chunkScale,
      seed: config.seed,
      noise: simulationSecret(sc, s).fork('consensus'),
      timeoutMs: config.consensus.timeoutMs,
      rerunOnTimeout: config.consensus.rerunOnTimeout,
      protection: config.consensus.protection,
      shamirThreshold: config.consensus.shamirThreshold,
      onRound: (e) => probe.onRound(s, e),
    }),
  )
  const xs = Array.from({ length: S }, (_, s) => root.fork(`x:${s}`).fillNormal(new Float64Array(sc.vectorLength)))
  const exactSum = new Float64Array(sc.vectorLength)
  for (const x of xs) for (let i = 0; i < x.length; i++) exactSum[i] += x[i]
  let failure: Error | null = null
  const results: (Float64Array | null)[] = new Array<Float64Array | null>(S).fill(null)
  const all = Promise.all(
    cns.map((c, s) =>
      c.sum(xs[s], 'probe').then(
        (v) => {
          results[s] = v
        },
        (e: unknown) => {
          failure ??= e instanceof Error ? e : new Error(String(e))
        },
      ),
    ),
  )
  await clock.run({ until: all, maxMs: DEFAULT_VIRTUAL_LIMIT_MS })
  const stalled = results.some((r) => r === null) && failure === null
  for (const c of cns) c.close()
  await all
  net.close()
  const h = cns.map((c) => c.stats.history[0]).find((x) => x !== undefined)
  const got = results.filter((r): r is Float64Array => r !== null)
  const error = got.length ? Math.max(...got.map((v) => relNorm(v, exactSum))) : null
  const bytes = cns.map((c) => c.stats.bytesSent)
  const frames = cns.map((c) => c.stats.framesSent)
  const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length)
  const fail = failure as Error | null
  const errs = probe.errors(0)
  const report: SimReport = {
    format: REPORT_FORMAT,
    version: REPORT_VERSION,
    scenario: sc,
    data: { source: `random N(0, 1) vectors of length ${sc.vectorLength}`, columns: sc.vectorLength, rows: S, normal: S, anomalies: 0, trainRows: [] },
    topology: topologySummary(topology, spec, config),
    outcome: {
      status: fail === null && !stalled ? 'completed' : 'stopped',
      reason: fail ? `${fail.name}: ${fail.message}` : stalled ? 'SimulationStalled: the sum did not complete' : null,
      converged: got.length === S,
      stopReason: null,
      iterations: 0,
      virtualMs: clock.now(),
    },
    iterations: [
      {
        iteration: 0,
        objective: Number.NaN,
        objectiveMin: Number.NaN,
        objectiveMax: Number.NaN,
        participants: h?.members ?? 0,
        rounds: h ? Math.max(...h.rounds) : 0,
        attempts: h?.attempts ?? 0,
        consensusError: error,
        exposedNodes: 0,
        perturbedNodes: 0,
        aggregateMs: h?.durationMs ?? 0,
      },
    ],
    consensus: {
      sessions: 1,
      roundsTotal: h ? Math.max(...h.rounds) : 0,
      bytesPerNode: { mean: mean(bytes), max: Math.max(0, ...bytes) },
      framesPerNode: { mean: mean(frames), max: Math.max(0, ...frames) },
      network: { sent: net.stats.sent, delivered: net.stats.delivered, lost: net.stats.lost, dropped: net.stats.dropped },
      errorPerRound: errs ? { label: 'probe', chunk: 0, errors: errs } : null,
      reruns: [],
    },
    auc: { collab: emptySummary(), local: null, centralised: null, released: null },
    privacy: { noise: { source: 'simulation-secret', derivedFrom: sc.noiseSeed === undefined ? 'scenario seed' : 'noiseSeed' }, monitor: false, l0: config.privacy.l0, exposedNodes: 0, perturbations: 0, minEntropy: null, release: false, released: null, spent: null, ledgers: [] },
    faults: { loss: sc.faults.loss, latency: sc.faults.latency ?? null, crashes: [], rejoins: [] },
    nodes: [],
  }
  return { report, wallMs: performance.now() - wall0, models: [] }
}

/** Run one scenario (no sweep) and build its report. */
export async function runScenario(sc: Scenario, hooks: RunHooks = {}): Promise<RunOutcome> {
  if (sc.sweep !== undefined || sc.cases !== undefined) throw new SimulationError('runScenario runs one variant; use runSweep for a scenario with a sweep or cases')
  if (sc.mode === 'consensus') return runConsensusScenario(sc)
  const wall0 = performance.now()
  const root = new Rng(sc.seed)
  const data: SimData = loadSimData(sc, root.fork('data'))
  const topology = scenarioTopology(sc)
  const config = sc.training
  const S = sc.nodes
  // Chunked sessions run to a tighter tolerance that covers the chunk noise (sessionTol); the
  // prediction is for the statistics vector (its largest length).
  const statsLength = consensusPayloadLimit(config, data.columns.length, S)
  const spec = spectralReport(topology, sessionTol(config.consensus.tol, config.consensus.chunks, config.consensus.chunkScale, statsLength))
  const schemeInfo = spec.schemes[config.consensus.scheme]

  // Transport.
  const virtual: VirtualClock | null = sc.transport === 'memory' ? createVirtualClock() : null
  const clock: Clock | undefined = virtual ?? undefined
  let net: MemoryNetwork | null = null
  const exact = sc.transport === 'exact' ? createExactAggregator(S) : null
  if (exact && (sc.faults.loss > 0 || sc.faults.latency !== undefined || sc.faults.crashes.length > 0)) {
    throw new SimulationError('exact sums have no network to fail; use transport: memory for faults')
  }
  let mesh: Libp2pMesh | null = null
  if (sc.transport === 'libp2p') {
    if (sc.faults.loss > 0 || sc.faults.latency !== undefined || sc.faults.crashes.length > 0) {
      throw new SimulationError('faults are injected by the in-memory transport only; remove faults or use transport: memory')
    }
    mesh = await createLibp2pMesh(S, { maxPayload: consensusPayloadLimit(config, data.columns.length, S), chunks: config.consensus.chunks })
  }
  const realClock: Clock = systemClock
  const probe = new RoundProbe(S, Number.POSITIVE_INFINITY, root.fork('probe'), (session) => {
    const h = states[0]?.consensus?.stats.history.find((r) => r.session === session)
    return h === undefined ? undefined : h.label === TRACED_LABEL
  })
  if (virtual) {
    net = createMemoryNetwork(topology, {
      clock: virtual,
      latencyMs: latencyFn(sc.faults.latency),
      loss: sc.faults.loss,
      seed: `${sc.seed}/network`,
    })
  }
  const memNet = net
  const p2p = mesh
  /** Nodes due to crash at a round of a session (set when they open it). */
  const pendingCrash = new Map<number, { session: number; round: number }>()
  const onRoundOf = (s: number) => (e: RoundEvent): void => {
    probe.onRound(s, e)
    const pc = pendingCrash.get(s)
    if (pc !== undefined && e.session === pc.session && e.round >= pc.round) {
      pendingCrash.delete(s)
      // Silence the node at once (zero-latency delivery may finish the whole session in
      // this microtask); stop its engine and training right after.
      memNet?.crash(s)
      queueMicrotask(() => crashNow(s))
    }
  }
  const makeConsensus = (s: number, firstSession: number): ConsensusNode | null => {
    const transport = memNet ? memNet.transports[s] : p2p ? p2p.transports[s] : null
    if (transport === null) return null
    return createConsensusNode({
      topology,
      transport,
      clock: virtual ?? realClock,
      scheme: config.consensus.scheme,
      tol: config.consensus.tol,
      chunks: config.consensus.chunks,
      chunkScale: config.consensus.chunkScale,
      seed: config.seed,
      // chunk noise from the node's secret stream, a fresh one per incarnation
      noise: simulationSecret(sc, s).fork(`consensus/from-session-${firstSession}`),
      timeoutMs: config.consensus.timeoutMs,
      rerunOnTimeout: config.consensus.rerunOnTimeout,
      protection: config.consensus.protection,
      shamirThreshold: config.consensus.shamirThreshold,
      firstSession,
      onRound: onRoundOf(s),
    })
  }

  // Nodes.
  const crashOf = new Map(sc.faults.crashes.map((c) => [c.node, c]))
  const vnow = (): Date => new Date(virtual ? virtual.now() : 0)
  const states: NodeState[] = data.nodes.map((_, s) => {
    const ledger = config.privacy.monitor || config.privacy.release.enabled || modelChargesLedger(config) ? createLedger(config, `node-${s}`, { now: vnow }) : null
    return {
      model: createNodeModel(config, { noise: simulationSecret(sc, s).fork('model'), ledger: ledger ?? undefined }),
      ledger,
      consensus: makeConsensus(s, 0),
      controller: new AbortController(),
      checkpoint: null,
      result: null,
      status: 'running',
      error: null,
      carried: { framesSent: 0, bytesSent: 0, rounds: 0 },
      rejoins: 0,
    }
  })

  // Exact sum of each statistics session's inputs, for the consensus error of what nodes received.
  // Results that arrive before every input is in wait in `pending` (rare: rounds >= diameter).
  interface SessionInputs {
    sum: Float64Array
    inputs: number
    pending: Float64Array[]
    maxErr: number
  }
  const sessionInputs = new Map<string, SessionInputs>()
  const liveCount = (): number => states.filter((x) => x.status === 'running').length
  const settleErrors = (e: SessionInputs): void => {
    if (e.inputs < liveCount()) return
    for (const v of e.pending) e.maxErr = Math.max(e.maxErr, relNorm(v, e.sum))
    e.pending = []
  }
  const crashRecords = sc.faults.crashes.map((c) => ({
    node: c.node,
    atIteration: c.atIteration,
    restartAtIteration: c.restartAtIteration ?? null,
    rejoinedAt: null as number | null,
    adoptedIteration: null as number | null,
  }))
  let firstFailure: Error | null = null
  let failedNode = -1
  const rejoinLog: { node: number; iteration: number }[] = []
  const rejoinable = exact === null && (sc.faults.loss > 0 || sc.faults.latency !== undefined || sc.faults.crashes.length > 0 || sc.transport === 'libp2p')

  const aggregateFor = (s: number): Aggregate => {
    return async (vec, label, opts) => {
      const st = states[s]
      const crash = crashOf.get(s)
      if (crash && label === `iter:${crash.atIteration}:stats` && st.status === 'running' && !crashDone.has(s) && st.consensus) {
        crashDone.add(s)
        if (config.consensus.protection === 'shamir') {
          // Shamir sessions have no rounds: the node dies as it opens the session
          crashNow(s)
          throw new SimulationError(`node ${s} crashed (scheduled)`)
        }
        // Scheduled crash: the node joins this session and dies halfway through its rounds.
        pendingCrash.set(s, { session: st.consensus.nextSession, round: Math.max(1, Math.floor(schemeInfo.rounds / 2)) })
      }
      const isStats = label.startsWith('iter:') && exact === null
      if (isStats) {
        let e = sessionInputs.get(label)
        if (e === undefined) {
          e = { sum: new Float64Array(vec.length), inputs: 0, pending: [], maxErr: 0 }
          sessionInputs.set(label, e)
        }
        for (let i = 0; i < vec.length; i++) e.sum[i] += vec[i]
        e.inputs++
        settleErrors(e)
      }
      const out = exact ? await exact.forNode(s)(vec, label) : await (st.consensus as ConsensusNode).sum(vec, label, opts)
      if (isStats) {
        const e = sessionInputs.get(label) as SessionInputs
        e.pending.push(Float64Array.from(out))
        settleErrors(e)
      }
      return out
    }
  }
  const crashDone = new Set<number>()
  const crashNow = (s: number): void => {
    const st = states[s]
    if (st.status !== 'running') return
    memNet?.crash(s)
    st.status = 'crashed'
    st.controller.abort()
    const cs = st.consensus?.stats
    if (cs) st.carried = { framesSent: st.carried.framesSent + cs.framesSent, bytesSent: st.carried.bytesSent + cs.bytesSent, rounds: st.carried.rounds + cs.history.reduce((a, h) => a + Math.max(...h.rounds), 0) }
    st.consensus?.close()
  }

  const maxIter = config.maxIterations
  let shownIteration = -1
  const onEvent = (e: TrainingEvent): void => {
    hooks.onEvent?.(e)
    if (e.type === 'iteration' && e.record.iteration > shownIteration) {
      shownIteration = e.record.iteration
      hooks.onProgress?.({ iteration: e.record.iteration + 1, maxIterations: maxIter, objective: e.record.objective, phase: 'train' })
      // Scheduled restarts: the network has finished iteration r-1, node rejoins for r.
      for (const c of sc.faults.crashes) {
        if (c.restartAtIteration !== undefined && c.restartAtIteration === e.record.iteration + 1 && states[c.node].status === 'crashed') {
          restart(c.node, e.nodeIndex)
        }
      }
    }
  }

  const runNode = (s: number, resume: Checkpoint | null, fetchFrom: number | null): Promise<void> => {
    const st = states[s]
    const ctx: LearningContext = {
      nodeIndex: s,
      data: data.nodes[s].train,
      model: st.model,
      aggregate: aggregateFor(s),
      // The node's secret stream (a peer node keys it from OS entropy: node/peer.ts).
      noise: simulationSecret(sc, s).fork('learning'),
      ledger: st.ledger ?? undefined,
      guard: config.privacy.monitor ? createPrivacyGuard(config, st.ledger) : undefined,
      releaser: config.privacy.release.enabled && st.ledger ? createReleaser(config, st.ledger, { members: S }) : undefined,
      clock: clock ?? (p2p ? realClock : undefined),
      fetchGlobal: fetchFrom === null ? undefined : async () => states[fetchFrom].model.exportGlobal(),
      fetchRelease: async () => {
        for (const o of states) {
          const rel = o.result?.release
          if (rel && 'released' in rel) return rel.released
        }
        return null
      },
    }
    // Checkpoints (kept in memory, as a disk would) for nodes that may restart or rejoin.
    const restarts = crashOf.get(s)?.restartAtIteration !== undefined || rejoinable
    return runTraining(ctx, {
      config,
      resume: resume ?? undefined,
      signal: st.controller.signal,
      onEvent,
      checkpoint: restarts
        ? async (cp) => {
            st.checkpoint = cp
          }
        : undefined,
    }).then(
      (r) => {
        st.result = r
        st.status = 'finished'
      },
      (e: unknown) => {
        if (st.status === 'crashed') return
        // Excluded by its peers (they timed out on it): rejoin from the checkpoint once a peer
        // has finished that session, as a peer node does (node/peer.ts).
        const cause = e instanceof TrainingStoppedError ? (e.cause as Error | undefined) : undefined
        if (cause?.name === 'ExcludedError' && rejoinable && st.checkpoint !== null && st.rejoins < MAX_REJOINS) {
          st.rejoins++
          rejoinLog.push({ node: s, iteration: (e as TrainingStoppedError).iteration })
          running.push(waitAndRejoin(s, (e as TrainingStoppedError).iteration))
          return
        }
        st.status = 'failed'
        st.error = e instanceof Error ? e : new Error(String(e))
        if (firstFailure === null) {
          firstFailure = st.error
          failedNode = s
        }
        // One node failed for good: stop the others rather than let them wait.
        for (const o of states) if (o.status === 'running') o.controller.abort()
        exact?.fail(st.error)
        for (const o of states) o.consensus?.close()
      },
    )
  }

  const running: Promise<void>[] = []
  const restart = (s: number, from: number): void => {
    const st = states[s]
    const cp = st.checkpoint
    if (cp === null) return
    const peerCn = states[from].consensus
    // The session id of the next statistics session: the peer's last one + 1.
    const last = peerCn?.stats.history.filter((h) => h.label.startsWith('iter:')).at(-1)
    const firstSession = last ? last.session + 1 : 0
    memNet?.restart(s)
    st.model = loadNodeModel(config, cp.model, { ledger: st.ledger ?? undefined })
    st.consensus = makeConsensus(s, firstSession)
    st.controller = new AbortController()
    st.status = 'running'
    const rec = crashRecords.find((c) => c.node === s)
    running.push(
      runNode(s, cp, from).then(() => {
        if (rec) {
          rec.rejoinedAt = st.result?.resumedFrom ?? null
          rec.adoptedIteration = st.result?.adoptedIteration ?? null
        }
      }),
    )
  }

  const sleep = (ms: number): Promise<void> => new Promise((r) => (virtual ?? realClock).setTimeout(r, ms))
  const waitAndRejoin = async (s: number, behind: number): Promise<void> => {
    for (let tries = 0; tries < 10_000; tries++) {
      const from = states.findIndex((p, j) => j !== s && (p.status === 'running' || p.status === 'finished') && p.model.iteration > behind)
      if (from >= 0) {
        states[s].consensus?.close()
        restart(s, from)
        return
      }
      if (firstFailure !== null) return
      await sleep(50)
    }
  }

  for (let s = 0; s < S; s++) running.push(runNode(s, null, null))
  const all = (async (): Promise<void> => {
    // Restarts push new promises while we wait.
    for (let i = 0; i < running.length; i++) await running[i]
  })()
  if (virtual) {
    await virtual.run({ until: all, maxMs: DEFAULT_VIRTUAL_LIMIT_MS })
  }
  let stalled = false
  if (virtual && states.some((x) => x.status === 'running')) {
    stalled = true
    for (const x of states) if (x.status === 'running') x.controller.abort()
    for (const x of states) x.consensus?.close()
  }
  await all
  await mesh?.close()
  for (const e of sessionInputs.values()) {
    for (const v of e.pending) e.maxErr = Math.max(e.maxErr, relNorm(v, e.sum))
    e.pending = []
  }
  net?.close()
  for (const x of states) x.consensus?.close()
  const virtualMs = virtual ? virtual.now() : 0

  // Evaluation.
  hooks.onProgress?.({ iteration: shownIteration + 1, maxIterations: maxIter, objective: null, phase: 'evaluate' })
  const finished = states.map((x, s) => (x.status === 'finished' && x.result ? s : -1)).filter((s) => s >= 0)
  // Each node's anomalous test rows: all of them, or a seeded sample keeping the dataset's class ratio.
  const anomalyCache = new Map<number, Mat>()
  const anomaliesFor = (s: number): Mat => {
    if (sc.evaluate.anomalies === 'all') return data.anomalies
    let m = anomalyCache.get(s)
    if (m === undefined) {
      const want = Math.max(1, Math.round((data.nodes[s].testNormal.rows * data.counts.anomalies) / data.counts.normal))
      const pick = root.fork(`eval-anomalies:${s}`).permutation(data.anomalies.rows).slice(0, Math.min(want, data.anomalies.rows))
      m = selectRows(data.anomalies, pick)
      anomalyCache.set(s, m)
    }
    return m
  }
  const evalSet = new Set(evaluatedNodes(S, sc.evaluate.maxNodes).filter((s) => states[s].status === 'finished'))
  const collabScores: NodeScore[] = []
  const scoreByNode = new Map<number, NodeScore>()
  let collabFailed = 0
  for (const s of evalSet) {
    const r = states[s].result as TrainingResult
    try {
      const ns = evaluateNode(s, r.model, data.nodes[s], anomaliesFor(s), sc.evaluate.perClass ? decisionThreshold(r.model, r.threshold) : null)
      collabScores.push(ns)
      scoreByNode.set(s, ns)
    } catch {
      collabFailed++
    }
  }
  // The DP releases, scored by a third party (what leaves the network).
  let released: Summary | null = null
  if (config.privacy.release.enabled) {
    const scores: NodeScore[] = []
    let failed = 0
    for (const s of evalSet) {
      const rel = (states[s].result as TrainingResult).release
      if (rel === null || 'refused' in rel) {
        failed++
        continue
      }
      try {
        const scorer = { score: (X: Mat) => scoreReleasedGgm(rel.released, X) }
        // A third party's threshold: the one in the released file (a quantile of the model's own scores)
        const thr = sc.evaluate.perClass ? rel.released.threshold.value : null
        scores.push(evaluateNode(s, scorer, data.nodes[s], anomaliesFor(s), thr))
      } catch {
        failed++
      }
    }
    released = summarise(scores, failed)
  }
  let local: Summary | null = null
  const localByNode = new Map<number, number>()
  const refConfig = referenceConfig(config)
  if (sc.evaluate.local) {
    const scores: NodeScore[] = []
    let failed = 0
    for (const s of evaluatedNodes(S, sc.evaluate.maxNodes)) {
      try {
        const r = await trainAlone(refConfig, data.nodes[s].train, simulationSecret(sc, `local:${s}`))
        const thr = sc.evaluate.perClass ? decisionThreshold(r.model, trainingThreshold(r.model, data.nodes[s].train, config.thresholdQuantile)) : null
        const ns = evaluateNode(s, r.model, data.nodes[s], anomaliesFor(s), thr)
        scores.push(ns)
        localByNode.set(s, ns.rocAuc)
      } catch {
        failed++
      }
    }
    local = summarise(scores, failed)
  }
  let centralised: Summary | null = null
  const centralByNode = new Map<number, number>()
  if (sc.evaluate.centralised) {
    const scores: NodeScore[] = []
    let failed = 0
    try {
      const r = await trainAlone(refConfig, data.trainAll, simulationSecret(sc, 'centralised'))
      for (const s of evaluatedNodes(S, sc.evaluate.maxNodes)) {
        try {
          const ns = evaluateNode(s, r.model, data.nodes[s], anomaliesFor(s), sc.evaluate.perClass ? decisionThreshold(r.model, r.threshold) : null)
          scores.push(ns)
          centralByNode.set(s, ns.rocAuc)
        } catch {
          failed++
        }
      }
    } catch {
      failed = S
    }
    centralised = summarise(scores, failed)
  }

  // Iteration rows (from the finished nodes' records).
  const iterRows: IterationRow[] = []
  const labelToSession = new Map<string, SessionRecord>()
  for (const x of states) for (const h of x.consensus?.stats.history ?? []) if (!labelToSession.has(h.label)) labelToSession.set(h.label, h)
  const nIter = Math.max(0, ...states.map((x) => x.result?.records.length ?? x.checkpoint?.iteration ?? 0))
  for (let i = 0; i < nIter; i++) {
    const recs = states.map((x) => x.result?.records.find((r) => r.iteration === i)).filter((r): r is NonNullable<typeof r> => r !== undefined)
    if (recs.length === 0) continue
    const objs = recs.map((r) => r.objective)
    const label = `iter:${i}:stats`
    const hist = labelToSession.get(label)
    // Against the exact sum of all inputs; a rerun leaves shares out on purpose, so no error is reported for it.
    const err = exact ? 0 : hist && hist.attempts > 1 ? null : (sessionInputs.get(label)?.maxErr ?? null)
    iterRows.push({
      iteration: i,
      objective: objs.reduce((a, b) => a + b, 0) / objs.length,
      objectiveMin: Math.min(...objs),
      objectiveMax: Math.max(...objs),
      participants: recs[0].participants,
      rounds: hist ? Math.max(...hist.rounds) : 0,
      attempts: hist ? hist.attempts : 1,
      consensusError: err,
      exposedNodes: recs.filter((r) => r.exposure?.exposed).length,
      perturbedNodes: recs.filter((r) => r.exposure?.perturbed).length,
      aggregateMs: Math.max(...recs.map((r) => r.aggregateMs)),
    })
  }

  // Consensus figures.
  const nodeRows: NodeRow[] = states.map((x, s) => {
    const cs = x.consensus?.stats
    const r = x.result
    const rel = r?.release ?? null
    const ledgerSpent = x.ledger ? x.ledger.spent('external').epsilon : null
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
      spentEpsilon: ledgerSpent,
      release: !config.privacy.release.enabled ? 'disabled' : rel === null ? 'none' : 'refused' in rel ? 'refused' : 'released',
      ...(rel && 'refused' in rel ? { releaseRefused: rel.refused } : {}),
      rocAuc: scoreByNode.get(s)?.rocAuc ?? null,
      prAuc: scoreByNode.get(s)?.prAuc ?? null,
      localRocAuc: localByNode.get(s) ?? null,
      centralRocAuc: centralByNode.get(s) ?? null,
    }
  })
  // One row per rerun session: the excluded set every survivor ended with (sets only grow and merge).
  const reruns = new Map<number, SessionRow>()
  for (const x of states) {
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
  const bytes = nodeRows.map((n) => n.bytesSent)
  const frames = nodeRows.map((n) => n.framesSent)
  const mean = (a: number[]): number => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : 0)
  const tracedLabel = TRACED_LABEL
  const tracedSession = labelToSession.get(tracedLabel)
  const errs = tracedSession ? probe.errors(tracedSession.session) : null

  // Outcome.
  const results = finished.map((s) => states[s].result as TrainingResult)
  const fail = firstFailure as Error | null
  const outcome: SimReport['outcome'] = {
    status: fail === null && !stalled ? 'completed' : 'stopped',
    reason:
      fail !== null
        ? `node ${failedNode}: ${fail.name}: ${fail.message}`
        : stalled
          ? `SimulationStalled: nodes ${states.map((x, s) => (x.status === 'running' ? s : -1)).filter((s) => s >= 0).join(', ')} still waiting after ${DEFAULT_VIRTUAL_LIMIT_MS} virtual ms`
          : null,
    converged: results.length > 0 && results.every((r) => r.converged),
    stopReason: results[0]?.stopReason ?? null,
    iterations: Math.max(0, ...results.map((r) => r.iterations)),
    virtualMs,
  }

  const ledgers = states
    .map((x, s) => ({
      node: s,
      entries: x.ledger ? x.ledger.entries.map((e) => ({ kind: e.kind, label: e.label, audience: e.audience, epsilon: e.epsilon })) : [],
    }))
    .filter((l) => l.entries.length > 0)
  const releases = results.map((r) => r.release).filter((r): r is Exclude<typeof r, null | { refused: string }> => r !== null && !('refused' in r))
  const minEnt = results.map((r) => r.minEntropy).filter((v): v is number => v !== null)

  const report: SimReport = {
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
    },
    topology: topologySummary(topology, spec, config),
    outcome,
    iterations: iterRows,
    consensus: {
      sessions: Math.max(0, ...states.map((x) => x.consensus?.stats.sessions ?? 0)),
      roundsTotal: Math.max(0, ...nodeRows.map((n) => n.rounds)),
      bytesPerNode: { mean: mean(bytes), max: Math.max(0, ...bytes) },
      framesPerNode: { mean: mean(frames), max: Math.max(0, ...frames) },
      network: net ? { sent: net.stats.sent, delivered: net.stats.delivered, lost: net.stats.lost, dropped: net.stats.dropped } : null,
      errorPerRound: errs ? { label: tracedLabel, chunk: 0, errors: errs } : null,
      reruns: [...reruns.values()].sort((a, b) => a.session - b.session),
    },
    auc: { collab: summarise(collabScores, collabFailed), local, centralised, released },
    privacy: {
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
    },
    faults: { loss: sc.faults.loss, latency: sc.faults.latency ?? null, crashes: crashRecords, rejoins: rejoinLog },
    nodes: nodeRows,
  }
  hooks.onProgress?.({ iteration: outcome.iterations, maxIterations: maxIter, objective: iterRows.at(-1)?.objective ?? null, phase: 'done' })
  return { report, wallMs: performance.now() - wall0, models: states.map((x) => (x.status === 'finished' && x.result ? x.result.model : null)) }
}
