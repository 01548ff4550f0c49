/**
 * What the simulator's runs share: the scenario's topology and latency model, the
 * single-node reference fits (local-only, centralised), each node's secret stream, and the
 * per-round disagreement probe behind the report's convergence chart.
 */
import { createExactAggregator } from '../src/learning/exact.js'
import { runTraining, type LearningContext, type TrainingConfig, type TrainingResult } from '../src/learning/index.js'
import { createPrivacyGuard, createReleaser } from '../src/learning/privacy.js'
import type { Aggregate, CollabModel } from '../src/models/model.js'
import type { PrivacyLedger } from '../src/privacy/ledger.js'
import type { Clock } from '../src/consensus/transport.js'
import { createNodeModel } from '../src/learning/models.js'
import { ClockStalledError, type RoundEvent, type VirtualClock } from '../src/consensus/index.js'
import type { Mat } from '../src/numeric/matrix.js'
import type { Rng } from '../src/numeric/rng.js'
import { SecretRng } from '../src/numeric/secret-rng.js'
import { generateTopology, loadTopology, type SpectralReport, type Topology } from '../topologies/index.js'
import { summarise, type Summary } from './evaluate.js'
import { DEFAULT_VIRTUAL_LIMIT_MS, SimulationError, type Progress, type SimReport } from './report-types.js'
import type { Latency, Scenario } from './scenario.js'

/** The progress phase of a network sum's label: the start (prepare:...) or the DP release (release:...), else null. */
export function sessionPhase(label: string): 'prepare' | 'release' | null {
  return label.startsWith('release:') ? 'release' : label.startsWith('prepare:') ? 'prepare' : null
}

/**
 * Progress for the network sums node 0 opens in the phases the iteration count does not
 * show: the start and the DP release (at S = 10,000 the start alone is ~30 sums and several
 * minutes). One per host: the one-thread network run, or the coordinator of the workers.
 */
export class SessionProgress {
  private opened = 0
  constructor(
    private readonly maxIterations: number,
    private readonly onProgress: ((p: Progress) => void) | undefined,
  ) {}

  /** Node 0 opened the sum `label`; `shownIteration` is the last iteration shown (-1 before the first). */
  opening(label: string, shownIteration: number): void {
    const phase = sessionPhase(label)
    if (phase === null) return
    this.opened++
    this.onProgress?.({ iteration: Math.max(0, shownIteration + 1), maxIterations: this.maxIterations, objective: null, phase, step: label, sessions: this.opened })
  }
}

export function latencyFn(l: Latency | undefined): ((rng: Rng) => number) | undefined {
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
export function referenceConfig(config: TrainingConfig): TrainingConfig {
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

export function relNorm(a: Float64Array, ref: Float64Array): number {
  let d = 0
  let n = 0
  for (let i = 0; i < ref.length; i++) {
    d += (a[i] - ref[i]) ** 2
    n += ref[i] ** 2
  }
  return n > 0 ? Math.sqrt(d / n) : Math.sqrt(d)
}

/** The session whose per-round disagreement the report plots. */
export const TRACED_LABEL = 'iter:0:stats'

/** Tracks the first statistics session's per-round disagreement via a fixed random projection. */
export class RoundProbe {
  /** session -> chunk 0, attempt -> round -> values by node */
  private readonly data = new Map<number, Map<number, Float64Array[]>>()
  private readonly dirs = new Map<number, Float64Array>()
  /** Labels of sessions, as the nodes opening them said (labelSession). */
  private readonly labels = new Map<number, string>()
  /** The last session found not to be traced (checked first: every node's every round asks). */
  private skip = -1
  /**
   * `traced`: the label of the session to trace; sessions a node said carry another label
   * (labelSession) are not recorded, so a long prepare (the GGM's model selection) before
   * the traced session costs neither memory nor a projection per node and round.
   */
  constructor(
    private readonly S: number,
    private readonly maxSessions: number,
    private readonly rng: Rng,
    private readonly traced?: string,
  ) {}

  /** A node opens `session` for `label` (before its first round; nodes agree on session numbers). */
  labelSession(session: number, label: string): void {
    if (!this.labels.has(session)) this.labels.set(session, label)
  }

  /** Whether a node opening `session` for `label` should report its rounds (ConsensusOptions.onRoundFor). */
  wants(session: number, label: string): boolean {
    this.labelSession(session, label)
    return session < this.maxSessions && !this.untraced(session)
  }

  /** True when `session` is known to carry another label than the traced one. */
  private untraced(session: number): boolean {
    if (this.traced === undefined) return false
    const label = this.labels.get(session)
    return label !== undefined && label !== this.traced
  }

  private dir(len: number): Float64Array {
    let u = this.dirs.get(len)
    if (u === undefined) {
      u = this.rng.fork(`probe/${len}`).fillNormal(new Float64Array(len))
      this.dirs.set(len, u)
    }
    return u
  }
  onRound(node: number, e: RoundEvent): void {
    if (e.chunk !== 0 || e.session >= this.maxSessions || e.session === this.skip) return
    if (this.untraced(e.session)) {
      this.skip = e.session
      return
    }
    let byAttempt = this.data.get(e.session)
    if (byAttempt === undefined) {
      for (const old of this.data.keys()) if (this.untraced(old)) this.data.delete(old)
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
  /** What was recorded for `session` (chunk 0, attempt 0): per round, the value of each node (NaN where none). */
  roundsOf(session: number): Float64Array[] | undefined {
    return this.data.get(session)?.get(0)
  }

  /** Add values recorded elsewhere (another worker thread's nodes) for `session`, attempt 0. */
  merge(session: number, rounds: readonly Float64Array[]): void {
    let byAttempt = this.data.get(session)
    if (byAttempt === undefined) {
      byAttempt = new Map()
      this.data.set(session, byAttempt)
    }
    let mine = byAttempt.get(0)
    if (mine === undefined) {
      mine = []
      byAttempt.set(0, mine)
    }
    while (mine.length < rounds.length) mine.push(new Float64Array(this.S).fill(Number.NaN))
    for (const [r, v] of rounds.entries()) for (let i = 0; i < v.length; i++) if (!Number.isNaN(v[i])) mine[r][i] = v[i]
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

export const emptySummary = (): Summary => summarise([], 0)

/** The report's topology section: size, spectrum, and the scheme's rate and predicted rounds. */
export function topologySummary(topology: Topology, spec: SpectralReport, config: TrainingConfig): SimReport['topology'] {
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
 * Drive the virtual clock until `until` settles; a stall (nothing scheduled while nodes
 * still wait, or the virtual-time ceiling) comes back as the ClockStalledError's message
 * (with who waits for what) instead of a hang, for the report's outcome.
 */
export async function driveClock(clock: VirtualClock, until: Promise<unknown>, describe: () => string): Promise<string | null> {
  try {
    await clock.run({ until, maxMs: DEFAULT_VIRTUAL_LIMIT_MS, describe })
    return null
  } catch (e) {
    if (e instanceof ClockStalledError) return `${e.name}: ${e.message}`
    throw e
  }
}

/**
 * Min..max of every column of X (a constant column gets [v, v + 1]): the stand-in for public
 * bounds that simulations and experiments use when a scenario gives none (they say so).
 */
export function tableRange(X: Mat): { lower: number[]; upper: number[] } {
  const M = X.cols
  const lower = new Array<number>(M).fill(Infinity)
  const upper = new Array<number>(M).fill(-Infinity)
  for (let i = 0; i < X.rows; i++) {
    for (let j = 0; j < M; j++) {
      const v = X.data[i * M + j]
      if (Number.isNaN(v)) continue // missing
      lower[j] = Math.min(lower[j], v)
      upper[j] = Math.max(upper[j], v)
    }
  }
  return { lower, upper: upper.map((u, j) => (u > lower[j] ? u : lower[j] + 1)) }
}

/**
 * The learning context of simulated node `s` (one thread or a worker): its rows, model and
 * aggregate, its secret stream, the privacy guard and releaser its config asks for, and the
 * network's released file taken from whichever node already holds it (a node resuming in
 * the release phase). The host adds its own fetchGlobal, if any.
 */
export function simNodeContext(o: {
  sc: Scenario
  config: TrainingConfig
  s: number
  train: Mat
  model: CollabModel
  ledger: PrivacyLedger | null
  aggregate: Aggregate
  clock: Clock
  results: () => Iterable<TrainingResult | null>
}): LearningContext {
  const { sc, config, s, ledger } = o
  return {
    nodeIndex: s,
    data: o.train,
    model: o.model,
    aggregate: o.aggregate,
    // The node's secret stream (a peer node keys it from OS entropy: node/peer.ts).
    noise: simulationSecret(sc, s).fork('learning'),
    ledger: ledger ?? undefined,
    guard: config.privacy.monitor ? createPrivacyGuard(config, ledger) : undefined,
    releaser: config.privacy.release.enabled && ledger ? createReleaser(config, ledger, { members: sc.nodes }) : undefined,
    clock: o.clock,
    fetchRelease: async () => {
      for (const r of o.results()) {
        const rel = r?.release
        if (rel && 'released' in rel) return rel.released
      }
      return null
    },
  }
}
