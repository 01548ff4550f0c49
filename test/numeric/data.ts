/** Test-only CSV loading for the numeric tests (numeric columns, optional dropped columns, z-scoring). */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { mat, type Mat } from '../../src/numeric/matrix.js'

export const root = fileURLToPath(new URL('../../', import.meta.url))

export function readGolden<T>(name: string): T {
  return JSON.parse(readFileSync(`${root}test/golden/${name}`, 'utf8')) as T
}

/** Numeric CSV under data/, without the columns named in `drop`. */
export function loadCsv(name: string, drop: string[]): Mat {
  const lines = readFileSync(`${root}data/${name}`, 'utf8').trim().split(/\r?\n/)
  const header = lines[0].split(',')
  const keep = header.map((h, i) => (drop.includes(h) ? -1 : i)).filter((i) => i >= 0)
  const rows = lines.slice(1).map((l) => {
    const f = l.split(',')
    return keep.map((i) => Number(f[i]))
  })
  const out = mat(rows.length, keep.length)
  rows.forEach((r, i) => out.data.set(r, i * keep.length))
  return out
}

/** Columns centred and divided by their population standard deviation (ddof = 0). */
export function zscore(x: Mat): Mat {
  const { rows: n, cols: m } = x
  const out = mat(n, m, x.data.slice())
  for (let j = 0; j < m; j++) {
    let mu = 0
    for (let i = 0; i < n; i++) mu += x.data[i * m + j]
    mu /= n
    let v = 0
    for (let i = 0; i < n; i++) v += (x.data[i * m + j] - mu) ** 2
    const sd = Math.sqrt(v / n)
    for (let i = 0; i < n; i++) out.data[i * m + j] = (x.data[i * m + j] - mu) / sd
  }
  return out
}

/** Empirical covariance with ddof = 0. */
export function empiricalCovariance(x: Mat): Mat {
  const { rows: n, cols: m } = x
  const mu = new Float64Array(m)
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) mu[j] += x.data[i * m + j] / n
  const c = mat(m, m)
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < m; a++) {
      const da = x.data[i * m + a] - mu[a]
      for (let b = 0; b < m; b++) c.data[a * m + b] += (da * (x.data[i * m + b] - mu[b])) / n
    }
  }
  return c
}
