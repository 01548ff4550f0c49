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
import { createHash } from 'node:crypto'
import { systemClock } from '../consensus/transport.js'
import { SecretRng } from '../numeric/secret-rng.js'
import type { Aggregate } from '../models/model.js'
import { thresholdAt } from '../eval/metrics.js'
import type { TrainingConfig } from './config.js'
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
export const CHECKPOINT_VERSION = 1

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
  if (cp.format !== 'collabdict-checkpoint' || cp.version !== CHECKPOINT_VERSION) {
    throw new CheckpointMismatchError(
      `checkpoint format ${String(cp.format)} v${String(cp.version)} is not collabdict-checkpoint v${CHECKPOINT_VERSION}; delete it to start afresh`,
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

/**
 * Run Algorithm 1 on one node until the network agrees it converged or
 * config.maxIterations is reached, then compute the scoring threshold and release.
 * Throws TrainingStoppedError when consensus fails for good, TrainingAbortedError on
 * `signal`, CheckpointMismatchError / LearningSetupError on bad host input.
 */
export async function runTraining(ctx: LearningContext, opts: RunOptions): Promise<TrainingResult> {
  const { config, signal } = opts
  const { nodeIndex, model, data } = ctx
  const clock = ctx.clock ?? systemClock
  const emit = (e: TrainingEvent): void => opts.onEvent?.(e)
  const log = ctx.logger
  const digest = configDigest(config)
  const noise = ctx.noise ?? SecretRng.fromOsEntropy()

  if (model.kind !== config.model.kind) {
    throw new LearningSetupError(`node ${nodeIndex}: model is ${model.kind} but the config says ${config.model.kind}; create the model from config.model`)
  }
  if (config.privacy.monitor && ctx.guard === undefined) {
    throw new LearningSetupError(`node ${nodeIndex}: privacy.monitor is on but no guard was supplied; pass createPrivacyGuard(...) or set privacy.monitor: false`)
  }
  if (config.privacy.release.enabled && ctx.releaser === undefined) {
    throw new LearningSetupError(
      `node ${nodeIndex}: privacy.release.enabled is on but no releaser was supplied; pass createReleaser(...) or set privacy.release.enabled: false`,
    )
  }

  const records: IterationRecord[] = []
  let exposures = 0
  let perturbations = 0
  let minEntropy: number | null = null
  let resumedFrom: number | null = null
  let adoptedIteration: number | null = null
  let networkConverged = false

  let release: ReleaseOutcome | { refused: string } | null = null
  let finished = false
  const saveCheckpoint = async (): Promise<void> => {
    if (opts.checkpoint === undefined) return
    const cp: Checkpoint = {
      format: 'collabdict-checkpoint',
      version: CHECKPOINT_VERSION,
      nodeIndex,
      configDigest: digest,
      iteration: model.iteration,
      model: model.save(),
      ledger: ctx.ledger ? ctx.ledger.toJSON() : null,
      records: records.slice(),
      exposures,
      perturbations,
      finished,
      release,
    }
    await opts.checkpoint(cp)
    emit({ type: 'checkpoint', nodeIndex, iteration: model.iteration })
  }

  checkAbort(signal, nodeIndex, 'before start')
  if (opts.resume) {
    const cp = opts.resume
    verifyCheckpoint(cp, ctx, digest)
    records.push(...cp.records)
    exposures = cp.exposures
    perturbations = cp.perturbations
    for (const r of records) if (r.exposure) minEntropy = minEntropy === null ? r.exposure.minEntropy : Math.min(minEntropy, r.exposure.minEntropy)
    resumedFrom = cp.iteration
    finished = cp.finished
    release = cp.release
    networkConverged = cp.finished
    if (ctx.fetchGlobal) {
      const g: GlobalState | null = await ctx.fetchGlobal()
      if (g !== null && g.iteration > model.iteration) {
        model.importGlobal(g)
        adoptedIteration = g.iteration
        if (g.converged) networkConverged = true
      }
    }
    log?.info({ nodeIndex, fromIteration: resumedFrom, adoptedIteration }, 'resumed from checkpoint')
    emit({ type: 'resumed', nodeIndex, fromIteration: resumedFrom, adoptedIteration })
  } else {
    const prepAggregate: Aggregate = (vec, label, opts) => ctx.aggregate(vec, `prepare:${label}`, opts)
    await model.prepare(data, prepAggregate)
    emit({ type: 'prepared', nodeIndex, at: clock.now() })
    await saveCheckpoint()
  }

  let stopReason: StopReason = networkConverged ? 'converged' : 'max-iterations'
  let lastVote: TrainingResult['finalVote'] = null
  while (!networkConverged && model.iteration < config.maxIterations) {
    checkAbort(signal, nodeIndex, `before iteration ${model.iteration}`)
    const i = model.iteration
    const t0 = clock.now()
    let stats = model.localUpdate(data)
    let exposure: IterationRecord['exposure'] = null
    if (ctx.guard && config.privacy.monitor) {
      // The same noise stream every iteration: the pseudo-samples move with the posterior
      // instead of being redrawn, so a perturbed network still converges (see privacy.ts).
      const out = ctx.guard.protect({ iteration: i, data, model, stats, noise: noise.fork('protect') })
      if (out !== null) {
        stats = out.stats
        exposure = { minEntropy: out.report.minEntropy, maxEntropy: out.report.maxEntropy, exposed: out.report.exposed, perturbed: out.perturbed }
        minEntropy = minEntropy === null ? out.report.minEntropy : Math.min(minEntropy, out.report.minEntropy)
        if (out.report.exposed) {
          exposures++
          if (out.perturbed) perturbations++
          log?.warn(
            { nodeIndex, iteration: i, minEntropy: out.report.minEntropy, threshold: out.report.threshold, perturbed: out.perturbed },
            'l-diversity: contribution exposed',
          )
          emit({ type: 'exposure', nodeIndex, iteration: i, report: out.report, perturbed: out.perturbed })
        }
      }
    }

    const L = stats.length
    const vec = new Float64Array(L + 2)
    vec.set(stats)
    vec[L] = model.converged ? 1 : 0
    vec[L + 1] = 1
    const label = statsLabel(i)
    const ta = clock.now()
    let sums: Float64Array
    try {
      sums = await ctx.aggregate(vec, label, { noiseGroups: loopNoiseGroups(model, L) })
    } catch (e) {
      if (signal?.aborted) checkAbort(signal, nodeIndex, `during ${label}`)
      const err = e instanceof Error ? e : new Error(String(e))
      throw new TrainingStoppedError(
        `node ${nodeIndex}: iteration ${i}: consensus session '${label}' failed (${err.name}: ${err.message}); the last checkpoint is at iteration ${i}`,
        nodeIndex,
        i,
        label,
        { cause: err },
      )
    }
    const aggregateMs = clock.now() - ta
    checkAbort(signal, nodeIndex, `after ${label}`)
    const participants = Math.round(sums[L + 1])
    const convergedVotes = participants > 0 ? Math.round(sums[L]) / participants : 0
    if (convergedVotes >= 0.5) {
      // The network agreed the previous optimize was the last: keep the global part every
      // node already holds (this round's statistics only carried the vote).
      networkConverged = true
      stopReason = 'converged'
      lastVote = { iteration: i, participants, convergedVotes }
      log?.debug({ nodeIndex, iteration: i, participants, convergedVotes }, 'network agreed convergence')
      break
    }
    model.optimize(sums.subarray(0, L))

    const trace = model.trace[model.trace.length - 1]
    const record: IterationRecord = {
      iteration: i,
      objective: trace ? trace.objective : Number.NaN,
      participants,
      convergedVotes,
      exposure,
      aggregateMs,
      iterationMs: clock.now() - t0,
      trace,
    }
    records.push(record)
    log?.debug({ nodeIndex, iteration: i, objective: record.objective, participants, convergedVotes }, 'iteration done')
    emit({ type: 'iteration', nodeIndex, record })
    await saveCheckpoint()
  }
  if (!networkConverged) {
    log?.warn({ nodeIndex, maxIterations: config.maxIterations }, 'maxIterations reached before convergence')
  }

  const threshold = thresholdAt(model.score(data), config.thresholdQuantile)

  if (!finished && ctx.releaser && config.privacy.release.enabled) {
    try {
      const out = ctx.releaser.release(model, noise.fork('release'))
      release = out
      emit({ type: 'released', nodeIndex, epsilon: out.epsilon, spent: out.spent })
      log?.info({ nodeIndex, epsilon: out.epsilon, spent: out.spent }, 'released DP model')
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e))
      release = { refused: `${err.name}: ${err.message}` }
      emit({ type: 'release-refused', nodeIndex, reason: release.refused })
      log?.warn({ nodeIndex, reason: release.refused }, 'release refused')
    }
  }
  if (!finished) {
    finished = true
    await saveCheckpoint()
  }

  emit({ type: 'finished', nodeIndex, iterations: model.iteration, stopReason })
  return {
    nodeIndex,
    model,
    iterations: model.iteration,
    converged: networkConverged,
    stopReason,
    records,
    threshold,
    exposures,
    perturbations,
    minEntropy,
    release,
    resumedFrom,
    adoptedIteration,
    finalVote: lastVote,
  }
}
