/**
 * S nodes in one process, each running runTraining (the very code a peer node runs) on
 * its own slice, concurrently, with sums computed either exactly (reference) or by the
 * host-supplied per-node aggregate (dynamical consensus over an in-memory or libp2p
 * transport). Used by the simulator, `collab fit` and the tests.
 */
import type { Aggregate, CollabModel } from '../models/model.js'
import type { Clock } from '../consensus/transport.js'
import type { Mat } from '../numeric/matrix.js'
import type { TrainingConfig } from './config.js'
import { createExactAggregator } from './exact.js'
import { runTraining } from './index.js'
import type { Checkpoint, LearningContext, RandomSource, LearningLogger, TrainingEvent, TrainingResult } from './types.js'

export type NetworkAggregation =
  /** Exact sums in node order: decentralised must equal centralised. */
  | { kind: 'exact' }
  /** One aggregate per node from the host (consensus nodes); `fail` unblocks the rest when a node dies. */
  | { kind: 'custom'; aggregateFor: (s: number) => Aggregate; fail?: (err: Error) => void }

/** Per-node collaborators the host builds (model from the config, privacy pieces, ledger). */
export interface NodeParts {
  model: CollabModel
  guard?: LearningContext['guard']
  releaser?: LearningContext['releaser']
  ledger?: LearningContext['ledger']
}

export interface NetworkRunOptions {
  config: TrainingConfig
  /** Private rows of node s, for s = 0..S-1. */
  parts: readonly Mat[]
  /**
   * Node s's secret generator (see LearningContext.noise): e.g. SecretRng.forSimulation(noiseSeed, s)
   * in a simulation; default a fresh OS-entropy generator per node.
   */
  noise?: (s: number) => RandomSource
  /** Builds node s's model (e.g. createNodeModel(config) of ./models.js) and privacy collaborators. */
  nodeParts: (s: number) => NodeParts
  aggregation: NetworkAggregation
  clock?: Clock
  logger?: LearningLogger
  onEvent?: (e: TrainingEvent) => void
  checkpoint?: (s: number, cp: Checkpoint) => Promise<void>
  signal?: AbortSignal
}

export interface NetworkResult {
  nodes: TrainingResult[]
}

/** Run Algorithm 1 on every node concurrently; rejects with the first node's failure. */
export async function runNetwork(opts: NetworkRunOptions): Promise<NetworkResult> {
  const S = opts.parts.length
  if (S < 1) throw new RangeError('runNetwork needs at least one node (parts is empty)')
  const exact = opts.aggregation.kind === 'exact' ? createExactAggregator(S) : null
  const aggregateFor = (s: number): Aggregate => {
    if (exact) return exact.forNode(s)
    if (opts.aggregation.kind === 'custom') return opts.aggregation.aggregateFor(s)
    throw new RangeError('unknown aggregation')
  }
  const fail = (err: Error): void => {
    if (exact) exact.fail(err)
    else if (opts.aggregation.kind === 'custom') opts.aggregation.fail?.(err)
  }
  // the first failure, rethrown as it was (whatever value was thrown)
  const rootCause: { failed: boolean; error: unknown } = { failed: false, error: undefined }
  const runs = opts.parts.map(async (data, s) => {
    const p = opts.nodeParts(s)
    const ctx: LearningContext = {
      nodeIndex: s,
      data,
      model: p.model,
      aggregate: aggregateFor(s),
      noise: opts.noise?.(s),
      ledger: p.ledger,
      guard: p.guard,
      releaser: p.releaser,
      logger: opts.logger,
      clock: opts.clock,
    }
    try {
      return await runTraining(ctx, {
        config: opts.config,
        onEvent: opts.onEvent,
        signal: opts.signal,
        checkpoint: opts.checkpoint ? (cp) => (opts.checkpoint as (s: number, cp: Checkpoint) => Promise<void>)(s, cp) : undefined,
      })
    } catch (e) {
      if (!rootCause.failed) Object.assign(rootCause, { failed: true, error: e })
      fail(e instanceof Error ? e : new Error(String(e)))
      throw e
    }
  })
  const settled = await Promise.allSettled(runs)
  if (rootCause.failed) throw rootCause.error
  // a node that failed before training (e.g. its model could not be built) is a failure too, never an undefined result
  const early = settled.find((r) => r.status === 'rejected')
  if (early !== undefined) throw early.reason
  return { nodes: settled.map((r) => (r as PromiseFulfilledResult<TrainingResult>).value) }
}
