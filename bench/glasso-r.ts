/**
 * `npm run bench -- glasso`: the WASM graphical lasso against R glasso 1.11 (Friedman, Hastie &
 * Tibshirani's Fortran), side by side in one run, at d = 30 (WDBC correlation), 100, 200 and 400
 * (a sparse chain: x_j += 0.7 x_{j-1} (+ 0.5 x_{j-7} every 7th), 1,000 samples, correlation),
 * plus d = 400 made of 8 independent chains of 50 from 5,000 samples (screening splits it), all at
 * alpha = 0.1 with the diagonal unpenalised.
 *
 * R runs at thr = 1e-4 (its default); we measure the KKT residual of R's answer here (exact
 * inverse) and run ours at tol = that residual, so both sides reach an equal residual; ours at
 * tol 1e-6 is shown too. Times are wall-clock medians inside each process (R's startup excluded).
 * R and its glasso package are installed by bench/install-r-glasso.sh (apt) when missing; without
 * them the R columns say so.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { graphicalLasso, mat, Rng, spdInverse, type Mat } from '../src/numeric/index.js'
import { covariance, loadCsv, zscore } from './numeric.js'

const ALPHA = 0.1
const R_THR = 1e-4

interface Case {
  name: string
  S: Mat
}

/** Chains of length `block` (independent between blocks), n samples, correlation matrix. */
export function chainCorrelation(rng: Rng, d: number, n: number, block = d): Mat {
  const x = mat(n, d, rng.fillNormal(new Float64Array(n * d)))
  for (let i = 0; i < n; i++)
    for (let j = 1; j < d; j++) {
      if (j % block === 0) continue
      x.data[i * d + j] += 0.7 * x.data[i * d + j - 1] + (j % 7 === 0 && (j % block) >= 7 ? 0.5 * x.data[i * d + j - 7] : 0)
    }
  return covariance(zscore(x))
}

/** KKT residual of precision P (symmetrised) for S at alpha, diagonal unpenalised (exact inverse). */
export function kktResidual(S: Mat, P: Mat, alpha: number): number {
  const d = S.rows
  const sym = mat(d, d)
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) sym.data[i * d + j] = 0.5 * (P.data[i * d + j] + P.data[j * d + i])
  const sigma = spdInverse(sym).inverse.data
  let r = 0
  for (let i = 0; i < d; i++)
    for (let j = 0; j < d; j++) {
      const g = S.data[i * d + j] - sigma[i * d + j]
      const t = sym.data[i * d + j]
      r = Math.max(r, i === j ? Math.abs(g) : t !== 0 ? Math.abs(g + alpha * Math.sign(t)) : Math.max(0, Math.abs(g) - alpha))
    }
  return r
}

function wallMedian<T>(fn: () => T, budgetMs = 1500, maxReps = 15): { ms: number; value: T } {
  let value = fn() // warm-up
  const t: number[] = []
  const t0 = performance.now()
  while (t.length < 3 || (t.length < maxReps && performance.now() - t0 < budgetMs)) {
    const s = performance.now()
    value = fn()
    t.push(performance.now() - s)
  }
  t.sort((a, b) => a - b)
  return { ms: t[Math.floor(t.length / 2)], value }
}

function rAvailable(): boolean {
  const ok = (): boolean => spawnSync('Rscript', ['-e', 'suppressMessages(library(glasso))'], { stdio: 'ignore' }).status === 0
  if (ok()) return true
  const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'install-r-glasso.sh')
  const local = join(dirname(fileURLToPath(import.meta.url)), 'install-r-glasso.sh')
  for (const s of [local, script]) {
    if (spawnSync('bash', [s], { stdio: 'inherit' }).status === 0) return ok()
  }
  return false
}

interface RResult {
  ms: number
  iterations: number
  precision: Mat
}

/** Run R glasso on every case in one Rscript process; per case the median elapsed time. */
function runR(cases: Case[]): RResult[] {
  const dir = mkdtempSync(join(tmpdir(), 'glasso-r-'))
  try {
    cases.forEach((c, i) => {
      const d = c.S.rows
      const lines: string[] = []
      for (let r = 0; r < d; r++) lines.push(Array.from(c.S.data.subarray(r * d, (r + 1) * d), (v) => v.toPrecision(17)).join(','))
      writeFileSync(join(dir, `s${i}.csv`), lines.join('\n') + '\n')
    })
    const script = `
suppressMessages(library(glasso))
for (i in 0:${cases.length - 1}) {
  S <- as.matrix(read.csv(file.path("${dir}", paste0("s", i, ".csv")), header = FALSE))
  dimnames(S) <- NULL
  g <- glasso(S, rho = ${ALPHA}, thr = ${R_THR}, penalize.diagonal = FALSE)
  # batches of >= 50 ms (proc.time ticks in ms), per-call time = batch / calls
  times <- c(); t0 <- proc.time()[["elapsed"]]
  while (length(times) < 3 || (length(times) < 15 && proc.time()[["elapsed"]] - t0 < 1.5)) {
    s <- proc.time()[["elapsed"]]; calls <- 0
    while (calls == 0 || proc.time()[["elapsed"]] - s < 0.05) {
      g <- glasso(S, rho = ${ALPHA}, thr = ${R_THR}, penalize.diagonal = FALSE); calls <- calls + 1
    }
    times <- c(times, (proc.time()[["elapsed"]] - s) / calls)
  }
  write.table(g$wi, file.path("${dir}", paste0("p", i, ".csv")), sep = ",", row.names = FALSE, col.names = FALSE)
  cat(i, median(times) * 1000, g$niter, "\\n")
}
`
    const out = execFileSync('Rscript', ['-e', script], { encoding: 'utf8', maxBuffer: 1 << 26 })
    const rows = out.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number))
    return cases.map((c, i) => {
      const d = c.S.rows
      const vals = readFileSync(join(dir, `p${i}.csv`), 'utf8').trim().split(/[\n,]/).map(Number)
      return { ms: rows[i][1], iterations: rows[i][2], precision: mat(d, d, Float64Array.from(vals)) }
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export function glassoCases(): Case[] {
  const rng = new Rng('bench-glasso-r')
  const wdbc = covariance(zscore(loadCsv('wdbc_sklearn.csv', ['target', 'diagnosis'])))
  return [
    { name: 'WDBC d = 30', S: wdbc },
    { name: 'chain d = 100', S: chainCorrelation(rng, 100, 1000) },
    { name: 'chain d = 200', S: chainCorrelation(rng, 200, 1000) },
    { name: 'chain d = 400', S: chainCorrelation(rng, 400, 1000) },
    { name: '8 chains of 50, d = 400', S: chainCorrelation(rng, 400, 5000, 50) },
  ]
}

export async function run(): Promise<void> {
  const cases = glassoCases()
  const haveR = rAvailable()
  let r: RResult[] | null = null
  if (haveR) {
    try {
      r = runR(cases)
    } catch (err) {
      console.log(`R glasso failed: ${(err as Error).message.split('\n')[0]}`)
    }
  } else console.log('Rscript with the glasso package is not available (bench/install-r-glasso.sh could not install it): R columns left empty')
  const fmt = (ms: number): string => (ms < 100 ? ms.toFixed(2) : ms.toFixed(0))
  const head = ['problem (alpha 0.1)', 'R ms (thr 1e-4)', 'R iters', 'R KKT', 'ours ms @ R KKT', 'sweeps', 'ours KKT', 'R / ours', 'ours ms @ 1e-6', 'no-screen ms @ 1e-6']
  const body: string[][] = []
  for (let i = 0; i < cases.length; i++) {
    const { S } = cases[i]
    const rk = r !== null ? kktResidual(S, r[i].precision, ALPHA) : NaN
    const tol = r !== null ? rk : 1e-4
    const at = wallMedian(() => graphicalLasso(S, ALPHA, { tol }))
    const ourK = kktResidual(S, at.value.precision, ALPHA)
    const fine = wallMedian(() => graphicalLasso(S, ALPHA, { tol: 1e-6 }))
    const noScreen = wallMedian(() => graphicalLasso(S, ALPHA, { tol: 1e-6, screen: false }), 1500, 5)
    body.push([
      cases[i].name,
      r !== null ? fmt(r[i].ms) : '-',
      r !== null ? String(r[i].iterations) : '-',
      r !== null ? rk.toExponential(1) : '-',
      fmt(at.ms),
      String(at.value.iterations),
      ourK.toExponential(1),
      r !== null ? `${(r[i].ms / at.ms).toFixed(1)}x` : '-',
      fmt(fine.ms),
      fmt(noScreen.ms),
    ])
  }
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)))
  const line = (c: string[]): string => `| ${c.map((v, i) => (i === 0 ? v.padEnd(w[i]) : v.padStart(w[i]))).join(' | ')} |`
  console.log('graphical lasso vs R glasso 1.11, wall-clock median per solve; "R / ours" > 1 means ours is faster at an equal-or-better KKT residual')
  console.log(line(head))
  console.log(`|${w.map((n, i) => (i === 0 ? ':' + '-'.repeat(n + 1) : '-'.repeat(n + 1) + ':')).join('|')}|`)
  for (const b of body) console.log(line(b))
}
