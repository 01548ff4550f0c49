/**
 * Report files: the run's JSON (every figure, deterministic), an HTML page with the SVG
 * plots (convergence, consensus error per round, AUC local vs CollabDict vs centralised,
 * l-diversity per node) and, for sweeps, a table and plots of chosen metrics against
 * the swept parameter (AUC vs epsilon, AUC vs S, rounds vs S, ...). The plots are
 * Vega-Lite specifications rendered to SVG in Node (sim/charts.ts); the HTML page holds
 * them inline, with no scripts and no external resources.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { SimReport } from './run.js'
import { bandChartSpec, FORMAT, intervalChartSpec, lineChartSpec, renderSvg, thresholdChartSpec, type ChartSpec, type LineSeries } from './charts.js'

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
    localFailed: r.auc.local?.failed ?? null,
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
  return typeof v === 'string' ? v : JSON.stringify(v)
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

/** Bytes with a decimal unit: 57.30 MB. */
export function formatBytes(b: number): string {
  if (!Number.isFinite(b)) return '-'
  const units = ['B', 'kB', 'MB', 'GB', 'TB']
  let v = b
  let u = 0
  while (Math.abs(v) >= 1000 && u < units.length - 1) {
    v /= 1000
    u++
  }
  return `${u === 0 ? String(Math.round(v)) : v.toFixed(2)} ${units[u]}`
}

/** A consensus session label as a person reads it ('iter:3:stats' -> 'statistics of iteration 3'). */
export function sessionName(label: string, chunk: number, chunks: number): string {
  const m = /^iter:(\d+):stats$/.exec(label)
  const what = m ? `statistics of iteration ${m[1]}` : label === 'probe' ? 'a random probe vector' : label === 'prepare' ? 'the preparation sums' : `session '${label}'`
  return chunks > 1 ? `${what}, random chunk ${chunk + 1} of ${chunks}` : what
}

/** HTML escape. */
function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

export interface HtmlSection {
  heading: string
  svg?: string
  table?: { head: string[]; rows: (string | number)[][] }
  text?: string
}

/** One HTML page holding the charts and a few tables; no scripts, no external resources. */
export function htmlReport(title: string, sections: readonly HtmlSection[]): string {
  const out: string[] = []
  out.push('<!doctype html>', '<html lang="en"><head><meta charset="utf-8">', `<title>${esc(title)}</title>`)
  out.push(
    '<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}th{background:#f4f4f4}svg{max-width:100%;height:auto}</style>',
  )
  out.push('</head><body>', `<h1>${esc(title)}</h1>`)
  for (const s of sections) {
    out.push(`<h2>${esc(s.heading)}</h2>`)
    if (s.text) out.push(`<p>${esc(s.text)}</p>`)
    if (s.svg) out.push(`<figure>${s.svg}</figure>`)
    if (s.table) {
      out.push('<table><tr>' + s.table.head.map((h) => `<th>${esc(h)}</th>`).join('') + '</tr>')
      for (const r of s.table.rows) out.push('<tr>' + r.map((c) => `<td>${esc(String(c))}</td>`).join('') + '</tr>')
      out.push('</table>')
    }
  }
  out.push('</body></html>')
  return out.join('\n')
}

/** The charts of one run as Vega-Lite specs, by file name. */
export function runChartSpecs(r: SimReport): Record<string, ChartSpec> {
  const out: Record<string, ChartSpec> = {}
  const kind = r.scenario.training.model.kind
  const rows = r.iterations.map((i) => ({ x: i.iteration, mean: i.objective, min: i.objectiveMin, max: i.objectiveMax }))
  const spread = rows.reduce((m, x) => (Number.isFinite(x.max - x.min) ? Math.max(m, x.max - x.min) : m), 0)
  out.convergence = bandChartSpec(rows, {
    title: 'Objective per iteration',
    subtitle: `largest spread between nodes: ${spread === 0 ? '0 (all nodes agree)' : spread.toPrecision(2)} nats per row`,
    xTitle: 'iteration',
    yTitle: kind === 'vae' ? 'ELBO (nats per row)' : kind === 'classifier' ? 'mean training loss (per row)' : 'mean log-likelihood (nats per row)',
    meanName: 'mean over nodes',
    bandName: 'lowest to highest node',
  })
  const e = r.consensus.errorPerRound
  if (e) {
    out['consensus-error-per-round'] = lineChartSpec([{ name: sessionName(e.label, e.chunk, r.scenario.training.consensus.chunks), points: e.errors.map((v, t) => ({ x: t, y: Math.max(v, 1e-17) })) }], {
      title: 'Relative disagreement between nodes, per consensus round',
      xTitle: 'consensus round',
      yTitle: 'max over nodes |x_s - mean| / initial (relative)',
      xFormat: FORMAT.integer,
      logY: true,
      points: false,
    })
  }
  const sessErr = r.iterations.filter((i) => i.consensusError !== null)
  if (sessErr.length > 0) {
    out['consensus-error-per-session'] = lineChartSpec([{ name: 'largest relative error of a node\'s network sums', points: sessErr.map((i) => ({ x: i.iteration, y: Math.max(i.consensusError as number, 1e-17) })) }], {
      title: 'Error of the network sums, per iteration',
      xTitle: 'iteration',
      yTitle: 'relative error ||sum_s - exact|| / ||exact||',
      xFormat: FORMAT.integer,
      logY: true,
    })
  }
  const a = r.auc
  const nodesOf = (k: 'rocAuc' | 'localRocAuc' | 'centralRocAuc'): number[] => r.nodes.map((n) => n[k]).filter((v): v is number => v !== null)
  const models = [
    ['local only (each node alone)', a.local, nodesOf('localRocAuc')],
    ['CollabDict (each node\'s own model)', a.collab, nodesOf('rocAuc')],
    ['CollabDict DP release', a.released, [] as number[]],
    ['centralised (pooled data)', a.centralised, [] as number[]],
  ] as const
  out.auc = intervalChartSpec(
    models.filter(([, s]) => s !== null).map(([label, s, nodes]) => ({ label, mean: s?.rocAuc ?? Number.NaN, min: s?.rocAucMin ?? null, max: s?.rocAucMax ?? null, nodes })),
    { title: 'ROC-AUC per model', subtitle: `${a.collab.nodes} nodes evaluated; the axis is fitted to the values, not from 0`, xTitle: 'ROC-AUC (1 = perfect, 0.5 = chance)' },
  )
  const ent = r.nodes.filter((n) => n.effectiveL !== null)
  if (ent.length > 0) {
    out['l-diversity'] = thresholdChartSpec(
      ent.map((n) => ({ x: n.node, y: n.effectiveL as number })),
      {
        title: 'l-diversity of each node\'s weakest component',
        subtitle: 'effective l = exp(min_k H_k), lowest over iterations; below l0 the node perturbs what it shares',
        xTitle: 'node',
        yTitle: 'effective l (number of rows)',
        pointsName: 'effective l of the node',
        threshold: r.privacy.l0,
        thresholdName: `required l0 = ${r.privacy.l0}`,
        logY: true,
      },
    )
  }
  return out
}

/** The charts of one run by file name, rendered to SVG (also embedded in the HTML page). */
export async function runCharts(r: SimReport): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const [name, spec] of Object.entries(runChartSpecs(r))) out[name] = await renderSvg(spec)
  return out
}

/** The HTML page of one run. */
export async function runHtml(r: SimReport): Promise<string> {
  return htmlReport(`CollabDict simulation: ${r.scenario.name}`, runSections(r, await runCharts(r)))
}

function runSections(r: SimReport, charts: Record<string, string>): HtmlSection[] {
  const sections: HtmlSection[] = []
  const o = r.outcome
  const exact = r.scenario.transport === 'exact'
  sections.push({
    heading: 'Outcome',
    table: {
      head: ['status', 'reason', 'iterations', 'converged', 'simulated network time', 'nodes', 'scheme', 'predicted rounds/session', 'sent per node'],
      rows: [[o.status, o.reason ?? '-', o.iterations, String(o.converged), exact ? 'none (exact sums)' : o.virtualMs === 0 ? 'none (no latency simulated)' : `${fmt(o.virtualMs / 1000)} s`, r.topology.nodes, r.topology.scheme, r.topology.predictedRounds, formatBytes(r.consensus.bytesPerNode.mean)]],
    },
  })
  sections.push({ heading: 'Convergence', svg: charts.convergence })
  if (charts['consensus-error-per-round']) sections.push({ heading: 'Consensus error per round', svg: charts['consensus-error-per-round'] })
  if (charts['consensus-error-per-session']) sections.push({ heading: 'Consensus error of each statistics session', svg: charts['consensus-error-per-session'] })
  const a = r.auc
  sections.push({
    heading: 'Anomaly detection: local-only vs CollabDict vs centralised',
    svg: charts.auc,
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
    text:
      `Protecting noise (chunks, release shares, pseudo-samples, DP-SGD) came from the simulator's per-node secret streams, derived from ${p.noise.derivedFrom === 'noiseSeed' ? 'the scenario\'s noiseSeed' : 'the scenario seed'} (never training.seed); a real node keys them from OS entropy.` +
      (p.released ? ` One release for the network at (${fmt(p.released.epsilon)}, ${p.released.delta})-DP, ${p.released.identicalFiles ? 'the same file on' : 'different files on'} ${p.released.nodes} nodes.` : ''),
    table: {
      head: ['monitor', 'l0', 'nodes exposed', 'perturbations', 'min entropy (nats)', 'release', 'network epsilon of the release', 'epsilon spent'],
      rows: [[String(p.monitor), p.l0, p.exposedNodes, p.perturbations, fmt(p.minEntropy), String(p.release), fmt(p.released?.epsilon ?? null), fmt(p.spent?.epsilon)]],
    },
  })
  if (charts['l-diversity']) sections.push({ heading: 'l-diversity per node', svg: charts['l-diversity'] })
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

/** Human names (with units) of the flat metrics and common swept paths, for axes and legends. */
export const METRIC_NAMES: Record<string, string> = {
  nodes: 'organisations S',
  iterations: 'iterations',
  predictedRounds: 'predicted rounds per session',
  roundsPerSession: 'consensus rounds per session',
  roundsTotal: 'consensus rounds in all',
  bytesPerNode: 'bytes sent per node',
  consensusErrorMax: 'largest relative consensus error',
  virtualMs: 'simulated network time (ms)',
  aucCollab: 'CollabDict ROC-AUC',
  aucLocal: 'local-only ROC-AUC',
  localFailed: 'local-only fits that failed',
  aucCentral: 'centralised ROC-AUC',
  aucReleased: 'DP release ROC-AUC',
  prAucCollab: 'CollabDict PR-AUC',
  prAucLocal: 'local-only PR-AUC',
  prAucCentral: 'centralised PR-AUC',
  prAucReleased: 'DP release PR-AUC',
  epsilon: 'epsilon per release',
  epsilonSpent: 'epsilon spent (ledger delta)',
  exposedNodes: 'nodes exposed (l-diversity)',
  minEntropy: 'lowest component entropy (nats)',
  reruns: 'sessions rerun',
  'training.privacy.release.lambda0': 'prior strength lambda0',
  'training.privacy.release.epsilon': 'epsilon per release (configured)',
  'topology.kind': 'topology',
  'training.consensus.chunks': 'random chunks per sum',
}

export function metricName(key: string): string {
  return METRIC_NAMES[key] ?? key
}

/** Axis title of several metrics: their common unit when they share one (ROC-AUC), else their names. */
function axisTitle(keys: readonly string[]): string {
  if (keys.length === 1) return metricName(keys[0])
  if (keys.every((k) => /^aucs?/i.test(k) || k.startsWith('auc'))) return 'ROC-AUC'
  if (keys.every((k) => k.startsWith('prAuc'))) return 'PR-AUC'
  return keys.map(metricName).join(', ')
}

/** Vega-Lite specs of the plots of a sweep (metrics against a swept parameter or a metric). */
export function sweepPlotSpecs(sw: SweepReport, plots: readonly PlotSpec[]): ChartSpec[] {
  return plots.map((pl) => {
    const seriesVals = pl.series ? [...new Set(sw.rows.map((r) => String(r[pl.series as string])))] : ['']
    const series: LineSeries[] = []
    for (const sv of seriesVals) {
      for (const y of pl.y) {
        const rows = sw.rows.filter((r) => !pl.series || String(r[pl.series]) === sv)
        const points = rows
          .map((r) => ({ x: Number(r[pl.x]), y: Number(r[y]) }))
          .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y))
          .sort((p, q) => p.x - q.x)
        const name = [pl.series ? sv : '', pl.y.length > 1 || !pl.series ? metricName(y) : ''].filter(Boolean).join(': ')
        series.push({ name, points })
      }
    }
    const bytes = pl.y.every((y) => y === 'bytesPerNode')
    return lineChartSpec(series, {
      title: pl.title,
      subtitle: pl.series ? `one line per ${metricName(pl.series)}` : undefined,
      xTitle: metricName(pl.x),
      yTitle: axisTitle(pl.y),
      logX: pl.logX,
      logY: pl.logY,
      xFormat: pl.logX ? FORMAT.general : undefined,
      yFormat: bytes ? FORMAT.si : pl.logY ? FORMAT.general : undefined,
    })
  })
}

/** The plots of a sweep rendered to SVG. */
export async function sweepPlots(sw: SweepReport, plots: readonly PlotSpec[]): Promise<string[]> {
  const out: string[] = []
  for (const spec of sweepPlotSpecs(sw, plots)) out.push(await renderSvg(spec))
  return out
}

/** Markdown table of a sweep (what the README quotes). */
export function sweepMarkdown(sw: SweepReport, columns: readonly string[]): string {
  const head = `| ${columns.join(' | ')} |`
  const sep = `|${columns.map(() => '---').join('|')}|`
  const rows = sw.rows.map((r) => `| ${columns.map((c) => fmt(r[c])).join(' | ')} |`)
  return [head, sep, ...rows].join('\n') + '\n'
}

export async function sweepHtml(sw: SweepReport, plots: readonly PlotSpec[], columns: readonly string[], svgs?: string[]): Promise<string> {
  const rendered = svgs ?? (await sweepPlots(sw, plots))
  return htmlReport(`CollabDict sweep: ${sw.name}`, [
    { heading: 'Scenario', text: sw.description },
    ...rendered.map((svg, i) => ({ heading: plots[i].title, svg })),
    { heading: 'Results', table: { head: [...columns], rows: sw.rows.map((r) => columns.map((c) => fmt(r[c]))) } },
  ])
}

/** Write report.json, report.html and one SVG per plot into `dir`; returns the file paths. */
export async function writeRunReport(dir: string, r: SimReport): Promise<{ json: string; html: string }> {
  mkdirSync(dir, { recursive: true })
  const json = join(dir, 'report.json')
  const html = join(dir, 'report.html')
  const charts = await runCharts(r)
  writeFileSync(json, reportJson(r))
  writeFileSync(html, htmlReport(`CollabDict simulation: ${r.scenario.name}`, runSections(r, charts)))
  for (const [name, svg] of Object.entries(charts)) writeFileSync(join(dir, `${name}.svg`), svg + '\n')
  return { json, html }
}

export async function writeSweepReport(
  dir: string,
  sw: SweepReport,
  plots: readonly PlotSpec[],
  columns: readonly string[],
): Promise<{ json: string; html: string; markdown: string; svgs: string[] }> {
  mkdirSync(dir, { recursive: true })
  const json = join(dir, 'sweep.json')
  const html = join(dir, 'report.html')
  const markdown = join(dir, 'table.md')
  const rendered = await sweepPlots(sw, plots)
  writeFileSync(json, reportJson(sw))
  writeFileSync(html, await sweepHtml(sw, plots, columns, rendered))
  writeFileSync(markdown, sweepMarkdown(sw, columns))
  const svgs = rendered.map((svg, i) => {
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
