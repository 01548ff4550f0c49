/**
 * The simulator's charts: Vega-Lite specifications rendered to SVG in Node (vega's
 * headless renderer, no browser, no canvas, no fonts to load), embedded inline in the
 * report so it stays one self-contained HTML file.
 *
 * Every chart follows the same rules: ticks and labels on every axis (log axes are
 * `nice`, so they span whole decades and always carry at least two labelled ticks),
 * units in the axis titles, legends with human names and no label truncation, and a
 * form that shows the difference it is about (AUC as points with the nodes' spread on
 * an axis that does not start at 0; the min-max spread of the objective as a band).
 */
import { parse, View } from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'

export type ChartSpec = TopLevelSpec

/** Colour-blind-safe palette (Okabe & Ito 2008). */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442']

/** Width and height of one chart's plotting area (px). */
export const CHART_WIDTH = 420
export const CHART_HEIGHT = 240

/** Shared look: no truncated legend labels, readable fonts, white background. */
const CONFIG = {
  background: 'white',
  font: 'sans-serif',
  padding: 8,
  view: { stroke: '#bbb' },
  range: { category: PALETTE },
  axis: { labelFontSize: 11, titleFontSize: 12, labelLimit: 0, titlePadding: 8, gridColor: '#eee', tickCount: 6 },
  // y titles read horizontally above the axis: easier to read than rotated text, and
  // vega's headless text measure over-counts the bounds of long rotated titles
  axisY: { titleAngle: 0, titleAlign: 'left', titleAnchor: 'end', titleBaseline: 'bottom', titleX: 0, titleY: -8 },
  legend: { labelFontSize: 11, titleFontSize: 11, labelLimit: 0, orient: 'bottom', direction: 'vertical' },
  title: { fontSize: 13, subtitleFontSize: 11, subtitleColor: '#555', anchor: 'start' },
} as const

/** Render a Vega-Lite spec to an SVG string (deterministic for the same spec). */
export async function renderSvg(spec: ChartSpec): Promise<string> {
  const vg = compile({ ...spec, config: { ...CONFIG, ...(spec.config ?? {}) } }).spec
  const view = new View(parse(vg), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}

/** Round numbers for axis labels: d3 format strings per kind of quantity. */
export const FORMAT = {
  integer: 'd',
  /** Scientific, one digit: 1e-9. */
  exponent: '.0e',
  /** SI prefix: 57M (callers add the unit to the axis title). */
  si: '~s',
  auc: '.3f',
  general: '~g',
} as const

export interface Point {
  x: number
  y: number
}

export interface LineSeries {
  /** Human name shown in the legend. */
  name: string
  points: readonly Point[]
}

export interface LineChartOptions {
  title: string
  subtitle?: string
  xTitle: string
  yTitle: string
  logX?: boolean
  logY?: boolean
  xFormat?: string
  yFormat?: string
  /** Draw a marker at every point (default: when a series has at most 40 points). */
  points?: boolean
}

/** Finite points, and only positive coordinates on a log axis. */
function usable(p: Point, o: Pick<LineChartOptions, 'logX' | 'logY'>): boolean {
  return Number.isFinite(p.x) && Number.isFinite(p.y) && (!o.logX || p.x > 0) && (!o.logY || p.y > 0)
}

/**
 * Axis of a log scale. Errors and tolerances (no format given): decades as 1e-9 (d3's
 * '.0e' prints 1e+0; drop the '+'). Counts and parameters (FORMAT.general): plain numbers,
 * SI prefixes from 10,000 (10k, 1M), exponents below 0.001.
 */
function logAxis(format: string | undefined): Record<string, unknown> {
  if (format === undefined) return { format: FORMAT.exponent, labelExpr: "replace(datum.label, 'e+', 'e')" }
  if (format === FORMAT.general) {
    // datum.label is '' on the minor ticks vega leaves unlabelled: keep those blank
    return {
      format: FORMAT.general,
      labelExpr: "datum.label === '' ? '' : datum.value >= 1e4 ? format(datum.value, '~s') : datum.value < 1e-3 ? replace(format(datum.value, '.0e'), 'e+', 'e') : format(datum.value, '~g')",
    }
  }
  return { format }
}

function scale(log: boolean | undefined): Record<string, unknown> {
  return log ? { type: 'log', nice: true } : { zero: false, nice: true }
}

/**
 * Lines of several named series. A single series gets no legend (its name goes in the
 * subtitle when no subtitle is given); several get a colour legend with their names.
 */
export function lineChartSpec(series: readonly LineSeries[], o: LineChartOptions): ChartSpec {
  const values = series.flatMap((s) => s.points.filter((p) => usable(p, o)).map((p) => ({ series: s.name, x: p.x, y: p.y })))
  const many = series.length > 1
  const points = o.points ?? series.every((s) => s.points.length <= 40)
  return {
    title: { text: o.title, subtitle: o.subtitle ?? (many ? undefined : series[0]?.name) },
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    data: { values },
    mark: { type: 'line', point: points ? { size: 28 } : false, strokeWidth: 1.8 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: o.xTitle, scale: scale(o.logX), axis: o.logX ? logAxis(o.xFormat ?? FORMAT.general) : { format: o.xFormat } },
      y: { field: 'y', type: 'quantitative', title: o.yTitle, scale: scale(o.logY), axis: o.logY ? logAxis(o.yFormat) : { format: o.yFormat } },
      color: many
        ? { field: 'series', type: 'nominal', title: null, sort: series.map((s) => s.name), legend: { orient: 'bottom', direction: 'vertical' } }
        : { value: PALETTE[0] },
    },
  }
}

export interface BandRow {
  x: number
  mean: number
  min: number
  max: number
}

/**
 * Mean line with the min-max band around it (e.g. the objective over nodes): when the
 * nodes agree the band is as thin as the line and the subtitle says how far apart they are.
 */
export function bandChartSpec(rows: readonly BandRow[], o: { title: string; xTitle: string; yTitle: string; meanName: string; bandName: string; subtitle?: string }): ChartSpec {
  const values = rows.filter((r) => [r.x, r.mean, r.min, r.max].every(Number.isFinite)).map((r) => ({ ...r, meanName: o.meanName, bandName: o.bandName }))
  const color = { type: 'nominal', title: null, scale: { domain: [o.meanName, o.bandName], range: [PALETTE[0], '#9ecae1'] }, legend: { orient: 'bottom', direction: 'vertical' } }
  return {
    title: { text: o.title, subtitle: o.subtitle },
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    data: { values },
    encoding: { x: { field: 'x', type: 'quantitative', title: o.xTitle, scale: { zero: false, nice: true }, axis: { format: FORMAT.integer } } },
    layer: [
      {
        mark: { type: 'area', opacity: 0.5 },
        encoding: {
          y: { field: 'min', type: 'quantitative', title: o.yTitle, scale: { zero: false, nice: true } },
          y2: { field: 'max' },
          color: { ...color, field: 'bandName' },
        },
      },
      {
        mark: { type: 'line', strokeWidth: 1.8, point: values.length <= 40 ? { size: 24 } : false },
        encoding: { y: { field: 'mean', type: 'quantitative' }, color: { ...color, field: 'meanName' } },
      },
    ],
  } as ChartSpec
}

export interface IntervalRow {
  /** Category shown on the y axis (human name). */
  label: string
  mean: number
  /** Spread over nodes; null when only the mean is known. */
  min: number | null
  max: number | null
  /** Individual node values drawn as small dots behind the mean (may be empty). */
  nodes: readonly number[]
}

/**
 * Dot plot: one row per category, the mean as a large point, the min-max over nodes as
 * a bar and every node as a small dot. The axis is fitted to the data (not from 0), so
 * differences of a few thousandths stay visible.
 */
export function intervalChartSpec(rows: readonly IntervalRow[], o: { title: string; subtitle?: string; xTitle: string; format?: string }): ChartSpec {
  const order = rows.map((r) => r.label)
  const means = rows.filter((r) => Number.isFinite(r.mean)).map((r) => ({ label: r.label, mean: r.mean, kind: 'mean over nodes' }))
  const ranges = rows
    .filter((r) => r.min !== null && r.max !== null && Number.isFinite(r.min) && Number.isFinite(r.max))
    .map((r) => ({ label: r.label, lo: r.min as number, hi: r.max as number, kind: 'lowest to highest node' }))
  const dots = rows.flatMap((r) => r.nodes.filter(Number.isFinite).map((v) => ({ label: r.label, value: v, kind: 'one node' })))
  const kinds = ['mean over nodes', 'lowest to highest node', 'one node']
  const color = { type: 'nominal', title: null, scale: { domain: kinds, range: [PALETTE[1], '#888', PALETTE[0]] }, legend: { orient: 'bottom', direction: 'horizontal' } }
  const y = { field: 'label', type: 'nominal', title: null, sort: order, axis: { labelLimit: 0 } }
  const x = { type: 'quantitative', title: o.xTitle, scale: { zero: false, nice: true, padding: 8 }, axis: { format: o.format ?? FORMAT.auc } }
  return {
    title: { text: o.title, subtitle: o.subtitle },
    width: CHART_WIDTH,
    height: { step: 34 },
    layer: [
      { data: { values: ranges }, mark: { type: 'rule', strokeWidth: 2 }, encoding: { y, x: { ...x, field: 'lo' }, x2: { field: 'hi' }, color: { ...color, field: 'kind' } } },
      { data: { values: dots }, mark: { type: 'circle', size: 30, opacity: 0.6, yOffset: -8 }, encoding: { y, x: { ...x, field: 'value' }, color: { ...color, field: 'kind' } } },
      { data: { values: means }, mark: { type: 'point', filled: true, size: 90 }, encoding: { y, x: { ...x, field: 'mean' }, color: { ...color, field: 'kind' } } },
    ],
  } as ChartSpec
}

export interface ThresholdChartOptions {
  title: string
  subtitle?: string
  xTitle: string
  yTitle: string
  pointsName: string
  threshold: number
  thresholdName: string
  logY?: boolean
}

/** One value per node as points, with a labelled horizontal threshold line (e.g. l0). */
export function thresholdChartSpec(points: readonly Point[], o: ThresholdChartOptions): ChartSpec {
  const values = points.filter((p) => usable(p, { logY: o.logY })).map((p) => ({ ...p, kind: o.pointsName }))
  const ys = [...values.map((v) => v.y), o.threshold]
  const color = { type: 'nominal', title: null, scale: { domain: [o.pointsName, o.thresholdName], range: [PALETTE[0], PALETTE[1]] }, legend: { orient: 'bottom', direction: 'vertical' } }
  const yScale = o.logY ? { type: 'log', nice: true, domain: [Math.min(...ys), Math.max(...ys)] } : { zero: false, nice: true, domain: [Math.min(...ys), Math.max(...ys)] }
  return {
    title: { text: o.title, subtitle: o.subtitle },
    width: CHART_WIDTH,
    height: CHART_HEIGHT,
    layer: [
      {
        data: { values },
        mark: { type: 'point', filled: true, size: 40 },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: o.xTitle, scale: { zero: false, nice: false }, axis: { format: FORMAT.integer, tickMinStep: 1 } },
          y: { field: 'y', type: 'quantitative', title: o.yTitle, scale: yScale, axis: { format: FORMAT.general } },
          color: { ...color, field: 'kind' },
        },
      },
      {
        data: { values: [{ y: o.threshold, kind: o.thresholdName }] },
        mark: { type: 'rule', strokeDash: [6, 4], strokeWidth: 2 },
        encoding: { y: { field: 'y', type: 'quantitative' }, color: { ...color, field: 'kind' } },
      },
    ],
  } as ChartSpec
}
