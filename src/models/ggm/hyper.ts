/**
 * Hyper-parameters of the sparse GGM mixture, declared once (zod) and checked at the
 * edge; every node of a network must use the same values (the seed included).
 */
import { z } from 'zod'
import { formatIssues } from '../model.js'

/**
 * Number of components when the network does not choose it (K: 'auto' is the default):
 * 2 is what the anomaly benchmark (sim/experiments/anomaly.ts, five datasets, seed 2024)
 * selected from K in {2, 4, 8} before the network chose K itself.
 */
export const DEFAULT_K = 2
/** Largest K the network's model selection (K: 'auto', src/models/ggm/select.ts) tries: K in 1..SELECT_K_MAX. */
export const SELECT_K_MAX = 8
/** rho values the model selection tries at the chosen K (standardised units; the penalty is rho/(Nbar_k + 1)). */
export const SELECT_RHOS: readonly number[] = [0, 0.5, 5]
/** rho while choosing K (stage 1): 0, full covariances as the reference GaussianMixture, and no graphical lasso (fast). */
export const SELECT_RHO_K = 0
/** Seeded k-means++ restarts per K in the model selection (the best by network log-likelihood is kept). */
export const SELECT_RESTARTS = 2
/** EM iterations per candidate while choosing K (stage 1), then per rho (stage 2). */
export const SELECT_ITER_K = 30
export const SELECT_ITER_RHO = 15
/** Graphical-lasso tolerance of the selection's candidate fits (the ranking needs far less than the final fit's). */
export const SELECT_GLASSO_TOL = 1e-6
/** Ridge floor (standardised units) under K 'auto', as scikit-learn's reg_covar in the reference GaussianMixture. */
export const SELECT_RIDGE = 1e-3
/**
 * l1 penalty rho of eq. 8/16 (the glasso penalty is rho/(Nbar_k + 1), standardised units);
 * selected with K on the same benchmark from {0.1, 1, 5}.
 */
export const DEFAULT_RHO = 5
/** Prior strength lambda0 of the Gauss-Wishart prior (eq. 15); > 0 is needed by Theorem 1; {0.1, 1, 10} differed little on the benchmark. */
export const DEFAULT_LAMBDA0 = 1
/** Components with Nbar_k below this are dropped (Theorem 1 needs a floor; ~ one sample). */
export const DEFAULT_DELTA = 1
export const DEFAULT_MAX_ITER = 100
/** Relative change of the network mean log-likelihood that ends EM. */
export const DEFAULT_TOL = 1e-6
/** Ridge added to the diagonal of Sigma_k (standardised units) so near-empty components stay well-posed. */
export const DEFAULT_RIDGE = 1e-6
/** Graphical-lasso tolerance: tight, so S nodes and the centralised fit agree far below 1e-6. */
export const DEFAULT_GLASSO_TOL = 1e-10
export const DEFAULT_GLASSO_MAX_ITER = 1000
/** Pseudo-rows of the prior on a node's private weights (0 = eq. 13 as written). */
export const DEFAULT_WEIGHT_PRIOR = 0
/** Longest SQUAREM step under accelerate: 'squarem' (a fixed bound: no state that nodes could set differently). */
export const DEFAULT_ACCELERATE_MAX_STEP = 4

export const ggmHyperSchema = z
  .object({
    /**
     * Initial number of mixture components, or 'auto' (the default): the network fits K in
     * 1..select.kMax and rho in select.rhos and keeps the lowest BIC, every term of which is
     * a network sum (src/models/ggm/select.ts).
     */
    K: z.union([z.number().int().min(1).max(256), z.literal('auto')]).default('auto'),
    /**
     * Start of a fixed-K fit: 'kmeans++' (greedy k-means++ over shared candidates scored by
     * network sums, then Lloyd steps; select.ts) or 'gaussian' (means drawn from the network
     * mean and covariance, the earlier start). K 'auto' always seeds with k-means++.
     */
    init: z.enum(['kmeans++', 'gaussian']).default('kmeans++'),
    /** l1 penalty on Lambda_k (eq. 16); 0 = no sparsity. Ignored under K 'auto' (the network chooses rho from select.rhos). */
    rho: z.number().min(0).finite().default(DEFAULT_RHO),
    /** The model selection of K 'auto' (ignored for a fixed K). */
    select: z
      .object({
        kMax: z.number().int().min(1).max(32).default(SELECT_K_MAX),
        rhoK: z.number().min(0).finite().default(SELECT_RHO_K),
        rhos: z.array(z.number().min(0).finite()).min(1).max(8).default([...SELECT_RHOS]),
        restarts: z.number().int().min(1).max(8).default(SELECT_RESTARTS),
        iterK: z.number().int().min(1).max(1000).default(SELECT_ITER_K),
        iterRho: z.number().int().min(0).max(1000).default(SELECT_ITER_RHO),
        /** Ridge floor of the candidates and of the chosen model (scikit-learn's reg_covar): without it a component collapses onto repeated values and wins any likelihood criterion. */
        ridge: z.number().min(0).finite().default(SELECT_RIDGE),
      })
      .strict()
      .default(() => ({ kMax: SELECT_K_MAX, rhoK: SELECT_RHO_K, rhos: [...SELECT_RHOS], restarts: SELECT_RESTARTS, iterK: SELECT_ITER_K, iterRho: SELECT_ITER_RHO, ridge: SELECT_RIDGE })),
    /** Prior strength lambda0 (eq. 15); 0 = no prior on the means. */
    lambda0: z.number().min(0).finite().default(DEFAULT_LAMBDA0),
    /** Drop components whose network count Nbar_k < delta. */
    delta: z.number().min(0).finite().default(DEFAULT_DELTA),
    maxIter: z.number().int().min(1).default(DEFAULT_MAX_ITER),
    tol: z.number().min(0).finite().default(DEFAULT_TOL),
    /** R: pairwise distance bound; training rows clipped to radius R/2 around m0 (standardised units). null = no clipping. */
    radius: z.number().positive().finite().nullable().default(null),
    /** Shared seed of the agreed start (every node must use the same). */
    seed: z.union([z.number().int(), z.string().min(1)]).default(0),
    /** Ridge floor on the diagonal of Sigma_k before the glasso step. */
    ridge: z.number().min(0).finite().default(DEFAULT_RIDGE),
    /** Penalise the diagonal of Lambda_k too (eq. 8 sums all entries, R glasso's default; scikit-learn does not). */
    penalizeDiagonal: z.boolean().default(true),
    /**
     * 'map': eq. 15-16 (prior lambda0, m0 and the b = (Nbar+1)/Nbar scaling).
     * 'ml': plain maximum-likelihood M-step (mu_k = mbar_k, Sigma_k = Cbar_k - mbar mbar^T,
     * penalty rho/Nbar_k); with rho = 0 and ridge = 0 this is textbook EM (scikit-learn).
     */
    estimator: z.enum(['map', 'ml']).default('map'),
    /**
     * 'local': each node keeps its own pi^s (eq. 13, the multi-task model of the paper).
     * 'shared': one pi_k = Nbar_k / sum Nbar for the whole network (classic distributed EM;
     * then S nodes give exactly the centralised fit).
     */
    weights: z.enum(['local', 'shared']).default('local'),
    /**
     * Pseudo-rows a that pull each node's private pi^s towards the network's weights
     * Nbar_k / sum_l Nbar_l (weights 'local' only): pi_k^s = (N_k^s + a Nbar_k / sum Nbar) /
     * (n^s + a), the posterior mean under a Dirichlet prior centred on the network's weights.
     * 0 (the default) is eq. 13 as the paper writes it. A node with a handful of rows needs it:
     * with 3-4 rows eq. 13's pi^s collapse towards the components the few rows fall in, the node then scores
     * the other modes as anomalies, and EM creeps (sim/scenarios/shuttle-10000-prior.yaml).
     * With thousands of rows per node 1 pseudo-row changes little; with one node the network's
     * weights are that node's own (from the last M-step), so the fixed points are eq. 13's.
     */
    weightPrior: z.number().min(0).finite().default(DEFAULT_WEIGHT_PRIOR),
    /**
     * 'squarem': every third M-step is taken from the SQUAREM extrapolation of the network's
     * moments of the last three (accelerate.ts): the same fixed points as plain EM, reached in
     * fewer iterations when EM's rate is close to 1 (few rows per node, the l-diversity
     * guard's pseudo-samples). No extra network sum and nothing more disclosed. 'none': plain EM.
     */
    accelerate: z.enum(['none', 'squarem']).default('none'),
    /** Longest SQUAREM step |alpha| (1 = plain EM); the step is -|r|/|v| clamped to [1, this]. */
    accelerateMaxStep: z.number().min(1).max(1000).default(DEFAULT_ACCELERATE_MAX_STEP),
    /** z-score features with the network mean and std before anything else. */
    standardise: z.boolean().default(true),
    glassoTol: z.number().positive().finite().default(DEFAULT_GLASSO_TOL),
    glassoMaxIter: z.number().int().min(1).default(DEFAULT_GLASSO_MAX_ITER),
    /** Warm-start each component's glasso from its previous M-step solution (same optimum, fewer sweeps). */
    glassoWarmStart: z.boolean().default(true),
    /**
     * Inexact M-steps (generalised EM): each glasso solved to a KKT residual of 1/100 of the EM
     * step's change of the mean log-likelihood per row (at most 1e-5, at least glassoTol), so
     * early steps take a few sweeps and the last ones tighten as EM converges (model.ts
     * inexactGlassoTol). Same converged fit; false solves every M-step to glassoTol.
     */
    glassoInexact: z.boolean().default(true),
    /**
     * Rows may hold missing values (NaN, e.g. declared by the data's `missing` policy): EM on
     * the observed entries (src/models/ggm/missing.ts), network moments over observed values.
     * Every node must agree (it changes the first consensus vector); false refuses NaN.
     */
    missing: z.boolean().default(false),
  })
  .strict()

/** Validated hyper-parameters (all defaults filled in). */
export type GgmHyper = z.infer<typeof ggmHyperSchema>
/** What callers may pass: any subset; missing fields take the defaults above. */
export type GgmHyperInput = z.input<typeof ggmHyperSchema>

export class GgmHyperError extends Error {
  override name = 'GgmHyperError'
}

/** Validate hyper-parameters, filling defaults; GgmHyperError lists every problem. */
export function parseGgmHyper(input: unknown = {}): GgmHyper {
  const r = ggmHyperSchema.safeParse(input ?? {})
  if (!r.success) {
    const issues = formatIssues(r.error)
    throw new GgmHyperError(`invalid GGM hyper-parameters: ${issues}`)
  }
  if (r.data.estimator === 'ml' && r.data.lambda0 !== 0) {
    throw new GgmHyperError(`estimator 'ml' has no prior: set lambda0 to 0 (got ${r.data.lambda0}) or use estimator 'map'`)
  }
  return r.data
}
