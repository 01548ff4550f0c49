/**
 * `collab experiment global-dp`: the global-DP paper's experiments (Letafati & Otoum) on
 * collabdict's network. V organisations each hold an iid share of Breast Cancer Wisconsin's
 * training rows (683 complete rows, 9 features; 20 % of each class held out for testing)
 * and train a linear SVM by federated averaging (aggregation 'model': one local epoch of
 * minibatch SGD per round from the shared model, row-weighted average by consensus):
 *
 *   Fig. 3  accuracy and loss vs epsilon for V in {5, 10, 20}, with the paper's mix-up noise
 *           (each node clips its model to C and adds N(0, sigma1^2), sigma1 = c T (2C/|D_i|) / eps)
 *           and with the same calibration distributed over the network sum (each node adds a
 *           1/V share of the variance the sum needs: collabdict's convention)
 *   Fig. 4  accuracy vs the number of rounds T at epsilon 25, V = 20, against non-private
 *           federated training and centralised training (one node, the pooled rows)
 *
 * There is no server: the noise enters each node's contribution before consensus, and the
 * weighted aggregate has the paper's distribution. Every node's ledger is charged the T
 * rounds before the first one (RDP of the Gaussian mechanism; reported beside the paper's
 * nominal epsilon).
 */
import type { ChartSpec } from '../../charts.js'
import { lineChartSpec, renderSvg } from '../../charts.js'
import type { HtmlSection } from '../../report.js'
import { evaluate, f3, htmlTable, withYSpan, ledgerEpsilon, loadDataset, markdown, pm, splitOverNodes, spreadOf, trainNetwork, writeReport, type ExperimentOptions, type Spread } from './common.js'

/** The paper's setting where it is stated; the rest chosen here and reported. */
export const GLOBAL_DP_SETTINGS = {
  dataset: 'bcw' as const,
  testFraction: 0.2,
  architecture: 'svm' as const,
  /** Local minibatch SGD (one epoch per round), plain step, L2 penalty on the weights. */
  batchSize: 8,
  learningRate: 0.05,
  l2: 0.01,
  /** Model clip C and delta of c = sqrt(2 ln(1.25/delta)). */
  clip: 1,
  delta: 1e-5,
  /** Rounds T of Fig. 3 (the noise grows with T: sigma1 is proportional to T). */
  rounds: 50,
  nodes: [5, 10, 20],
  epsilons: [1, 5, 10, 15, 20, 25, 30, 40, 50],
  /** Fig. 4 */
  epochsEpsilon: 25,
  epochsNodes: 20,
  epochs: [5, 10, 20, 30, 50, 75, 100],
  seeds: 10,
}

/** The quick variant (tests): fewer points, one seed, short training. */
export const GLOBAL_DP_QUICK = { ...GLOBAL_DP_SETTINGS, rounds: 10, epsilons: [5, 25], epochs: [5, 10], seeds: 1 }

/** The paper's figures as the issue quotes them (read off the plots; no table is published). */
export const GLOBAL_DP_PAPER = {
  accuracyAtEpsilon20V20: 0.85,
  centralisedNonPrivate: 0.95,
  saturatesNearEpsilon: 30,
}

export interface EpsilonRow {
  V: number
  noise: 'per-node' | 'distributed' | 'none'
  /** The paper's epsilon (null: non-private). */
  epsilon: number | null
  accuracy: Spread
  /** Mean hinge loss of the final model on the pooled training rows (computed by the experiment, not shared). */
  trainLoss: Spread
  testLoss: Spread
  /** The same run's (epsilon, delta) as every node's ledger holds it (RDP accountant). */
  ledgerEpsilon: number
}

export interface EpochsRow {
  T: number
  method: 'mix-up (per-node)' | 'non-private' | 'centralised'
  accuracy: Spread
}

export interface GlobalDpResult {
  experiment: 'global-dp'
  quick: boolean
  transport: string
  settings: typeof GLOBAL_DP_SETTINGS
  paper: typeof GLOBAL_DP_PAPER
  accuracyVsEpsilon: EpsilonRow[]
  accuracyVsEpochs: EpochsRow[]
  /** One V = 20, epsilon 25 run by exact sums and by consensus (chunked, on a random 4-regular overlay). */
  consensusCheck: { exactAccuracy: number; consensusAccuracy: number; maxParameterDifference: number } | null
  tables: { accuracyVsEpsilon: string; accuracyVsEpochs: string }
  wallSeconds: number
}

function hyper(s: typeof GLOBAL_DP_SETTINGS, rounds: number, mixup: { epsilon: number; noise: 'per-node' | 'distributed'; nodes: number } | null): Record<string, unknown> {
  return {
    architecture: s.architecture,
    aggregation: 'model',
    localEpochs: 1,
    batchSize: s.batchSize,
    learningRate: s.learningRate,
    l2: s.l2,
    maxIter: rounds,
    mixup: mixup === null ? null : { epsilon: mixup.epsilon, delta: s.delta, clip: s.clip, noise: mixup.noise, ...(mixup.noise === 'distributed' ? { nodes: mixup.nodes } : {}) },
  }
}

export async function runGlobalDp(o: ExperimentOptions): Promise<GlobalDpResult> {
  const t0 = performance.now()
  const s = o.quick ? GLOBAL_DP_QUICK : GLOBAL_DP_SETTINGS
  const seeds = o.seeds ?? s.seeds
  const ds = loadDataset(s.dataset)
  const log = o.log ?? (() => {})

  const one = async (V: number, h: Record<string, unknown>): Promise<{ acc: number[]; train: number[]; test: number[]; eps: number }> => {
    const acc: number[] = []
    const train: number[] = []
    const test: number[] = []
    let eps = 0
    for (let seed = 1; seed <= seeds; seed++) {
      const split = splitOverNodes(ds, V, seed, { testFraction: s.testFraction })
      const r = await trainNetwork({ hyper: h, parts: V === 1 ? [split.trainAll] : split.parts, seed, transport: o.transport, ledgerDelta: s.delta })
      const ev = evaluate(r.model, split.testX, split.testY)
      acc.push(ev.accuracy)
      test.push(ev.testLoss)
      train.push(r.model.loss(split.trainAll))
      eps = Math.max(eps, ledgerEpsilon(r.ledgers))
    }
    return { acc, train, test, eps }
  }

  const byEps: EpsilonRow[] = []
  for (const V of s.nodes) {
    const np = await one(V, hyper(s, s.rounds, null))
    byEps.push({ V, noise: 'none', epsilon: null, accuracy: spreadOf(np.acc), trainLoss: spreadOf(np.train), testLoss: spreadOf(np.test), ledgerEpsilon: 0 })
    for (const noise of ['per-node', 'distributed'] as const) {
      for (const epsilon of s.epsilons) {
        const r = await one(V, hyper(s, s.rounds, { epsilon, noise, nodes: V }))
        byEps.push({ V, noise, epsilon, accuracy: spreadOf(r.acc), trainLoss: spreadOf(r.train), testLoss: spreadOf(r.test), ledgerEpsilon: r.eps })
        log(`global-dp: V ${V} ${noise} epsilon ${epsilon}: accuracy ${f3(spreadOf(r.acc).mean)}, ledger epsilon ${f3(r.eps)}`)
      }
    }
  }

  const byEpochs: EpochsRow[] = []
  for (const T of s.epochs) {
    const mix = await one(s.epochsNodes, hyper(s, T, { epsilon: s.epochsEpsilon, noise: 'per-node', nodes: s.epochsNodes }))
    const np = await one(s.epochsNodes, hyper(s, T, null))
    const central = await one(1, hyper(s, T, null))
    byEpochs.push({ T, method: 'mix-up (per-node)', accuracy: spreadOf(mix.acc) }, { T, method: 'non-private', accuracy: spreadOf(np.acc) }, { T, method: 'centralised', accuracy: spreadOf(central.acc) })
    log(`global-dp: T ${T}: mix-up ${f3(spreadOf(mix.acc).mean)}, non-private ${f3(spreadOf(np.acc).mean)}, centralised ${f3(spreadOf(central.acc).mean)}`)
  }

  let consensusCheck: GlobalDpResult['consensusCheck'] = null
  if (!o.quick && o.transport === 'exact') {
    const split = splitOverNodes(ds, s.epochsNodes, 1, { testFraction: s.testFraction })
    const h = hyper(s, s.rounds, { epsilon: s.epochsEpsilon, noise: 'per-node', nodes: s.epochsNodes })
    const a = await trainNetwork({ hyper: h, parts: split.parts, seed: 1, transport: 'exact', ledgerDelta: s.delta })
    const b = await trainNetwork({ hyper: h, parts: split.parts, seed: 1, transport: 'memory', ledgerDelta: s.delta })
    const pa = a.model.parameters()
    const pb = b.model.parameters()
    consensusCheck = {
      exactAccuracy: evaluate(a.model, split.testX, split.testY).accuracy,
      consensusAccuracy: evaluate(b.model, split.testX, split.testY).accuracy,
      maxParameterDifference: Math.max(...Array.from(pa, (v, i) => Math.abs(v - pb[i]))),
    }
    log(`global-dp: consensus check: exact ${f3(consensusCheck.exactAccuracy)}, consensus ${f3(consensusCheck.consensusAccuracy)}, max parameter difference ${consensusCheck.maxParameterDifference.toExponential(2)}`)
  }

  const tables = {
    accuracyVsEpsilon: markdown(
      ['V', 'noise', 'epsilon (paper)', 'accuracy (mean ± sd)', 'training loss', 'ledger epsilon (RDP)'],
      byEps.map((r) => [r.V, r.noise === 'none' ? 'non-private' : r.noise, r.epsilon ?? '-', pm(r.accuracy), pm(r.trainLoss), r.noise === 'none' ? '-' : f3(r.ledgerEpsilon)]),
    ),
    accuracyVsEpochs: markdown(
      ['T (rounds)', 'method', 'accuracy (mean ± sd)'],
      byEpochs.map((r) => [r.T, r.method, pm(r.accuracy)]),
    ),
  }
  return {
    experiment: 'global-dp',
    quick: o.quick,
    transport: o.transport,
    settings: s,
    paper: GLOBAL_DP_PAPER,
    accuracyVsEpsilon: byEps,
    accuracyVsEpochs: byEpochs,
    consensusCheck,
    tables,
    wallSeconds: (performance.now() - t0) / 1000,
  }
}

/** The report's charts (Vega-Lite specs): accuracy and loss vs epsilon, accuracy vs rounds. */
export function globalDpCharts(r: GlobalDpResult): Record<string, ChartSpec> {
  const series = (metric: 'accuracy' | 'trainLoss') =>
    r.accuracyVsEpsilon
      .filter((x) => x.noise !== 'none')
      .reduce<Map<string, { x: number; y: number }[]>>((m, x) => {
        const name = `V = ${x.V}, ${x.noise === 'per-node' ? "paper's per-node noise" : 'distributed over the sum'}`
        m.set(name, [...(m.get(name) ?? []), { x: x.epsilon as number, y: x[metric].mean }])
        return m
      }, new Map())
  const lines = (m: Map<string, { x: number; y: number }[]>) => [...m.entries()].map(([name, points]) => ({ name, points }))
  const methodName = (m: EpochsRow['method']): string =>
    m === 'mix-up (per-node)' ? `mix-up noise, epsilon ${r.settings.epochsEpsilon}, V = ${r.settings.epochsNodes}` : m === 'non-private' ? `non-private, V = ${r.settings.epochsNodes}` : 'centralised (pooled rows)'
  const epochs = new Map<string, { x: number; y: number }[]>()
  for (const x of r.accuracyVsEpochs) epochs.set(methodName(x.method), [...(epochs.get(methodName(x.method)) ?? []), { x: x.T, y: x.accuracy.mean }])
  const ys = (m: Map<string, { x: number; y: number }[]>): number[] => [...m.values()].flatMap((p) => p.map((q) => q.y))
  return {
    'accuracy-vs-epsilon': withYSpan(lineChartSpec(lines(series('accuracy')), { title: 'Test accuracy vs epsilon (Fig. 3)', subtitle: `linear SVM, T = ${r.settings.rounds} rounds, mean over ${r.accuracyVsEpsilon[0]?.accuracy.values.length ?? 0} splits`, xTitle: 'epsilon (the paper\'s, per node)', yTitle: 'test accuracy', yFormat: '.2f' }), ys(series('accuracy')), 0.02),
    'loss-vs-epsilon': withYSpan(lineChartSpec(lines(series('trainLoss')), { title: 'Training loss vs epsilon (Fig. 3)', subtitle: 'mean hinge loss of the final model on the pooled training rows', xTitle: 'epsilon (the paper\'s, per node)', yTitle: 'hinge loss', yFormat: '.2f' }), ys(series('trainLoss')), 0.02),
    'accuracy-vs-rounds': withYSpan(lineChartSpec(lines(epochs), { title: `Test accuracy vs rounds T (Fig. 4), epsilon ${r.settings.epochsEpsilon}`, xTitle: 'rounds T (one local epoch each)', yTitle: 'test accuracy', yFormat: '.2f' }), ys(epochs), 0.02),
  }
}

export async function globalDpReport(r: GlobalDpResult, dir: string): Promise<{ json: string; html: string }> {
  const specs = globalDpCharts(r)
  const svg: Record<string, string> = {}
  for (const [k, spec] of Object.entries(specs)) svg[k] = await renderSvg(spec)
  const s = r.settings
  const sections: HtmlSection[] = [
    {
      heading: 'Setting',
      text:
        `Breast Cancer Wisconsin, ${s.testFraction * 100} % of each class held out; V nodes with iid shares of the rest. Linear SVM (hinge loss, l2 ${s.l2}) by federated averaging over ` +
        `consensus (${r.transport === 'exact' ? 'exact network sums' : 'dynamical consensus'}): one local epoch of minibatch SGD (batch ${s.batchSize}, step ${s.learningRate}) per round. ` +
        `Mix-up noise: model clipped to C = ${s.clip}, sigma1 = c T (2C/|D_i|) / epsilon, c = sqrt(2 ln(1.25/delta)), delta = ${s.delta}. The paper reports about ${GLOBAL_DP_PAPER.accuracyAtEpsilon20V20} at epsilon 20 with 20 clinics, ${GLOBAL_DP_PAPER.centralisedNonPrivate} centralised and non-private.`,
    },
    { heading: 'Accuracy vs epsilon', svg: svg['accuracy-vs-epsilon'] },
    { heading: 'Loss vs epsilon', svg: svg['loss-vs-epsilon'] },
    { heading: 'Accuracy vs epsilon (table)', table: htmlTable(r.tables.accuracyVsEpsilon) },
    { heading: 'Accuracy vs rounds', svg: svg['accuracy-vs-rounds'] },
    { heading: 'Accuracy vs rounds (table)', table: htmlTable(r.tables.accuracyVsEpochs) },
  ]
  if (r.consensusCheck !== null) {
    sections.push({
      heading: 'Exact sums vs consensus',
      text: `V = ${s.epochsNodes}, epsilon ${s.epochsEpsilon}, seed 1: accuracy ${f3(r.consensusCheck.exactAccuracy)} with exact sums, ${f3(r.consensusCheck.consensusAccuracy)} with consensus (Chebyshev, 3 random chunks, tolerance 1e-9, random 4-regular overlay); largest parameter difference ${r.consensusCheck.maxParameterDifference.toExponential(2)}.`,
    })
  }
  return writeReport(dir, 'collabdict experiment: global DP with mix-up noise (Letafati & Otoum)', r, sections)
}
