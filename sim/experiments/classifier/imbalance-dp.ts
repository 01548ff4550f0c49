/**
 * `collab experiment imbalance-dp`: the imbalanced-DP paper's per-class tables on
 * collabdict's network. Pima (768 rows; MLP 8-20-5-5-2, step 0.01) and WDBC (569 rows;
 * 30-20-10-10-2, step 0.001), ReLU, cross-entropy, plain SGD, expected batch 64 (Poisson
 * sampling at q = 64 / N_train), 500 epochs, per-sample clip C = 1, delta = 1e-4, epsilon
 * in {8, 2, 1} and non-private (the same sampling, no clipping, no noise). The training rows
 * (80 % of each class) are spread iid over S = 3 nodes; each DP-SGD step is one network sum
 * of clipped per-sample gradients plus every node's noise share; every node's ledger is
 * charged the whole training before the first step.
 *
 * Inputs are scaled to [0, 1] by per-feature ranges (the min-max scaling the paper's
 * figures point to; Pima: public clinical ranges, WDBC: the table's own min and max). Two
 * ablations, on fewer seeds: z-scored inputs (network standardisation) with plain SGD at
 * non-private and epsilon 1, and range-scaled inputs with Adam (same steps) at non-private,
 * epsilon 8 and 1: the input scale and the optimiser decide how fast the minority collapses.
 */
import type { ChartSpec } from '../../charts.js'
import { intervalChartSpec, renderSvg } from '../../charts.js'
import type { HtmlSection } from '../../report.js'
import type { ClassMetrics } from '../../../src/eval/metrics.js'
import { dpSgdNoiseFor } from '../../../src/models/classifier/index.js'
import { evaluate, f3, htmlTable, ledgerEpsilon, loadDataset, markdown, pm, splitOverNodes, spreadOf, trainNetwork, writeReport, type Dataset, type ExperimentOptions, type Spread } from './common.js'

/** Public clinical ranges of Pima's eight measurements (as in sim/scenarios/imbalance-pima.yaml). */
export const PIMA_RANGES = { lower: [0, 0, 0, 0, 0, 0, 0, 20], upper: [20, 200, 130, 100, 900, 70, 2.5, 90] }

export const IMBALANCE_SETTINGS = {
  nodes: 3,
  testFraction: 0.2,
  batch: 64,
  epochs: 500,
  clip: 1,
  delta: 1e-4,
  epsilons: [8, 2, 1],
  seeds: 5,
  /** Seeds of the two ablations. */
  ablationSeeds: 2,
  /** Settings of the ablations: z-scored inputs with SGD, range-scaled inputs with Adam. */
  ablations: [
    { inputs: 'standardised' as const, optimizer: 'sgd' as const, epsilons: [null, 1] as (number | null)[] },
    { inputs: 'range' as const, optimizer: 'adam' as const, epsilons: [null, 8, 1] as (number | null)[] },
  ],
  networks: {
    pima: { hidden: [20, 5, 5], learningRate: 0.01 },
    wdbc: { hidden: [20, 10, 10], learningRate: 0.001 },
  },
}

export const IMBALANCE_QUICK = { ...IMBALANCE_SETTINGS, epochs: 20, seeds: 1, ablationSeeds: 1 }

type MetricName = 'precision' | 'recall' | 'specificity' | 'f1' | 'gMean' | 'iba'
const METRICS: MetricName[] = ['precision', 'recall', 'specificity', 'f1', 'gMean', 'iba']

/** The paper's non-private tables and DP observations, as the issue quotes them. */
export const IMBALANCE_PAPER = {
  pima: {
    nonPrivate: [
      { precision: 0.79, recall: 0.81, specificity: 0.51, f1: 0.8, gMean: 0.64, iba: 0.43 },
      { precision: 0.55, recall: 0.51, specificity: 0.81, f1: 0.53, gMean: 0.64, iba: 0.4 },
    ],
    dp: 'at (1, 1e-4)-DP class 1 recall 0.00, IBA about 0.0',
  },
  wdbc: {
    nonPrivate: [
      { precision: 0.88, recall: 1.0, f1: 0.94, gMean: 0.9 },
      { precision: 1.0, recall: 0.81, f1: 0.89, gMean: 0.9 },
    ],
    dp: 'at epsilon 1 G-mean about 0.65',
  },
} as const

export interface ClassRow {
  label: number
  name: string
  precision: Spread
  recall: Spread
  specificity: Spread
  f1: Spread
  gMean: Spread
  iba: Spread
}

export interface ImbalanceRow {
  dataset: 'pima' | 'wdbc'
  inputs: 'range' | 'standardised'
  optimizer: 'sgd' | 'adam'
  /** null: non-private. */
  epsilon: number | null
  /** z of the DP-SGD noise (calibrated to epsilon over the training's steps), null when non-private. */
  noiseMultiplier: number | null
  steps: number
  sampleRate: number
  /** Largest (epsilon, delta) a node's ledger holds after training. */
  ledgerEpsilon: number
  accuracy: Spread
  classes: ClassRow[]
}

export interface ImbalanceResult {
  experiment: 'imbalance-dp'
  quick: boolean
  transport: string
  settings: typeof IMBALANCE_SETTINGS
  paper: typeof IMBALANCE_PAPER
  rows: ImbalanceRow[]
  /** |ours - paper| of every non-private figure the paper gives (range-scaled inputs). */
  paperGap: { dataset: string; class: number; metric: string; ours: number; paper: number; gap: number }[]
  tables: Record<string, string>
  wallSeconds: number
}

/** Range bounds of a dataset (see the module comment). */
export function datasetBounds(ds: Dataset): { lower: number[]; upper: number[] } {
  if (ds.name === 'pima') return PIMA_RANGES
  const { rows, cols, data } = ds.features
  const lower: number[] = []
  const upper: number[] = []
  for (let j = 0; j < cols; j++) {
    let lo = Infinity
    let hi = -Infinity
    for (let i = 0; i < rows; i++) {
      lo = Math.min(lo, data[i * cols + j])
      hi = Math.max(hi, data[i * cols + j])
    }
    lower.push(lo)
    upper.push(hi)
  }
  return { lower, upper }
}

export async function runImbalanceDp(o: ExperimentOptions): Promise<ImbalanceResult> {
  const t0 = performance.now()
  const s = o.quick ? IMBALANCE_QUICK : IMBALANCE_SETTINGS
  const seeds = o.seeds ?? s.seeds
  const log = o.log ?? (() => {})
  const rows: ImbalanceRow[] = []
  for (const name of ['pima', 'wdbc'] as const) {
    const ds = loadDataset(name)
    const bounds = datasetBounds(ds)
    const net = s.networks[name]
    const settings: { inputs: 'range' | 'standardised'; optimizer: 'sgd' | 'adam'; epsilon: number | null; seeds: number }[] = [
      { inputs: 'range', optimizer: 'sgd', epsilon: null, seeds },
      ...s.epsilons.map((epsilon) => ({ inputs: 'range' as const, optimizer: 'sgd' as const, epsilon, seeds })),
      ...s.ablations.flatMap((a) => a.epsilons.map((epsilon) => ({ inputs: a.inputs, optimizer: a.optimizer, epsilon, seeds: Math.min(seeds, s.ablationSeeds) }))),
    ]
    for (const st of settings) {
      const acc: number[] = []
      const per: ClassMetrics[][] = []
      let eps = 0
      let z: number | null = null
      let steps = 0
      let q = 0
      for (let seed = 1; seed <= st.seeds; seed++) {
        const split = splitOverNodes(ds, s.nodes, seed, { testFraction: s.testFraction })
        q = Math.min(1, s.batch / split.trainAll.rows)
        steps = Math.round(s.epochs / q)
        const hyper = {
          architecture: 'mlp',
          hidden: net.hidden,
          learningRate: net.learningRate,
          optimizer: st.optimizer,
          sampleRate: q,
          maxIter: steps,
          ...(st.inputs === 'range' ? { bounds } : { standardise: true }),
          ...(st.epsilon === null ? {} : { dpSgd: { clip: s.clip, epsilon: st.epsilon, delta: s.delta, nodes: s.nodes } }),
        }
        const r = await trainNetwork({ hyper, parts: split.parts, seed, transport: o.transport, ledgerDelta: s.delta })
        const ev = evaluate(r.model, split.testX, split.testY)
        acc.push(ev.accuracy)
        per.push(ev.perClass)
        eps = Math.max(eps, ledgerEpsilon(r.ledgers))
        if (st.epsilon !== null) z = dpSgdNoiseFor(st.epsilon, s.delta, q, steps)
      }
      const classes = [0, 1].map((label) => {
        const row: ClassRow = { label, name: ds.classNames[label] } as ClassRow
        for (const m of METRICS) row[m] = spreadOf(per.map((p) => p[label][m]))
        return row
      })
      rows.push({ dataset: name, inputs: st.inputs, optimizer: st.optimizer, epsilon: st.epsilon, noiseMultiplier: z, steps, sampleRate: q, ledgerEpsilon: eps, accuracy: spreadOf(acc), classes })
      log(`imbalance-dp: ${name} ${st.inputs} ${st.optimizer} ${st.epsilon === null ? 'non-private' : `epsilon ${st.epsilon}`}: accuracy ${f3(spreadOf(acc).mean)}, minority recall ${f3(classes[1].recall.mean)}, G-mean ${f3(classes[1].gMean.mean)}`)
    }
  }
  const paperGap: ImbalanceResult['paperGap'] = []
  for (const name of ['pima', 'wdbc'] as const) {
    const ours = rows.find((r) => r.dataset === name && r.inputs === 'range' && r.optimizer === 'sgd' && r.epsilon === null)
    if (ours === undefined) continue
    IMBALANCE_PAPER[name].nonPrivate.forEach((paperRow, label) => {
      for (const [metric, value] of Object.entries(paperRow)) {
        const v = ours.classes[label][metric as MetricName].mean
        paperGap.push({ dataset: name, class: label, metric, ours: v, paper: value, gap: Math.abs(v - value) })
      }
    })
  }
  const tables: Record<string, string> = {}
  for (const name of ['pima', 'wdbc'] as const) {
    tables[name] = markdown(
      ['inputs', 'optimizer', 'setting', 'ledger epsilon', 'accuracy', 'class', 'precision', 'recall', 'specificity', 'F1', 'G-mean', 'IBA'],
      rows
        .filter((r) => r.dataset === name)
        .flatMap((r) =>
          r.classes.map((c) => [
            r.inputs,
            r.optimizer,
            r.epsilon === null ? 'non-private' : `epsilon ${r.epsilon} (z ${f3(r.noiseMultiplier ?? Number.NaN)})`,
            r.epsilon === null ? '-' : f3(r.ledgerEpsilon),
            pm(r.accuracy),
            c.name,
            pm(c.precision),
            pm(c.recall),
            pm(c.specificity),
            pm(c.f1),
            pm(c.gMean),
            pm(c.iba),
          ]),
        ),
    )
  }
  return { experiment: 'imbalance-dp', quick: o.quick, transport: o.transport, settings: s, paper: IMBALANCE_PAPER, rows, paperGap, tables, wallSeconds: (performance.now() - t0) / 1000 }
}

/** Interval charts: minority recall and G-mean per setting, the seeds' spread as the bar and dots. */
export function imbalanceCharts(r: ImbalanceResult): Record<string, ChartSpec> {
  const out: Record<string, ChartSpec> = {}
  for (const name of ['pima', 'wdbc'] as const) {
    const mine = r.rows.filter((x) => x.dataset === name)
    for (const metric of ['recall', 'gMean'] as const) {
      out[`${name}-minority-${metric === 'recall' ? 'recall' : 'g-mean'}`] = intervalChartSpec(
        mine.map((x) => {
          const v = x.classes[1][metric]
          const variant = x.inputs === 'standardised' ? ' (z-scored inputs)' : x.optimizer === 'adam' ? ' (Adam)' : ''
          return { label: `${x.epsilon === null ? 'non-private' : `epsilon ${x.epsilon}`}${variant}`, mean: v.mean, min: v.min, max: v.max, nodes: v.values }
        }),
        {
          title: `${name === 'pima' ? 'Pima' : 'WDBC'}: ${metric === 'recall' ? 'recall' : 'G-mean'} of the minority class (${mine[0]?.classes[1].name ?? 'class 1'})`,
          subtitle: `mean, lowest to highest and every split (${r.rows[0]?.accuracy.values.length ?? 0} seeds)`,
          xTitle: metric === 'recall' ? 'recall' : 'G-mean',
          format: '.2f',
        },
      )
    }
  }
  return out
}

export async function imbalanceReport(r: ImbalanceResult, dir: string): Promise<{ json: string; html: string }> {
  const specs = imbalanceCharts(r)
  const sections: HtmlSection[] = [
    {
      heading: 'Setting',
      text:
        `MLPs (Pima 8-20-5-5-2, step 0.01; WDBC 30-20-10-10-2, step 0.001), ReLU, cross-entropy, plain SGD at expected batch ${r.settings.batch}, ${r.settings.epochs} epochs, ` +
        `DP-SGD clip ${r.settings.clip}, delta ${r.settings.delta}; ${r.settings.nodes} nodes with iid shares of 80 % of the rows, each step one network sum (${r.transport === 'exact' ? 'exact' : 'consensus'}). ` +
        'Inputs scaled to [0, 1] by per-feature ranges; the rows marked z-scored or Adam are the ablations. The paper: ' +
        `Pima ${IMBALANCE_PAPER.pima.dp}; WDBC ${IMBALANCE_PAPER.wdbc.dp}.`,
    },
  ]
  for (const [k, spec] of Object.entries(specs)) sections.push({ heading: k.replace(/-/g, ' '), svg: await renderSvg(spec) })
  for (const [name, md] of Object.entries(r.tables)) sections.push({ heading: `${name === 'pima' ? 'Pima' : 'WDBC'}: per-class table (mean ± sd over seeds)`, table: htmlTable(md) })
  sections.push({
    heading: 'Non-private figures against the paper',
    table: { head: ['dataset', 'class', 'metric', 'ours', 'paper', '|gap|'], rows: r.paperGap.map((g) => [g.dataset, g.class, g.metric, f3(g.ours), f3(g.paper), f3(g.gap)]) },
  })
  return writeReport(dir, 'collabdict experiment: DP-SGD under class imbalance (Pima, WDBC)', r, sections)
}
