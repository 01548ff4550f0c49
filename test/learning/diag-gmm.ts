/**
 * A small, complete CollabModel for testing the learning loop on its own: a mixture of
 * diagonal Gaussians fitted by EM through network-wide sums (the same shape of algorithm
 * as the GGM mixture: local E-step -> sums -> identical M-step), with a deterministic
 * start from network moments. Kept independent of src/models so the loop's properties
 * (decentralised == centralised, resume, votes) are tested against a second model too.
 */
import type { Aggregate, CollabModel, SavedModel, TraceEntry } from '../../src/models/model.js'
import type { Mat } from '../../src/numeric/matrix.js'

export class DiagGmm implements CollabModel {
  readonly kind = 'ggm' as const
  iteration = 0
  converged = false
  trace: TraceEntry[] = []
  mu: Float64Array
  v: Float64Array
  w: Float64Array
  private lastObjective = -Infinity

  constructor(
    readonly dim: number,
    readonly K: number,
    readonly tol = 1e-7,
  ) {
    this.mu = new Float64Array(K * dim)
    this.v = new Float64Array(K * dim).fill(1)
    this.w = new Float64Array(K).fill(1 / K)
  }

  async prepare(data: Mat, aggregate: Aggregate): Promise<void> {
    const M = this.dim
    const s = new Float64Array(1 + 2 * M)
    s[0] = data.rows
    for (let n = 0; n < data.rows; n++) {
      for (let j = 0; j < M; j++) {
        const x = data.data[n * M + j]
        s[1 + j] += x
        s[1 + M + j] += x * x
      }
    }
    const t = await aggregate(s, 'moments')
    for (let k = 0; k < this.K; k++) {
      for (let j = 0; j < M; j++) {
        const mean = t[1 + j] / t[0]
        const variance = t[1 + M + j] / t[0] - mean * mean
        this.mu[k * M + j] = mean + Math.sqrt(variance) * (k - (this.K - 1) / 2) * (j % 2 === 0 ? 1 : -0.5)
        this.v[k * M + j] = variance
      }
    }
  }

  private logJoint(x: Float64Array, off: number, k: number): number {
    const M = this.dim
    let l = Math.log(this.w[k])
    for (let j = 0; j < M; j++) {
      const d = x[off + j] - this.mu[k * M + j]
      l += -0.5 * (Math.log(2 * Math.PI * this.v[k * M + j]) + (d * d) / this.v[k * M + j])
    }
    return l
  }

  private resp(x: Float64Array, off: number, r: Float64Array): number {
    let mx = -Infinity
    for (let k = 0; k < this.K; k++) {
      r[k] = this.logJoint(x, off, k)
      mx = Math.max(mx, r[k])
    }
    let z = 0
    for (let k = 0; k < this.K; k++) z += Math.exp(r[k] - mx)
    const lse = mx + Math.log(z)
    for (let k = 0; k < this.K; k++) r[k] = Math.exp(r[k] - lse)
    return lse
  }

  localUpdate(data: Mat): Float64Array {
    const M = this.dim
    const K = this.K
    const out = new Float64Array(K * (1 + 2 * M) + 2)
    const r = new Float64Array(K)
    for (let n = 0; n < data.rows; n++) {
      out[K * (1 + 2 * M)] += this.resp(data.data, n * M, r)
      for (let k = 0; k < K; k++) {
        const b = k * (1 + 2 * M)
        out[b] += r[k]
        for (let j = 0; j < M; j++) {
          const x = data.data[n * M + j]
          out[b + 1 + j] += r[k] * x
          out[b + 1 + M + j] += r[k] * x * x
        }
      }
    }
    out[K * (1 + 2 * M) + 1] = data.rows
    return out
  }

  optimize(sums: Float64Array): void {
    const M = this.dim
    const K = this.K
    const total = sums[K * (1 + 2 * M) + 1]
    for (let k = 0; k < K; k++) {
      const b = k * (1 + 2 * M)
      const nk = sums[b]
      this.w[k] = nk / total
      for (let j = 0; j < M; j++) {
        const m = sums[b + 1 + j] / nk
        this.mu[k * M + j] = m
        this.v[k * M + j] = Math.max(sums[b + 1 + M + j] / nk - m * m, 1e-6)
      }
    }
    const objective = sums[K * (1 + 2 * M)] / total
    this.converged = Math.abs(objective - this.lastObjective) < this.tol * Math.abs(objective)
    this.lastObjective = objective
    this.trace.push({ iteration: this.iteration, objective })
    this.iteration++
  }

  score(samples: Mat): Float64Array {
    const r = new Float64Array(this.K)
    const out = new Float64Array(samples.rows)
    for (let n = 0; n < samples.rows; n++) out[n] = -this.resp(samples.data, n * this.dim, r)
    return out
  }

  save(): SavedModel {
    return {
      format: 'collabdict-model',
      version: 1,
      kind: 'ggm',
      hyper: { K: this.K, tol: this.tol },
      numericBuild: 'test',
      params: { mu: Array.from(this.mu), v: Array.from(this.v), w: Array.from(this.w), iteration: this.iteration, converged: this.converged, last: this.lastObjective },
      trace: this.trace.map((t) => ({ ...t })),
    }
  }

  static load(s: SavedModel, dim: number): DiagGmm {
    const m = new DiagGmm(dim, s.hyper.K as number, s.hyper.tol as number)
    const p = s.params as { mu: number[]; v: number[]; w: number[]; iteration: number; converged: boolean; last: number }
    m.mu.set(p.mu)
    m.v.set(p.v)
    m.w.set(p.w)
    m.iteration = p.iteration
    m.converged = p.converged
    m.lastObjective = p.last
    m.trace = s.trace.map((t) => ({ ...t }))
    return m
  }

  exportGlobal(): { iteration: number; converged: boolean; state: Float64Array } {
    const st = new Float64Array(this.mu.length * 2 + this.K + 1)
    st.set(this.mu)
    st.set(this.v, this.mu.length)
    st.set(this.w, 2 * this.mu.length)
    st[st.length - 1] = this.lastObjective
    return { iteration: this.iteration, converged: this.converged, state: st }
  }

  importGlobal(g: { iteration: number; converged: boolean; state: Float64Array }): void {
    this.mu.set(g.state.subarray(0, this.mu.length))
    this.v.set(g.state.subarray(this.mu.length, 2 * this.mu.length))
    this.w.set(g.state.subarray(2 * this.mu.length, 2 * this.mu.length + this.K))
    this.lastObjective = g.state[g.state.length - 1]
    this.iteration = g.iteration
    this.converged = g.converged
  }
}
