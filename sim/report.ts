/**
 * Report files: the run's JSON (every figure, deterministic), an HTML page with the SVG
 * plots (convergence, consensus error per round, AUC local vs CollabDict vs centralised,
 * l-diversity per node) and, for sweeps, a table and plots of chosen metrics against
 * the swept parameter (AUC vs epsilon, AUC vs S, rounds vs S, ...).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { SimReport } from './run.js'
import { barChart, htmlReport, lineChart, type Series } from './svg.js'

/** Flat metrics of one run, the columns sweeps tabulate and plot. */
export function flatMetrics(r: SimReport): Record<string, number | string | boolean | null> {
  const statsRounds = r.iterations.map((i) => i.rounds).filter((x) => x > 0)
  const errs = r.iterations.map((i) => i.consensusError).filter((x): x is number => x !== null)
  const anomalyRow = r.auc.collab.perClass?.find((c) => c.label === 1)
  const releasedRow = r.auc.released?.perClass?.find((c) => c.label === 1)
  return {
    nodes: r.topology.nodes,
    // 'stopped (Name)' names the innermost error of the reason (the cause, not its wrapper).
    status: r.outcome.status === 'completed' ? 'completed' : `stopped (${[...(r.outcome.reason ?? '').matchAll(/(\w+(?:Error|Stalled))/g)].map((m) => m[1]).at(-1) ?? 'unknown'})`,
    iterations: r.outcome.iterations,
    converged: r.outcome.converged,
    predictedRounds: r.topology.predictedRounds,
    roundsPerSession: statsRounds.length ? statsRounds.reduce((a, b) => a + b, 0) / statsRounds.length : 0,
    roundsTotal: r.consensus.roundsTotal,
    bytesPerNode: r.consensus.bytesPerNode.mean,
    consensusErrorMax: errs.length ? Math.max(...errs) : null,
    virtualMs: r.outcome.virtualMs,
    aucCollab: r.auc.collab.rocAuc,
    aucLocal: r.auc.local?.rocAuc ?? null,
    aucCentral: r.auc.centralised?.rocAuc ?? null,
    prAucCollab: r.auc.collab.prAuc,
    prAucLocal: r.auc.local?.prAuc ?? null,
    prAucCentral: r.auc.centralised?.prAuc ?? null,
    aucReleased: r.auc.released?.rocAuc ?? null,
    prAucReleased: r.auc.released?.prAuc ?? null,
    epsilon: r.privacy.released?.epsilon ?? null,
    epsilonSpent: r.privacy.spent?.epsilon ?? null,
    exposedNodes: r.privacy.exposedNodes,
    minEntropy: r.privacy.minEntropy,
    reruns: r.consensus.reruns.length,
    precision: anomalyRow?.precision ?? null,
    recall: anomalyRow?.recall ?? null,
    specificity: anomalyRow?.specificity ?? null,
    f1: anomalyRow?.f1 ?? null,
    gMean: anomalyRow?.gMean ?? null,
    iba: anomalyRow?.iba ?? null,
    accuracy: r.auc.collab.accuracy ?? null,
    releasedPrecision: releasedRow?.precision ?? null,
    releasedRecall: releasedRow?.recall ?? null,
    releasedSpecificity: releasedRow?.specificity ?? null,
    releasedF1: releasedRow?.f1 ?? null,
    releasedGMean: releasedRow?.gMean ?? null,
    releasedIba: releasedRow?.iba ?? null,
    releasedAccuracy: r.auc.released?.accuracy ?? null,
  }
}

function fmt(v: unknown): string {
  if (v === null || v === undefined) return '-'
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return String(v)
    if (Number.isInteger(v)) return String(v)
    const a = Math.abs(v)
    return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(2) : v.toFixed(a < 10 ? 4 : 1)
  }
  return String(v)
}

/** Deterministic JSON: NaN/Infinity become null (JSON has no such numbers), typed arrays become arrays. */
export function reportJson(value: unknown): string {
  return (
    JSON.stringify(
      value,
      (_k, v: unknown) => {
        if (typeof v === 'number' && !Number.isFinite(v)) return null
        if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>)
        return v
      },
      1,
    ) + '\n'
  )
}

/** The charts of one run by file name (also embedded in the HTML page). */
export function runCharts(r: SimReport): Record<string, string> {
  const out: Record<string, string> = {}
  const names = ['convergence', 'consensus-error-per-round', 'consensus-error-per-session', 'auc', 'l-diversity']
  const html = runSections(r)
  for (const sec of html) {
    if (sec.svg === undefined) continue
    const n = sec.chart
    if (n !== undefined && names.includes(n)) out[n] = sec.svg
  }
  return out
}

/** The HTML page of one run. */
export function runHtml(r: SimReport): string {
  return htmlReport(`CollabDict simulation: ${r.scenario.name}`, runSections(r))
}

type Section = Parameters<typeof htmlReport>[1][number] & { chart?: string }

function runSections(r: SimReport): Section[] {
  const conv: Series[] = [
    { name: 'mean', points: r.iterations.map((i) => [i.iteration, i.objective] as const) },
    { name: 'min over nodes', points: r.iterations.map((i) => [i.iteration, i.objectiveMin] as const) },
    { name: 'max over nodes', points: r.iterations.map((i) => [i.iteration, i.objectiveMax] as const) },
  ]
  const sections: Section[] = []
  const o = r.outcome
  sections.push({
    heading: 'Outcome',
    table: {
      head: ['status', 'reason', 'iterations', 'converged', 'virtual s', 'nodes', 'scheme', 'predicted rounds/session', 'bytes/node'],
      rows: [[o.status, o.reason ?? '-', o.iterations, String(o.converged), fmt(o.virtualMs / 1000), r.topology.nodes, r.topology.scheme, r.topology.predictedRounds, fmt(r.consensus.bytesPerNode.mean)]],
    },
  })
  sections.push({ chart: 'convergence', heading: 'Convergence', svg: lineChart(conv, { title: 'Objective per iteration', xLabel: 'iteration', yLabel: 'objective (mean log-likelihood / ELBO)' }) })
  if (r.consensus.errorPerRound) {
    const e = r.consensus.errorPerRound
    sections.push({
      chart: 'consensus-error-per-round',
      heading: 'Consensus error per round',
      svg: lineChart([{ name: `${e.label}, chunk ${e.chunk}`, points: e.errors.map((v, t) => [t, Math.max(v, 1e-17)] as const) }], {
        title: 'Relative disagreement between nodes',
        xLabel: 'round',
        yLabel: 'max |x_s - mean| / initial',
        logY: true,
      }),
    })
  }
  const sessErr = r.iterations.filter((i) => i.consensusError !== null)
  if (sessErr.length > 0) {
    sections.push({
      chart: 'consensus-error-per-session',
      heading: 'Consensus error of each statistics session',
      svg: lineChart([{ name: 'max relative error of received sums', points: sessErr.map((i) => [i.iteration, Math.max(i.consensusError as number, 1e-17)] as const) }], {
        title: 'Error of the network sums',
        xLabel: 'iteration',
        yLabel: 'relative error',
        logY: true,
      }),
    })
  }
  const a = r.auc
  const groups = [
    { label: 'ROC-AUC', values: [a.local?.rocAuc ?? Number.NaN, a.collab.rocAuc, a.released?.rocAuc ?? Number.NaN, a.centralised?.rocAuc ?? Number.NaN] },
    { label: 'PR-AUC', values: [a.local?.prAuc ?? Number.NaN, a.collab.prAuc, a.released?.prAuc ?? Number.NaN, a.centralised?.prAuc ?? Number.NaN] },
  ]
  sections.push({
    chart: 'auc',
    heading: 'Anomaly detection: local-only vs CollabDict vs centralised',
    svg: barChart(groups, ['local only', 'CollabDict', 'CollabDict DP release', 'centralised'], { title: 'Mean over nodes', yLabel: 'AUC', yMin: 0, yMax: 1 }),
    table: {
      head: ['model', 'ROC-AUC', 'PR-AUC', 'min ROC-AUC', 'max ROC-AUC', 'nodes', 'failed'],
      rows: (
        [
          ['local only', a.local],
          ['CollabDict', a.collab],
          ['CollabDict DP release', a.released],
          ['centralised', a.centralised],
        ] as const
      )
        .filter(([, s]) => s !== null)
        .map(([n, s]) => [n, fmt(s?.rocAuc), fmt(s?.prAuc), fmt(s?.rocAucMin), fmt(s?.rocAucMax), s?.nodes ?? 0, s?.failed ?? 0]),
    },
  })
  for (const [title, sum] of [
    ['CollabDict', a.collab],
    ['DP release', a.released],
  ] as const) {
    if (!sum?.perClass) continue
    sections.push({
      heading: `Per-class metrics at each node's threshold (${title}, mean over nodes)`,
      table: {
        head: ['class', 'precision', 'recall', 'specificity', 'F1', 'G-mean', 'IBA', 'support'],
        rows: sum.perClass.map((c) => [c.label === 1 ? 'anomaly' : 'normal', fmt(c.precision), fmt(c.recall), fmt(c.specificity), fmt(c.f1), fmt(c.gMean), fmt(c.iba), c.support]),
      },
    })
  }
  const p = r.privacy
  sections.push({
    heading: 'Privacy',
    table: {
      head: ['monitor', 'l0', 'nodes exposed', 'perturbations', 'min entropy', 'release', 'network epsilon of the release', 'epsilon spent'],
      rows: [[String(p.monitor), p.l0, p.exposedNodes, p.perturbations, fmt(p.minEntropy), String(p.release), fmt(p.released?.epsilon ?? null), fmt(p.spent?.epsilon)]],
    },
  })
  const ent = r.nodes.filter((n) => n.minEntropy !== null)
  if (ent.length > 0) {
    sections.push({
      chart: 'l-diversity',
      heading: 'l-diversity per node',
      svg: lineChart(
        [
          { name: 'exp(min_k H_k)', points: ent.map((n) => [n.node, n.effectiveL as number] as const) },
          { name: 'l0', points: [[0, p.l0] as const, [r.topology.nodes - 1, p.l0] as const] },
        ],
        { title: 'Effective l of the weakest component (lowest over iterations)', xLabel: 'node', yLabel: 'effective l', logY: true },
      ),
    })
  }
  if (r.consensus.reruns.length > 0 || r.faults.crashes.length > 0 || r.faults.loss > 0) {
    sections.push({
      heading: 'Faults',
      text: `loss ${r.faults.loss}; latency ${r.faults.latency ? JSON.stringify(r.faults.latency) : 'none'}; network frames ${r.consensus.network ? JSON.stringify(r.consensus.network) : '-'}`,
      table: {
        head: ['session', 'label', 'rounds', 'attempts', 'members', 'rerun without'],
        rows: r.consensus.reruns.map((x) => [x.session, x.label, x.rounds, x.attempts, x.members, x.excluded.join(', ')]),
      },
    })
  }
  return sections
}

export interface SweepReport {
  format: 'collabdict-sim-sweep'
  version: 1
  name: string
  description: string
  /** One row per variant: the swept values and the run's flat metrics. */
  rows: Record<string, number | string | boolean | null>[]
  keys: string[]
}

export interface PlotSpec {
  title: string
  x: string
  y: string[]
  series?: string
  logX?: boolean
  logY?: boolean
}

/** Plots of metrics against a swept parameter or a metric (e.g. epsilon). */
export function sweepPlots(sw: SweepReport, plots: readonly PlotSpec[]): string[] {
  return plots.map((pl) => {
    const seriesVals = pl.series ? [...new Set(sw.rows.map((r) => String(r[pl.series as string])))] : ['']
    const series: Series[] = []
    for (const sv of seriesVals) {
      for (const y of pl.y) {
        const rows = sw.rows.filter((r) => !pl.series || String(r[pl.series]) === sv)
        const pts = rows
          .map((r) => [Number(r[pl.x]), Number(r[y])] as const)
          .filter(([x, v]) => Number.isFinite(x) && Number.isFinite(v))
          .sort((p, q) => p[0] - q[0])
        series.push({ name: [pl.series ? `${pl.series}=${sv}` : '', pl.y.length > 1 || !pl.series ? y : ''].filter(Boolean).join(' '), points: pts })
      }
    }
    return lineChart(series, { title: pl.title, xLabel: pl.x, yLabel: pl.y.join(', '), logX: pl.logX, logY: pl.logY })
  })
}

/** Markdown table of a sweep (what the README quotes). */
export function sweepMarkdown(sw: SweepReport, columns: readonly string[]): string {
  const head = `| ${columns.join(' | ')} |`
  const sep = `|${columns.map(() => '---').join('|')}|`
  const rows = sw.rows.map((r) => `| ${columns.map((c) => fmt(r[c])).join(' | ')} |`)
  return [head, sep, ...rows].join('\n') + '\n'
}

export function sweepHtml(sw: SweepReport, plots: readonly PlotSpec[], columns: readonly string[]): string {
  const svgs = sweepPlots(sw, plots)
  return htmlReport(`CollabDict sweep: ${sw.name}`, [
    { heading: 'Scenario', text: sw.description },
    ...svgs.map((svg, i) => ({ heading: plots[i].title, svg })),
    { heading: 'Results', table: { head: [...columns], rows: sw.rows.map((r) => columns.map((c) => fmt(r[c]))) } },
  ])
}

/** Write report.json, report.html and one SVG per plot into `dir`; returns the file paths. */
export function writeRunReport(dir: string, r: SimReport): { json: string; html: string } {
  mkdirSync(dir, { recursive: true })
  const json = join(dir, 'report.json')
  const html = join(dir, 'report.html')
  writeFileSync(json, reportJson(r))
  writeFileSync(html, runHtml(r))
  for (const [name, svg] of Object.entries(runCharts(r))) writeFileSync(join(dir, `${name}.svg`), svg + '\n')
  return { json, html }
}

export function writeSweepReport(
  dir: string,
  sw: SweepReport,
  plots: readonly PlotSpec[],
  columns: readonly string[],
): { json: string; html: string; markdown: string; svgs: string[] } {
  mkdirSync(dir, { recursive: true })
  const json = join(dir, 'sweep.json')
  const html = join(dir, 'report.html')
  const markdown = join(dir, 'table.md')
  writeFileSync(json, reportJson(sw))
  writeFileSync(html, sweepHtml(sw, plots, columns))
  writeFileSync(markdown, sweepMarkdown(sw, columns))
  const svgs = sweepPlots(sw, plots).map((svg, i) => {
    const p = join(dir, `plot-${i + 1}.svg`)
    writeFileSync(p, svg + '\n')
    return p
  })
  return { json, html, markdown, svgs }
}

export interface ReportComparison {
  iterations: [number, number]
  /** max over iterations of |objective_a - objective_b| / max(1, |objective_b|) (mean over nodes). */
  objective: number
  /** max over nodes of |threshold_a - threshold_b| / max(1, |threshold_b|). */
  threshold: number
  /** |ROC-AUC_a - ROC-AUC_b| of the CollabDict models (mean over nodes). */
  rocAuc: number
}

/** How far two runs of the same scenario are apart (e.g. libp2p vs in-memory, same seed). */
export function compareReports(a: SimReport, b: SimReport): ReportComparison {
  const rel = (x: number, y: number): number => Math.abs(x - y) / Math.max(1, Math.abs(y))
  let objective = 0
  for (const ra of a.iterations) {
    const rb = b.iterations.find((r) => r.iteration === ra.iteration)
    if (rb) objective = Math.max(objective, rel(ra.objective, rb.objective))
  }
  let threshold = 0
  for (const na of a.nodes) {
    const nb = b.nodes.find((n) => n.node === na.node)
    if (nb && na.threshold !== null && nb.threshold !== null) threshold = Math.max(threshold, rel(na.threshold, nb.threshold))
  }
  return { iterations: [a.outcome.iterations, b.outcome.iterations], objective, threshold, rocAuc: Math.abs(a.auc.collab.rocAuc - b.auc.collab.rocAuc) }
}
