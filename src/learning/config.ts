/**
 * What a CollabDict network agrees on before it trains: the model and its
 * hyper-parameters, the shared seed, the iteration budget, how sums are computed
 * (consensus scheme, tolerance, random chunking, timeouts), the privacy settings and the
 * scoring threshold. Every node of one network must hold the same TrainingConfig; the
 * node's org.yaml and the simulator's scenario file both embed it under `training:`.
 *
 * The schema is declared once here and checked at the edge (`parseTrainingConfig`);
 * the learning loop assumes a valid config.
 */
import { z } from 'zod'
import type { ConsensusOptions } from '../consensus/index.js'
import { ggmHyperSchema } from '../models/ggm/hyper.js'
import { VaeHyperSchema } from '../models/vae/hyper.js'
import { ClassifierHyperSchema } from '../models/classifier/hyper.js'

export { rdpSlopeFor } from '../privacy/rdp.js'

/** Iterations of Algorithm 1 before the loop stops without convergence (EM on the BCW/shuttle data converges in 20-60). */
export const DEFAULT_MAX_ITERATIONS = 100
/** Relative consensus tolerance: well below the GGM's convergence threshold on the log-likelihood. */
export const DEFAULT_CONSENSUS_TOL = 1e-9
/** Random chunking (eq. 6): three chunks already decorrelate a neighbour's first-round view. */
export const DEFAULT_CHUNKS = 3
/** Random-chunk noise relative to the vector's largest magnitude (see ConsensusSection.chunkScale). */
export const DEFAULT_CHUNK_SCALE = 2
/** A silent neighbour is given up on after this long (wall clock in node/, virtual in sim/). */
export const DEFAULT_TIMEOUT_MS = 10_000
/** Entropy l-diversity level (eq. 48): exposed when some H_k < ln l0. */
export const DEFAULT_L0 = 2
/** Quantile of the node's own training scores used as the anomaly threshold of the API. */
export const DEFAULT_THRESHOLD_QUANTILE = 0.95

export const ConsensusSchemeName = z.enum(['paper', 'max-degree', 'metropolis', 'best-constant', 'chebyshev', 'finite-time'], {
  error: 'must be one of paper, max-degree, metropolis, best-constant, chebyshev, finite-time',
})
export type ConsensusSchemeName = z.infer<typeof ConsensusSchemeName>

const positive = (what: string) => z.number({ error: `${what} must be a number` }).positive({ error: `${what} must be > 0` })

export const ModelSection = z
  .object({
    kind: z.enum(['ggm', 'vae', 'classifier'], { error: 'must be "ggm", "vae" or "classifier"' }),
    /** Kind-specific hyper-parameters (validated by the model factory, src/models). */
    hyper: z.record(z.string(), z.unknown()).default({}),
  })
  .strict()

export const ConsensusSection = z
  .object({
    // The engine's default: Chebyshev acceleration needs the fewest rounds (src/consensus DEFAULT_SCHEME).
    scheme: ConsensusSchemeName.default('chebyshev'),
    tol: positive('tol').max(0.1, { error: 'tol must be <= 0.1 (a relative tolerance such as 1e-9)' }).default(DEFAULT_CONSENSUS_TOL),
    chunks: z.number().int({ error: 'chunks must be a whole number' }).min(1, { error: 'chunks must be >= 1' }).max(64).default(DEFAULT_CHUNKS),
    /**
     * Std of the random chunks relative to the largest magnitude in the vector (eq. 6;
     * src/consensus splitChunks): 2 makes a neighbour's estimate from the chunks it sees
     * no better than guessing zero (relative error >= 1, measured in
     * test/privacy/neighbour-attack.test.ts).
     */
    chunkScale: positive('chunkScale').default(DEFAULT_CHUNK_SCALE),
    timeoutMs: z.number().int().positive({ error: 'timeoutMs must be a positive number of milliseconds' }).default(DEFAULT_TIMEOUT_MS),
    /** After a neighbour times out, rerun the session without it instead of stopping. */
    rerunOnTimeout: z.boolean().default(true),
    /**
     * How a node's contribution is hidden from its peers: 'chunking' (dynamical consensus
     * over the overlay with random chunks, eq. 6; scales to thousands of members) or
     * 'shamir' (exact secure sums by Shamir sharing among all members; tolerates members
     * dropping out after they shared; for networks of tens of members).
     */
    protection: z.enum(['chunking', 'shamir'], { error: 'must be "chunking" or "shamir"' }).default('chunking'),
    /** Shamir: reveals needed to reconstruct a sum (and the coalition size that learns nothing below it); default a majority. */
    shamirThreshold: z.number().int({ error: 'shamirThreshold must be a whole number' }).min(1).optional(),
  })
  .strict()

/** Public per-feature ranges of the raw data: one number for every feature, or one per feature. */
export const ReleaseBounds = z
  .object({
    lower: z.union([z.number().finite(), z.array(z.number().finite()).min(1)], { error: 'lower must be a number or one number per feature' }),
    upper: z.union([z.number().finite(), z.array(z.number().finite()).min(1)], { error: 'upper must be a number or one number per feature' }),
  })
  .strict()
export type ReleaseBounds = z.infer<typeof ReleaseBounds>

/** Network-level epsilon of a release when none is given (at ledgerDelta). */
export const DEFAULT_RELEASE_EPSILON = 4
/** DP-EM steps after the global step of the release (src/privacy/ggm-release.ts). */
export const DEFAULT_RELEASE_ITERATIONS = 3

export const ReleaseSection = z
  .object({
    /**
     * Publish one differentially private model for the whole network at the end of
     * training (src/privacy/ggm-release.ts): every number in the file is noised or derived
     * from noised sums. Off by default: it needs the public feature ranges below.
     */
    enabled: z.boolean().default(false),
    /** Network-level (epsilon, ledgerDelta)-DP of the release (improved RDP conversion). */
    epsilon: positive('release.epsilon').default(DEFAULT_RELEASE_EPSILON),
    /**
     * Public range of every raw feature (from the data dictionary, never from the data):
     * rows are clipped into it, and the sensitivity of the released standardisation
     * depends on it. Required when the release is enabled.
     */
    bounds: ReleaseBounds.optional(),
    /** Released rows are clipped to radius R/2 around the released mean (standardised units); default 2 sqrt(M). */
    R: positive('release.R').optional(),
    /** DP-EM steps of the release after its global step; each costs a share of epsilon. */
    iterations: z.number().int({ error: 'iterations must be a whole number' }).min(1, { error: 'iterations must be >= 1' }).max(100).default(DEFAULT_RELEASE_ITERATIONS),
    /** Components whose noisy count ends below this are left out of the released file. */
    minCount: z.number().min(0, { error: 'minCount must be >= 0' }).default(1),
  })
  .strict()

export const PrivacySection = z
  .object({
    /** Run the entropy l-diversity monitor (eq. 47-48) on every local update. */
    monitor: z.boolean().default(true),
    l0: z.number().min(1, { error: 'l0 must be >= 1 (entropy threshold ln l0)' }).default(DEFAULT_L0),
    release: ReleaseSection.prefault({}),
    /** Total epsilon a node may spend on releases; once spent, releases stop with a named error. */
    budget: positive('privacy.budget').default(10),
    /** delta of the (epsilon, delta)-DP conversion reported by the ledger. */
    ledgerDelta: z.number().gt(0, { error: 'ledgerDelta must be in (0, 1)' }).lt(1, { error: 'ledgerDelta must be in (0, 1)' }).default(1e-5),
  })
  .strict()



const TrainingConfigObject = z
  .object({
    model: ModelSection,
    /** Seed every node shares (initial parameters, chunk relabelling, release noise streams). */
    seed: z.number({ error: 'seed must be a whole number' }).int({ error: 'seed must be a whole number' }).min(0).max(2 ** 32 - 1),
    /** The loop's cap; default: DEFAULT_MAX_ITERATIONS, or the model's own cap (hyper.maxIter) + 1 when that is higher (defaultMaxIterations). */
    maxIterations: z.number().int().min(1, { error: 'maxIterations must be >= 1' }).max(100_000).optional(),
    consensus: ConsensusSection.prefault({}),
    privacy: PrivacySection.prefault({}),
    thresholdQuantile: z
      .number()
      .gt(0, { error: 'thresholdQuantile must be in (0, 1), e.g. 0.95' })
      .lt(1, { error: 'thresholdQuantile must be in (0, 1), e.g. 0.95' })
      .default(DEFAULT_THRESHOLD_QUANTILE),
  })
  .strict()

export const TrainingConfig = TrainingConfigObject.superRefine((c, ctx) => {
  const r = c.privacy.release
  if (r.enabled && r.bounds === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['privacy', 'release', 'bounds'],
      message:
        'required when the release is enabled: the public range of every feature, e.g. { lower: 1, upper: 10 } or one value per feature (from the data dictionary, not from the data); the guarantee depends on it',
    })
  }
  if (r.bounds !== undefined) {
    const { lower, upper } = r.bounds
    const n = (v: number | number[]): number => (Array.isArray(v) ? v.length : 0)
    if (n(lower) > 0 && n(upper) > 0 && n(lower) !== n(upper)) {
      ctx.addIssue({ code: 'custom', path: ['privacy', 'release', 'bounds'], message: `lower has ${n(lower)} values and upper ${n(upper)}; give one pair per feature` })
    }
  }
  // the model's own schema, checked here so that errors carry the full field path
  // (training.model.hyper.rhoo) and the file they come from
  // (the models take their seed from the top-level one: src/learning/models.ts modelHyper)
  const hyper = parseModelHyper(c)
  if (!hyper.success) {
    for (const i of hyper.error.issues) {
      const path = ['model', 'hyper', ...i.path.map((k) => (typeof k === 'symbol' ? String(k) : k))]
      if (i.code === 'unrecognized_keys') {
        for (const key of i.keys) ctx.addIssue({ code: 'custom', path: [...path, key], message: `unknown ${c.model.kind.toUpperCase()} hyper-parameter; check its spelling` })
      } else ctx.addIssue({ code: 'custom', path, message: i.message })
    }
  }
  if (hyper.success && c.model.kind === 'classifier') {
    // a DP classifier is charged (and its noise calibrated) for hyper.maxIter rounds
    const h = hyper.data as { maxIter: number; dpSgd: unknown; mixup: unknown }
    if ((h.dpSgd !== null || h.mixup !== null) && c.maxIterations !== undefined && c.maxIterations < h.maxIter) {
      ctx.addIssue({ code: 'custom', path: ['maxIterations'], message: `the classifier's DP plan is ${h.maxIter} rounds (model.hyper.maxIter) but maxIterations is ${c.maxIterations}; raise maxIterations to at least ${h.maxIter} or lower model.hyper.maxIter` })
    }
  }
  if (r.enabled && r.epsilon > c.privacy.budget) {
    ctx.addIssue({ code: 'custom', path: ['privacy', 'release', 'epsilon'], message: `release.epsilon ${r.epsilon} exceeds privacy.budget ${c.privacy.budget}: no release could ever be afforded; lower epsilon or raise the budget` })
  }
}).transform((c) => ({ ...c, maxIterations: c.maxIterations ?? defaultMaxIterations(c) }))

/** The model's hyper-parameters checked by its own schema (with the top-level seed, as src/learning/models.ts passes it). */
function parseModelHyper(c: { model: { kind: string; hyper: Record<string, unknown> }; seed: number }): ReturnType<typeof ggmHyperSchema.safeParse> | ReturnType<typeof VaeHyperSchema.safeParse> | ReturnType<typeof ClassifierHyperSchema.safeParse> {
  const schema = c.model.kind === 'ggm' ? ggmHyperSchema : c.model.kind === 'vae' ? VaeHyperSchema : ClassifierHyperSchema
  return schema.safeParse({ ...c.model.hyper, seed: c.seed })
}

/**
 * The loop's default cap: DEFAULT_MAX_ITERATIONS, unless the model's own cap is higher (the
 * VAE's 300 steps of early stopping): then that cap + 1, the one round more in which the
 * network votes that the model stopped itself. A loop cap below the model's own would stop
 * a VAE that is still improving its validation ELBO (satellite needs about 220 steps).
 */
export function defaultMaxIterations(c: { model: { kind: string; hyper: Record<string, unknown> }; seed: number }): number {
  const hyper = parseModelHyper(c)
  const own = hyper.success ? (hyper.data as { maxIter?: number }).maxIter : undefined
  return own !== undefined && own > DEFAULT_MAX_ITERATIONS ? Math.min(own + 1, 100_000) : DEFAULT_MAX_ITERATIONS
}

/** A validated training configuration (all defaults filled in). */
export type TrainingConfig = z.infer<typeof TrainingConfig>
/** What a config file may contain before defaults are applied. */
export type TrainingConfigInput = z.input<typeof TrainingConfig>

/**
 * The consensus engine's options that come from the agreed config (every host passes the
 * same ones); the host adds topology, transport, clock, noise and its callbacks.
 */
export function engineOptions(config: TrainingConfig): Pick<ConsensusOptions, 'scheme' | 'tol' | 'chunks' | 'chunkScale' | 'seed' | 'timeoutMs' | 'rerunOnTimeout' | 'protection' | 'shamirThreshold'> {
  const c = config.consensus
  return {
    scheme: c.scheme,
    tol: c.tol,
    chunks: c.chunks,
    chunkScale: c.chunkScale,
    seed: config.seed,
    timeoutMs: c.timeoutMs,
    rerunOnTimeout: c.rerunOnTimeout,
    protection: c.protection,
    shamirThreshold: c.shamirThreshold,
  }
}

export class TrainingConfigError extends Error {
  override name = 'TrainingConfigError'
}

/** One line per problem: `where: field.path: message`; an unknown key is named in its path. */
export function formatZodIssues(error: z.ZodError, where: string, prefix: readonly (string | number)[] = []): string {
  return error.issues
    .flatMap((i) => {
      const at = (keys: readonly PropertyKey[]): string => {
        const path = [...prefix, ...keys].map(String).join('.')
        return path === '' ? '(root)' : path
      }
      if (i.code === 'unrecognized_keys') return i.keys.map((k) => `${where}: ${at([...i.path, k])}: unknown field; check its spelling`)
      return [`${where}: ${at(i.path)}: ${i.message}`]
    })
    .join('\n')
}

/**
 * Validate a training configuration from an external source (org.yaml, scenario file,
 * CLI flags). `where` names the source in the error ("org.yaml", "scenario bcw.yaml");
 * `prefix` is the path of the section inside that file (e.g. ['training']).
 */
export function parseTrainingConfig(input: unknown, where = 'training config', prefix: readonly (string | number)[] = []): TrainingConfig {
  const r = TrainingConfig.safeParse(input)
  if (!r.success) throw new TrainingConfigError(formatZodIssues(r.error, where, prefix))
  return r.data
}
