/**
 * Types of the learning loop's contract with its hosts (node/ and sim/): the narrow
 * context runTraining needs, the privacy hooks, checkpoints, events and the result.
 */
import type { Aggregate, CollabModel, SavedModel, TraceEntry } from '../models/model.js'
import type { Clock } from '../consensus/transport.js'
import type { Mat } from '../numeric/matrix.js'
import type { RandomSource } from '../numeric/rng.js'
import type { ReleasedGgmFile } from '../privacy/ggm-release.js'
import type { TrainingConfig } from './config.js'

export type { RandomSource }

/** The global part a rejoining node adopts (same shape as CollabModel.exportGlobal()). */
export interface GlobalState {
  iteration: number
  converged: boolean
  state: Float64Array
}

/** Structured logger (a pino Logger satisfies it). */
export interface LearningLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  debug(obj: object, msg?: string): void
}

/** What the entropy l-diversity monitor saw in one local update (eq. 47-48). */
export interface ExposureReport {
  /** H_k = -sum_n g_k(n) ln g_k(n), g_k(n) = r_k^(n) / N_k^s, per component (eq. 47). */
  entropies: number[]
  /** min_k H_k: the reading monitored here (exposed when < ln l0). */
  minEntropy: number
  /** max_k H_k: the paper's weaker reading (eq. 48), reported alongside. */
  maxEntropy: number
  /** ln l0. */
  threshold: number
  /** Some component has H_k < ln l0. */
  exposed: boolean
  /** Effective l of the weakest component, exp(min_k H_k). */
  effectiveL: number
}

/** Result of protecting one contribution before it is shared. */
export interface ProtectOutcome {
  stats: Float64Array
  report: ExposureReport
  /** The contribution was perturbed with posterior noise (and the ledger says so). */
  perturbed: boolean
}

/**
 * Watches what a node exposes to its peers and perturbs the contribution when exposed
 * (DESIGN.md "Internal exposure"). Implemented over src/privacy by createPrivacyGuard().
 */
export interface PrivacyGuard {
  /** null: nothing to monitor for this model (e.g. the VAE has no per-sample component weights). */
  protect(input: { iteration: number; data: Mat; model: CollabModel; stats: Float64Array; noise: RandomSource }): ProtectOutcome | null
}

/** What the network's release produced (src/privacy/ggm-release.ts): one model for the whole network. */
export interface ReleaseOutcome {
  /** Network-level (epsilon, delta) of this release: the guarantee of every member's rows. */
  epsilon: number
  delta: number
  /** Total (epsilon, delta)-DP this node's ledger has spent after this release. */
  spent: { epsilon: number; delta: number }
  /** The released model, the same on every member, loadable and scoreable by third parties. */
  released: ReleasedGgmFile
  /** The node adopted the network's release from a peer (it restarted during the release). */
  adopted?: boolean
}

/** What a release needs from the loop. */
export interface ReleaseInput {
  model: CollabModel
  /** This node's raw training rows (the release has its own clipping and standardisation). */
  data: Mat
  /** The network sum (consensus): the release's noisy statistics go through it. */
  aggregate: Aggregate
  /** The node's secret generator for the release (its noise share); replays the same share after a crash. */
  noise: RandomSource
  /** Idempotency key of this run's release in the ledger (charged once, whatever happens). */
  releaseId: string
}

/** Publishes the network's DP release, charging the ledger before anything is computed. */
export interface Releaser {
  release(input: ReleaseInput): Promise<ReleaseOutcome>
  /** Accept a release a peer produced in this run (after a restart during the release); null if unusable. */
  adopt(file: unknown): ReleaseOutcome | null
}

/** Per-node privacy ledger as the loop sees it: serialisable into checkpoints. */
export interface LedgerPort {
  toJSON(): unknown
}

/** Everything runTraining needs from its host. */
export interface LearningContext {
  /** This node's index in the topology (0..S-1). */
  nodeIndex: number
  /** This node's private rows (preprocessed by the model's prepare()). */
  data: Mat
  /** The node's model, freshly created from the agreed config, or loaded from a checkpoint when resuming. */
  model: CollabModel
  /** Network-wide sum (consensus in the network, exact in tests). */
  aggregate: Aggregate
  /**
   * This node's secret generator: every noise that protects privacy (l-diversity
   * pseudo-samples, the release) is forked from it. A peer node passes a SecretRng keyed
   * from OS entropy; the simulator passes per-node secret streams it derives from its own
   * noise seed. Never a stream derived from the network's shared seed (peers could
   * recompute it). Default: a fresh OS-entropy SecretRng.
   */
  noise?: RandomSource
  /** Privacy ledger; saved into every checkpoint. */
  ledger?: LedgerPort
  /** l-diversity monitor + perturbation; required when config.privacy.monitor is on. */
  guard?: PrivacyGuard
  /** DP release; required when config.privacy.release.enabled is on. */
  releaser?: Releaser
  logger?: LearningLogger
  /** Time source for the timings in records (virtual in the simulator). Default: system clock. */
  clock?: Clock
  /**
   * On resume: the current global part from a peer (or null if none is reachable). When
   * the network is ahead of the checkpoint, the node adopts it instead of replaying.
   */
  fetchGlobal?: () => Promise<GlobalState | null>
  /**
   * On resume during the release: the network's released model from a peer that has
   * finished it (or null). A node that restarted mid-release adopts it instead of
   * rejoining sessions its peers have left.
   */
  fetchRelease?: () => Promise<unknown>
}

/** One completed iteration as this node saw it. */
export interface IterationRecord {
  iteration: number
  /** Model objective after optimize (GGM: mean log-likelihood; VAE: mean ELBO). */
  objective: number
  /** Nodes whose contribution made it into the sum (from the piggy-backed count). */
  participants: number
  /** Fraction of participants that had converged before this iteration. */
  convergedVotes: number
  /** l-diversity of this node's contribution (null when the monitor is off). */
  exposure: { minEntropy: number; maxEntropy: number; exposed: boolean; perturbed: boolean } | null
  /** Clock time spent in aggregate() for this iteration's statistics (ms). */
  aggregateMs: number
  /** Clock time of the whole iteration (ms). */
  iterationMs: number
  /** The model's trace entry for this iteration (extra figures: surviving K, KL per dim, ...). */
  trace: TraceEntry
}

/** Durable state of one node after a completed iteration (JSON-safe). */
export interface Checkpoint {
  format: 'collabdict-checkpoint'
  version: 1 | 2
  nodeIndex: number
  /** Digest of the TrainingConfig: a checkpoint only resumes under the same config. */
  configDigest: string
  /** Completed iterations (== model.iteration). */
  iteration: number
  model: SavedModel
  /** ledger.toJSON() at this point, or null without a ledger. */
  ledger: unknown
  records: IterationRecord[]
  exposures: number
  perturbations: number
  /** Training and release are complete: resuming returns at once, without a second release. */
  finished: boolean
  /** train: iterations running; release: training ended, the release is under way; done. (v2) */
  phase?: 'train' | 'release' | 'done'
  /** Random id of this training run (v2): the release's ledger key, so a re-run is never charged twice. */
  runId?: string
  release: ReleaseOutcome | { refused: string } | null
}

export type StopReason = 'converged' | 'max-iterations'

export type TrainingEvent =
  | { type: 'prepared'; nodeIndex: number; at: number }
  | { type: 'resumed'; nodeIndex: number; fromIteration: number; adoptedIteration: number | null }
  | { type: 'iteration'; nodeIndex: number; record: IterationRecord }
  | { type: 'exposure'; nodeIndex: number; iteration: number; report: ExposureReport; perturbed: boolean }
  | { type: 'checkpoint'; nodeIndex: number; iteration: number }
  | { type: 'released'; nodeIndex: number; epsilon: number; spent: { epsilon: number; delta: number } }
  | { type: 'release-refused'; nodeIndex: number; reason: string }
  | { type: 'finished'; nodeIndex: number; iterations: number; stopReason: StopReason }

export interface RunOptions {
  config: TrainingConfig
  /** Id of this training run (a fresh start); default a random UUID. A resumed run keeps its checkpoint's. */
  runId?: string
  /** Called after every completed iteration (and after prepare) with the durable state. */
  checkpoint?: (cp: Checkpoint) => Promise<void>
  /** Resume from this checkpoint (ctx.model must be the model loaded from cp.model). */
  resume?: Checkpoint
  onEvent?: (e: TrainingEvent) => void
  signal?: AbortSignal
}

export interface TrainingResult {
  nodeIndex: number
  model: CollabModel
  /** Completed iterations (model.iteration). */
  iterations: number
  converged: boolean
  stopReason: StopReason
  /**
   * One record per completed iteration. Kept compactly (src/learning/records.ts) and built
   * afresh on each read of this property: read it once per use (a simulation holds 10,000).
   */
  records: IterationRecord[]
  /** Anomaly threshold: config.thresholdQuantile of this node's training scores. */
  threshold: number
  /** Local updates in which the node was exposed / perturbed its contribution. */
  exposures: number
  perturbations: number
  /** Lowest min_k H_k seen over the run (null when the monitor is off). */
  minEntropy: number | null
  release: ReleaseOutcome | { refused: string } | null
  /** Iteration the node resumed from, and the iteration it adopted from peers, if any. */
  resumedFrom: number | null
  adoptedIteration: number | null
  /** The round whose vote ended training: its iteration, participants and converged fraction. */
  finalVote: { iteration: number; participants: number; convergedVotes: number } | null
}
