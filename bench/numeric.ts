/**
 * `npm run bench -- numeric`: the WASM numeric core against ml-matrix, side by side in one
 * run. Cholesky/logdet (d = 30, 100), mixture log-density + responsibilities on the 49,097 x 9
 * shuttle rows with K = 8, and the graphical lasso (WDBC correlation and a d = 100 problem,
 * alpha = 0.1, KKT residual 1e-6) against the same block coordinate descent written in
 * TypeScript over ml-matrix. Prints median times over repeated runs and the speed-up.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CholeskyDecomposition, inverse, Matrix } from 'ml-matrix'
import { cholesky, eStep, graphicalLasso, mat, Rng, spdInverse, type Mat } from '../src/numeric/index.js'

/** Repository root: the nearest ancestor of this file with a data/ folder (works from bench/ and dist/bench/). */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 4 && !existsSync(join(dir, 'data', 'wdbc_sklearn.csv')); i++) dir = dirname(dir)
  return `${dir}/`
}
const root = findRoot()

export function loadCsv(name: string, drop: string[]): Mat {
  const lines = readFileSync(`${root}data/${name}`, 'utf8').trim().split(/\r?\n/)
  const header = lines[0].split(',')
  const keep = header.map((h, i) => (drop.includes(h) ? -1 : i)).filter((i) => i >= 0)
  const out = mat(lines.length - 1, keep.length)
  lines.slice(1).forEach((l, r) => {
    const f = l.split(',')
    keep.forEach((c, j) => (out.data[r * keep.length + j] = Number(f[c])))
  })
  return out
}

export function zscore(x: Mat): Mat {
  const { rows: n, cols: m } = x
  const out = mat(n, m, x.data.slice())
  for (let j = 0; j < m; j++) {
    let mu = 0
    for (let i = 0; i < n; i++) mu += x.data[i * m + j] / n
    let v = 0
    for (let i = 0; i < n; i++) v += (x.data[i * m + j] - mu) ** 2 / n
    const sd = Math.sqrt(v) || 1
    for (let i = 0; i < n; i++) out.data[i * m + j] = (x.data[i * m + j] - mu) / sd
  }
  return out
}

export function covariance(x: Mat): Mat {
  const { rows: n, cols: m } = x
  const c = mat(m, m)
  for (let i = 0; i < n; i++)
    for (let a = 0; a < m; a++) {
      const v = x.data[i * m + a]
      for (let b = 0; b < m; b++) c.data[a * m + b] += (v * x.data[i * m + b]) / n
    }
  return c
}

const toMl = (a: Mat): Matrix => Matrix.from1DArray(a.rows, a.cols, Array.from(a.data))

/** CPU time (user + system, all threads of this process) in ms since `since`. */
function cpuMs(since: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(since)
  return (c.user + c.system) / 1000
}

/**
 * Median CPU time per call (ms) of `fn`. CPU time rather than wall time because this
 * machine is shared (other processes' load would otherwise land in whichever side runs
 * while they do). Warm up for WARMUP_MS (V8 tiers up both the JavaScript and the
 * WebAssembly), then time `batches` batches, each >= BATCH_MS so the clock resolution does
 * not matter (CPU clocks may tick coarsely). Returns the last value too.
 */
const WARMUP_MS = 150
const BATCH_MS = 25
function time<T>(batches: number, fn: () => T): { ms: number; value: T } {
  let value = fn()
  let calls = 1
  const w0 = process.cpuUsage()
  while (cpuMs(w0) < WARMUP_MS || calls < 2) {
    value = fn()
    calls++
  }
  // calibrate the batch size on warm code (CPU clocks may tick at a few ms on Linux)
  let size = 0
  const c0 = process.cpuUsage()
  while (cpuMs(c0) < BATCH_MS) {
    value = fn()
    size++
  }
  const t: number[] = []
  for (let b = 0; b < batches; b++) {
    const t0 = process.cpuUsage()
    for (let i = 0; i < size; i++) value = fn()
    t.push(cpuMs(t0) / size)
  }
  t.sort((a, b) => a - b)
  return { ms: t[Math.floor(t.length / 2)], value }
}

// ---------------------------------------------------------------------------------------
// Reference: the same glasso algorithm (BCD, coordinate-descent lasso with active set,
// KKT-residual stopping) in TypeScript over ml-matrix, for a like-for-like comparison.
function soft(x: number, t: number): number {
  return x > t ? x - t : x < -t ? x + t : 0
}

function glassoMlMatrix(Sm: Mat, alpha: number, tol: number, maxIter = 1000): { precision: Matrix; iterations: number; gap: number } {
  const S = toMl(Sm)
  const d = S.rows
  const W = S.clone()
  const B = Matrix.zeros(d, d)
  const wb = new Float64Array(d)
  let lastGap = Infinity
  let lastChange = Infinity
  let P = Matrix.eye(d)
  let gap = Infinity
  for (let iter = 1; iter <= maxIter; iter++) {
    const eps = Math.max(0.1 * tol, Math.min(1e-2, 0.05 * Math.min(lastGap, lastChange)))
    let change = 0
    for (let j = 0; j < d; j++) {
      wb.fill(0)
      for (let l = 0; l < d; l++) {
        const bl = B.get(j, l)
        if (l !== j && bl !== 0) for (let k = 0; k < d; k++) wb[k] += bl * W.get(l, k)
      }
      let full = true
      for (let sweep = 0; sweep < 100_000; sweep++) {
        let maxd = 0
        for (let k = 0; k < d; k++) {
          const old = B.get(j, k)
          if (k === j || (!full && old === 0)) continue
          const wkk = W.get(k, k)
          const nw = soft(S.get(j, k) - (wb[k] - wkk * old), alpha) / wkk
          if (nw !== old) {
            const delta = nw - old
            B.set(j, k, nw)
            for (let t = 0; t < d; t++) wb[t] += delta * W.get(k, t)
            maxd = Math.max(maxd, Math.abs(delta) * wkk)
          }
        }
        if (maxd < eps) {
          if (full) break
          full = true
        } else full = false
      }
      for (let k = 0; k < d; k++) {
        if (k === j) continue
        change = Math.max(change, Math.abs(W.get(j, k) - wb[k]))
        W.set(j, k, wb[k])
        W.set(k, j, wb[k])
      }
    }
    lastChange = change
    if (change > tol && iter < maxIter) continue
    P = Matrix.zeros(d, d)
    for (let j = 0; j < d; j++) {
      let q = 0
      for (let k = 0; k < d; k++) if (k !== j) q += W.get(j, k) * B.get(j, k)
      const tjj = 1 / (W.get(j, j) - q)
      for (let k = 0; k < d; k++) P.set(k, j, k === j ? tjj : -B.get(j, k) * tjj)
    }
    P = P.add(P.transpose()).mul(0.5)
    const Sigma = inverse(P)
    gap = 0
    for (let i = 0; i < d; i++)
      for (let j = 0; j < d; j++) {
        const g = S.get(i, j) - Sigma.get(i, j)
        const t = P.get(i, j)
        gap = Math.max(gap, i === j ? Math.abs(g) : t !== 0 ? Math.abs(g + alpha * Math.sign(t)) : Math.max(0, Math.abs(g) - alpha))
      }
    lastGap = gap
    if (gap <= tol) return { precision: P, iterations: iter, gap }
  }
  return { precision: P, iterations: maxIter, gap }
}

// ---------------------------------------------------------------------------------------

interface Row {
  name: string
  wasm: number
  ref: number
  note: string
}

function printTable(rows: Row[]): void {
  const head = ['kernel', 'WASM ms', 'ml-matrix ms', 'speed-up', 'check']
  console.log('median CPU time per call (user + system) after warm-up')
  const fmt = (ms: number): string => (ms < 1 ? ms.toFixed(4) : ms < 100 ? ms.toFixed(2) : ms.toFixed(0))
  const body = rows.map((r) => [r.name, fmt(r.wasm), fmt(r.ref), `${(r.ref / r.wasm).toFixed(1)}x`, r.note])
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)))
  const line = (c: string[]) => `| ${c.map((v, i) => (i === 0 || i === 4 ? v.padEnd(w[i]) : v.padStart(w[i]))).join(' | ')} |`
  console.log(line(head))
  console.log(`|${w.map((n, i) => (i === 0 || i === 4 ? ':' + '-'.repeat(n + 1) : '-'.repeat(n + 1) + ':')).join('|')}|`)
  for (const b of body) console.log(line(b))
}

function spd(rng: Rng, d: number): Mat {
  const x = mat(d + 10, d, rng.fillNormal(new Float64Array((d + 10) * d)))
  const c = covariance(x)
  for (let i = 0; i < d; i++) c.data[i * d + i] += 0.5
  return c
}

export async function run(): Promise<void> {
  const rng = new Rng('bench-numeric')
  const rows: Row[] = []
  // Global warm-up: V8 compiles (and tiers up) the WebAssembly and the JavaScript on
  // background threads at first use, which CPU time would otherwise charge to the first case.
  {
    const a = spd(new Rng(0), 40)
    const t0 = performance.now()
    while (performance.now() - t0 < 1000) {
      cholesky(a)
      new CholeskyDecomposition(toMl(a))
      graphicalLasso(a, 0.1)
    }
  }

  for (const d of [30, 100]) {
    const a = spd(rng, d)
    const A = toMl(a)
    const reps = 15
    const w = time(reps, () => cholesky(a).logdet)
    const r = time(reps, () => {
      const L = new CholeskyDecomposition(A).lowerTriangularMatrix
      let ld = 0
      for (let i = 0; i < d; i++) ld += 2 * Math.log(L.get(i, i))
      return ld
    })
    rows.push({ name: `Cholesky + logdet, d = ${d}`, wasm: w.ms, ref: r.ms, note: `|logdet diff| ${Math.abs(w.value - r.value).toExponential(1)}` })
  }

  {
    const X = zscore(loadCsv('ad_shuttle.csv', ['anomaly']))
    const n = X.rows
    const m = X.cols
    const K = 8
    const means = mat(K, m)
    const precisions: Mat[] = []
    const base = covariance(X)
    for (let k = 0; k < K; k++) {
      const row = rng.int(n)
      means.data.set(X.data.subarray(row * m, row * m + m), k * m)
      const c = mat(m, m, base.data.map((v, i) => v * (0.5 + k / K) + (i % (m + 1) === 0 ? 0.05 : 0)))
      precisions.push(spdInverse(c).inverse)
    }
    const logw = new Float64Array(K).fill(Math.log(1 / K))
    const w = time(5, () => eStep(X, logw, means, precisions))
    const Xm = toMl(X)
    const Ps = precisions.map(toMl)
    const r = time(2, () => {
      const ld = Matrix.zeros(n, K)
      for (let k = 0; k < K; k++) {
        const L = new CholeskyDecomposition(Ps[k]).lowerTriangularMatrix
        let logdet = 0
        for (let i = 0; i < m; i++) logdet += 2 * Math.log(L.get(i, i))
        const D = Xm.clone().subRowVector(Array.from(means.data.subarray(k * m, (k + 1) * m)))
        const q = D.mmul(Ps[k]).mul(D).sum('row')
        for (let i = 0; i < n; i++) ld.set(i, k, logw[k] - 0.5 * m * Math.log(2 * Math.PI) + 0.5 * logdet - 0.5 * q[i])
      }
      const resp = Matrix.zeros(n, K)
      for (let i = 0; i < n; i++) {
        const row = ld.getRow(i)
        const mx = Math.max(...row)
        let s = 0
        for (const v of row) s += Math.exp(v - mx)
        const lse = mx + Math.log(s)
        for (let k = 0; k < K; k++) resp.set(i, k, Math.exp(row[k] - lse))
      }
      return resp
    })
    let diff = 0
    for (let i = 0; i < n * K; i++) diff = Math.max(diff, Math.abs(w.value.resp.data[i] - r.value.get(Math.floor(i / K), i % K)))
    rows.push({ name: `mixture log-density + resp, ${n} x ${m}, K = ${K}`, wasm: w.ms, ref: r.ms, note: `max |resp diff| ${diff.toExponential(1)} (WASM also sums N_k, m_k, C_k)` })
  }

  const glassoCase = (name: string, S: Mat, alpha: number, reps: number, refReps: number): void => {
    const w = time(reps, () => graphicalLasso(S, alpha, { tol: 1e-6 }))
    const r = time(refReps, () => glassoMlMatrix(S, alpha, 1e-6))
    let diff = 0
    for (let i = 0; i < S.data.length; i++) diff = Math.max(diff, Math.abs(w.value.precision.data[i] - r.value.precision.get(Math.floor(i / S.rows), i % S.rows)))
    rows.push({
      name,
      wasm: w.ms,
      ref: r.ms,
      note: `${w.value.iterations} sweeps, KKT ${w.value.gap.toExponential(1)}; ref ${r.value.iterations} sweeps; max |P diff| ${diff.toExponential(1)}`,
    })
  }
  const wdbc = covariance(zscore(loadCsv('wdbc_sklearn.csv', ['target', 'diagnosis'])))
  glassoCase('glasso WDBC correlation d = 30, alpha = 0.1', wdbc, 0.1, 11, 5)
  {
    // d = 100: correlation of 1000 samples from an AR(1)-like chain with random extra links.
    const d = 100
    const n = 1000
    const x = mat(n, d, rng.fillNormal(new Float64Array(n * d)))
    for (let i = 0; i < n; i++) for (let j = 1; j < d; j++) x.data[i * d + j] += 0.7 * x.data[i * d + j - 1] + (j % 7 === 0 ? 0.5 * x.data[i * d + j - 7] : 0)
    glassoCase('glasso synthetic correlation d = 100, alpha = 0.1', covariance(zscore(x)), 0.1, 11, 3)
  }
  printTable(rows)
  console.log('\ntargets: WASM >= 5x faster than ml-matrix on each; glasso at KKT 1e-6: d = 30 < 15 ms, d = 100 < 60 ms')
}
