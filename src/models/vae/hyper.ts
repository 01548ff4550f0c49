/**
 * Hyper-parameters of the multi-task VAE, declared once (zod) and checked at the edge.
 * Everything except `node` is agreed by the whole network (same values on every node);
 * `node` is this node's identity, used only to fork the seed of its private encoder and
 * of its Monte-Carlo draws.
 */
import { z } from 'zod'
import { formatIssues } from '../model.js'

/** Hidden width of both MLPs (the size the issue's benchmark uses). */
export const DEFAULT_HIDDEN = 64
/** Latent dimension d (the size the issue's benchmark uses). */
export const DEFAULT_LATENT = 8
/**
 * Floor added to h and sigma after the softplus: on standardised data a scale of 1e-3
 * is already a 1000-fold sharpening, and ln(1e-3) ~ -6.9 keeps the ELBO finite.
 */
export const DEFAULT_SCALE_FLOOR = 1e-3
/**
 * A latent dimension whose KL (nats per sample) stays below this is "collapsed": its
 * posterior equals the prior and carries no information (a common reading threshold,
 * e.g. the "active units" criterion of Burda et al. 2016 uses a comparable 0.01).
 */
export const DEFAULT_COLLAPSE_THRESHOLD = 0.01
/**
 * Step size per sample-mean gradient. 5e-3 keeps the plain step stable on standardised
 * WDBC and shuttle (0.05 diverged there: the Gaussian scale heads blow up); with Adam,
 * 1e-3 to 3e-3 is the usual range.
 */
export const DEFAULT_LEARNING_RATE = 5e-3
/**
 * Adam's step size (the default optimizer). With early stopping on the network validation
 * ELBO, 1e-2 stops on every data/ad_* set within the 300-step cap (satellite, S = 10: 222
 * steps, ROC-AUC 0.823); 3e-3 needed 404 steps there (0.823 too).
 */
export const DEFAULT_ADAM_LEARNING_RATE = 1e-2
/** Share of each node's rows held out for early stopping on the network validation ELBO. */
export const DEFAULT_VALIDATION = 0.1
/** Iterations without a better network validation ELBO before training stops. */
export const DEFAULT_PATIENCE = 20

/** Default L2 clip of each mean gradient before a step (see maxGradNorm). */
export const DEFAULT_MAX_GRAD_NORM = 10

export const VaeHyperSchema = z
  .object({
    /** Shared seed: decoder initialisation (identical on all nodes) and, forked by `node`, everything private. */
    seed: z.union([z.number().int(), z.string().min(1)]),
    /** This node's identity (index or name); forks the seed for phi^s and the draws. */
    node: z.union([z.number().int().nonnegative(), z.string().min(1)]).default(0),
    hidden: z.number().int().min(1).max(4096).default(DEFAULT_HIDDEN),
    latent: z.number().int().min(1).max(1024).default(DEFAULT_LATENT),
    /** Monte-Carlo draws J per sample in training (eq. 28). */
    draws: z.number().int().min(1).max(1024).default(1),
    /**
     * Weight of the row's KL(q(z | x) || N(0, I)) added to the eq. 39 score: 0 (default)
     * is eq. 39 exactly; 1 scores by the row's negative ELBO, which also penalises an
     * input the encoder maps far from the prior.
     */
    scoreKlWeight: z.number().nonnegative().max(1e6).default(0),
    /** Draws J per sample for the anomaly score (eq. 39). */
    scoreDraws: z.number().int().min(1).max(4096).default(32),
    /**
     * 'sgd': the paper's plain step (eq. 36) theta <- theta + lr * dtheta / N, with the
     * network-wide gradient sum divided by the network row count N (so lr is per sample);
     * 'adam': Adam ascent on the same mean gradient (its state is identical on every node
     * because every node sees the same sums). The private encoder uses the same rule.
     */
    optimizer: z.enum(['sgd', 'adam']).default('adam'),
    /** Step size; default DEFAULT_ADAM_LEARNING_RATE with Adam, DEFAULT_LEARNING_RATE with the plain step. */
    learningRate: z.number().positive().max(10).optional(),
    /** Encoder step size (default: learningRate). */
    encoderLearningRate: z.number().positive().max(10).optional(),
    adamBeta1: z.number().min(0).max(0.9999).default(0.9),
    adamBeta2: z.number().min(0).max(0.999999).default(0.999),
    adamEpsilon: z.number().positive().default(1e-8),
    /**
     * Clip each mean gradient (encoder step, and the decoder's network-mean gradient) to
     * this L2 norm before the step (null: no clipping). Keeps the plain step stable when a
     * scale head shrinks towards its floor (the gradient grows like 1/sigma^3). Measured
     * without it: the plain step at the default learning rate diverged on non-iid breastw
     * (11 nodes, ELBO -49 -> -1e3 -> -7e7 -> -inf within 6 steps); with 10 it trains on
     * breastw, pima and new-thyroid (5 to 100 gave ROC-AUC within 0.015 of each other).
     */
    maxGradNorm: z.number().positive().nullable().default(DEFAULT_MAX_GRAD_NORM),
    /**
     * Encoder ascent steps per consensus round. Each step evaluates the ELBO at the
     * current (fixed) decoder with fresh draws and moves phi^s; the decoder gradients of
     * the steps are averaged into the one statistics vector the round shares.
     */
    localSteps: z.number().int().min(1).max(1000).default(1),
    /** Rows per local step (a private random minibatch); default all of the node's rows. */
    batchSize: z.number().int().min(1).optional(),
    /** Stop after this many optimize() calls. */
    maxIter: z.number().int().min(1).default(300),
    /**
     * Share of each node's rows held out (private, drawn from the seed forked by node) for
     * early stopping: every localUpdate adds the held-out rows' ELBO sum and count to the
     * shared vector, so the network validation ELBO is a network sum; training stops when it
     * has not improved by tol * (|best| + 1) for `patience` iterations, and every node goes
     * back to the parameters of the best one. 0 = no hold-out (the window plateau only).
     */
    validation: z.number().min(0).max(0.5).default(DEFAULT_VALIDATION),
    patience: z.number().int().min(1).max(10000).default(DEFAULT_PATIENCE),
    /** Converged when the window-mean network ELBO changes by less than tol * (|ELBO| + 1). */
    tol: z.number().positive().default(1e-4),
    window: z.number().int().min(1).max(1000).default(10),
    latentFloor: z.number().positive().max(1).default(DEFAULT_SCALE_FLOOR),
    scaleFloor: z.number().positive().max(1).default(DEFAULT_SCALE_FLOOR),
    collapseThreshold: z.number().nonnegative().default(DEFAULT_COLLAPSE_THRESHOLD),
    /** z-score features with the network mean and sd (src/models/preprocess.ts). */
    standardise: z.boolean().default(true),
    /**
     * Rows may hold missing values (NaN, the data's `missing` policy): network moments over
     * the observed values; a missing entry enters the encoder at the network mean (0 in model
     * coordinates), adds no reconstruction term to the ELBO (training: the decoder learns from
     * observed entries only), and scores with its expected log-density under the decoder
     * (wasm/src/vae.rs). Every node must agree; false refuses NaN.
     */
    missing: z.boolean().default(false),
    /**
     * DP-SGD on the shared decoder gradients (Abadi et al. 2016); off (null) by default.
     * Each localUpdate step Poisson-samples this node's rows at rate `sampleRate` (q),
     * clips every sample's decoder gradient d L_n / d theta to L2 norm `clip` (C), sums,
     * and adds this node's share N(0, noiseMultiplier^2 C^2 / nodes) of the noise, so the
     * network sum over `nodes` (S) nodes carries N(0, z^2 C^2) (distributed Gaussian).
     * The row count shared is the expected batch size q n_s (public: n_s is already summed
     * in prepare). The noise and the Poisson sampling come from the node's secret
     * generator (createVaeModel's `noise` option; src/numeric/secret-rng.ts), never from
     * the shared seed, which peers know.
     * Cost per localUpdate: `localSteps` subsampled-Gaussian steps (see model.privacyCost()).
     * Excludes `batchSize` (the batch is the Poisson sample).
     */
    dpSgd: z
      .object({
        clip: z.number().positive().finite(),
        noiseMultiplier: z.number().positive().finite(),
        sampleRate: z.number().gt(0).max(1),
        /** S: nodes that each add their share of the noise (the network size). */
        nodes: z.number().int().min(1),
        /**
         * 'dp' (default): each sample's encoder and decoder gradients are clipped to
         * C / sqrt(2) each (the pair to C: sensitivity C) and the encoder sum gets this
         * node's own N(0, z^2 C^2) noise before the step, so phi^s is a post-processing of
         * DP outputs and the decoder guarantee holds end to end (the encoder learns
         * slowly: use a small encoderLearningRate). 'exact': the encoder steps on the
         * batch's exact gradient (better encoder, but later decoder gradients then depend
         * on every row through phi^s, so the per-example bound is only conditional on the
         * encoder).
         */
        encoder: z.enum(['dp', 'exact']).default('dp'),
      })
      .strict()
      .nullable()
      .default(null),
    /** R of the privacy guarantee: clip training rows to radius R/2 around the network mean; null = off. */
    clipRadius: z.number().positive().nullable().default(null),
  })
  .strict()
  .refine((h) => h.dpSgd === null || h.batchSize === undefined, {
    message: 'dpSgd samples its own batches (Poisson, rate dpSgd.sampleRate): remove batchSize',
    path: ['batchSize'],
  })
  .transform((h) => ({ ...h, learningRate: h.learningRate ?? (h.optimizer === 'adam' ? DEFAULT_ADAM_LEARNING_RATE : DEFAULT_LEARNING_RATE) }))

/** Hyper-parameters as given (defaults optional). */
export type VaeHyperInput = z.input<typeof VaeHyperSchema>
/** Hyper-parameters with every default filled in. */
export type VaeHyper = z.output<typeof VaeHyperSchema>

export class VaeConfigError extends Error {
  override name = 'VaeConfigError'
}

/** Validate hyper-parameters; throws VaeConfigError listing every problem. */
export function parseVaeHyper(input: unknown): VaeHyper {
  const r = VaeHyperSchema.safeParse(input)
  if (!r.success) {
    const issues = formatIssues(r.error)
    throw new VaeConfigError(`invalid VAE hyper-parameters: ${issues}`)
  }
  return r.data
}
