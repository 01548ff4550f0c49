/**
 * The simulator's report: what one simulated network run produces (sim/run.ts), what the
 * HTML report (sim/report.ts) and the sweep tables read. No wall-clock figure lives in it,
 * so the same scenario and seed give the same bytes.
 */
import type { CollabModel } from '../src/models/model.js'
import type { TrainingEvent } from '../src/learning/index.js'
import type { Summary } from './evaluate.js'
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
  /**
   * prepare: the model's start (moments, seeding, k-means passes, model selection), before
   * iteration 1; train: iterations; release: the network's DP release; then evaluate, done.
   */
  phase: 'prepare' | 'train' | 'release' | 'evaluate' | 'done'
  /** prepare and release: the label of the network sum the first node has just opened. */
  step?: string
  /** prepare and release: network sums of the start and the release the first node has opened so far. */
  sessions?: number
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
  /** `pinned`: features constant on the training rows across the network (data policy, src/models/preprocess.ts), by name; `missing`: with a missing-value policy, missing values per feature in the file (features with any). */
  data: { source: string; columns: number; rows: number; normal: number; anomalies: number; trainRows: number[]; pinned: string[]; missing?: Record<string, number> }
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
