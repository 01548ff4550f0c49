/**
 * The contract every CollabDict model implements (GGM mixture, multi-task VAE), so the
 * learning loop (src/learning), the node, the simulator, the API and the privacy layer
 * treat them alike. One instance lives on one node and holds that node's private part
 * (pi^s for the GGM, the encoder phi^s for the VAE) and its copy of the global part
 * (the pattern dictionary {mu_k, Lambda_k}, the decoder theta).
 *
 * Algorithm 1 of the CollabDict paper, as the learning loop drives it:
 *   await model.prepare(data, aggregate)          // agreed start (network statistics, shared seed)
 *   until model.converged:
 *     stats = model.localUpdate(data)             // private: E-step / encoder step
 *     sums  = await aggregate(stats)              // consensus: network-wide sum
 *     model.optimize(sums)                        // identical on every node
 */
import type { Mat } from '../numeric/matrix.js'
import type { Preprocessing } from './preprocess.js'
import { z } from 'zod'

/** Network-wide sum of a vector: exact in unit tests, dynamical consensus in the network. */
/** How a contribution should be protected in the network sum (hints for the consensus engine). */
export interface AggregateOptions {
  /**
   * Chunk-noise groups: coordinates with the same id share one noise scale (the group's
   * largest magnitude, see splitChunks in src/consensus). Put coordinates with one unit in
   * one group (a feature's sum and sum of squares) so that features of small units are not
   * buried in the noise of large ones. Default: the whole vector is one group.
   */
  noiseGroups?: Int32Array
}

export type Aggregate = (vec: Float64Array, label: string, opts?: AggregateOptions) => Promise<Float64Array>

export type ModelKind = 'ggm' | 'vae' | 'classifier'

/** One line of a model's training trace (per iteration). */
export interface TraceEntry {
  iteration: number
  /** GGM: mean log-likelihood per sample (network-wide); VAE: mean ELBO per sample. */
  objective: number
  /** Extra per-iteration figures (surviving K, KL per latent dimension, ...). */
  [key: string]: number | number[] | string | boolean
}

/** Versioned, self-describing saved form of a model (JSON-safe). */
export interface SavedModel {
  format: 'collabdict-model'
  version: number
  kind: ModelKind
  /** Hyper-parameters the network agreed on (including the shared seed). */
  hyper: Record<string, unknown>
  /** Numeric-core build that produced the parameters (src/numeric buildId()). */
  numericBuild: string
  /** Kind-specific parameters. */
  params: Record<string, unknown>
  trace: TraceEntry[]
}

export interface CollabModel {
  readonly kind: ModelKind
  /** Number of input features M. */
  readonly dim: number
  /** Completed optimize() calls. */
  readonly iteration: number
  readonly converged: boolean
  readonly trace: readonly TraceEntry[]
  /** The agreed standardisation (and the features pinned as constant), once prepared. */
  readonly preprocessing?: Preprocessing | null

  /**
   * Agreed start without pooling data: network statistics (standardisation, global mean
   * and covariance) through `aggregate`, then initial parameters from the shared seed.
   * Every node calls it with its own rows; afterwards all hold the same global part.
   */
  prepare(data: Mat, aggregate: Aggregate): Promise<void>
  /** Private step on this node's rows; returns the statistics vector to be summed. */
  localUpdate(data: Mat): Float64Array
  /**
   * Chunk-noise groups of a statistics vector of `length` values (AggregateOptions): which
   * entries share a unit. Optional; without it the whole vector is one group.
   */
  statsNoiseGroups?(length: number): Int32Array
  /** Update the global part from the network-wide sum of the statistics vectors. */
  optimize(sums: Float64Array): void
  /** Anomaly score per row (higher = more anomalous), with this node's private part. */
  score(samples: Mat): Float64Array
  /** Versioned, JSON-safe state (hyper-parameters, parameters, trace, numeric build). */
  save(): SavedModel

  /**
   * The global part every node holds identically (GGM: K, weights-free dictionary
   * {mu_k, Lambda_k, Nbar_k}; VAE: decoder theta and optimiser state), packed as one
   * vector, plus the iteration it belongs to. A node that rejoins after a crash takes it
   * from a neighbour instead of recomputing iterations it missed. Contains no private part.
   */
  exportGlobal(): { iteration: number; converged: boolean; state: Float64Array }
  /** Adopt a global part produced by `exportGlobal()` on another node of the same network. */
  importGlobal(global: { iteration: number; converged: boolean; state: Float64Array }): void
}

/** The schema of a saved model file of `kind` at `version` with model-specific `params`. */
export function savedModelSchema<K extends string, P extends z.ZodType>(kind: K, version: number, params: P) {
  return z.object({
    format: z.literal('collabdict-model'),
    version: z.literal(version),
    kind: z.literal(kind),
    hyper: z.record(z.string(), z.unknown()),
    numericBuild: z.string(),
    params,
    trace: z.array(z.record(z.string(), z.unknown())),
  })
}

/** Zod issues as one line naming each field path ("(root)" for the whole value). */
export function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')
}

/**
 * How far two `exportGlobal().state` vectors are apart: max |a - b| over the largest |b|,
 * with NaN (an absent value in the layouts) required at the same places; Infinity when the
 * lengths or the NaN places differ. What "the same global model" means across hosts.
 */
export function globalStateDifference(a: Float64Array, b: Float64Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY
  let scale = 0
  let d = 0
  for (let i = 0; i < b.length; i++) if (!Number.isNaN(b[i])) scale = Math.max(scale, Math.abs(b[i]))
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]) || Number.isNaN(b[i])) {
      if (!(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return Number.POSITIVE_INFINITY
      continue
    }
    d = Math.max(d, Math.abs(a[i] - b[i]))
  }
  return scale > 0 ? d / scale : d
}
