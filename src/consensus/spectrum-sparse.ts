/**
 * Extremal eigenvalues of a graph Laplacian from its adjacency lists, by the Lanczos method
 * with full reorthogonalisation and explicit restarts, in O(edges + basis * nodes) memory
 * (never an S x S matrix).
 *
 * The operator is a weighted Laplacian L_w x = sum_j w_ij (x_i - x_j): unit weights give
 * L = D - A; Metropolis weights give I - W_metropolis, so W's eigenvalues are 1 - eig(L_w).
 * The constant vector (eigenvalue 0) is projected out of every Krylov vector, so the smallest
 * Ritz value converges to lambda_2 and the largest to lambda_max. Each end is computed by its
 * own run and accepted when the Ritz residual |beta_m s_m| <= tol * scale, which bounds the
 * eigenvalue error by the residual (and by residual^2 / gap once the value is isolated).
 *
 * Accuracy: at the default tol (1e-9 of the spectrum's scale) the values agree with the dense
 * eigensolver to ~1e-12 on the repository's topologies (test/consensus/spectrum-sparse.test.ts);
 * consensus rates and round counts need far less.
 *
 * Deterministic: the start vector is a fixed function of the index, so every node computes the
 * identical numbers from the same graph.
 */

export class SpectrumConvergenceError extends Error {
  override name = 'SpectrumConvergenceError'
}

/** Compressed adjacency with one weight per directed edge. */
export interface WeightedGraph {
  n: number
  offsets: Int32Array
  targets: Int32Array
  weights: Float64Array
}

export interface LanczosOptions {
  /** Krylov basis size before a restart (default 120, capped at n - 1). */
  basis?: number
  /** Restarts before giving up (default 60). */
  restarts?: number
  /** Accept when the eigenvalue error bound (residual, or residual^2 / gap) <= tol * scale (default 1e-9). */
  tol?: number
}

/** CSR form of sorted adjacency lists; `weight(i, j)` gives each directed edge's weight. */
export function weightedGraph(adj: ReadonlyArray<ReadonlyArray<number>>, weight: (i: number, j: number) => number): WeightedGraph {
  const n = adj.length
  const offsets = new Int32Array(n + 1)
  for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i] + adj[i].length
  const targets = new Int32Array(offsets[n])
  const weights = new Float64Array(offsets[n])
  for (let i = 0; i < n; i++) {
    let at = offsets[i]
    for (const j of adj[i]) {
      targets[at] = j
      weights[at] = weight(i, j)
      at++
    }
  }
  return { n, offsets, targets, weights }
}

/** True when the graph is connected (breadth-first search). */
export function isConnectedGraph(adj: ReadonlyArray<ReadonlyArray<number>>): boolean {
  const n = adj.length
  if (n === 0) return true
  const seen = new Uint8Array(n)
  const stack = [0]
  seen[0] = 1
  let count = 1
  while (stack.length > 0) {
    const i = stack.pop()!
    for (const j of adj[i]) {
      if (seen[j] === 0) {
        seen[j] = 1
        count++
        stack.push(j)
      }
    }
  }
  return count === n
}

/** y = L_w x with the mean of y removed (keeps every vector orthogonal to the constant vector). */
function applyLaplacian(g: WeightedGraph, x: Float64Array, y: Float64Array): void {
  const { n, offsets, targets, weights } = g
  let mean = 0
  for (let i = 0; i < n; i++) {
    const xi = x[i]
    let s = 0
    for (let e = offsets[i]; e < offsets[i + 1]; e++) s += weights[e] * (xi - x[targets[e]])
    y[i] = s
    mean += s
  }
  mean /= n
  for (let i = 0; i < n; i++) y[i] -= mean
}

function dot(a: Float64Array, b: Float64Array, n: number, ao = 0): number {
  let s0 = 0
  let s1 = 0
  let i = 0
  for (; i + 1 < n; i += 2) {
    s0 += a[ao + i] * b[i]
    s1 += a[ao + i + 1] * b[i + 1]
  }
  if (i < n) s0 += a[ao + i] * b[i]
  return s0 + s1
}

function startVector(n: number): Float64Array {
  // fixed, non-constant, not aligned with any structured eigenvector
  const v = new Float64Array(n)
  let mean = 0
  for (let i = 0; i < n; i++) {
    v[i] = Math.sin(12.9898 * (i + 1) + 78.233) * 43758.5453
    v[i] -= Math.floor(v[i]) + 0.5
    mean += v[i]
  }
  mean /= n
  let norm = 0
  for (let i = 0; i < n; i++) {
    v[i] -= mean
    norm += v[i] * v[i]
  }
  norm = Math.sqrt(norm)
  for (let i = 0; i < n; i++) v[i] /= norm
  return v
}

/**
 * Smallest ('min') or largest ('max') eigenvalue of L_w on the complement of the constant
 * vector. `scale` bounds |eigenvalues| (e.g. 2 * max weighted degree).
 */
export function lanczosExtreme(g: WeightedGraph, which: 'min' | 'max', scale: number, opts: LanczosOptions = {}): number {
  const n = g.n
  if (n <= 1) return 0
  const m = Math.max(1, Math.min(opts.basis ?? 120, n - 1))
  const restarts = opts.restarts ?? 60
  const tol = (opts.tol ?? 1e-9) * scale
  const V = new Float64Array(m * n)
  const w = new Float64Array(n)
  let v = startVector(n)
  let best = Number.NaN
  let bestResid = Number.POSITIVE_INFINITY
  for (let r = 0; r <= restarts; r++) {
    V.set(v, 0)
    const alpha: number[] = []
    const beta: number[] = []
    let ritz: { theta: number; next: number; s: Float64Array } | null = null
    for (let j = 0; j < m; j++) {
      const vj = V.subarray(j * n, (j + 1) * n)
      applyLaplacian(g, vj, w)
      const a = dot(vj, w, n)
      alpha.push(a)
      for (let i = 0; i < n; i++) w[i] -= a * vj[i]
      if (j > 0) {
        const b = beta[j - 1]
        const off = (j - 1) * n
        for (let i = 0; i < n; i++) w[i] -= b * V[off + i]
      }
      // full reorthogonalisation by classical Gram-Schmidt, a second pass only when the first
      // removed most of the norm (Daniel-Gragg-Kaufman-Stewart criterion)
      for (let pass = 0; pass < 2; pass++) {
        const before = Math.sqrt(dot(w, w, n))
        for (let k = 0; k <= j; k++) {
          const c = dot(V, w, n, k * n)
          if (c !== 0) for (let i = 0, off = k * n; i < n; i++) w[i] -= c * V[off + i]
        }
        if (Math.sqrt(dot(w, w, n)) > Math.SQRT1_2 * before) break
      }
      // and the constant vector once more: near an invariant subspace the residual is tiny and
      // its rounding-level constant component would dominate after normalisation
      let mean = 0
      for (let i = 0; i < n; i++) mean += w[i]
      mean /= n
      for (let i = 0; i < n; i++) w[i] -= mean
      const b = Math.sqrt(dot(w, w, n))
      const full = j + 1 === m
      const invariant = b <= 1e-14 * scale
      if (full || invariant || (j + 1) % 8 === 0) {
        ritz = extremeRitz(alpha, beta, which)
        const resid = invariant ? 0 : Math.abs(b * ritz.s[j])
        if (resid < bestResid) {
          bestResid = resid
          best = ritz.theta
        }
        // Accept on the residual itself, or on the Kato-Temple bound resid^2 / gap with the gap
        // to the next Ritz value (an estimate of the gap to the next eigenvalue; the 1e-2 is its margin).
        const gap = Math.abs(ritz.next - ritz.theta)
        if (resid <= tol || (resid <= 1e-6 * scale && (resid * resid) / gap <= 1e-2 * tol)) return ritz.theta
      }
      if (full || invariant) break
      beta.push(b)
      const next = V.subarray((j + 1) * n, (j + 2) * n)
      for (let i = 0; i < n; i++) next[i] = w[i] / b
    }
    if (ritz === null) break
    // explicit restart from the current Ritz vector V s
    const s = ritz.s
    const nv = new Float64Array(n)
    for (let k = 0; k < s.length; k++) {
      const c = s[k]
      if (c !== 0) for (let i = 0, off = k * n; i < n; i++) nv[i] += c * V[off + i]
    }
    const norm = Math.sqrt(dot(nv, nv, n))
    if (!(norm > 0)) break
    for (let i = 0; i < n; i++) nv[i] /= norm
    v = nv
  }
  throw new SpectrumConvergenceError(
    `Lanczos did not converge for the ${which === 'min' ? 'second-smallest' : 'largest'} Laplacian eigenvalue of a ${n}-node graph (best ${best}, residual ${bestResid.toExponential(2)}): the graph is too poorly connected for consensus at this size; use an expander topology (random regular, cwic, mgg)`,
  )
}

/**
 * Extreme eigenpair of the symmetric tridiagonal T (diagonal alpha, off-diagonal beta) in O(k)
 * per step: the eigenvalue by Sturm-sequence bisection to full precision, the eigenvector by
 * inverse iteration (tridiagonal LU with partial pivoting).
 */
export function extremeRitz(
  alpha: ArrayLike<number>,
  beta: ArrayLike<number>,
  which: 'min' | 'max',
): { theta: number; next: number; s: Float64Array } {
  const k = alpha.length
  let lo = Number.POSITIVE_INFINITY
  let hi = Number.NEGATIVE_INFINITY
  for (let i = 0; i < k; i++) {
    const r = (i > 0 ? Math.abs(beta[i - 1]) : 0) + (i + 1 < k ? Math.abs(beta[i]) : 0)
    lo = Math.min(lo, alpha[i] - r)
    hi = Math.max(hi, alpha[i] + r)
  }
  // number of eigenvalues < x (Sturm count via the LDL^T pivots)
  const below = (x: number): number => {
    let c = 0
    let q = 1
    for (let i = 0; i < k; i++) {
      const b2 = i > 0 ? beta[i - 1] * beta[i - 1] : 0
      q = alpha[i] - x - (i > 0 ? b2 / q : 0)
      if (q === 0) q = -1e-300
      if (q < 0) c++
    }
    return c
  }
  // the index-th smallest eigenvalue (1-based): bisection on the Sturm count
  const nth = (index: number): number => {
    let a = lo - 1e-12 * (1 + Math.abs(lo))
    let b = hi + 1e-12 * (1 + Math.abs(hi))
    for (let it = 0; it < 200; it++) {
      const mid = 0.5 * (a + b)
      if (mid <= a || mid >= b) break
      if (below(mid) >= index) b = mid
      else a = mid
    }
    return 0.5 * (a + b)
  }
  const first = which === 'min' ? 1 : k
  const theta = nth(first)
  const next = k === 1 ? Number.POSITIVE_INFINITY : nth(which === 'min' ? 2 : k - 1)
  return { theta, next, s: inverseIteration(alpha, beta, theta) }
}

/** Unit eigenvector of tridiagonal T for the eigenvalue closest to theta (two inverse-iteration steps). */
function inverseIteration(alpha: ArrayLike<number>, beta: ArrayLike<number>, theta: number): Float64Array {
  const k = alpha.length
  let x = new Float64Array(k).fill(1 / Math.sqrt(k))
  const scale = Math.max(1e-300, ...Array.from({ length: k }, (_, i) => Math.abs(alpha[i]) + (i < k - 1 ? Math.abs(beta[i]) : 0)))
  const shift = theta + 1e-14 * scale // exactly singular systems would divide by zero
  // LU with partial pivoting of T - shift I: rows hold (d0 = diagonal, d1, d2 = super-diagonals), l = multiplier
  const d0 = new Float64Array(k)
  const d1 = new Float64Array(k)
  const d2 = new Float64Array(k)
  const l = new Float64Array(k)
  const swap = new Uint8Array(k)
  for (let i = 0; i < k; i++) {
    d0[i] = alpha[i] - shift
    d1[i] = i + 1 < k ? beta[i] : 0
  }
  // eliminate the sub-diagonal beta[i] under row i
  for (let i = 0; i + 1 < k; i++) {
    const sub = beta[i]
    // row i+1 is (sub, alpha[i+1] - shift, beta[i+1])
    let r1a = alpha[i + 1] - shift
    let r1b = i + 2 < k ? beta[i + 1] : 0
    if (Math.abs(sub) > Math.abs(d0[i])) {
      // swap rows i and i+1
      swap[i] = 1
      const t0 = d0[i]
      const t1 = d1[i]
      const t2 = d2[i]
      d0[i] = sub
      d1[i] = r1a
      d2[i] = r1b
      const m = t0 / sub
      l[i] = m
      r1a = t1 - m * d1[i]
      r1b = t2 - m * d2[i]
    } else {
      const m = d0[i] === 0 ? 0 : sub / d0[i]
      l[i] = m
      r1a -= m * d1[i]
      r1b -= m * d2[i]
    }
    d0[i + 1] = r1a
    d1[i + 1] = r1b
    d2[i + 1] = 0
  }
  for (let i = 0; i < k; i++) if (d0[i] === 0) d0[i] = 1e-300
  for (let step = 0; step < 3; step++) {
    const y = Float64Array.from(x)
    // forward: apply the row swaps and multipliers
    for (let i = 0; i + 1 < k; i++) {
      if (swap[i] === 1) {
        const t = y[i]
        y[i] = y[i + 1]
        y[i + 1] = t
      }
      y[i + 1] -= l[i] * y[i]
    }
    // back substitution with the upper band (d0, d1, d2)
    for (let i = k - 1; i >= 0; i--) {
      let v = y[i]
      if (i + 1 < k) v -= d1[i] * y[i + 1]
      if (i + 2 < k) v -= d2[i] * y[i + 2]
      y[i] = v / d0[i]
    }
    let norm = 0
    for (let i = 0; i < k; i++) norm += y[i] * y[i]
    norm = Math.sqrt(norm)
    for (let i = 0; i < k; i++) y[i] /= norm
    x = y
  }
  return x
}
