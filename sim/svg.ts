/**
 * Line and bar charts as SVG strings, for the simulator's report. Hand-written because
 * the report must be a self-contained file with byte-identical output for the same run
 * (no browser, no fonts to load, no timestamps), which no installed library provides.
 */

export interface Series {
  name: string
  points: readonly (readonly [number, number])[]
}

export interface LineChartOptions {
  title: string
  xLabel: string
  yLabel: string
  logY?: boolean
  logX?: boolean
  width?: number
  height?: number
}

export interface BarGroup {
  label: string
  values: readonly number[]
}

/** Colour-blind-safe palette (Okabe & Ito 2008). */
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000']

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

/** Fixed-precision number for SVG coordinates (stable text across runs). */
function f(x: number): string {
  return (Math.round(x * 100) / 100).toFixed(2)
}

/** Short tick label: up to 4 significant digits, exponent form for very small/large. */
export function tickLabel(v: number): string {
  if (v === 0) return '0'
  const a = Math.abs(v)
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1).replace('e+', 'e')
  return String(Number(v.toPrecision(4)))
}

/** About `count` round tick values covering [lo, hi] (1-2-5 steps). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo]
  const raw = (hi - lo) / count
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag
  const out: number[] = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)))
  return out
}

function extent(values: number[]): [number, number] {
  let lo = Infinity
  let hi = -Infinity
  for (const v of values) {
    if (Number.isFinite(v)) {
      lo = Math.min(lo, v)
      hi = Math.max(hi, v)
    }
  }
  if (!Number.isFinite(lo)) return [0, 1]
  if (lo === hi) return [lo - (Math.abs(lo) || 1) * 0.05, hi + (Math.abs(hi) || 1) * 0.05]
  return [lo, hi]
}

/** Line chart with markers, axes, ticks and a legend; log scales take log10 of positive values. */
export function lineChart(series: readonly Series[], o: LineChartOptions): string {
  const W = o.width ?? 560
  const H = o.height ?? 340
  const m = { l: 70, r: 150, t: 34, b: 48 }
  const pw = W - m.l - m.r
  const ph = H - m.t - m.b
  const tx = (v: number): number => (o.logX ? Math.log10(v) : v)
  const ty = (v: number): number => (o.logY ? Math.log10(v) : v)
  const usable = (x: number, y: number): boolean =>
    Number.isFinite(x) && Number.isFinite(y) && (!o.logX || x > 0) && (!o.logY || y > 0)
  const xs: number[] = []
  const ys: number[] = []
  for (const s of series) {
    for (const [x, y] of s.points) {
      if (usable(x, y)) {
        xs.push(tx(x))
        ys.push(ty(y))
      }
    }
  }
  const [x0, x1] = extent(xs)
  const [y0, y1] = extent(ys)
  const px = (v: number): number => m.l + ((v - x0) / (x1 - x0)) * pw
  const py = (v: number): number => m.t + ph - ((v - y0) / (y1 - y0)) * ph
  const parts: string[] = []
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`)
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`)
  parts.push(`<text x="${f(W / 2 - m.r / 2)}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${esc(o.title)}</text>`)
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`)
  const xt = o.logX ? niceTicks(Math.floor(x0), Math.ceil(x1), 5).filter((v) => Number.isInteger(v)) : niceTicks(x0, x1)
  for (const v of xt) {
    if (v < x0 - 1e-12 || v > x1 + 1e-12) continue
    const x = px(v)
    parts.push(`<line x1="${f(x)}" y1="${m.t + ph}" x2="${f(x)}" y2="${m.t + ph + 4}" stroke="#888"/>`)
    parts.push(`<text x="${f(x)}" y="${m.t + ph + 16}" text-anchor="middle">${esc(tickLabel(o.logX ? 10 ** v : v))}</text>`)
  }
  const yt = o.logY ? niceTicks(Math.floor(y0), Math.ceil(y1), 5).filter((v) => Number.isInteger(v)) : niceTicks(y0, y1)
  for (const v of yt) {
    if (v < y0 - 1e-12 || v > y1 + 1e-12) continue
    const y = py(v)
    parts.push(`<line x1="${m.l}" y1="${f(y)}" x2="${m.l + pw}" y2="${f(y)}" stroke="#eee"/>`)
    parts.push(`<text x="${m.l - 6}" y="${f(y + 4)}" text-anchor="end">${esc(tickLabel(o.logY ? 10 ** v : v))}</text>`)
  }
  parts.push(`<text x="${f(m.l + pw / 2)}" y="${H - 10}" text-anchor="middle">${esc(o.xLabel)}</text>`)
  parts.push(`<text transform="translate(16 ${f(m.t + ph / 2)}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`)
  series.forEach((s, i) => {
    const c = PALETTE[i % PALETTE.length]
    const pts = s.points.filter(([x, y]) => usable(x, y)).map(([x, y]) => `${f(px(tx(x)))},${f(py(ty(y)))}`)
    if (pts.length > 1) parts.push(`<polyline fill="none" stroke="${c}" stroke-width="1.6" points="${pts.join(' ')}"/>`)
    if (pts.length <= 40) for (const p of pts) {
      const [cx, cy] = p.split(',')
      parts.push(`<circle cx="${cx}" cy="${cy}" r="2.5" fill="${c}"/>`)
    }
    const ly = m.t + 10 + i * 16
    parts.push(`<line x1="${m.l + pw + 10}" y1="${ly}" x2="${m.l + pw + 28}" y2="${ly}" stroke="${c}" stroke-width="2"/>`)
    parts.push(`<text x="${m.l + pw + 32}" y="${ly + 4}">${esc(s.name)}</text>`)
  })
  parts.push('</svg>')
  return parts.join('\n')
}

/** Grouped bar chart: one group per label, one bar per series name. */
export function barChart(groups: readonly BarGroup[], seriesNames: readonly string[], o: { title: string; yLabel: string; yMin?: number; yMax?: number; width?: number; height?: number }): string {
  const W = o.width ?? 560
  const H = o.height ?? 340
  const m = { l: 60, r: 150, t: 34, b: 48 }
  const pw = W - m.l - m.r
  const ph = H - m.t - m.b
  const all = groups.flatMap((g) => g.values.filter((v) => Number.isFinite(v)))
  const [e0, e1] = extent(all)
  const y0 = o.yMin ?? Math.min(0, e0)
  const y1 = o.yMax ?? e1
  const py = (v: number): number => m.t + ph - ((Math.min(Math.max(v, y0), y1) - y0) / (y1 - y0)) * ph
  const parts: string[] = []
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`)
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`)
  parts.push(`<text x="${f(W / 2 - m.r / 2)}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${esc(o.title)}</text>`)
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`)
  for (const v of niceTicks(y0, y1)) {
    const y = py(v)
    parts.push(`<line x1="${m.l}" y1="${f(y)}" x2="${m.l + pw}" y2="${f(y)}" stroke="#eee"/>`)
    parts.push(`<text x="${m.l - 6}" y="${f(y + 4)}" text-anchor="end">${esc(tickLabel(v))}</text>`)
  }
  const gw = pw / Math.max(1, groups.length)
  const bw = (gw * 0.8) / Math.max(1, seriesNames.length)
  groups.forEach((g, gi) => {
    const gx = m.l + gi * gw + gw * 0.1
    g.values.forEach((v, si) => {
      if (!Number.isFinite(v)) return
      const y = py(v)
      parts.push(`<rect x="${f(gx + si * bw)}" y="${f(y)}" width="${f(bw * 0.92)}" height="${f(m.t + ph - y)}" fill="${PALETTE[si % PALETTE.length]}"/>`)
    })
    parts.push(`<text x="${f(gx + gw * 0.4)}" y="${m.t + ph + 16}" text-anchor="middle">${esc(g.label)}</text>`)
  })
  parts.push(`<text transform="translate(16 ${f(m.t + ph / 2)}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`)
  seriesNames.forEach((n, i) => {
    const ly = m.t + 10 + i * 16
    parts.push(`<rect x="${m.l + pw + 10}" y="${ly - 6}" width="14" height="10" fill="${PALETTE[i % PALETTE.length]}"/>`)
    parts.push(`<text x="${m.l + pw + 30}" y="${ly + 3}">${esc(n)}</text>`)
  })
  parts.push('</svg>')
  return parts.join('\n')
}

/** One HTML page holding the charts and a few tables; no scripts, no external resources. */
export function htmlReport(title: string, sections: readonly { heading: string; svg?: string; table?: { head: string[]; rows: (string | number)[][] }; text?: string }[]): string {
  const out: string[] = []
  out.push('<!doctype html>', '<html><head><meta charset="utf-8">', `<title>${esc(title)}</title>`)
  out.push('<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto}table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}th{background:#f4f4f4}.figs{display:flex;flex-wrap:wrap;gap:12px}</style>')
  out.push('</head><body>', `<h1>${esc(title)}</h1>`)
  for (const s of sections) {
    out.push(`<h2>${esc(s.heading)}</h2>`)
    if (s.text) out.push(`<p>${esc(s.text)}</p>`)
    if (s.svg) out.push(s.svg)
    if (s.table) {
      out.push('<table><tr>' + s.table.head.map((h) => `<th>${esc(h)}</th>`).join('') + '</tr>')
      for (const r of s.table.rows) out.push('<tr>' + r.map((c) => `<td>${esc(String(c))}</td>`).join('') + '</tr>')
      out.push('</table>')
    }
  }
  out.push('</body></html>')
  return out.join('\n')
}
