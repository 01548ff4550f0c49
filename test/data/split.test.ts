import { describe, expect, it } from 'vitest'
import { Rng } from '../../src/numeric/index.js'
import { mat } from '../../src/numeric/matrix.js'
import { loadCsv } from '../../src/data/csv.js'
import { anomalySplit, dirichlet, gammaVariate, kmeans, splitIid, splitNonIid, splitUneven } from '../../src/data/split.js'
import { DataError } from '../../src/data/csv.js'

function expectPartition(parts: Int32Array[], n: number): void {
  const seen = new Uint8Array(n)
  let total = 0
  for (const p of parts) {
    for (const i of p) {
      expect(seen[i]).toBe(0)
      seen[i] = 1
    }
    total += p.length
  }
  expect(total).toBe(n)
}

describe('splits', () => {
  it('iid: a partition with sizes differing by at most one; same seed => same split', () => {
    const parts = splitIid(103, 10, new Rng(1))
    expectPartition(parts, 103)
    const sizes = parts.map((p) => p.length)
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1)
    expect(splitIid(103, 10, new Rng(1))).toEqual(parts)
    expect(splitIid(103, 10, new Rng(2))).not.toEqual(parts)
  })

  it('uneven: a partition, every node >= minRows, sizes clearly unequal', () => {
    const parts = splitUneven(1000, 20, new Rng('u'), { minRows: 10 })
    expectPartition(parts, 1000)
    const sizes = parts.map((p) => p.length)
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(10)
    expect(Math.max(...sizes) / Math.min(...sizes)).toBeGreaterThan(3)
    expect(() => splitUneven(50, 10, new Rng(0), { minRows: 6 })).toThrow(DataError)
  })

  it('gamma variates have mean = shape (closed form), Dirichlet draws lie on the simplex', () => {
    const rng = new Rng(7)
    for (const shape of [0.3, 1, 4]) {
      const n = 20000
      let s = 0
      for (let i = 0; i < n; i++) s += gammaVariate(shape, rng)
      // variance of Gamma(shape, 1) is shape; 5 standard errors
      expect(Math.abs(s / n - shape)).toBeLessThan(5 * Math.sqrt(shape / n))
    }
    const d = dirichlet(6, 0.5, rng)
    expect(d.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12)
    expect(Math.min(...d)).toBeGreaterThanOrEqual(0)
  })

  it('k-means recovers two well-separated blobs exactly', () => {
    const rng = new Rng(3)
    const n = 200
    const x = mat(n, 2)
    for (let i = 0; i < n; i++) {
      const c = i < 120 ? 0 : 10
      x.data[2 * i] = c + rng.normal()
      x.data[2 * i + 1] = -c + rng.normal()
    }
    const a = kmeans(x, 2, new Rng(4))
    for (let i = 0; i < n; i++) expect(a[i]).toBe(i < 120 ? a[0] : a[199])
    expect(a[0]).not.toBe(a[199])
  })

  it('non-iid: a partition whose nodes see much more different pattern mixtures than an iid split', () => {
    const { features } = loadCsv('data/ad_satellite.csv', { labelCol: 'anomaly' })
    const S = 31
    const rng = new Rng('noniid')
    const { parts, pattern } = splitNonIid(features, S, rng, { minRows: 20 })
    expectPartition(parts, features.rows)
    expect(Math.min(...parts.map((p) => p.length))).toBeGreaterThanOrEqual(20)
    const C = Math.max(...pattern) + 1
    const global = new Float64Array(C)
    for (const c of pattern) global[c] += 1 / pattern.length
    const meanTv = (ps: Int32Array[]): number => {
      let tv = 0
      for (const p of ps) {
        const f = new Float64Array(C)
        for (const i of p) f[pattern[i]] += 1 / p.length
        let d = 0
        for (let c = 0; c < C; c++) d += Math.abs(f[c] - global[c]) / 2
        tv += d / ps.length
      }
      return tv
    }
    const nonIid = meanTv(parts)
    const iid = meanTv(splitIid(features.rows, S, new Rng(5)))
    expect(nonIid).toBeGreaterThan(0.25)
    expect(nonIid).toBeGreaterThan(4 * iid)
  })

  it('anomaly split: trains on normal rows only, every node holds out its own normals, anomalies scored by all', () => {
    const { features, labels } = loadCsv('data/ad_breastw.csv', { labelCol: 'anomaly' })
    const sp = anomalySplit(features, labels!, 10, new Rng(11), { minRows: 10 })
    const normals = labels!.reduce((a, l) => a + (l === 0 ? 1 : 0), 0)
    expect(sp.anomalies.length).toBe(labels!.length - normals)
    for (const i of sp.anomalies) expect(labels![i]).toBe(1)
    const used = new Set<number>()
    for (const node of sp.nodes) {
      expect(node.testNormal.length).toBeGreaterThanOrEqual(1)
      expect(node.train.length).toBeGreaterThanOrEqual(1)
      for (const i of [...node.train, ...node.testNormal]) {
        expect(labels![i]).toBe(0)
        expect(used.has(i)).toBe(false)
        used.add(i)
      }
    }
    expect(used.size).toBe(normals)
    expect(sp.trainAll.length + sp.testNormalAll.length).toBe(normals)
    expect(anomalySplit(features, labels!, 10, new Rng(11), { minRows: 10 })).toEqual(sp)
  })
})
