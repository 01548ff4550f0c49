/**
 * Decentralised classifier (logistic regression, linear SVM, ReLU MLP) trained by the same
 * consensus as the CollabDict models, with three privacy options (DP-SGD, the global-DP
 * paper's mix-up noise, local DP on inputs): public interface and factories.
 *
 *   const model = createClassifier({ seed: 7, architecture: 'mlp', hidden: [20, 5, 5] }, { noise, ledger })
 *   await model.prepare(rows, aggregate)    // rows: features, then the label (0..classes-1) as the last column
 *   while (!model.converged) model.optimize(await aggregate(model.localUpdate(rows), 'round'))
 *   model.probabilities(samples)            // rows x classes; score(samples) = 1 - p(class 0)
 *
 * Statistics vector of localUpdate (what the network sums): [shared part (P parameters:
 * gradient sum, or |D_s| times the local model), loss sum, row count].
 */
import { z } from 'zod'
import type { Mat } from '../../numeric/matrix.js'
import type { NoiseRng } from '../../privacy/mechanisms.js'
import { savedModelSchema, formatIssues, type CollabModel, type SavedModel, type TraceEntry } from '../model.js'
import { PreprocessingJsonSchema, type Preprocessing } from '../preprocess.js'
import { ClassifierConfigError, parseClassifierHyper, type ClassifierHyper, type ClassifierHyperInput } from './hyper.js'
import { CLASSIFIER_FORMAT_VERSION, ClassifierModelImpl } from './model.js'
import type { NetShape } from './network.js'
import type { ClassifierLedger, PlannedCost } from './privacy.js'

export { ClassifierHyperSchema, parseClassifierHyper, ClassifierConfigError, isPrivate, DEFAULT_HIDDEN, DEFAULT_LEARNING_RATE, DEFAULT_MAX_ITER, DEFAULT_TOL, DEFAULT_LDP_CLIP } from './hyper.js'
export type { ClassifierHyper, ClassifierHyperInput } from './hyper.js'
export { CLASSIFIER_FORMAT_VERSION, ClassifierStateError, DECISION_THRESHOLD, splitLabels, withLabels } from './model.js'
export { gradientSum, initParams, layerOffsets, paramCount, predictProba, ClassifierShapeError } from './network.js'
export type { GradientSum, Head, NetShape } from './network.js'
export { dpSgdNoiseFor, dpSgdNoiseMultiplier, ldpCost, mixupRoundRdp, mixupRounds, mixupSigma, perturbInputs, sharedCost } from './privacy.js'
export type { ClassifierLedger, PlannedCost } from './privacy.js'

/** A node's classifier: the CollabModel contract plus class probabilities and the privacy plan. */
export interface ClassifierModel extends CollabModel {
  readonly kind: 'classifier'
  readonly hyper: ClassifierHyper
  /** Number of classes K (2 for logistic and svm). */
  readonly classes: number
  /** p(not class 0) above which score() calls a row positive: 0.5. */
  readonly decisionThreshold: number
  /** Layer widths and head; throws ClassifierStateError before prepare(). */
  readonly shape: NetShape
  readonly preprocessing: Preprocessing | undefined
  /** Whether the loss sum is shared (false under DP-SGD and mix-up; the trace objective is then NaN). */
  readonly sharesLoss: boolean
  /** Copy of the shared parameters. */
  parameters(): Float64Array
  /** Class probabilities, rows x classes. */
  probabilities(samples: Mat): Mat
  /** Most probable class per row. */
  predict(samples: Mat): Int32Array
  /** Mean loss of labelled rows (label last), no penalty. */
  loss(data: Mat): number
  /** The cost the hyper-parameters plan (the shared mechanism over `rounds` rounds; local DP per row). */
  privacyPlan(orders: readonly number[], nodeRows: number, rounds?: number): { shared: PlannedCost | null; ldp: { epsilon: number; rdp: Float64Array } | null }
}

/** Construction options that are not agreed hyper-parameters. */
export interface ClassifierOptions {
  /** The node's secret generator for all privacy noise; default a fresh OS-entropy SecretRng. Never the shared seed. */
  noise?: NoiseRng
  /** The node's privacy ledger: the training's cost is charged to it before anything noised is shared. */
  ledger?: ClassifierLedger
}

/** A classifier for one node from hyper-parameters (validated here); call prepare() next. */
export function createClassifier(hyper: ClassifierHyperInput | Record<string, unknown>, options: ClassifierOptions = {}): ClassifierModel {
  return new ClassifierModelImpl(parseClassifierHyper(hyper), options)
}

const SavedParamsSchema = z.object({
  features: z.number().int().min(1),
  preprocessing: PreprocessingJsonSchema,
  parameters: z.array(z.number()),
  optimizer: z.array(z.number()),
  iteration: z.number().int().nonnegative(),
  converged: z.boolean(),
})

const SavedSchema = savedModelSchema('classifier', CLASSIFIER_FORMAT_VERSION, SavedParamsSchema)

/**
 * A classifier from `save()` output; throws ClassifierConfigError on anything malformed.
 * A model restored this way that trains on charges one extra round to `options.ledger` at
 * its first round (the round in flight at a crash may already have been shared).
 */
export function loadClassifier(saved: unknown, options: ClassifierOptions = {}): ClassifierModel {
  const r = SavedSchema.safeParse(saved)
  if (!r.success) {
    const issues = formatIssues(r.error)
    throw new ClassifierConfigError(`not a saved classifier of format version ${CLASSIFIER_FORMAT_VERSION}: ${issues}`)
  }
  const model = new ClassifierModelImpl(parseClassifierHyper(r.data.hyper), options)
  model.restore(r.data.params, r.data.trace as TraceEntry[])
  return model
}

/** Type guard for a model of this kind (e.g. to read class probabilities in the API). */
export function isClassifier(model: CollabModel): model is ClassifierModel {
  return model.kind === 'classifier' && 'probabilities' in model
}

/** Type guard for a saved model of this kind. */
export function isSavedClassifier(saved: SavedModel): boolean {
  return saved.kind === 'classifier'
}
