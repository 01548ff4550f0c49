/**
 * A node's training run: the start barrier, runTraining (src/learning, the same loop the
 * simulator runs) over the node's consensus host, rejoining after an exclusion, and what it
 * leaves behind (model.json, released.json, the API's threshold).
 *
 * Rejoining after a crash: the checkpoint gives the model at its last completed iteration;
 * the neighbours' current global part comes over /collabdict/sync/1.0.0 (runTraining's
 * fetchGlobal hook); the consensus engine starts at the session of the iteration the node
 * rejoins at (node/consensus-host.ts). If the peers already excluded this node from that
 * session, it retries from the next iteration, at most MAX_REJOINS times.
 */
import type { Logger } from 'pino'
import { ConsensusClosedError, DisconnectedGraphError, ExcludedError, NeighbourTimeoutError } from '../src/consensus/index.js'
import { thresholdAt } from '../src/eval/metrics.js'
import { runTraining, TrainingAbortedError, TrainingStoppedError, type LearningContext } from '../src/learning/index.js'
import { createNodeModel, loadNodeModel } from '../src/learning/models.js'
import { createPrivacyGuard, createReleaser } from '../src/learning/privacy.js'
import type { Checkpoint, TrainingResult } from '../src/learning/types.js'
import { isClassifier } from '../src/models/classifier/index.js'
import type { CollabModel } from '../src/models/model.js'
import type { Mat } from '../src/numeric/matrix.js'
import type { RandomSource } from '../src/numeric/rng.js'
import type { PrivacyLedger } from '../src/privacy/ledger.js'
import type { TransportStats } from '../src/p2p/index.js'
import type { NodeConfig } from './config.js'
import type { ConsensusHost } from './consensus-host.js'
import { IterationHistory, type NodeState } from './status.js'
import type { NodeStore } from './store.js'
import type { NetworkSync } from './sync.js'

/** Rejoin attempts after the peers excluded this node from a session. */
export const MAX_REJOINS = 5

export interface NodeTrainingOptions {
  config: NodeConfig
  self: number
  /** Every member's PeerId, by topology index. */
  peers: string[]
  neighbours: number[]
  data: Mat
  store: NodeStore
  ledger: PrivacyLedger
  log: Logger
  signal: AbortSignal
  /** The run id (kept in the checkpoint) that keys this run's secret streams. */
  runId: string
  /** This run's privacy noise (the node's own secret, never the shared seed). */
  noise: RandomSource
}

/** The links to the network a training run needs. */
export interface TrainingLinks {
  sync: NetworkSync
  consensus: ConsensusHost
  transport: TransportStats
  /** Consensus rounds so far (for the history rows). */
  rounds: () => number
}

export class NodeTraining {
  state: NodeState = 'starting'
  model: CollabModel
  checkpoint: Checkpoint | null
  /** The model has a global part peers may sync from. */
  prepared: boolean
  result: TrainingResult | null = null
  /** The API's anomaly threshold, once trained. */
  threshold: number | null = null
  readonly history = new IterationHistory()
  private readonly resumedAtStart: boolean
  private readonly guard: LearningContext['guard']
  private readonly releaser: LearningContext['releaser']

  constructor(private readonly o: NodeTrainingOptions, checkpoint: Checkpoint | null) {
    this.checkpoint = checkpoint
    this.resumedAtStart = checkpoint !== null
    this.prepared = checkpoint !== null
    const training = o.config.training
    this.guard = training.privacy.monitor ? createPrivacyGuard(training, o.ledger) : undefined
    this.releaser = training.privacy.release.enabled ? createReleaser(training, o.ledger, { members: o.peers.length }) : undefined
    // the model's own noise (DP-SGD) is never replayed: fresh OS entropy in every process
    this.model = checkpoint ? loadNodeModel(training, checkpoint.model, { ledger: o.ledger }) : createNodeModel(training, { ledger: o.ledger })
  }

  /** Train (or, after a finished run, just serve), then persist; null when stopped first. */
  async run(links: TrainingLinks): Promise<TrainingResult | null> {
    const { log } = this.o
    try {
      if (this.checkpoint?.finished) {
        log.info({ iteration: this.checkpoint.iteration }, 'training already finished; serving')
        await links.sync.serve()
      } else {
        this.result = await this.train(links)
      }
      await this.persist()
      this.state = 'trained'
      log.info({ iterations: this.model.iteration, threshold: this.threshold, converged: this.result?.converged ?? true }, 'training finished')
      return this.result
    } catch (err) {
      if (err instanceof TrainingAbortedError || this.o.signal.aborted) {
        this.state = 'stopped'
        return null
      }
      this.state = 'failed'
      log.error({ err }, 'training failed')
      throw err
    }
  }

  /** The start barrier, then training attempts until one completes or cannot be rejoined. */
  private async train(links: TrainingLinks): Promise<TrainingResult> {
    const { peers, self, neighbours, config, log } = this.o
    this.state = 'waiting-for-peers'
    await links.sync.serve()
    // a fresh network starts together (every member ready, so no session opens while a
    // slow member is still starting); a restarting node only needs its neighbours
    const targets = this.resumedAtStart ? neighbours.map((j) => peers[j]) : peers.filter((_, i) => i !== self)
    await links.sync.waitReady(targets, config.startup.barrierTimeoutMs)
    this.state = 'training'
    const { consensus } = links
    for (let tries = 0; ; tries++) {
      try {
        const r = await this.attempt(links)
        consensus.retire()
        return r
      } catch (err) {
        consensus.retire()
        const cp = this.checkpoint
        if (!(err instanceof TrainingStoppedError) || !rejoinable(err, consensus.staleAt) || tries >= MAX_REJOINS || cp === null || this.o.signal.aborted) throw err
        // excluded by the peers (they timed out on this node while it was down), or cut off
        // because they no longer talk to it in that session: rejoin after that iteration
        links.sync.rejoinAt = Math.max(err.iteration + 1, (consensus.staleAt ?? 0) + 1)
        consensus.staleAt = null
        log.warn({ iteration: err.iteration, reason: (err.cause as Error).name, attempt: tries }, 'left out of a consensus session; rejoining after it')
        this.model = loadNodeModel(config.training, cp.model, { ledger: this.o.ledger })
      }
    }
  }

  /** One runTraining call from the current model and checkpoint. */
  private attempt(links: TrainingLinks): Promise<TrainingResult> {
    const { config, ledger, log, store } = this.o
    const training = config.training
    const ctx: LearningContext = {
      nodeIndex: this.o.self,
      data: this.o.data,
      model: this.model,
      aggregate: links.consensus.aggregate,
      noise: this.o.noise,
      ledger,
      guard: this.guard,
      releaser: this.releaser,
      logger: log,
      fetchGlobal: () => links.sync.fetchNetworkGlobal(),
      fetchRelease: () => links.sync.fetchNetworkRelease(),
    }
    return runTraining(ctx, {
      config: training,
      runId: this.o.runId,
      resume: this.checkpoint ?? undefined,
      signal: this.o.signal,
      checkpoint: async (cp) => {
        this.prepared = true
        this.checkpoint = cp
        await store.saveCheckpoint(cp)
      },
      onEvent: (e) => {
        if (e.type !== 'iteration') return
        const r = e.record
        const rounds = links.rounds()
        this.history.record(r, rounds, links.transport)
        log.info({ iteration: r.iteration, objective: r.objective, participants: r.participants, aggregateMs: r.aggregateMs, iterationMs: r.iterationMs, rounds }, 'iteration')
      },
    })
  }

  /** The API's threshold; model.json and (after a release) released.json in the store. */
  private async persist(): Promise<void> {
    const { config, store, data } = this.o
    const training = config.training
    const quantile = config.api.thresholdQuantile ?? training.thresholdQuantile
    const m = this.model
    if (isClassifier(m)) this.threshold = m.decisionThreshold
    else if (this.result !== null && quantile === training.thresholdQuantile) this.threshold = this.result.threshold
    else this.threshold = thresholdAt(m.score(data), quantile)
    await store.saveJson('model.json', m.save())
    const rel = this.result?.release ?? this.checkpoint?.release ?? null
    if (rel !== null && 'released' in rel) await store.saveJson('released.json', rel.released)
  }
}

/** A training stop the node recovers from by rejoining after the iteration it was left out of. */
function rejoinable(err: TrainingStoppedError, staleAt: number | null): boolean {
  const cause = err.cause
  return (
    cause instanceof ExcludedError ||
    cause instanceof DisconnectedGraphError ||
    cause instanceof NeighbourTimeoutError ||
    (cause instanceof ConsensusClosedError && staleAt !== null)
  )
}
