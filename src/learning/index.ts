/**
 * Algorithm 1 of CollabDict for ONE node, hosted unchanged by node/ (libp2p, wall clock,
 * files) and sim/ (in-memory transport, virtual clock):
 *
 *   prepare (agreed start)                                  or resume from a checkpoint
 *   repeat:
 *     stats  = model.localUpdate(data)                      // private step
 *     stats' = guard.protect(stats)                         // l-diversity monitor, perturb when exposed
 *     sums   = aggregate([stats', vote], `iter:${i}:stats`) // consensus: network-wide sum
 *     model.optimize(sums)                                  // identical on every node
 *     record, event, checkpoint
 *   until the network agrees it converged (then that round's sums are not applied), or maxIterations
 *   threshold from the node's own training scores; DP release with its ledger entry
 *
 * Agreement on stopping: every node appends [converged ? 1 : 0, 1] to its statistics, so
 * the same sum that drives optimize() also counts participants and converged votes. When
 * a majority had converged, every node stops without applying that round's sums, so all
 * end on the global part of the same last optimize (as a centralised fit that stops when
 * it converges). Since the vote is a
 * count, consensus error (<< 1/S) cannot make nodes disagree, so no node is left waiting
 * in a session its peers never open. Aggregate labels depend only on the iteration, so
 * every node opens the same sessions in the same order.
 */
import { createHash, randomUUID } from 'node:crypto'
import { systemClock, type Clock } from '../consensus/transport.js'
import { SecretRng } from '../numeric/secret-rng.js'
import type { Aggregate } from '../models/model.js'
import { thresholdAt } from '../eval/metrics.js'
import type { TrainingConfig } from './config.js'
import { RecordStore } from './records.js'
import type { RandomSource } from '../numeric/rng.js'
import type {
  Checkpoint,
  GlobalState,
  IterationRecord,
  LearningContext,
  ReleaseOutcome,
  RunOptions,
  StopReason,
  TrainingEvent,
  TrainingResult,
} from './types.js'

export * from './types.js'
export * from './config.js'

/** Checkpoint format version written by this build. */
export const CHECKPOINT_VERSION = 2

/** The host did not supply a collaborator the config asks for. */
export class LearningSetupError extends Error {
  override name = 'LearningSetupError'
}

/** A checkpoint that cannot be resumed here (other node, other config, damaged). */
export class CheckpointMismatchError extends Error {
  override name = 'CheckpointMismatchError'
}

/** Training stopped because an aggregate (consensus) failed; `cause` says why. */
export class TrainingStoppedError extends Error {
  override name = 'TrainingStoppedError'
  constructor(
    message: string,
    readonly nodeIndex: number,
    readonly iteration: number,
    readonly label: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/** The host aborted training (shutdown signal); the last checkpoint is intact. */
export class TrainingAbortedError extends Error {
  override name = 'TrainingAbortedError'
}

/** The model's chunk-noise groups for its L statistics, and one more group for the two vote entries. */
export function loopNoiseGroups(model: LearningContext['model'], L: number): Int32Array {
  const g = new Int32Array(L + 2)
  const own = model.statsNoiseGroups?.(L)
  if (own !== undefined) g.set(own)
  let top = 0
  for (let i = 0; i < L; i++) top = Math.max(top, g[i])
  g[L] = top + 1
  g[L + 1] = top + 1
  return g
}

/** Label of the statistics session of iteration i (every node uses the same). */
export function statsLabel(iteration: number): string {
  return `iter:${iteration}:stats`
}

/** JSON with object keys sorted, so equal values give equal strings. */
function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null'
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`
  const o = v as Record<string, unknown>
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`
}

/** sha256 of the canonical JSON of a training config: nodes and checkpoints compare it. */
export function configDigest(config: TrainingConfig): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex')
}

function checkAbort(signal: AbortSignal | undefined, nodeIndex: number, where: string): void {
  if (signal?.aborted) {
    throw new TrainingAbortedError(`node ${nodeIndex}: training aborted ${where}; restart from the last checkpoint to continue`)
  }
}

function verifyCheckpoint(cp: Checkpoint, ctx: LearningContext, digest: string): void {
  // v1 (no phase, no run id) is read as: finished -> done, else training
  if (cp.format !== 'collabdict-checkpoint' || (cp.version !== CHECKPOINT_VERSION && cp.version !== 1)) {
    throw new CheckpointMismatchError(
      `checkpoint format ${String(cp.format)} v${String(cp.version)} is not collabdict-checkpoint v1 or v${CHECKPOINT_VERSION}; delete it to start afresh`,
    )
  }
  if (cp.nodeIndex !== ctx.nodeIndex) {
    throw new CheckpointMismatchError(`checkpoint belongs to node ${cp.nodeIndex}, this is node ${ctx.nodeIndex}; point the node at its own state directory`)
  }
  if (cp.configDigest !== digest) {
    throw new CheckpointMismatchError(
      `checkpoint was written under a different training config (digest ${cp.configDigest.slice(0, 12)} vs ${digest.slice(0, 12)}); restore the original config or delete the checkpoint`,
    )
  }
  if (ctx.model.iteration !== cp.iteration) {
    throw new CheckpointMismatchError(
      `context model is at iteration ${ctx.model.iteration} but the checkpoint at ${cp.iteration}; pass the model loaded from checkpoint.model`,
    )
  }
}

/** Where a node's run stands, saved in every checkpoint. */
type Phase = 'train' | 'release' | 'done'

/**
 * One node's run of Algorithm 1, in named steps: start (prepare or resume), iterate until
 * the network agrees it converged, then release. Holds what the checkpoint saves.
 */
class NodeRun {
  /** This run's iteration records, kept compactly (./records.ts). */
  readonly records = new RecordStore()
  exposures = 0
  perturbations = 0
  minEntropy: number | null = null
  resumedFrom: number | null = null
  adoptedIteration: number | null = null
  networkConverged = false
  stopReason: StopReason = 'max-iterations'
  lastVote: TrainingResult['finalVote'] = null
  release: ReleaseOutcome | { refused: string } | null = null
  phase: Phase = 'train'
  runId: string = randomUUID()
  private resumedInRelease = false
  private readonly digest: string
  private readonly noise: RandomSource
  private readonly clock: Clock

  constructor(
    private readonly ctx: LearningContext,
    private readonly opts: RunOptions,
  ) {
    this.digest = configDigest(opts.config)
    this.noise = ctx.noise ?? SecretRng.fromOsEntropy()
    if (opts.runId !== undefined) this.runId = opts.runId
    this.clock = ctx.clock ?? systemClock
  }

  private get config(): TrainingConfig {
    return this.opts.config
  }

  private emit(e: TrainingEvent): void {
    this.opts.onEvent?.(e)
  }

  /** The host's inputs agree with the config (thrown before anything runs). */
  checkSetup(): void {
    const { ctx, config } = this
    const n = ctx.nodeIndex
    if (ctx.model.kind !== config.model.kind) {
      throw new LearningSetupError(`node ${n}: model is ${ctx.model.kind} but the config says ${config.model.kind}; create the model from config.model`)
    }
    if (config.privacy.monitor && ctx.guard === undefined) {
      throw new LearningSetupError(`node ${n}: privacy.monitor is on but no guard was supplied; pass createPrivacyGuard(...) or set privacy.monitor: false`)
    }
    if (config.privacy.release.enabled && ctx.releaser === undefined) {
      throw new LearningSetupError(`node ${n}: privacy.release.enabled is on but no releaser was supplied; pass createReleaser(...) or set privacy.release.enabled: false`)
    }
  }

  async saveCheckpoint(): Promise<void> {
    if (this.opts.checkpoint === undefined) return
    const { ctx } = this
    const cp: Checkpoint = {
      format: 'collabdict-checkpoint',
      version: CHECKPOINT_VERSION,
      nodeIndex: ctx.nodeIndex,
      configDigest: this.digest,
      iteration: ctx.model.iteration,
      model: ctx.model.save(),
      ledger: ctx.ledger ? ctx.ledger.toJSON() : null,
      records: this.records.all(),
      exposures: this.exposures,
      perturbations: this.perturbations,
      finished: this.phase === 'done',
      phase: this.phase,
      runId: this.runId,
      release: this.release,
    }
    await this.opts.checkpoint(cp)
    this.emit({ type: 'checkpoint', nodeIndex: ctx.nodeIndex, iteration: ctx.model.iteration })
  }

  /** Agreed start (prepare through consensus), or resume from a checkpoint and catch up with the network. */
  async start(): Promise<void> {
    const { ctx, opts } = this
    checkAbort(opts.signal, ctx.nodeIndex, 'before start')
    if (opts.resume === undefined) {
      const prepAggregate: Aggregate = (vec, label, o) => ctx.aggregate(vec, `prepare:${label}`, o)
      await ctx.model.prepare(ctx.data, prepAggregate)
      this.emit({ type: 'prepared', nodeIndex: ctx.nodeIndex, at: this.clock.now() })
      await this.saveCheckpoint()
      return
    }
    const cp = opts.resume
    verifyCheckpoint(cp, ctx, this.digest)
    for (const r of cp.records) this.records.push(r)
    this.exposures = cp.exposures
    this.perturbations = cp.perturbations
    for (const r of cp.records) if (r.exposure) this.minEntropy = this.minEntropy === null ? r.exposure.minEntropy : Math.min(this.minEntropy, r.exposure.minEntropy)
    this.resumedFrom = cp.iteration
    this.phase = cp.phase ?? (cp.finished ? 'done' : 'train')
    this.runId = cp.runId ?? this.runId
    this.release = cp.release
    this.networkConverged = this.phase !== 'train'
    this.resumedInRelease = this.phase === 'release'
    if (this.phase === 'train' && ctx.fetchGlobal) {
      const g: GlobalState | null = await ctx.fetchGlobal()
      if (g !== null && g.iteration > ctx.model.iteration) {
        ctx.model.importGlobal(g)
        this.adoptedIteration = g.iteration
        if (g.converged) this.networkConverged = true
      }
    }
    if (this.networkConverged) this.stopReason = 'converged'
    ctx.logger?.info({ nodeIndex: ctx.nodeIndex, fromIteration: this.resumedFrom, adoptedIteration: this.adoptedIteration, phase: this.phase }, 'resumed from checkpoint')
    this.emit({ type: 'resumed', nodeIndex: ctx.nodeIndex, fromIteration: this.resumedFrom, adoptedIteration: this.adoptedIteration })
  }

  /** The l-diversity guard on this iteration's statistics (eq. 47-48): perturb when exposed. */
  private protect(i: number, stats: Float64Array): { stats: Float64Array; exposure: IterationRecord['exposure'] } {
    const { ctx, config } = this
    if (!ctx.guard || !config.privacy.monitor) return { stats, exposure: null }
    // The same noise stream every iteration: the pseudo-samples move with the posterior
    // instead of being redrawn, so a perturbed network still converges (see privacy.ts).
    const out = ctx.guard.protect({ iteration: i, data: ctx.data, model: ctx.model, stats, noise: this.noise.fork('protect') })
    if (out === null) return { stats, exposure: null }
    const r = out.report
    this.minEntropy = this.minEntropy === null ? r.minEntropy : Math.min(this.minEntropy, r.minEntropy)
    if (r.exposed) {
      this.exposures++
      if (out.perturbed) this.perturbations++
      ctx.logger?.warn({ nodeIndex: ctx.nodeIndex, iteration: i, minEntropy: r.minEntropy, threshold: r.threshold, perturbed: out.perturbed }, 'l-diversity: contribution exposed')
      this.emit({ type: 'exposure', nodeIndex: ctx.nodeIndex, iteration: i, report: r, perturbed: out.perturbed })
    }
    return { stats: out.stats, exposure: { minEntropy: r.minEntropy, maxEntropy: r.maxEntropy, exposed: r.exposed, perturbed: out.perturbed } }
  }

  /**
   * One iteration: local update, protection, the network sum with the piggy-backed vote,
   * optimize. Returns false when the network agreed it had converged (nothing applied).
   */
  private async iterate(): Promise<boolean> {
    const { ctx, opts } = this
    const { model, nodeIndex } = ctx
    checkAbort(opts.signal, nodeIndex, `before iteration ${model.iteration}`)
    const i = model.iteration
    const t0 = this.clock.now()
    const { stats, exposure } = this.protect(i, model.localUpdate(ctx.data))
    const L = stats.length
    const vec = new Float64Array(L + 2)
    vec.set(stats)
    vec[L] = model.converged ? 1 : 0
    vec[L + 1] = 1
    const label = statsLabel(i)
    const ta = this.clock.now()
    let sums: Float64Array
    try {
      sums = await ctx.aggregate(vec, label, { noiseGroups: loopNoiseGroups(model, L) })
    } catch (e) {
      if (opts.signal?.aborted) checkAbort(opts.signal, nodeIndex, `during ${label}`)
      const err = e instanceof Error ? e : new Error(String(e))
      throw new TrainingStoppedError(
        `node ${nodeIndex}: iteration ${i}: consensus session '${label}' failed (${err.name}: ${err.message}); the last checkpoint is at iteration ${i}`,
        nodeIndex,
        i,
        label,
        { cause: err },
      )
    }
    const aggregateMs = this.clock.now() - ta
    checkAbort(opts.signal, nodeIndex, `after ${label}`)
    const participants = Math.round(sums[L + 1])
    const convergedVotes = participants > 0 ? Math.round(sums[L]) / participants : 0
    if (convergedVotes >= 0.5) {
      // The network agreed the previous optimize was the last: keep the global part every
      // node already holds (this round's statistics only carried the vote).
      this.networkConverged = true
      this.stopReason = 'converged'
      this.lastVote = { iteration: i, participants, convergedVotes }
      ctx.logger?.debug({ nodeIndex, iteration: i, participants, convergedVotes }, 'network agreed convergence')
      return false
    }
    model.optimize(sums.subarray(0, L))
    const trace = model.trace[model.trace.length - 1]
    const record: IterationRecord = { iteration: i, objective: trace ? trace.objective : Number.NaN, participants, convergedVotes, exposure, aggregateMs, iterationMs: this.clock.now() - t0, trace }
    this.records.push(record)
    ctx.logger?.debug({ nodeIndex, iteration: i, objective: record.objective, participants, convergedVotes }, 'iteration done')
    this.emit({ type: 'iteration', nodeIndex, record })
    await this.saveCheckpoint()
    return true
  }

  /** Iterate until the network agrees it converged or config.maxIterations is reached. */
  async train(): Promise<void> {
    const { ctx, config } = this
    while (!this.networkConverged && ctx.model.iteration < config.maxIterations) {
      if (!(await this.iterate())) break
    }
    if (!this.networkConverged) ctx.logger?.warn({ nodeIndex: ctx.nodeIndex, maxIterations: config.maxIterations }, 'maxIterations reached before convergence')
  }

  /**
   * The network's DP release (charged first, idempotent by this run's id), or, for a node
   * that restarted during it, the release a peer finished. Refusals are outcomes, not errors.
   */
  async releaseStep(): Promise<void> {
    const { ctx, config } = this
    if (this.phase === 'done' || !ctx.releaser || !config.privacy.release.enabled) return
    if (this.phase === 'train') {
      this.phase = 'release'
      await this.saveCheckpoint()
    }
    const n = ctx.nodeIndex
    try {
      // restarted during the release: take the network's release from a peer that finished
      // it; else run it again (same run id: charged once; same secret: the same noise shares)
      const file = this.resumedInRelease && ctx.fetchRelease ? await ctx.fetchRelease() : null
      const adopted = file === null || file === undefined ? null : ctx.releaser.adopt(file)
      this.release =
        adopted ?? (await ctx.releaser.release({ model: ctx.model, data: ctx.data, aggregate: ctx.aggregate, noise: this.noise.fork('release'), releaseId: `release/${this.runId}` }))
      this.emit({ type: 'released', nodeIndex: n, epsilon: this.release.epsilon, spent: this.release.spent })
      ctx.logger?.info({ nodeIndex: n, epsilon: this.release.epsilon, spent: this.release.spent, adopted: this.release.adopted === true }, 'released DP model')
    } catch (e) {
      if (this.opts.signal?.aborted) checkAbort(this.opts.signal, n, 'during the release')
      const err = e instanceof Error ? e : new Error(String(e))
      this.release = { refused: `${err.name}: ${err.message}` }
      this.emit({ type: 'release-refused', nodeIndex: n, reason: this.release.refused })
      ctx.logger?.warn({ nodeIndex: n, reason: this.release.refused }, 'release refused')
    }
  }

  async finish(): Promise<TrainingResult> {
    const { ctx, config } = this
    const threshold = thresholdAt(ctx.model.score(ctx.data), config.thresholdQuantile)
    if (this.phase !== 'done') {
      this.phase = 'done'
      await this.saveCheckpoint()
    }
    this.emit({ type: 'finished', nodeIndex: ctx.nodeIndex, iterations: ctx.model.iteration, stopReason: this.stopReason })
    const result: TrainingResult = {
      nodeIndex: ctx.nodeIndex,
      model: ctx.model,
      iterations: ctx.model.iteration,
      converged: this.networkConverged,
      stopReason: this.stopReason,
      records: [],
      threshold,
      exposures: this.exposures,
      perturbations: this.perturbations,
      minEntropy: this.minEntropy,
      release: this.release,
      resumedFrom: this.resumedFrom,
      adoptedIteration: this.adoptedIteration,
      finalVote: this.lastVote,
    }
    // records stay compact in the result too (a simulation holds 10,000 results): each read
    // of `records` builds them; the key keeps its place, so spreads, JSON and clones see them
    const store = this.records
    Object.defineProperty(result, 'records', { get: () => store.all(), enumerable: true, configurable: true })
    return result
  }
}

/**
 * Run Algorithm 1 on one node until the network agrees it converged or
 * config.maxIterations is reached, then compute the scoring threshold and release.
 * Throws TrainingStoppedError when consensus fails for good, TrainingAbortedError on
 * `signal`, CheckpointMismatchError / LearningSetupError on bad host input.
 */
export async function runTraining(ctx: LearningContext, opts: RunOptions): Promise<TrainingResult> {
  const run = new NodeRun(ctx, opts)
  run.checkSetup()
  await run.start()
  await run.train()
  await run.releaseStep()
  return run.finish()
}
