import { describe, expect, it } from 'vitest'
import { mat, selectRows } from '../../../src/numeric/matrix.js'
import { exactNetwork } from '../../../src/models/ggm/exact.js'
import {
  clipToBall,
  networkMeanCovariance,
  networkPreprocessing,
  PreprocessError,
  preprocessTraining,
  standardise,
} from '../../../src/models/preprocess.js'
import { loadCsv } from '../../../src/data/csv.js'

const { features } = loadCsv('data/ad_pima.csv', { labelCol: 'anomaly' })
const M = features.cols
// a deterministic uneven split of the rows over 3 nodes
const cuts = [0, 100, 450, features.rows]
const parts = [0, 1, 2].map((s) => selectRows(features, Int32Array.from({ length: cuts[s + 1] - cuts[s] }, (_, i) => cuts[s] + i)))

function pooledMoments(): { mean: number[]; std: number[] } {
  const mean: number[] = []
  const std: number[] = []
  for (let j = 0; j < M; j++) {
    let s = 0
    for (let i = 0; i < features.rows; i++) s += features.data[i * M + j]
    const mu = s / features.rows
    let v = 0
    for (let i = 0; i < features.rows; i++) v += (features.data[i * M + j] - mu) ** 2
    mean.push(mu)
    std.push(Math.sqrt(v / features.rows))
  }
  return { mean, std }
}

describe('network preprocessing (exact sums over 3 nodes)', () => {
  it('standardisation equals the pooled two-pass mean and population std on every node', async () => {
    const net = exactNetwork(3)
    const pres = await Promise.all(parts.map((p, s) => networkPreprocessing(p, net.aggregate(s), { radius: 8 })))
    const ref = pooledMoments()
    for (const pre of pres) {
      expect(pre.count).toBe(features.rows)
      for (let j = 0; j < M; j++) {
        expect(Math.abs(pre.shift[j] - ref.mean[j])).toBeLessThan(1e-10 * Math.abs(ref.mean[j]) + 1e-12)
        expect(Math.abs(pre.scale[j] - ref.std[j]) / ref.std[j]).toBeLessThan(1e-10)
        expect(Math.abs(pre.m0[j])).toBeLessThan(1e-15)
      }
      expect(Array.from(pre.shift)).toEqual(Array.from(pres[0].shift))
    }
    // the standardised pooled data then has mean 0 and unit population variance
    const z = standardise(features, pres[0])
    for (let j = 0; j < M; j++) {
      let s = 0
      let s2 = 0
      for (let i = 0; i < z.rows; i++) {
        s += z.data[i * M + j]
        s2 += z.data[i * M + j] ** 2
      }
      expect(Math.abs(s / z.rows)).toBeLessThan(1e-12)
      expect(Math.abs(s2 / z.rows - 1)).toBeLessThan(1e-10)
    }
  })

  it('network mean/covariance equals the pooled covariance', async () => {
    const net = exactNetwork(3)
    const res = await Promise.all(parts.map((p, s) => networkMeanCovariance(p, net.aggregate(s), 'cov')))
    const ref = pooledMoments()
    for (let a = 0; a < M; a++) {
      expect(Math.abs(res[1].mean[a] - ref.mean[a])).toBeLessThan(1e-9)
      expect(Math.abs(res[1].covariance.data[a * M + a] - ref.std[a] ** 2) / ref.std[a] ** 2).toBeLessThan(1e-9)
    }
  })

  it('clipping pulls exactly the rows beyond R/2 onto the sphere and counts them', () => {
    const x = mat(4, 2, Float64Array.from([0, 0, 3, 4, 0.5, 0.5, -6, 8]))
    const { data, clipped } = clipToBall(x, new Float64Array([0, 0]), 4) // radius 2
    expect(clipped).toBe(2)
    const want = [0, 0, 1.2, 1.6, 0.5, 0.5, -1.2, 1.6]
    want.forEach((w, i) => expect(data.data[i]).toBeCloseTo(w, 14))
    expect(Array.from(x.data)).toEqual([0, 0, 3, 4, 0.5, 0.5, -6, 8]) // input untouched
  })

  it('training rows are clipped to radius R/2 around m0, no row farther', async () => {
    const net = exactNetwork(1)
    const pre = await networkPreprocessing(features, net.aggregate(0), { radius: 5 })
    const { data, clipped } = preprocessTraining(features, pre)
    let beyond = 0
    for (let i = 0; i < data.rows; i++) {
      let d2 = 0
      for (let j = 0; j < M; j++) d2 += (data.data[i * M + j] - pre.m0[j]) ** 2
      expect(Math.sqrt(d2)).toBeLessThanOrEqual(2.5 + 1e-12)
      const zrow = standardise(selectRows(features, [i]), pre).data
      if (Math.hypot(...zrow) > 2.5) beyond++
    }
    expect(clipped).toBe(beyond)
    expect(clipped).toBeGreaterThan(0)
  })

  it('a feature constant across the network is pinned (shift = value, scale = 1), not refused; a network with no rows is a PreprocessError', async () => {
    const x = mat(3, 2, Float64Array.from([1, 5, 2, 5, 3, 5]))
    const pre = await networkPreprocessing(x, exactNetwork(1).aggregate(0))
    expect(pre.pinned).toEqual([1])
    expect([pre.shift[1], pre.scale[1]]).toEqual([5, 1])
    expect(pre.scale[0]).toBeCloseTo(Math.sqrt(2 / 3), 14)
    await expect(networkPreprocessing(mat(0, 2), exactNetwork(1).aggregate(0))).rejects.toBeInstanceOf(PreprocessError)
  })
})
