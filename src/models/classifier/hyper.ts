/**
 * Hyper-parameters of the decentralised classifier, declared once (zod) and checked at the
 * edge. Everything except `node` is agreed by the whole network; `node` only forks the
 * shared seed for this node's (non-private) minibatch order.
 *
 * Three privacy options, at most one of `dpSgd` / `mixup` (they protect the shared vector
 * in two incompatible ways) plus, independently, `ldp` on the inputs:
 * - dpSgd: per-sample clipping, Poisson sampling, distributed Gaussian noise (Abadi et al.
 *   2016), RDP-accounted; needs aggregation 'gradient' (one network sum per step).
 * - mixup: the global-DP paper's clipped model plus Gaussian "mix-up" noise, sigma1 =
 *   c T S_sharing / epsilon (Letafati & Otoum; Wei et al. 2020); needs aggregation 'model'.
 * - ldp: Laplace noise of scale beta on every standardised (and clipped) input feature,
 *   drawn once per row (Singh et al.'s local DP on inputs).
 */
import { z } from 'zod'
import { formatIssues } from '../model.js'

/** Hidden widths of the MLP when none are given: the imbalanced-DP paper's WDBC network 30-20-10-10-2. */
export const DEFAULT_HIDDEN = [20, 10, 10]
/** Plain gradient step per sample-mean gradient (standardised inputs; the imbalanced-DP paper's Pima rate is 0.01). */
export const DEFAULT_LEARNING_RATE = 0.1
/** Rounds (optimize calls) before the model reports convergence when its gradient never gets small. */
export const DEFAULT_MAX_ITER = 200
/** Full-batch gradient descent has converged when the mean gradient's L2 norm falls below this. */
export const DEFAULT_TOL = 1e-6
/** Clip of standardised features before Laplace noise (|z| <= 3: three standard deviations). */
export const DEFAULT_LDP_CLIP = 3

const positive = z.number().positive().finite()

export const DpSgdSchema = z
  .object({
    /** C: every sample's gradient (all parameters together) is clipped to this L2 norm. */
    clip: positive,
    /** z: noise std on the network sum is z C. Give it, or `epsilon` (and `delta`) to calibrate it. */
    noiseMultiplier: positive.optional(),
    /** Target (epsilon, delta)-DP of the whole training (maxIter steps at sampleRate); z is derived by the RDP accountant. */
    epsilon: positive.optional(),
    delta: z.number().gt(0).lt(1).optional(),
    /** S: nodes that each add their share N(0, z^2 C^2 / S) of the noise (the network size). */
    nodes: z.number().int().min(1),
  })
  .strict()
  .refine((d) => (d.noiseMultiplier === undefined) !== (d.epsilon === undefined), {
    message: 'give exactly one of noiseMultiplier and epsilon (with delta)',
    path: ['noiseMultiplier'],
  })
  .refine((d) => d.epsilon === undefined || d.delta !== undefined, { message: 'epsilon needs delta (the delta the epsilon is meant at)', path: ['delta'] })

export const MixupSchema = z
  .object({
    /** Target epsilon of the whole training (the paper's epsilon: sigma1 = c T S_sharing / epsilon). */
    epsilon: positive,
    /** delta of c = sqrt(2 ln(1.25 / delta)). */
    delta: z.number().gt(0).lt(1),
    /** C: the local model (every parameter together) is clipped to this L2 norm before noise. */
    clip: positive,
    /** T: exposures (rounds) the noise is calibrated for; default maxIter. */
    rounds: z.number().int().min(1).optional(),
    /**
     * 'per-node' (the paper): each node adds N(0, sigma1^2) to its own clipped model, so every
     * contribution is private on its own and the weighted aggregate carries the paper's noise.
     * 'distributed': the noise is calibrated for the network sum (sensitivity 2C) and each of
     * `nodes` members adds a 1/S share of its variance; less noise in the aggregate, but the
     * guarantee needs every member to add its share and peers to see sums only.
     */
    noise: z.enum(['per-node', 'distributed']).default('per-node'),
    /** S of the distributed shares (required with noise 'distributed'). */
    nodes: z.number().int().min(1).optional(),
  })
  .strict()
  .refine((m) => m.noise !== 'distributed' || m.nodes !== undefined, { message: "noise 'distributed' needs nodes (S)", path: ['nodes'] })

export const LdpSchema = z
  .object({
    /** beta: Laplace scale on standardised features. */
    scale: positive,
    /** B: standardised features are clipped to [-B, B] first (sensitivity 2B per feature). */
    clip: positive.default(DEFAULT_LDP_CLIP),
  })
  .strict()

export const ClassifierHyperSchema = z
  .object({
    /** Shared seed: initial weights (identical on every node) and, forked by `node`, minibatch orders. */
    seed: z.union([z.number().int(), z.string().min(1)]),
    node: z.union([z.number().int().nonnegative(), z.string().min(1)]).default(0),
    /**
     * 'logistic': binary logistic regression (one logit, cross-entropy); 'svm': binary linear
     * SVM (one margin, hinge loss); 'mlp': ReLU hidden layers `hidden`, softmax over `classes`.
     */
    architecture: z.enum(['logistic', 'svm', 'mlp']).default('logistic'),
    hidden: z.array(z.number().int().min(1).max(4096)).min(1).max(8).default(DEFAULT_HIDDEN),
    /** Number of classes (labels 0..classes-1); logistic and svm are binary. */
    classes: z.number().int().min(2).max(1000).default(2),
    /** L2 penalty (l2 / 2) ||W||^2 on the weights (not the biases), added to the mean loss. */
    l2: z.number().nonnegative().finite().default(0),
    /** 'sgd': plain step; 'adam': Kingma & Ba on the network-mean gradient (aggregation 'gradient' only). */
    optimizer: z.enum(['sgd', 'adam']).default('sgd'),
    learningRate: positive.max(100).default(DEFAULT_LEARNING_RATE),
    adamBeta1: z.number().min(0).max(0.9999).default(0.9),
    adamBeta2: z.number().min(0).max(0.999999).default(0.999),
    adamEpsilon: positive.default(1e-8),
    /** Rounds: optimize() calls before convergence is declared. */
    maxIter: z.number().int().min(1).max(1_000_000).default(DEFAULT_MAX_ITER),
    /** Full-batch, non-private gradient rounds stop when ||mean gradient|| <= tol (other modes run maxIter rounds). */
    tol: z.number().nonnegative().default(DEFAULT_TOL),
    /** z-score features with the network mean and sd (src/models/preprocess.ts); ignored when `bounds` are given. */
    standardise: z.boolean().default(true),
    /**
     * Public range of every feature (a data dictionary's, never the data's): features are
     * scaled to [0, 1] by (x - lower) / (upper - lower), and training rows clipped into it.
     * Then no data-dependent statistic is summed in prepare (only the row count), unlike
     * `standardise`. One number for every feature, or one per feature.
     */
    bounds: z
      .object({
        lower: z.union([z.number().finite(), z.array(z.number().finite()).min(1)]),
        upper: z.union([z.number().finite(), z.array(z.number().finite()).min(1)]),
      })
      .strict()
      .nullable()
      .default(null),
    /**
     * What the network sums each round. 'gradient': every node's gradient sum over its rows
     * (or its Poisson sample at `sampleRate`) and row count; the step is taken on the
     * network mean, so full-batch rounds equal centralised gradient descent. 'model'
     * (federated averaging, the global-DP paper): every node trains `localEpochs` epochs of
     * minibatch SGD from the shared model and the network takes the row-weighted average.
     */
    aggregation: z.enum(['gradient', 'model']).default('gradient'),
    /** Rate q of the Poisson sample each node draws per round (aggregation 'gradient'); 1 = full batch. */
    sampleRate: z.number().gt(0).max(1).default(1),
    /** Local epochs per round (aggregation 'model'). */
    localEpochs: z.number().int().min(1).max(10_000).default(1),
    /** Local minibatch rows (aggregation 'model'); default all of the node's rows. */
    batchSize: z.number().int().min(1).optional(),
    dpSgd: DpSgdSchema.nullable().default(null),
    mixup: MixupSchema.nullable().default(null),
    ldp: LdpSchema.nullable().default(null),
  })
  .strict()
  .superRefine((h, ctx) => {
    if (h.architecture !== 'mlp' && h.classes !== 2) {
      ctx.addIssue({ code: 'custom', path: ['classes'], message: `${h.architecture} is a binary classifier: classes must be 2 (use architecture 'mlp' for more)` })
    }
    if (h.dpSgd !== null && h.mixup !== null) {
      ctx.addIssue({ code: 'custom', path: ['mixup'], message: 'choose one of dpSgd and mixup: both protect the shared vector' })
    }
    if (h.dpSgd !== null && h.aggregation !== 'gradient') {
      ctx.addIssue({ code: 'custom', path: ['aggregation'], message: "dpSgd noises per-sample gradient sums: use aggregation 'gradient'" })
    }
    if (h.mixup !== null && h.aggregation !== 'model') {
      ctx.addIssue({ code: 'custom', path: ['aggregation'], message: "mixup noises the clipped local model: use aggregation 'model'" })
    }
    if (h.optimizer === 'adam' && h.aggregation !== 'gradient') {
      ctx.addIssue({ code: 'custom', path: ['optimizer'], message: "adam steps on the network-mean gradient: use aggregation 'gradient' (model averaging uses plain local SGD)" })
    }
    if (h.aggregation === 'model' && h.sampleRate !== 1) {
      ctx.addIssue({ code: 'custom', path: ['sampleRate'], message: "sampleRate applies to aggregation 'gradient'; with 'model' use batchSize" })
    }
  })

/** Hyper-parameters as given (defaults optional). */
export type ClassifierHyperInput = z.input<typeof ClassifierHyperSchema>
/** Hyper-parameters with every default filled in. */
export type ClassifierHyper = z.output<typeof ClassifierHyperSchema>

export class ClassifierConfigError extends Error {
  override name = 'ClassifierConfigError'
}

/** Validate hyper-parameters; throws ClassifierConfigError listing every problem. */
export function parseClassifierHyper(input: unknown): ClassifierHyper {
  const r = ClassifierHyperSchema.safeParse(input)
  if (!r.success) {
    const issues = formatIssues(r.error)
    throw new ClassifierConfigError(`invalid classifier hyper-parameters: ${issues}`)
  }
  return r.data
}

/** Whether training shares anything noised for privacy (then the ledger is charged and the loss is not shared). */
export function isPrivate(h: Pick<ClassifierHyper, 'dpSgd' | 'mixup' | 'ldp'>): boolean {
  return h.dpSgd !== null || h.mixup !== null || h.ldp !== null
}
