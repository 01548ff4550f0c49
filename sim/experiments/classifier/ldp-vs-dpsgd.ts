/**
 * `collab experiment ldp-vs-dpsgd`: the local-DP benchmark's comparison (Singh et al.:
 * Laplace perturbation of the inputs vs DP-SGD, ResNet-18 on chest X-rays and retina images)
 * on the medical tables, since no medical image set can be installed here. Inputs are
 * z-scored with the network's statistics; then
 *   local DP   every standardised feature clipped to [-3, 3] plus Laplace noise of scale beta,
 *              drawn once per row on its node (pure (M 2B / beta)-DP per row); training
 *              itself is the non-private one on the perturbed rows
 *   DP-SGD     noise multiplier z = beta, clip C = 1, Poisson sampling at q = 64 / N_train
 * for beta in {1, 2, 4}, against non-private training, with the imbalanced-DP paper's MLPs
 * (BCW: 9-20-10-2) over S = 5 nodes. Each mechanism's cost is what every node's ledger holds.
 */
import type { ChartSpec } from '../../charts.js'
import { lineChartSpec, renderSvg } from '../../charts.js'
import type { HtmlSection } from '../../report.js'
import { evaluate, f2, f3, htmlTable, withYSpan, ledgerEpsilon, loadDataset, markdown, pm, splitOverNodes, spreadOf, trainNetwork, writeReport, type ExperimentOptions, type Spread } from './common.js'

export const LDP_SETTINGS = {
  datasets: ['bcw', 'pima', 'wdbc'] as ('bcw' | 'pima' | 'wdbc')[],
  nodes: 5,
  testFraction: 0.2,
  batch: 64,
  epochs: 100,
  clip: 1,
  ldpClip: 3,
  delta: 1e-4,
  betas: [1, 2, 4],
  seeds: 3,
  networks: {
    bcw: { hidden: [20, 10], learningRate: 0.01 },
    pima: { hidden: [20, 5, 5], learningRate: 0.01 },
    wdbc: { hidden: [20, 10, 10], learningRate: 0.01 },
  },
}

export const LDP_QUICK = { ...LDP_SETTINGS, datasets: ['bcw', 'pima'] as ('bcw' | 'pima' | 'wdbc')[], epochs: 5, betas: [1, 4], seeds: 1 }

export interface LdpRow {
  dataset: string
  mechanism: 'non-private' | 'local DP (Laplace inputs)' | 'DP-SGD'
  /** beta: Laplace scale, or the DP-SGD noise multiplier; null when non-private. */
  beta: number | null
  /** The ledger's epsilon: pure per-row epsilon converted at delta (local DP) or (epsilon, delta) of DP-SGD. */
  ledgerEpsilon: number
  /** Local DP's pure epsilon per row (M 2B / beta); null otherwise. */
  pureEpsilon: number | null
  accuracy: Spread
  rocAuc: Spread
  minorityRecall: Spread
  gMean: Spread
}

export interface LdpResult {
  experiment: 'ldp-vs-dpsgd'
  quick: boolean
  transport: string
  settings: typeof LDP_SETTINGS
  rows: LdpRow[]
  tables: Record<string, string>
  wallSeconds: number
}

export async function runLdpVsDpSgd(o: ExperimentOptions): Promise<LdpResult> {
  const t0 = performance.now()
  const s = o.quick ? LDP_QUICK : LDP_SETTINGS
  const seeds = o.seeds ?? s.seeds
  const log = o.log ?? (() => {})
  const rows: LdpRow[] = []
  for (const name of s.datasets) {
    const ds = loadDataset(name)
    const net = s.networks[name]
    const cases: { mechanism: LdpRow['mechanism']; beta: number | null }[] = [
      { mechanism: 'non-private', beta: null },
      ...s.betas.map((beta) => ({ mechanism: 'local DP (Laplace inputs)' as const, beta })),
      ...s.betas.map((beta) => ({ mechanism: 'DP-SGD' as const, beta })),
    ]
    for (const c of cases) {
      const acc: number[] = []
      const auc: number[] = []
      const rec: number[] = []
      const gm: number[] = []
      let eps = 0
      for (let seed = 1; seed <= seeds; seed++) {
        const split = splitOverNodes(ds, s.nodes, seed, { testFraction: s.testFraction })
        const q = Math.min(1, s.batch / split.trainAll.rows)
        const hyper = {
          architecture: 'mlp',
          hidden: net.hidden,
          learningRate: net.learningRate,
          sampleRate: q,
          maxIter: Math.round(s.epochs / q),
          ...(c.mechanism === 'local DP (Laplace inputs)' ? { ldp: { scale: c.beta, clip: s.ldpClip } } : {}),
          ...(c.mechanism === 'DP-SGD' ? { dpSgd: { clip: s.clip, noiseMultiplier: c.beta, nodes: s.nodes } } : {}),
        }
        const r = await trainNetwork({ hyper, parts: split.parts, seed, transport: o.transport, ledgerDelta: s.delta })
        const ev = evaluate(r.model, split.testX, split.testY)
        acc.push(ev.accuracy)
        auc.push(ev.rocAuc)
        rec.push(ev.perClass[1].recall)
        gm.push(ev.perClass[1].gMean)
        eps = Math.max(eps, ledgerEpsilon(r.ledgers))
      }
      const pure = c.mechanism === 'local DP (Laplace inputs)' ? (ds.features.cols * 2 * s.ldpClip) / (c.beta as number) : null
      rows.push({ dataset: name, mechanism: c.mechanism, beta: c.beta, ledgerEpsilon: eps, pureEpsilon: pure, accuracy: spreadOf(acc), rocAuc: spreadOf(auc), minorityRecall: spreadOf(rec), gMean: spreadOf(gm) })
      log(`ldp-vs-dpsgd: ${name} ${c.mechanism}${c.beta === null ? '' : ` beta ${c.beta}`}: accuracy ${f3(spreadOf(acc).mean)}, ROC-AUC ${f3(spreadOf(auc).mean)}, epsilon ${f2(eps)}`)
    }
  }
  const tables: Record<string, string> = {}
  for (const name of s.datasets) {
    tables[name] = markdown(
      ['mechanism', 'beta', 'epsilon (ledger, delta ' + String(s.delta) + ')', 'pure epsilon per row', 'accuracy', 'ROC-AUC', 'minority recall', 'G-mean'],
      rows
        .filter((r) => r.dataset === name)
        .map((r) => [r.mechanism, r.beta ?? '-', r.mechanism === 'non-private' ? '-' : f2(r.ledgerEpsilon), r.pureEpsilon === null ? '-' : f2(r.pureEpsilon), pm(r.accuracy), pm(r.rocAuc), pm(r.minorityRecall), pm(r.gMean)]),
    )
  }
  return { experiment: 'ldp-vs-dpsgd', quick: o.quick, transport: o.transport, settings: s, rows, tables, wallSeconds: (performance.now() - t0) / 1000 }
}

export function ldpCharts(r: LdpResult): Record<string, ChartSpec> {
  const out: Record<string, ChartSpec> = {}
  for (const name of r.settings.datasets) {
    const mine = r.rows.filter((x) => x.dataset === name)
    const np = mine.find((x) => x.mechanism === 'non-private')
    const betas = mine.filter((x) => x.beta !== null).map((x) => x.beta as number)
    const series = (['local DP (Laplace inputs)', 'DP-SGD'] as const).map((m) => ({
      name: m === 'DP-SGD' ? 'DP-SGD (noise multiplier beta)' : 'local DP (Laplace scale beta on inputs)',
      points: mine.filter((x) => x.mechanism === m).map((x) => ({ x: x.beta as number, y: x.accuracy.mean })),
    }))
    if (np !== undefined && betas.length > 0) series.push({ name: 'non-private', points: [Math.min(...betas), Math.max(...betas)].map((x) => ({ x, y: np.accuracy.mean })) })
    out[`${name}-accuracy`] = withYSpan(lineChartSpec(series, { title: `${name.toUpperCase()}: test accuracy vs beta`, subtitle: `mean over ${mine[0]?.accuracy.values.length ?? 0} splits`, xTitle: 'beta', yTitle: 'test accuracy', logX: true, xFormat: '~g', yFormat: '.2f' }), series.flatMap((x) => x.points.map((p) => p.y)), 0.02)
  }
  return out
}

export async function ldpReport(r: LdpResult, dir: string): Promise<{ json: string; html: string }> {
  const sections: HtmlSection[] = [
    {
      heading: 'Setting',
      text:
        'The local-DP benchmark compares Laplace perturbation of the inputs with DP-SGD on ResNet-18 and medical images; no medical image set can be installed here, so the same comparison runs on the medical tables with MLPs. ' +
        `Inputs z-scored by the network; local DP clips each standardised feature to [-${r.settings.ldpClip}, ${r.settings.ldpClip}] and adds Laplace(beta) once per row; DP-SGD uses noise multiplier beta, clip ${r.settings.clip}, expected batch ${r.settings.batch}; ${r.settings.epochs} epochs, ${r.settings.nodes} nodes.`,
    },
  ]
  for (const [k, spec] of Object.entries(ldpCharts(r))) sections.push({ heading: k.replace(/-/g, ' '), svg: await renderSvg(spec) })
  for (const [name, md] of Object.entries(r.tables)) sections.push({ heading: `${name.toUpperCase()} (mean ± sd over seeds)`, table: htmlTable(md) })
  return writeReport(dir, 'collabdict experiment: local DP on inputs vs DP-SGD', r, sections)
}
