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
import { DEFAULT_K, ggmHyperSchema } from '../models/ggm/hyper.js'
import { VaeHyperSchema } from '../models/vae/hyper.js'
import { DEFAULT_ORDERS, linearRdp, rdpToDp } from '../privacy/rdp.js'

/** Iterations of Algorithm 1 before the loop stops without convergence (EM on the BCW/shuttle data converges in 20-60). */
export const DEFAULT_MAX_ITERATIONS = 100
/** Relative consensus tolerance: well below the GGM's convergence threshold on the log-likelihood. */
export const DEFAULT_CONSENSUS_TOL = 1e-9
/** Random chunking (eq. 6): three chunks already decorrelate a neighbour's first-round view. */
export const DEFAULT_CHUNKS = 3
/** A silent neighbour is given up on after this long (wall clock in node/, virtual in sim/). */
export const DEFAULT_TIMEOUT_MS = 10_000
/** Entropy l-diversity level (eq. 48): exposed when some H_k < ln l0. */
export const DEFAULT_L0 = 2
/** Quantile of the node's own training scores used as the anomaly threshold of the API. */
export const DEFAULT_THRESHOLD_QUANTILE = 0.95

export const ConsensusSchemeName = z.enum(['paper', 'max-degree', 'metropolis', 'best-constant', 'chebyshev'], {
  error: 'must be one of paper, max-degree, metropolis, best-constant, chebyshev',
})
export type ConsensusSchemeName = z.infer<typeof ConsensusSchemeName>

const positive = (what: string) => z.number({ error: `${what} must be a number` }).positive({ error: `${what} must be > 0` })

export const ModelSection = z
  .object({
    kind: z.enum(['ggm', 'vae'], { error: 'must be "ggm" or "vae"' }),
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
    /** Scale of the random chunks 1..C-1 relative to the vector's magnitude (eq. 6). */
    chunkScale: positive('chunkScale').default(1),
    timeoutMs: z.number().int().positive({ error: 'timeoutMs must be a positive number of milliseconds' }).default(DEFAULT_TIMEOUT_MS),
    /** After a neighbour times out, rerun the session without it instead of stopping. */
    rerunOnTimeout: z.boolean().default(true),
  })
  .strict()

export const ReleaseSection = z
  .object({
    /** Publish a Rényi-DP release of the global model at the end of training (Theorem 1). */
    enabled: z.boolean().default(true),
    /**
     * Prior strength lambda0 > 0 of the posterior N(w_k, (lambda_k Lambda_k)^-1) (also the
     * GGM's MAP prior in training). Give it, or give `epsilon` and let it be derived.
     */
    lambda0: positive('release.lambda0').optional(),
    /**
     * Target (epsilon, ledgerDelta)-DP of one release (improved conversion). When lambda0
     * is not given it is derived from this: lambda0 = K B R^2 / (2c), with K the initial
     * number of components (at most that many are released) and c the largest RDP slope
     * (epsilon(alpha) = c alpha) whose conversion stays within epsilon. Default 8.
     */
    epsilon: positive('release.epsilon').optional(),
    /** Enforced bound on pairwise sample distance (samples clipped to radius R/2 around m0). */
    R: positive('release.R').default(6),
    /** Enforced bound on ||Lambda_k||_2 (eigenvalues clipped at B before release). */
    B: positive('release.B').default(10),
    /** Components with Nbar_k below this are dropped before release. */
    delta: positive('release.delta').default(1),
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

/** Per-release target when neither release.lambda0 nor release.epsilon is given. */
export const DEFAULT_RELEASE_EPSILON = 8

/**
 * The largest c such that the linear RDP curve c * alpha converts (improved conversion,
 * DEFAULT_ORDERS) to at most `epsilon` at `delta`. The conversion is increasing in c, so
 * bisection on ln c over [1e-12, 1e6] finds it (any epsilon > 0 is reachable: a tiny c
 * converts to 0 once delta covers the total-variation bound); the result is the lower
 * end of the bracket, so the derived release never costs more than asked.
 */
export function rdpSlopeFor(epsilon: number, delta: number): number {
  const eps = (c: number): number => rdpToDp(DEFAULT_ORDERS, linearRdp(c), delta, 'improved').epsilon
  let lo = Math.log(1e-12)
  let hi = Math.log(1e6)
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2
    if (eps(Math.exp(mid)) <= epsilon) lo = mid
    else hi = mid
  }
  return Math.exp(lo)
}

const TrainingConfigObject = z
  .object({
    model: ModelSection,
    /** Seed every node shares (initial parameters, chunk relabelling, release noise streams). */
    seed: z.number({ error: 'seed must be a whole number' }).int({ error: 'seed must be a whole number' }).min(0).max(2 ** 32 - 1),
    maxIterations: z.number().int().min(1, { error: 'maxIterations must be >= 1' }).max(100_000).default(DEFAULT_MAX_ITERATIONS),
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
  if (r.lambda0 !== undefined && r.epsilon !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['privacy', 'release', 'epsilon'], message: 'give release.lambda0 or release.epsilon, not both (epsilon derives lambda0)' })
  }
  const K = c.model.hyper.K
  const badK = c.model.kind === 'ggm' && r.lambda0 === undefined && K !== undefined && !(Number.isInteger(K) && (K as number) >= 1)
  if (badK) ctx.addIssue({ code: 'custom', path: ['model', 'hyper', 'K'], message: 'K must be a whole number >= 1' })
  // the model's own schema, checked here so that errors carry the full field path
  // (training.model.hyper.rhoo) and the file they come from
  // (the models take their seed from the top-level one: src/learning/models.ts modelHyper)
  const hyper = (c.model.kind === 'ggm' ? ggmHyperSchema : VaeHyperSchema).safeParse({ ...c.model.hyper, seed: c.seed })
  if (!hyper.success) {
    for (const i of hyper.error.issues) {
      if (badK && i.path[0] === 'K') continue
      const path = ['model', 'hyper', ...i.path.map((k) => (typeof k === 'symbol' ? String(k) : k))]
      if (i.code === 'unrecognized_keys') {
        for (const key of i.keys) ctx.addIssue({ code: 'custom', path: [...path, key], message: `unknown ${c.model.kind.toUpperCase()} hyper-parameter; check its spelling` })
      } else ctx.addIssue({ code: 'custom', path, message: i.message })
    }
  }
}).transform((c) => {
  const r = c.privacy.release
  if (r.lambda0 !== undefined) {
    const { epsilon: _none, ...rest } = r
    return { ...c, privacy: { ...c.privacy, release: { ...rest, lambda0: r.lambda0 } } }
  }
  const epsilon = r.epsilon ?? DEFAULT_RELEASE_EPSILON
  const K = c.model.kind === 'ggm' ? ((c.model.hyper.K as number | undefined) ?? DEFAULT_K) : 1
  const lambda0 = (K * r.B * r.R * r.R) / (2 * rdpSlopeFor(epsilon, c.privacy.ledgerDelta))
  // the output names lambda0 only, so a parsed config parses to itself (files written back stay valid)
  const { epsilon: _target, ...rest } = r
  return { ...c, privacy: { ...c.privacy, release: { ...rest, lambda0 } } }
})

/** A validated training configuration (all defaults filled in). */
export type TrainingConfig = z.infer<typeof TrainingConfig>
/** What a config file may contain before defaults are applied. */
export type TrainingConfigInput = z.input<typeof TrainingConfig>

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
