/**
 * Multi-task VAE of CollabDict (DESIGN.md eq. 21-40): public interface and factories.
 *
 *   const model = createVaeModel({ seed: 7, node: s, optimizer: 'adam', learningRate: 1e-3 })
 *   await model.prepare(rows, aggregate)   // network standardisation, theta from the shared seed
 *   while (!model.converged) model.optimize(await aggregate(model.localUpdate(rows), 'vae/grad'))
 *   model.score(samples)                    // eq. 39, higher = more anomalous
 *
 * Statistics vector of localUpdate (what the network sums): [dL^s/dtheta (decoder
 * length), ELBO sum, row count]; optimize divides by the summed row count, so the
 * learning rate is per sample and the trace objective is the network mean ELBO.
 */
import { z } from 'zod'
import type { Mat } from '../../numeric/matrix.js'
import { savedModelSchema, formatIssues, type CollabModel, type SavedModel, type TraceEntry } from '../model.js'
import type { VaeShape } from '../../numeric/vae.js'
import { PreprocessingJsonSchema, type Preprocessing } from '../preprocess.js'
import { parseVaeHyper, VaeConfigError, type VaeHyper, type VaeHyperInput } from './hyper.js'
import type { NoiseRng } from '../../privacy/mechanisms.js'
import type { PrivacyLedger } from '../../privacy/ledger.js'
import { VAE_FORMAT_VERSION, VaeModelImpl, type CollapseReport, type VaeEvaluation, type VaePrivacyCost } from './model.js'

export { VaeHyperSchema, parseVaeHyper, VaeConfigError, DEFAULT_HIDDEN, DEFAULT_LATENT, DEFAULT_SCALE_FLOOR, DEFAULT_COLLAPSE_THRESHOLD } from './hyper.js'
export type { VaeHyper, VaeHyperInput } from './hyper.js'
export { VaeStateError, VAE_FORMAT_VERSION } from './model.js'
export type { CollapseReport, VaeEvaluation, VaePrivacyCost, VaeStopReason } from './model.js'
import type { VaeStopReason } from './model.js'
export { chargeVaeStep } from './dpsgd.js'
export { referenceElboGrad, referenceScore } from './reference.js'

/** A node's multi-task VAE: the CollabModel contract plus the VAE's own read-outs. */
export interface VaeModel extends CollabModel {
  readonly kind: 'vae'
  readonly hyper: VaeHyper
  /** Network sizes; throws VaeStateError before prepare(). */
  readonly shape: VaeShape
  /** Latest posterior-collapse report (KL per latent dimension over this node's rows). */
  readonly collapse: CollapseReport
  /** Rows moved by clipping in the last localUpdate() (0 unless clipRadius is set). */
  readonly clipped: number
  readonly preprocessing: Preprocessing | undefined
  /** Why training stopped: 'validation' (early stopping on the network validation ELBO), 'plateau', 'maxIter', or null. */
  readonly stopReason: VaeStopReason
  /** Copy of the shared decoder theta. */
  decoder(): Float64Array
  /** Copy of this node's private encoder phi^s. */
  encoder(): Float64Array
  /** Mean per-sample ELBO, KL, reconstruction of `data` at the current parameters (fixed draws). */
  evaluate(data: Mat): VaeEvaluation
  /**
   * RDP cost of the last localUpdate() under hyper.dpSgd (null when DP-SGD is off or no
   * localUpdate ran), over `orders` (default DEFAULT_ORDERS of src/privacy/rdp.ts).
   * Charge it with chargeVaeStep(model, ledger) before sharing the statistics vector.
   */
  privacyCost(orders?: ArrayLike<number>): VaePrivacyCost | null
}

/** Construction options that are not agreed hyper-parameters. */
export interface VaeModelOptions {
  /**
   * DP-SGD noise and Poisson-sampling source: the node's secret generator (a node's
   * OS-entropy SecretRng, or the simulator's per-node secret stream so a run replays).
   * Default: a fresh OS-entropy SecretRng. Never a stream derived from the shared seed.
   */
  noise?: NoiseRng
  /** The node's ledger: with dpSgd on, every localUpdate charges its DP-SGD steps before returning. */
  ledger?: PrivacyLedger
}

/**
 * A VAE for one node from hyper-parameters (`VaeHyperInput`; validated here, so a
 * registry may pass parsed JSON straight through); call prepare() next.
 */
export function createVaeModel(hyper: VaeHyperInput | Record<string, unknown>, options: VaeModelOptions = {}): VaeModel {
  return new VaeModelImpl(parseVaeHyper(hyper), options.noise, options.ledger)
}

const SavedParamsSchema = z.object({
  features: z.number().int().min(1),
  preprocessing: PreprocessingJsonSchema,
  decoder: z.array(z.number()),
  encoder: z.array(z.number()),
  decoderOptimizer: z.array(z.number()),
  encoderOptimizer: z.array(z.number()),
  iteration: z.number().int().nonnegative(),
  converged: z.boolean(),
  history: z.array(z.number()),
  /** Early stopping where it stood (absent in models saved before it was kept: early stopping then starts afresh). */
  earlyStopping: z
    .object({
      best: z
        .object({
          elbo: z.number().finite(),
          iteration: z.number().int().nonnegative(),
          decoder: z.array(z.number().finite()),
          encoder: z.array(z.number().finite()),
        })
        .strict()
        .nullable(),
      stopReason: z.enum(['validation', 'plateau', 'maxIter']).nullable(),
    })
    .strict()
    .optional(),
})

const SavedSchema = savedModelSchema('vae', VAE_FORMAT_VERSION, SavedParamsSchema)

/** A VAE from `save()` output (e.g. parsed JSON); throws VaeConfigError on anything malformed. */
export function loadVaeModel(saved: unknown, options: VaeModelOptions = {}): VaeModel {
  const r = SavedSchema.safeParse(saved)
  if (!r.success) {
    const issues = formatIssues(r.error)
    throw new VaeConfigError(`not a saved VAE model of format version ${VAE_FORMAT_VERSION}: ${issues}`)
  }
  const model = new VaeModelImpl(parseVaeHyper(r.data.hyper), options.noise, options.ledger)
  model.restore(r.data.params, r.data.trace as TraceEntry[])
  return model
}

/** Type guard for a saved model of this kind (for a registry dispatching on `kind`). */
export function isSavedVae(saved: SavedModel): boolean {
  return saved.kind === 'vae'
}
