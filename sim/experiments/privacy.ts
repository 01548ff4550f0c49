/**
 * Privacy experiments (issue 6): prints markdown tables.
 *
 *   npx tsx sim/experiments/privacy.ts                  # everything
 *   npx tsx sim/experiments/privacy.ts --part mc        # one part: golden | mc | attack | monitor
 *
 * 1. golden   - the RDP accountant against test/golden/rdp_gaussian.json (TF-Privacy table).
 * 2. mc       - Monte-Carlo check of the paper's Theorem 1 (the means-only posterior release,
 *               src/privacy/theorem1.ts): KL of adjacent releases vs the bound.
 * 3. attack   - likelihood-ratio membership inference on Theorem 1's released means, AUC vs epsilon.
 * 4. monitor  - entropy l-diversity on breastw nodes and on a constructed one-sample component.
 *
 * The network's own release (whole model) is measured by sim/experiments/release.ts and
 * attacked by `collab privacy audit`.
 */
import { readFileSync } from 'node:fs'
import { Command, Option } from 'commander'
import { parseOrExit } from '../../cli/errors.js'
import { anomalySplit, loadCsv } from '../../src/data/index.js'
import { fitExact, statsBlock, type GgmModel } from '../../src/models/ggm/index.js'
import { addOuterPacked, mat, selectRows, type Mat } from '../../src/numeric/matrix.js'
import { Rng } from '../../src/numeric/rng.js'
import {
  componentEntropies,
  membershipAttackCurve,
  PrivacyLedger,
  protectContribution,
  rdpToDp,
  subsampledGaussianRdp,
  theorem1MonteCarlo,
} from '../../src/privacy/index.js'

const flags = parseOrExit<{ part: string }>(
  new Command('privacy')
    .description('privacy experiments: accountant vs golden, Theorem 1 Monte-Carlo, membership attack, l-diversity')
    .addOption(new Option('--part <part>', 'one part only').choices(['all', 'golden', 'mc', 'attack', 'monitor']).default('all')),
  process.argv.slice(2),
)
const PART = flags.part
const DELTA = 1e-5
const f = (x: number, d = 3): string => (Number.isFinite(x) ? x.toFixed(d) : String(x))
const row = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`
const header = (cells: string[]): string => `${row(cells)}\n${row(cells.map(() => '---'))}`

// ---------------------------------------------------------------------------------------
function golden(): void {
  const g = JSON.parse(readFileSync(new URL('../../test/golden/rdp_gaussian.json', import.meta.url), 'utf8')) as {
    cases: { q: number; sigma: number; steps: number; delta: number; eps_classic: number; eps_improved: number }[]
  }
  const orders = [...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10), ...Array.from({ length: 52 }, (_, x) => 12 + x)]
  console.log('\n## 1. RDP accountant vs golden (TF-Privacy table; golden order grid)\n')
  console.log(header(['q', 'sigma', 'steps', 'classic (golden)', 'classic (ours)', 'improved (golden)', 'improved (ours)', 'max abs diff']))
  for (const c of g.cases) {
    const r = subsampledGaussianRdp(c.q, c.sigma, c.steps, orders)
    const a = rdpToDp(orders, r, c.delta, 'classic').epsilon
    const b = rdpToDp(orders, r, c.delta, 'improved').epsilon
    console.log(row([f(c.q, 5), c.sigma, c.steps, f(c.eps_classic, 4), f(a, 4), f(c.eps_improved, 4), f(b, 4), Math.max(Math.abs(a - c.eps_classic), Math.abs(b - c.eps_improved)).toExponential(1)]))
  }
}

// ---------------------------------------------------------------------------------------
function mc(): void {
  console.log('\n## 2. Monte-Carlo check of Theorem 1 (adjacent datasets: one sample moved in the R-ball; responsibilities, counts, precisions fixed)\n')
  console.log(header(['setting', 'trials', 'draws/trial', 'ledger epsilon(1) = K B R^2/(2 lambda0)', 'max estimated KL', 'max exact KL', 'max estimated / epsilon(1)', 'violations']))
  const configs = [
    { name: 'typical: K=3, M=3, n=20, R=4, lambda0=2, B=2', o: { K: 3, M: 3, n: 20, R: 4, lambda0: 2, eigCap: 2, trials: 40, draws: 4000 } },
    { name: 'typical: K=5, M=4, n=50, R=3, lambda0=0.5, B=4', o: { K: 5, M: 4, n: 50, R: 3, lambda0: 0.5, eigCap: 4, trials: 40, draws: 4000 } },
    { name: 'near-tight: K=1, M=3, n=1, R=2, lambda0=10, B=2', o: { K: 1, M: 3, n: 1, R: 2, lambda0: 10, eigCap: 2, trials: 40, draws: 20000 } },
  ]
  for (const c of configs) {
    const r = theorem1MonteCarlo(c.o, new Rng(`mc/${c.name}`))
    console.log(row([c.name, c.o.trials, c.o.draws, f(r.epsilon1, 4), f(r.maxEstimate, 4), f(r.maxExact, 4), f(r.maxEstimate / r.epsilon1, 3), r.violations]))
  }
  console.log('\nHalf of the trials move the sample to the antipode along the top eigenvector of the clipped precision (worst case); half move it uniformly in the ball. KL is estimated as the mean of ln p(mu) - ln q(mu) over draws of the release mechanism itself.')
}

// ---------------------------------------------------------------------------------------
function attack(): void {
  console.log('\n## 3. Membership inference (likelihood ratio ln p_released(x) - ln p_population(x)) vs epsilon\n')
  const opts = { M: 5, n: 5, R: 7, eigCap: 1, lambda0s: [0.01, 0.1, 1, 3, 10, 30, 100, 300, 1000, 3000], trials: 2000, delta: DELTA }
  console.log(`Synthetic: population N(0, I_${opts.M}) clipped to radius R/2 = ${opts.R / 2}; one component with public precision I; training sets of n = ${opts.n}; ${opts.trials} releases per row (one member, one non-member each); B = ${opts.eigCap}; delta = ${DELTA}.\n`)
  console.log(header(['lambda0', 'epsilon(1) (KL bound)', `(epsilon, ${DELTA})-DP`, 'attack ROC-AUC', '± s.e.']))
  for (const p of membershipAttackCurve(opts, new Rng('attack'))) {
    console.log(row([p.lambda0, f(p.kl, 3), f(p.epsilon, 3), f(p.auc, 3), f(p.aucSe, 3)]))
  }
}

// ---------------------------------------------------------------------------------------
interface Breastw {
  features: Mat
  labels: Int8Array
}
function breastw(name = 'ad_breastw'): Breastw {
  const d = loadCsv(new URL(`../../data/${name}.csv`, import.meta.url).pathname, { labelCol: 'anomaly' })
  return { features: d.features, labels: d.labels! }
}

/** Training hyper-parameters of the monitor's example. */
const K_INIT = 4
const RADIUS = 6

async function monitor(): Promise<void> {
  console.log('\n## 4. Entropy l-diversity monitor (l0 = 5, threshold ln 5 = 1.609)\n')
  const l0 = 5
  const data = breastw()
  {
    // synthetic well-mixed node: 3 clusters of 100 rows each, K = 3
    const g = new Rng('mixed')
    const X = mat(300, 3)
    for (let i = 0; i < 300; i++) for (let a = 0; a < 3; a++) X.data[i * 3 + a] = g.normal() + (a === i % 3 ? 6 : 0)
    const [m] = await fitExact([X], { K: 3, radius: 20, seed: 1 })
    const rep = componentEntropies(m.responsibilities!, l0)
    console.log(`Synthetic well-mixed node (3 clusters x 100 rows, K = 3): H_k = ${Array.from(rep.entropies, (h) => f(h)).join(', ')} (ln 100 = ${f(Math.log(100))}); exposed: ${rep.exposed ? 'yes' : 'no'}.`)
  }
  const configs = [
    { name: 'well mixed: iid even split, S = 3', S: 3, opts: { concentration: 1e6, sizeConcentration: 1e6 } },
    { name: 'non-iid uneven split (the anomaly benchmark), S = 10', S: 10, opts: {} },
  ]
  let models: GgmModel[] = []
  let parts: Mat[] = []
  for (const c of configs) {
    const split = anomalySplit(data.features, data.labels, c.S, new Rng(0), c.opts)
    parts = split.nodes.map((n) => selectRows(data.features, n.train))
    models = await fitExact(parts, { K: K_INIT, radius: RADIUS, seed: 0 })
    console.log(`\nReal data, ${c.name}: ad_breastw normal rows, GGM K = ${K_INIT} (responsibilities of the last local_update).\n`)
    console.log(header(['node', 'rows', 'min_k H_k', 'max_k H_k (paper)', 'exposed (min)', 'exposed (max)', 'exposed components']))
    models.forEach((m, s) => {
      const rep = componentEntropies(m.responsibilities!, l0)
      console.log(row([s, parts[s].rows, f(rep.min), f(rep.max), rep.exposed ? 'yes' : 'no', rep.exposedMax ? 'yes' : 'no', rep.exposedComponents.join(',') || '-']))
    })
  }
  // constructed: node 0's rows plus one far outlier that owns a component
  const m0 = models[0]
  const n = parts[0].rows
  const K = m0.K
  const resp = mat(n + 1, K + 1)
  const r0 = m0.responsibilities!
  for (let i = 0; i < n; i++) for (let k = 0; k < K; k++) resp.data[i * (K + 1) + k] = r0.data[i * K + k] * (1 - 1e-4)
  for (let i = 0; i < n; i++) resp.data[i * (K + 1) + K] = 1e-4
  resp.data[n * (K + 1) + K] = 1
  const rep = componentEntropies(resp, l0)
  console.log(`\nConstructed (on the last node set): node 0 plus one row that owns an extra component (r = 1; every other row r = 1e-4): min H = ${f(rep.min)} (component ${rep.argmin}), max H = ${f(rep.max)}; exposed by the minimum: ${rep.exposed ? 'yes' : 'no'}, by the paper's max: ${rep.exposedMax ? 'yes' : 'no'}.`)
  // perturb it: pseudo-samples from the posterior of the extra component
  const rel = m0.release()
  const M = rel.dim
  const Kp = K + 1
  const zModel = m0.toModelSpace(parts[0])
  const X = Array.from({ length: n + 1 }, (_, i) => (i < n ? Array.from(zModel.data.subarray(i * M, (i + 1) * M)) : Array.from({ length: M }, () => 6)))
  const block = statsBlock(M)
  const stats = new Float64Array(2 + Kp * block)
  X.forEach((x, i) => {
    for (let k = 0; k < Kp; k++) {
      const r = resp.data[i * Kp + k]
      const at = 2 + k * block
      stats[at] += r
      for (let a = 0; a < M; a++) stats[at + 1 + a] += r * x[a]
      addOuterPacked(stats, at + 1 + M, x, r)
    }
  })
  const means = mat(Kp, M)
  means.data.set(rel.means.data)
  means.data.set(X[n], K * M)
  const ident = mat(M, M)
  for (let a = 0; a < M; a++) ident.data[a * M + a] = 1
  const posterior = { means, precisions: [...rel.precisions, ident], lambdas: Float64Array.from([...Array.from(rel.nbar, (v) => v + rel.lambda0), rel.lambda0 + 1]) }
  const ledger = PrivacyLedger.inMemory({ nodeId: 'node-0' })
  const res = protectContribution(stats, resp, { header: 2, K: Kp, M }, posterior, new Rng('perturb'), ledger, { l0 })
  for (const p of res.perturbed) {
    console.log(`Perturbation of component ${p.k}: ${p.samples.rows} pseudo-samples from the posterior, total weight tau = ${f(p.tau, 4)} (t = ${f(p.t, 4)}); entropy ${f(p.before)} -> ${f(p.after)} >= ln l0 = ${f(Math.log(l0))}.`)
  }
  console.log(`Logged as ledger entry #${res.entry?.seq} (${res.entry?.kind}, audience ${res.entry?.audience}, components ${res.perturbed.map((p) => p.k).join(', ')}).`)
}

if (PART === 'all' || PART === 'golden') golden()
if (PART === 'all' || PART === 'mc') mc()
if (PART === 'all' || PART === 'attack') attack()
if (PART === 'all' || PART === 'monitor') await monitor()
