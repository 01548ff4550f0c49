/**
 * Independent references for the classifier tests, in plain TypeScript (no WASM kernel,
 * no code shared with src/models/classifier):
 * - one sample's loss and gradient by explicit loops over a ReLU MLP with the three heads,
 * - the optimum of L2-regularised logistic regression by Newton's method (IRLS).
 */

export type RefHead = 'logistic' | 'svm' | 'softmax'

/** Loss and gradient (packed like the model: per layer W (dout x din, row-major) then b) of one sample. */
export function sampleGradient(sizes: readonly number[], head: RefHead, theta: ArrayLike<number>, x: ArrayLike<number>, y: number): { loss: number; grad: Float64Array } {
  const L = sizes.length - 1
  const offs: { w: number; b: number }[] = []
  let o = 0
  for (let l = 1; l <= L; l++) {
    offs.push({ w: o, b: o + sizes[l] * sizes[l - 1] })
    o += sizes[l] * sizes[l - 1] + sizes[l]
  }
  const acts: number[][] = [Array.from(x)]
  const pre: number[][] = []
  for (let l = 0; l < L; l++) {
    const din = sizes[l]
    const dout = sizes[l + 1]
    const z: number[] = []
    for (let j = 0; j < dout; j++) {
      let v = theta[offs[l].b + j]
      for (let i = 0; i < din; i++) v += theta[offs[l].w + j * din + i] * acts[l][i]
      z.push(v)
    }
    pre.push(z)
    acts.push(l < L - 1 ? z.map((v) => Math.max(0, v)) : z)
  }
  const s = pre[L - 1]
  let loss: number
  let d: number[]
  if (head === 'logistic') {
    const p = 1 / (1 + Math.exp(-s[0]))
    loss = -(y * Math.log(p) + (1 - y) * Math.log(1 - p))
    d = [p - y]
  } else if (head === 'svm') {
    const t = y === 1 ? 1 : -1
    loss = Math.max(0, 1 - t * s[0])
    d = [1 - t * s[0] > 0 ? -t : 0]
  } else {
    const mx = Math.max(...s)
    const e = s.map((v) => Math.exp(v - mx))
    const sum = e.reduce((a, b) => a + b, 0)
    const p = e.map((v) => v / sum)
    loss = -Math.log(p[y])
    d = p.map((v, k) => v - (k === y ? 1 : 0))
  }
  const grad = new Float64Array(o)
  for (let l = L - 1; l >= 0; l--) {
    const din = sizes[l]
    const dout = sizes[l + 1]
    for (let j = 0; j < dout; j++) {
      grad[offs[l].b + j] = d[j]
      for (let i = 0; i < din; i++) grad[offs[l].w + j * din + i] = d[j] * acts[l][i]
    }
    if (l > 0) {
      const back: number[] = []
      for (let i = 0; i < din; i++) {
        let v = 0
        for (let j = 0; j < dout; j++) v += theta[offs[l].w + j * din + i] * d[j]
        back.push(pre[l - 1][i] > 0 ? v : 0)
      }
      d = back
    }
  }
  return { loss, grad }
}

/**
 * argmin_w (1/n) sum_i [ln(1 + e^{s_i}) - y_i s_i] + (l2 / 2) ||w||^2, s_i = w . x_i + b (the
 * bias not penalised), by Newton's method on the (d + 1) x (d + 1) system. Returns [w, b].
 */
export function newtonLogistic(x: readonly number[][], y: readonly number[], l2: number, iterations = 50): number[] {
  const n = x.length
  const d = x[0].length
  const p = d + 1
  const w = new Array<number>(p).fill(0)
  for (let it = 0; it < iterations; it++) {
    const g = new Array<number>(p).fill(0)
    const H: number[][] = Array.from({ length: p }, () => new Array<number>(p).fill(0))
    for (let i = 0; i < n; i++) {
      const xi = [...x[i], 1]
      let s = 0
      for (let a = 0; a < p; a++) s += w[a] * xi[a]
      const mu = 1 / (1 + Math.exp(-s))
      for (let a = 0; a < p; a++) {
        g[a] += ((mu - y[i]) * xi[a]) / n
        for (let b = 0; b < p; b++) H[a][b] += (mu * (1 - mu) * xi[a] * xi[b]) / n
      }
    }
    for (let a = 0; a < d; a++) {
      g[a] += l2 * w[a]
      H[a][a] += l2
    }
    const step = solve(H, g)
    let size = 0
    for (let a = 0; a < p; a++) {
      w[a] -= step[a]
      size = Math.max(size, Math.abs(step[a]))
    }
    if (size < 1e-14) break
  }
  return w
}

/** Gaussian elimination with partial pivoting (small dense systems). */
function solve(A: number[][], b: number[]): number[] {
  const n = b.length
  const M = A.map((row, i) => [...row, b[i]])
  for (let c = 0; c < n; c++) {
    let piv = c
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r][c]) > Math.abs(M[piv][c])) piv = r
    ;[M[c], M[piv]] = [M[piv], M[c]]
    for (let r = c + 1; r < n; r++) {
      const f = M[r][c] / M[c][c]
      for (let k = c; k <= n; k++) M[r][k] -= f * M[c][k]
    }
  }
  const out = new Array<number>(n).fill(0)
  for (let r = n - 1; r >= 0; r--) {
    let v = M[r][n]
    for (let k = r + 1; k < n; k++) v -= M[r][k] * out[k]
    out[r] = v / M[r][r]
  }
  return out
}
