/**
 * Graphical lasso (Friedman, Hastie & Tibshirani 2008): block coordinate descent with the
 * inner lasso by coordinate descent, computed by the WASM core (wasm/src/glasso.rs).
 * Solves DESIGN.md eq. 16 in its standard form
 *   min_Theta -ln|Theta| + tr(S Theta) + alpha * sum_{i != j} |Theta_ij|
 * (scikit-learn's convention), or with the diagonal penalised too (`penalizeDiagonal`,
 * R glasso's default and eq. 8's ||Lambda||_1).
 *
 * `gap` is the KKT residual of the returned precision (max over entries of the violation of
 * the optimality conditions S - Theta^{-1} + alpha * d||Theta||_1 = 0, with Theta^{-1}
 * computed exactly); iteration stops when gap <= tol. `dualGap` is scikit-learn's duality
 * gap tr(S Theta) + alpha ||Theta||_1 - d, reported for comparison. The KKT residual is
 * checked whenever the sweeps since the last check cost about as much as a check (every sweep
 * or every few sweeps), so iteration stops within a sweep or two of reaching tol. The inner
 * lassos' accuracy follows the outer progress and tightens when the residual stalls (ill-
 * conditioned S amplifies lasso errors); a residual at rounding level ends the iteration
 * unconverged rather than after maxIter sweeps.
 *
 * Screening (Witten, Friedman & Simon 2011; Mazumder & Hastie 2012): the connected components
 * of the graph |S_ij| > alpha are the diagonal blocks of the solution, each solved on its own
 * (singletons in closed form); `screen: false` turns it off (same solution, for testing).
 */
import { GlassoError, InvalidInputError } from './errors.js'
import { spdInverse } from './linalg.js'
import { mat, type Mat } from './matrix.js'
import { checkNumber, checkSymmetric } from './validate.js'
import { readF64, withScratch } from './wasm.js'

/** Defaults: tol on the KKT residual (1e-6 is well below statistical noise for correlations); maxIter outer sweeps. */
export const GLASSO_DEFAULTS = { tol: 1e-6, maxIter: 1000 } as const

export interface GlassoOptions {
  /** Stop when the KKT residual (max norm) is <= tol. Default 1e-6. */
  tol?: number
  /** Maximum outer sweeps over the columns. Default 1000. */
  maxIter?: number
  /** Penalise the diagonal too (R glasso default). Default false (scikit-learn). */
  penalizeDiagonal?: boolean
  /** Split into the blocks of the screening rule |S_ij| > alpha (exact). Default true. */
  screen?: boolean
  /** Start from a previous solution (e.g. the last EM iteration's). */
  warmStart?: { precision: Mat; covariance: Mat }
}

export interface GlassoResult {
  /** The sparse precision Theta (exactly symmetric). */
  precision: Mat
  /** The working covariance W of the block coordinate descent (dual-feasible; = Theta^{-1} at convergence). */
  covariance: Mat
  /** Outer sweeps used (the most over the screening blocks; 0 when every block is a single variable). */
  iterations: number
  /** KKT residual of `precision` (see the module comment). */
  gap: number
  converged: boolean
  /** -ln|Theta| + tr(S Theta) + alpha ||Theta||_1 at `precision`. */
  objective: number
  /** scikit-learn's duality gap tr(S Theta) + alpha ||Theta||_1 - d. */
  dualGap: number
}

/** Sparse precision matrix of covariance S (d x d, symmetric, positive diagonal) at penalty alpha >= 0. */
export function graphicalLasso(S: Mat, alpha: number, opts: GlassoOptions = {}): GlassoResult {
  checkSymmetric('S', S)
  checkNumber('alpha', alpha, { min: 0 })
  const tol = checkNumber('tol', opts.tol ?? GLASSO_DEFAULTS.tol)
  if (!(tol > 0)) throw new InvalidInputError(`tol must be > 0, got ${tol}`)
  const maxIter = checkNumber('maxIter', opts.maxIter ?? GLASSO_DEFAULTS.maxIter, { min: 1, integer: true, max: 0xffffffff })
  const penalizeDiagonal = opts.penalizeDiagonal === true
  const d = S.rows
  for (let i = 0; i < d; i++) {
    if (!(S.data[i * d + i] > 0)) {
      throw new GlassoError(
        `S has variance ${S.data[i * d + i]} in column ${i}: a constant feature has no partial correlations; drop it, or add a ridge to S's diagonal`,
      )
    }
  }
  if (alpha === 0) return unpenalised(S)
  const warm = opts.warmStart
  if (warm !== undefined) {
    checkSymmetric('warmStart.precision', warm.precision)
    checkSymmetric('warmStart.covariance', warm.covariance)
    if (warm.precision.rows !== d || warm.covariance.rows !== d) {
      throw new InvalidInputError(`warmStart.precision and warmStart.covariance must be ${d} x ${d} like S`)
    }
  }
  return withScratch((s, k) => {
    const ps = s.put(S.data)
    const pw = warm !== undefined ? s.put(warm.covariance.data) : s.f64(d * d)
    const pwt = warm !== undefined ? s.put(warm.precision.data) : 0
    const pt = s.f64(d * d)
    const pr = s.f64(6)
    const rc = k.cd_glasso(ps, d, alpha, tol, maxIter, penalizeDiagonal ? 1 : 0, opts.screen === false ? 0 : 1, pw, pwt, pt, pr)
    const rep = readF64(pr, 6)
    if (rc !== 0) throw failure(rc, rep[5], alpha)
    // exact zeros in one sign: a soft-threshold gives -0 or +0 depending on the path (e.g. a
    // warm start), and the sparsity pattern must not depend on where the solver started
    const theta = readF64(pt, d * d)
    for (let i = 0; i < theta.length; i++) if (theta[i] === 0) theta[i] = 0
    return {
      precision: mat(d, d, theta),
      covariance: mat(d, d, readF64(pw, d * d)),
      iterations: rep[0],
      gap: rep[1],
      dualGap: rep[2],
      objective: rep[3],
      converged: rep[4] === 1,
    }
  })
}

function failure(rc: number, detail: number, alpha: number): Error {
  const fix = `S is not a valid covariance (not positive semidefinite) or too ill-conditioned for alpha = ${alpha}: check how S was computed, increase alpha, add a ridge (e.g. 1e-4 * mean variance) to S's diagonal, or standardise the features`
  switch (rc) {
    case 1:
      return new GlassoError(`graphical lasso lost positive definiteness at column ${detail}; ${fix}`)
    case 2:
      return new GlassoError(`graphical lasso produced a precision that is not positive definite (pivot ${detail}); ${fix}`)
    case 3:
      return new GlassoError(`graphical lasso diverged (non-finite values); ${fix}`)
    default:
      return new InvalidInputError(`warmStart.precision has a non-positive diagonal entry at ${detail}: pass a positive definite precision`)
  }
}

/** alpha = 0: the maximum-likelihood precision S^{-1} (S must be positive definite). */
function unpenalised(S: Mat): GlassoResult {
  const d = S.rows
  let inv: { inverse: Mat; logdet: number }
  try {
    inv = spdInverse(S)
  } catch {
    throw new GlassoError('alpha = 0 needs a positive definite S (the estimate is S^{-1}): use alpha > 0 or add a ridge to the diagonal')
  }
  return {
    precision: inv.inverse,
    covariance: mat(d, d, S.data.slice()),
    iterations: 0,
    gap: 0,
    converged: true,
    objective: inv.logdet + d,
    dualGap: 0,
  }
}
