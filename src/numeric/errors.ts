/** Named errors of the numeric core. Messages name the argument and say what to fix. */

/** An argument is malformed: non-finite values, wrong sizes, not symmetric, out of range. */
export class InvalidInputError extends Error {
  override name = 'InvalidInputError'
}

/** A matrix that must be symmetric positive definite is not (a Cholesky pivot was <= 0). */
export class NotPositiveDefiniteError extends Error {
  override name = 'NotPositiveDefiniteError'
  constructor(
    message: string,
    /** 0-based index of the pivot that failed. */
    readonly pivot: number,
  ) {
    super(message)
  }
}

/** The eigensolver's QL iteration did not converge (pathological input). */
export class ConvergenceError extends Error {
  override name = 'ConvergenceError'
}

/** Graphical lasso cannot proceed: non-SPD / ill-conditioned input or a diverging iteration. */
export class GlassoError extends Error {
  override name = 'GlassoError'
}
