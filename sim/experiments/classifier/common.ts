/**
 * What the three classifier experiments share: the medical tables of the companion papers,
 * stratified train/test splits, the spread of training rows over S organisations, one
 * network training run (every node runs src/learning runTraining, the code a peer node
 * runs, over exact sums or dynamical consensus on an in-memory network with a virtual
 * clock), the per-class evaluation, and the report files (JSON + one self-contained HTML
 * page with the simulator's Vega-Lite charts rendered to SVG).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createConsensusNode, createMemoryNetwork, createVirtualClock } from '../../../src/consensus/index.js'
import { loadCsv, splitIid, splitUneven } from '../../../src/data/index.js'
import { classificationReport, rocAuc, type ClassMetrics } from '../../../src/eval/metrics.js'
import { parseTrainingConfig, type TrainingConfig } from '../../../src/learning/config.js'
import { createNodeModel } from '../../../src/learning/models.js'
import { runNetwork } from '../../../src/learning/network.js'
import { createLedger } from '../../../src/learning/privacy.js'
import { withLabels, type ClassifierHyperInput, type ClassifierModel } from '../../../src/models/classifier/index.js'
import { selectRows, type Mat } from '../../../src/numeric/matrix.js'
import { Rng } from '../../../src/numeric/rng.js'
import { SecretRng } from '../../../src/numeric/secret-rng.js'
import type { PrivacyLedger } from '../../../src/privacy/ledger.js'
import { generateTopology } from '../../../topologies/index.js'
import { repoRoot } from '../../scenario.js'
import { htmlReport, reportJson, type HtmlSection } from '../../report.js'
import type { ChartSpec } from '../../charts.js'

export class ExperimentError extends Error {
  override name = 'ExperimentError'
}

/** A labelled medical table: features, 0/1 labels (1 = the minority, diagnosed class). */
export interface Dataset {
  name: 'bcw' | 'pima' | 'wdbc'
  title: string
  features: Mat
  labels: Int32Array
  /** Human names of class 0 and class 1. */
  classNames: [string, string]
  source: string
}

/**
 * The papers' tables from data/ (data/README.md): Breast Cancer Wisconsin original, 683
 * complete rows (ad_breastw.csv: malignant = 1); Pima (ad_pima.csv: diabetic = 1); WDBC
 * (wdbc_sklearn.csv, whose scikit-learn `target` is 0 for malignant: relabelled so that
 * malignant = 1).
 */
export function loadDataset(name: Dataset['name']): Dataset {
  const root = repoRoot()
  if (name === 'bcw') {
    const csv = loadCsv(join(root, 'data/ad_breastw.csv'), { labelCol: 'anomaly' })
    return { name, title: 'Breast Cancer Wisconsin (683 complete rows, 9 features)', features: csv.features, labels: Int32Array.from(csv.labels as Int8Array), classNames: ['benign', 'malignant'], source: 'data/ad_breastw.csv' }
  }
  if (name === 'pima') {
    const csv = loadCsv(join(root, 'data/ad_pima.csv'), { labelCol: 'anomaly' })
    return { name, title: 'Pima Indians diabetes (768 rows, 8 features)', features: csv.features, labels: Int32Array.from(csv.labels as Int8Array), classNames: ['non-diabetic (0)', 'diabetic (1)'], source: 'data/ad_pima.csv' }
  }
  const csv = loadCsv(join(root, 'data/wdbc_sklearn.csv'), { labelCol: 'target', dropCols: ['diagnosis'] })
  return {
    name,
    title: 'Breast Cancer Wisconsin diagnostic (569 rows, 30 features)',
    features: csv.features,
    labels: Int32Array.from(csv.labels as Int8Array, (t) => 1 - t),
    classNames: ['benign (B)', 'malignant (M)'],
    source: 'data/wdbc_sklearn.csv',
  }
}

/** Stratified split: `testFraction` of each class held out (seeded). */
export function stratifiedSplit(labels: Int32Array, testFraction: number, rng: Rng): { train: number[]; test: number[] } {
  const train: number[] = []
  const test: number[] = []
  for (const c of [...new Set(labels)].sort()) {
    const idx = Array.from(labels.keys()).filter((i) => labels[i] === c)
    rng.fork(`class/${c}`).shuffle(idx)
    const nTest = Math.round(testFraction * idx.length)
    test.push(...idx.slice(0, nTest))
    train.push(...idx.slice(nTest))
  }
  return { train, test }
}

/** One seed's data: the nodes' training rows (label last), the pooled training rows and the test rows. */
export interface Split {
  parts: Mat[]
  trainAll: Mat
  testX: Mat
  testY: Int32Array
}

/** Hold out a stratified test set, then spread the training rows over S nodes (iid, or uneven sizes). */
export function splitOverNodes(ds: Dataset, S: number, seed: number, opts: { testFraction?: number; spread?: 'iid' | 'uneven' } = {}): Split {
  const rng = new Rng(seed).fork(`experiment-split/${ds.name}`)
  const { train, test } = stratifiedSplit(ds.labels, opts.testFraction ?? 0.2, rng.fork('test'))
  const labelled = withLabels(ds.features, ds.labels)
  const trainAll = selectRows(labelled, train)
  const parts =
    (opts.spread ?? 'iid') === 'iid'
      ? splitIid(train.length, S, rng.fork('nodes'))
      : splitUneven(train.length, S, rng.fork('nodes'), { minRows: Math.min(8, Math.floor(train.length / S)), concentration: 1 })
  return {
    parts: parts.map((p) => selectRows(trainAll, p)),
    trainAll,
    testX: selectRows(ds.features, test),
    testY: Int32Array.from(test, (i) => ds.labels[i]),
  }
}

/** How network sums are computed: exactly (reference) or by dynamical consensus over a random 4-regular overlay. */
export type Transport = 'exact' | 'memory'

export interface TrainOptions {
  hyper: ClassifierHyperInput | Record<string, unknown>
  parts: readonly Mat[]
  /** Shared training seed. */
  seed: number
  transport?: Transport
  /** delta of the ledgers' (epsilon, delta) and their budget (large: experiments sweep epsilon). */
  ledgerDelta?: number
}

export interface TrainOutcome {
  /** Node 0's model (every node holds the same shared model, up to the consensus error). */
  model: ClassifierModel
  models: ClassifierModel[]
  /** Every node's ledger. */
  ledgers: PrivacyLedger[]
  config: TrainingConfig
  iterations: number
  /** Largest relative difference between any node's parameters and node 0's. */
  spread: number
}

/** Consensus settings of the memory transport: Chebyshev weights, 3 random chunks, tolerance 1e-9 (the project defaults). */
const CONSENSUS = { scheme: 'chebyshev', tol: 1e-9, chunks: 3 } as const

/** Train one classifier over S = parts.length nodes, each running runTraining with its own ledger and secret noise stream. */
export async function trainNetwork(o: TrainOptions): Promise<TrainOutcome> {
  const S = o.parts.length
  const hyper = o.hyper as { maxIter?: number }
  const config = parseTrainingConfig(
    {
      model: { kind: 'classifier', hyper: o.hyper },
      seed: o.seed,
      maxIterations: Math.max(hyper.maxIter ?? 200, 1) + 1,
      consensus: CONSENSUS,
      privacy: { monitor: false, release: { enabled: false }, budget: 1e9, ledgerDelta: o.ledgerDelta ?? 1e-5 },
    },
    'experiment',
  )
  const ledgers = Array.from({ length: S }, (_, s) => createLedger(config, `node-${s}`))
  const noise = (s: number): SecretRng => SecretRng.forSimulation(`experiment/${o.seed}`, s)
  const nodeParts = (s: number) => ({ model: createNodeModel(config, { noise: noise(s).fork('model'), ledger: ledgers[s] }), ledger: ledgers[s] })
  let res
  if ((o.transport ?? 'exact') === 'exact' || S === 1) {
    res = await runNetwork({ config, parts: o.parts, noise: (s) => noise(s).fork('learning'), nodeParts, aggregation: { kind: 'exact' } })
  } else {
    const topology = generateTopology(S > 4 ? 'regular' : 'complete', S, { degree: 4, seed: o.seed })
    const clock = createVirtualClock()
    const net = createMemoryNetwork(topology, { clock, seed: `${o.seed}/network` })
    const cns = net.transports.map((t, s) =>
      createConsensusNode({ topology, transport: t, clock, scheme: CONSENSUS.scheme, tol: CONSENSUS.tol, chunks: CONSENSUS.chunks, seed: o.seed, noise: noise(s).fork('consensus') }),
    )
    const run = runNetwork({
      config,
      parts: o.parts,
      noise: (s) => noise(s).fork('learning'),
      nodeParts,
      aggregation: { kind: 'custom', aggregateFor: (s) => (vec, label, opts) => cns[s].sum(vec, label, opts), fail: () => cns.forEach((c) => c.close()) },
      clock,
    })
    await clock.run({ until: run })
    res = await run
    cns.forEach((c) => c.close())
    net.close()
  }
  const models = res.nodes.map((n) => n.model as ClassifierModel)
  const ref = models[0].parameters()
  let spread = 0
  for (const m of models.slice(1)) {
    const p = m.parameters()
    let d = 0
    let nrm = 0
    for (let i = 0; i < p.length; i++) {
      d += (p[i] - ref[i]) ** 2
      nrm += ref[i] ** 2
    }
    spread = Math.max(spread, Math.sqrt(d / Math.max(nrm, 1e-300)))
  }
  return { model: models[0], models, ledgers, config, iterations: res.nodes[0].iterations, spread }
}

/** Test-set figures of a trained classifier: accuracy, ROC-AUC of p(1), per-class table at the argmax decision. */
export interface Evaluation {
  accuracy: number
  rocAuc: number
  /** Mean loss on the test rows (the model's own loss: hinge, logistic or cross-entropy). */
  testLoss: number
  perClass: ClassMetrics[]
}

export function evaluate(model: ClassifierModel, x: Mat, y: Int32Array): Evaluation {
  const pred = model.predict(x)
  const rep = classificationReport(pred, y)
  // a class never predicted and absent would be missing: keep both rows
  const perClass = [0, 1].map((c) => rep.perClass.find((r) => r.label === c) ?? { label: c, precision: 0, recall: 0, specificity: 0, f1: 0, gMean: 0, iba: 0, support: 0 })
  const scores = model.score(x)
  const distinct = new Set(y).size > 1
  return { accuracy: rep.accuracy, rocAuc: distinct ? rocAuc(scores, y) : Number.NaN, testLoss: model.loss(withLabels(x, y)), perClass }
}

/** Mean, standard deviation (n - 1), min and max of a list of numbers. */
export interface Spread {
  mean: number
  sd: number
  min: number
  max: number
  values: number[]
}

export function spreadOf(values: readonly number[]): Spread {
  const v = values.filter(Number.isFinite)
  const n = v.length
  if (n === 0) return { mean: Number.NaN, sd: Number.NaN, min: Number.NaN, max: Number.NaN, values: [...values] }
  const mean = v.reduce((a, b) => a + b, 0) / n
  const sd = n > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0
  return { mean, sd, min: Math.min(...v), max: Math.max(...v), values: [...values] }
}

/** Largest external epsilon any node's ledger holds, at the ledgers' delta. */
export function ledgerEpsilon(ledgers: readonly PrivacyLedger[]): number {
  return Math.max(0, ...ledgers.map((l) => l.spent('external').epsilon))
}

export const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : '-')
export const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-')
/** mean ± sd */
export const pm = (s: Spread): string => (Number.isFinite(s.mean) ? `${s.mean.toFixed(3)} ± ${s.sd.toFixed(3)}` : '-')

/** A markdown table. */
export function markdown(head: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]): string => `| ${cells.join(' | ')} |`
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n')
}

/**
 * A line chart whose values may all be equal (a quick run, a saturated accuracy): widen
 * its y domain to at least `minSpan` around the data so the axis keeps two labelled ticks.
 */
export function withYSpan(spec: ChartSpec, values: readonly number[], minSpan: number): ChartSpec {
  const v = values.filter(Number.isFinite)
  if (v.length === 0) return spec
  const lo = Math.min(...v)
  const hi = Math.max(...v)
  if (hi - lo >= minSpan) return spec
  const mid = (lo + hi) / 2
  const enc = (spec as { encoding?: { y?: { scale?: Record<string, unknown> } } }).encoding
  if (enc?.y !== undefined) enc.y.scale = { ...(enc.y.scale ?? {}), domain: [mid - minSpan / 2, mid + minSpan / 2] }
  return spec
}

/** A markdown table (from markdown()) as the HTML report's table section. */
export function htmlTable(md: string): { head: string[]; rows: string[][] } {
  const lines = md.split('\n').filter((_, i) => i !== 1)
  const cells = lines.map((l) => l.split('|').slice(1, -1).map((c) => c.trim()))
  return { head: cells[0] ?? [], rows: cells.slice(1) }
}

/** Write report.json and report.html into `dir`; returns their paths. */
export function writeReport(dir: string, title: string, json: unknown, sections: readonly HtmlSection[]): { json: string; html: string } {
  const out = resolve(dir)
  mkdirSync(out, { recursive: true })
  const jsonPath = join(out, 'report.json')
  const htmlPath = join(out, 'report.html')
  writeFileSync(jsonPath, reportJson(json))
  writeFileSync(htmlPath, htmlReport(title, sections))
  return { json: jsonPath, html: htmlPath }
}

/** Common options of the three commands. */
export interface ExperimentOptions {
  quick: boolean
  seeds?: number
  out?: string
  transport: Transport
  /** Progress lines (stderr); silent when absent. */
  log?: (line: string) => void
}
