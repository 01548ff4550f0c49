/**
 * Gradient-ascent rules for the VAE parameters (the ELBO is maximised).
 * - 'sgd': the paper's plain step, eq. 34 / 36: p <- p + lr * g.
 * - 'adam': Kingma & Ba (2015) on the same g, ascent form, bias-corrected. Its state is a
 *   pure function of the gradients seen, so for the decoder (every node sees the same
 *   network sums) it is identical on every node and travels with exportGlobal().
 * `g` is always a per-sample mean gradient (sum / rows), so lr does not depend on data size.
 */
export type AscentKind = 'sgd' | 'adam'

export interface AscentOptions {
  beta1: number
  beta2: number
  epsilon: number
}

export class Ascent {
  private step = 0
  private readonly m: Float64Array
  private readonly v: Float64Array

  constructor(
    readonly kind: AscentKind,
    readonly length: number,
    private readonly opts: AscentOptions,
  ) {
    const stateLen = kind === 'adam' ? length : 0
    this.m = new Float64Array(stateLen)
    this.v = new Float64Array(stateLen)
  }

  /** Move `params` in place along the mean gradient `g` with step size `lr`. */
  apply(params: Float64Array, g: Float64Array, lr: number): void {
    if (this.kind === 'sgd') {
      for (let i = 0; i < params.length; i++) params[i] += lr * g[i] // eq. 36
      return
    }
    const { beta1, beta2, epsilon } = this.opts
    this.step++
    const c1 = 1 - Math.pow(beta1, this.step)
    const c2 = 1 - Math.pow(beta2, this.step)
    for (let i = 0; i < params.length; i++) {
      this.m[i] = beta1 * this.m[i] + (1 - beta1) * g[i]
      this.v[i] = beta2 * this.v[i] + (1 - beta2) * g[i] * g[i]
      params[i] += (lr * (this.m[i] / c1)) / (Math.sqrt(this.v[i] / c2) + epsilon)
    }
  }

  /** Length of `exportState()`: 0 for sgd, 1 + 2 * length for adam. */
  get stateLength(): number {
    return this.kind === 'adam' ? 1 + 2 * this.length : 0
  }

  /** [step, m (length), v (length)] for adam; empty for sgd. */
  exportState(): Float64Array {
    const out = new Float64Array(this.stateLength)
    if (this.kind === 'adam') {
      out[0] = this.step
      out.set(this.m, 1)
      out.set(this.v, 1 + this.length)
    }
    return out
  }

  importState(state: ArrayLike<number>): void {
    if (state.length !== this.stateLength) {
      throw new RangeError(`optimizer state has ${state.length} values, expected ${this.stateLength} for ${this.kind}`)
    }
    if (this.kind === 'adam') {
      this.step = state[0]
      for (let i = 0; i < this.length; i++) {
        this.m[i] = state[1 + i]
        this.v[i] = state[1 + this.length + i]
      }
    }
  }
}
