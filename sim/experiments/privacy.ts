/**
 * Privacy experiments (issue 6): prints markdown tables.
 *
 *   npx tsx sim/experiments/privacy.ts                  # everything
 *   npx tsx sim/experiments/privacy.ts --part tradeoff  # one part: golden | mc | attack | monitor | tradeoff
 *   npx tsx sim/experiments/privacy.ts --seeds 3        # seeds for the trade-off (default 3)
 *   npx tsx sim/experiments/privacy.ts --part tradeoff --data ad_pima   # trade-off on another ad_* set
 *
 * 1. golden   - the RDP accountant against test/golden/rdp_gaussian.json (TF-Privacy table).
 * 2. mc       - Monte-Carlo check of Theorem 1: KL of adjacent releases vs the ledger epsilon.
 * 3. attack   - likelihood-ratio membership inference on the released model, AUC vs epsilon.
 * 4. monitor  - entropy l-diversity on breastw nodes and on a constructed one-sample component.
 * 5. tradeoff - anomaly ROC-AUC / PR-AUC on ad_breastw (or --data) vs epsilon for the posterior release
 *               (Theorem 1) and the distributed Gaussian mechanism, S in {5, 10, 20}, plus
 *               per-class metrics at epsilon in {1, 2, 8}.
 *
 * Both mechanisms are calibrated by the same RDP accountant to the same (epsilon, delta):
 * their RDP curves are both linear in alpha (c alpha), so one c per epsilon fixes lambda0 =
 * K B R^2 / (2c) for the release and sigma = Delta / sqrt(2c) for the Gaussian mechanism.
 */
import { readFileSync } from 'node:fs'
import { Command, Option } from 'commander'
import { numberFlag, parseOrExit } from '../../cli/errors.js'
import { anomalySplit, loadCsv } from '../../src/data/index.js'
import { classificationReport, prAuc, rocAuc, thresholdAt, type ClassMetrics } from '../../src/eval/metrics.js'
import { fitExact, loadGgm, statsBlock, type GgmModel } from '../../src/models/ggm/index.js'
import { rdpSlopeFor } from '../../src/learning/config.js'
import { clipEigenvalues } from '../../src/numeric/linalg.js'
import { addOuterPacked, mat, packSym, selectRows, unpackSym, type Mat } from '../../src/numeric/matrix.js'
import { Rng } from '../../src/numeric/rng.js'
import {
  componentEntropies,
  distributedGaussianShare,
  gaussianSigma,
  linearRdp,
  logDensityMixture,
  membershipAttackCurve,
  membershipAuc,
  PrivacyLedger,
  protectContribution,
  rdpToDp,
  release,
  scoreMixture,
  subsampledGaussianRdp,
  theorem1MonteCarlo,
  DEFAULT_ORDERS,
  type MixtureParams,
} from '../../src/privacy/index.js'

const flags = parseOrExit<{ part: string; seeds: number; data: string }>(
  new Command('privacy')
    .description('privacy experiments: accountant vs golden, Theorem 1 Monte-Carlo, membership attack, l-diversity, utility trade-off')
    .addOption(new Option('--part <part>', 'one part only').choices(['all', 'golden', 'mc', 'attack', 'monitor', 'tradeoff']).default('all'))
    .option('--seeds <n>', 'splits for the trade-off', numberFlag('--seeds'), 3)
    .option('--data <name>', 'ad_* dataset of the trade-off', 'ad_breastw'),
  process.argv.slice(2),
)
const PART = flags.part
const SEEDS = flags.seeds
const DATA = flags.data
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

/** Training hyper-parameters shared by both mechanisms (R and K fixed, lambda0 varies for the release). */
const K_INIT = 4
const RADIUS = 6
const EIG_CAP = 10
const MIN_NBAR = 1

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

// ---------------------------------------------------------------------------------------
/** c such that the linear RDP curve c * alpha converts to epsilon at DELTA (the config's own derivation). */
function coefForEpsilon(eps: number): number {
  return rdpSlopeFor(eps, DELTA)
}

function mixtureOf(m: GgmModel): MixtureParams {
  const rel = m.release()
  const pre = m.preprocessing!
  let s = 0
  for (const v of rel.nbar) s += v
  return {
    dim: rel.dim,
    K: rel.K,
    means: Array.from({ length: rel.K }, (_, k) => rel.means.data.subarray(k * rel.dim, (k + 1) * rel.dim)),
    precisions: rel.precisions,
    weights: Array.from(rel.nbar, (v) => v / s),
    transform: { shift: pre.shift, scale: pre.scale },
  }
}

/** DP post-processing of noisy sums: N_k >= 0 and a PSD scatter (eigenvalues >= floor). */
function postprocess(sums: Float64Array, K: number, M: number): Float64Array {
  const out = Float64Array.from(sums)
  const block = statsBlock(M)
  for (let k = 0; k < K; k++) {
    const at = 2 + k * block
    const n = Math.max(out[at], 0)
    out[at] = n
    if (n < MIN_NBAR) continue
    const mbar = out.subarray(at + 1, at + 1 + M)
    const C = unpackSym(out, M, at + 1 + M)
    const S = mat(M, M)
    for (let a = 0; a < M; a++) for (let b = 0; b < M; b++) S.data[a * M + b] = C[a * M + b] / n - (mbar[a] / n) * (mbar[b] / n)
    const P = clipEigenvalues(S, { min: 1e-2 })
    const back = new Float64Array(M * M)
    for (let a = 0; a < M; a++) for (let b = 0; b < M; b++) back[a * M + b] = n * (P.data[a * M + b] + (mbar[a] / n) * (mbar[b] / n))
    packSym(back, M, out, at + 1 + M)
  }
  return out
}

interface Outcome {
  auc: number
  ap: number
  perClass: ClassMetrics[]
  accuracy: number
  /** Membership inference: ROC-AUC of ln p(x) for training rows vs held-out normal rows. */
  mia: number
  failed: boolean
}

interface SplitRows {
  trainAll: Int32Array
  testNormalAll: Int32Array
}

function evaluate(mix: MixtureParams, data: Breastw, split: SplitRows, test: Int32Array, y: Int8Array): Outcome {
  const scoreFn = (X: Mat): Float64Array => scoreMixture(mix, X)
  const s = scoreFn(selectRows(data.features, test))
  const thr = thresholdAt(scoreFn(selectRows(data.features, split.trainAll)), 0.95)
  const pred = Array.from(s, (v) => (v > thr ? 1 : 0))
  const rep = classificationReport(pred, y)
  const mia = membershipAuc(logDensityMixture(mix, selectRows(data.features, split.trainAll)), logDensityMixture(mix, selectRows(data.features, split.testNormalAll)))
  return { auc: rocAuc(s, y), ap: prAuc(s, y), perClass: rep.perClass, accuracy: rep.accuracy, mia, failed: false }
}

async function tradeoff(): Promise<void> {
  const data = breastw(DATA)
  const epsilons = [0.5, 1, 2, 4, 8, 16, 32]
  const Ss = [5, 10, 20]
  const M = data.features.cols
  const rho = RADIUS / 2
  const sens = 2 * Math.sqrt(1 + rho * rho + rho ** 4) // replace-one L2 sensitivity of the statistics blocks
  type Key = string
  const res = new Map<Key, Outcome[]>()
  const put = (k: Key, o: Outcome): void => {
    if (!res.has(k)) res.set(k, [])
    res.get(k)!.push(o)
  }
  const t0 = Date.now()
  for (const S of Ss) {
    for (let seed = 0; seed < SEEDS; seed++) {
      const split = anomalySplit(data.features, data.labels, S, new Rng(`split/${seed}`))
      const parts = split.nodes.map((n) => selectRows(data.features, n.train))
      const test = Int32Array.from([...split.testNormalAll, ...split.anomalies])
      const y = Int8Array.from(test, (i) => data.labels[i])
      const rng = new Rng(`tradeoff/${S}/${seed}`)
      // non-private reference and the Gaussian mechanism on its final statistics
      const models = await fitExact(parts, { K: K_INIT, radius: RADIUS, seed })
      const plain = mixtureOf(models[0])
      put(`none/${S}`, evaluate(plain, data, split, test, y))
      const K = models[0].K
      const stats = models.map((m, s) => m.localUpdate(parts[s]))
      for (const eps of epsilons) {
        const c = coefForEpsilon(eps)
        // Gaussian mechanism: sigma = Delta / sqrt(2c) gives RDP alpha Delta^2/(2 sigma^2) = c alpha
        const sigma = sens / Math.sqrt(2 * c)
        const sums = new Float64Array(stats[0].length)
        stats.forEach((v, s) => {
          const share = distributedGaussianShare(v.subarray(2), { clip: Number.MAX_VALUE, sigma, nodes: S }, rng.fork(`g/${eps}/${s}`))
          sums[0] += v[0]
          sums[1] += v[1]
          for (let i = 0; i < share.length; i++) sums[2 + i] += share[i]
        })
        try {
          const clone = loadGgm(models[0].save())
          clone.optimize(postprocess(sums, K, M))
          const mix = mixtureOf(clone)
          put(`gauss/${S}/${eps}`, evaluate(mix, data, split, test, y))
        } catch {
          put(`gauss/${S}/${eps}`, { auc: 0.5, ap: split.anomalies.length / test.length, perClass: [], accuracy: NaN, mia: 0.5, failed: true })
        }
        // posterior release: lambda0 = K_INIT B R^2 / (2c) (K_INIT >= surviving K, so the ledger epsilon <= target)
        const lambda0 = (K_INIT * EIG_CAP * RADIUS * RADIUS) / (2 * c)
        const ms = await fitExact(parts, { K: K_INIT, radius: RADIUS, seed, lambda0 })
        const rel = ms[0].release()
        const ledger = PrivacyLedger.inMemory({ nodeId: 'node-0', delta: DELTA })
        const pre = ms[0].preprocessing!
        const released = release({ ...rel, transform: { shift: pre.shift, scale: pre.scale } }, rng, ledger, { eigCap: EIG_CAP, minNbar: MIN_NBAR })
        if (ledger.spent().epsilon > eps + 1e-9) throw new Error(`ledger epsilon ${ledger.spent().epsilon} above target ${eps}`)
        put(`post/${S}/${eps}`, evaluate(released, data, split, test, y))
      }
    }
    process.stderr.write(`S = ${S} done (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`)
  }
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
  const sd = (xs: number[]): number => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)))
  const cell = (k: Key, what: 'auc' | 'ap' | 'mia'): string => {
    const os = res.get(k)!
    const v = os.map((o) => o[what])
    const fails = os.filter((o) => o.failed).length
    return `${f(mean(v))} ± ${f(sd(v))}${fails ? ` (${fails} failed)` : ''}`
  }
  for (const what of ['auc', 'ap'] as const) {
    console.log(`\n## 5${what === 'auc' ? 'a' : 'b'}. ${DATA}: anomaly ${what === 'auc' ? 'ROC-AUC' : 'PR-AUC'} vs epsilon (delta = ${DELTA}; mean ± sd over ${SEEDS} splits)\n`)
    console.log(header(['epsilon', ...Ss.map((S) => `posterior release S=${S}`), ...Ss.map((S) => `distributed Gaussian S=${S}`)]))
    for (const eps of epsilons) console.log(row([eps, ...Ss.map((S) => cell(`post/${S}/${eps}`, what)), ...Ss.map((S) => cell(`gauss/${S}/${eps}`, what))]))
    console.log(row(['non-private', ...Ss.map((S) => cell(`none/${S}`, what)), ...Ss.map((S) => cell(`none/${S}`, what))]))
  }
  console.log(`\n## 5e. ${DATA}: membership inference on the released model (ROC-AUC of ln p(x), training rows vs held-out normal rows; 0.5 = no leak)\n`)
  console.log(header(['epsilon', ...Ss.map((S) => `posterior release S=${S}`), ...Ss.map((S) => `distributed Gaussian S=${S}`)]))
  for (const eps of epsilons) console.log(row([eps, ...Ss.map((S) => cell(`post/${S}/${eps}`, 'mia')), ...Ss.map((S) => cell(`gauss/${S}/${eps}`, 'mia'))]))
  console.log(row(['non-private', ...Ss.map((S) => cell(`none/${S}`, 'mia')), ...Ss.map((S) => cell(`none/${S}`, 'mia'))]))
  console.log(`\nSetting: GGM K = ${K_INIT}, R = ${RADIUS} (training rows clipped to radius ${RADIUS / 2} around the network mean, standardised units), B = ${EIG_CAP}, minNbar = ${MIN_NBAR}. Both mechanisms calibrated by the RDP accountant to the same (epsilon, delta), improved conversion. Posterior release: lambda0 = K B R^2 / (2c) (training and release use it). Gaussian mechanism: each node adds N(0, sigma^2/S) to its final statistics [N_k, m_k, C_k] (replace-one sensitivity Delta = 2 sqrt(1 + (R/2)^2 + (R/2)^4) = ${f(sens, 2)}), the model is re-optimised once from the noisy network sums after DP post-processing (symmetrise, N_k >= 0, PSD scatter). Scoring: eq. 20 with network weights Nbar_k / sum Nbar. A failed run (every component dropped) counts as AUC 0.5.`)

  console.log(`\n## 5c. Distributed Gaussian mechanism: noise per node and what a peer sees of one node's share\n`)
  console.log(header(['epsilon (sum)', 'sigma of the sum', ...Ss.map((S) => `S=${S}: share sigma / peer-view epsilon`), 'ref. 2 calibration c Delta / epsilon']))
  for (const eps of epsilons) {
    const c = coefForEpsilon(eps)
    const sigma = sens / Math.sqrt(2 * c)
    const share = Ss.map((S) => `${f(sigma / Math.sqrt(S), 1)} / ${f(rdpToDp(DEFAULT_ORDERS, linearRdp(c * S), DELTA).epsilon, 2)}`)
    console.log(row([eps, f(sigma, 1), ...share, f(gaussianSigma(eps, DELTA, sens), 1)]))
  }
  console.log('\nThe sum carries sigma whatever S is (so utility does not depend on S); one node\'s share alone carries sigma/sqrt(S), so the guarantee against a peer that sees an unprotected share weakens as S grows (random chunking / Shamir sharing hide single shares).')

  const S = 10
  console.log(`\n## 5d. Per-class metrics at epsilon in {1, 2, 8} (S = ${S}, threshold = 95th percentile of the training rows' scores; mean over ${SEEDS} splits)\n`)
  console.log(header(['mechanism', 'epsilon', 'class', 'precision', 'recall', 'specificity', 'F1', 'G-mean', 'IBA', 'accuracy']))
  const avg = (os: Outcome[], cls: number, key: keyof ClassMetrics): string => {
    const v = os.filter((o) => !o.failed).map((o) => o.perClass.find((c) => c.label === cls)?.[key] ?? 0)
    return v.length ? f(mean(v)) : 'n/a'
  }
  const lines: [string, string, Outcome[]][] = [['non-private', '-', res.get(`none/${S}`)!]]
  for (const eps of [1, 2, 8]) {
    lines.push(['posterior release', String(eps), res.get(`post/${S}/${eps}`)!])
    lines.push(['distributed Gaussian', String(eps), res.get(`gauss/${S}/${eps}`)!])
  }
  for (const [name, eps, os] of lines) {
    for (const cls of [0, 1]) {
      const acc = os.filter((o) => !o.failed).map((o) => o.accuracy)
      console.log(row([name, eps, cls === 0 ? 'normal' : 'anomaly', ...(['precision', 'recall', 'specificity', 'f1', 'gMean', 'iba'] as const).map((k) => avg(os, cls, k)), acc.length ? f(mean(acc)) : 'n/a']))
    }
  }
}

if (PART === 'all' || PART === 'golden') golden()
if (PART === 'all' || PART === 'mc') mc()
if (PART === 'all' || PART === 'attack') attack()
if (PART === 'all' || PART === 'monitor') await monitor()
if (PART === 'all' || PART === 'tradeoff') await tradeoff()
