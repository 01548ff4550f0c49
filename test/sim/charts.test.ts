import { beforeAll, describe, expect, it } from 'vitest'
import { runChartSpecs, runCharts, runHtml, sessionName, sweepPlots, type SweepReport } from '../../sim/report.js'
import { runScenario, type SimReport } from '../../sim/run.js'
import { chartScenario } from './fixtures.js'
import { allText, axisLabels, axisTitles, legendLabels } from '../helpers/svg.js'

const num = (label: string): number => Number(label.replace(/[^0-9eE.+-]/g, ''))

describe('report charts (Vega-Lite rendered to SVG in Node)', () => {
  let report: SimReport
  let charts: Record<string, string>
  beforeAll(async () => {
    report = (await runScenario(chartScenario())).report
    charts = await runCharts(report)
  })

  it('draws the five charts of a run, each with at least two labelled ticks on every axis and axis titles', () => {
    expect(Object.keys(charts).sort()).toEqual(['auc', 'consensus-error-per-round', 'consensus-error-per-session', 'convergence', 'l-diversity'])
    for (const [name, svg] of Object.entries(charts)) {
      const axes = axisLabels(svg)
      expect(axes.length, name).toBe(2)
      for (const labels of axes) expect(labels.length, `${name}: ${labels.join(' ')}`).toBeGreaterThanOrEqual(2)
      // the AUC chart's categories need no y title
      expect(axisTitles(svg).length, name).toBe(name === 'auc' ? 1 : 2)
      // nothing truncated: vega marks a cut label with an ellipsis
      expect(allText(svg).some((t) => t.includes('…')), name).toBe(false)
    }
  })

  it('log axes span whole decades with labelled powers of ten (the old chart had no y numbers)', () => {
    for (const name of ['consensus-error-per-round', 'consensus-error-per-session']) {
      const y = axisLabels(charts[name])[1]
      const values = y.map(num)
      expect(values.every((v) => v > 0)).toBe(true)
      // the extremes are powers of ten (nice domain), and there are at least two of them
      const decades = values.filter((v) => Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9)
      expect(decades.length, y.join(' ')).toBeGreaterThanOrEqual(2)
      // and the data lie inside the labelled range
      const errs = name === 'consensus-error-per-round' ? (report.consensus.errorPerRound?.errors ?? []) : report.iterations.map((i) => i.consensusError as number)
      expect(Math.min(...values)).toBeLessThanOrEqual(Math.min(...errs.filter((e) => e > 0)))
      expect(Math.max(...values)).toBeGreaterThanOrEqual(Math.max(...errs))
    }
  })

  it('legends and subtitles use human names, never internal session ids', () => {
    const text = Object.values(charts).flatMap(allText).join('\n')
    expect(text).not.toMatch(/iter:\d+:stats/)
    expect(sessionName('iter:0:stats', 0, 3)).toBe('statistics of iteration 0, random chunk 1 of 3')
    expect(legendLabels(charts['l-diversity'])).toEqual(['effective l of the node', `required l0 = ${report.privacy.l0}`])
    expect(legendLabels(charts.convergence)).toEqual(['mean over nodes', 'lowest to highest node'])
    expect(axisTitles(charts.convergence)).toContain('mean log-likelihood (nats per row)')
  })

  it('AUC: points with the nodes\' spread on an axis fitted to the values, not bars from 0', () => {
    const x = axisLabels(charts.auc)[0].map(num)
    const means = [report.auc.local, report.auc.collab, report.auc.released, report.auc.centralised].flatMap((s) => (s ? [s.rocAuc] : []))
    // labelled ticks cover the means and stay near them (all means here are above 0.95)
    expect(Math.min(...means)).toBeGreaterThan(0.95)
    expect(Math.min(...x)).toBeGreaterThan(0.9)
    expect(Math.min(...x)).toBeLessThanOrEqual(Math.min(...means))
    expect(Math.max(...x)).toBeGreaterThanOrEqual(Math.max(...means))
    expect(axisLabels(charts.auc)[1]).toEqual(['local only (each node alone)', "CollabDict (each node's own model)", 'CollabDict DP release', 'centralised (pooled data)'])
    const spec = JSON.stringify(runChartSpecs(report).auc)
    expect(spec).not.toContain('"bar"')
  })

  it('convergence is a mean line inside a min-max band over nodes', () => {
    const spec = runChartSpecs(report).convergence as { layer: { mark: { type: string }; encoding: Record<string, { field?: string }> }[] }
    const area = spec.layer.find((l) => l.mark.type === 'area')
    expect(area?.encoding.y.field).toBe('min')
    expect(area?.encoding.y2.field).toBe('max')
    expect(spec.layer.find((l) => l.mark.type === 'line')?.encoding.y.field).toBe('mean')
  })

  it('the HTML page is self-contained: inline SVG, no script, no external resource', async () => {
    const html = await runHtml(report)
    expect(html.match(/<svg/g)?.length).toBe(5)
    expect(html).not.toMatch(/<script|<link|src=|url\(/i)
    const urls = [...html.matchAll(/https?:\/\/[^\s"'<>]+/g)].map((m) => m[0])
    expect(urls.every((u) => u.startsWith('http://www.w3.org/'))).toBe(true)
    // units instead of bare numbers in the outcome table
    expect(html).toMatch(/<td>[\d.]+ (B|kB|MB|GB)<\/td>/)
  })
})

describe('sweep plots', () => {
  it('name their lines by series value and metric, with units on the axes', async () => {
    const sw: SweepReport = {
      format: 'collabdict-sim-sweep',
      version: 1,
      name: 'rounds',
      description: '',
      keys: ['topology.kind', 'nodes'],
      rows: [
        { 'topology.kind': 'cwic', nodes: 31, roundsPerSession: 53 },
        { 'topology.kind': 'cwic', nodes: 101, roundsPerSession: 60 },
        { 'topology.kind': 'ring', nodes: 31, roundsPerSession: 1608 },
        { 'topology.kind': 'ring', nodes: 101, roundsPerSession: 17000 },
      ],
    }
    const [svg] = await sweepPlots(sw, [{ title: 'Rounds vs S', x: 'nodes', y: ['roundsPerSession'], series: 'topology.kind', logX: true, logY: true }])
    expect(legendLabels(svg)).toEqual(['cwic', 'ring'])
    expect(axisTitles(svg)).toEqual(['organisations S', 'consensus rounds per session'])
    for (const labels of axisLabels(svg)) expect(labels.length).toBeGreaterThanOrEqual(2)
  })
})
