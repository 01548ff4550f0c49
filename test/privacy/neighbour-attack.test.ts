/**
 * The curious neighbour's attack on random chunking at the default settings, on the
 * statistics a GGM node really shares (breastw benign rows over 31 organisations): from
 * everything a peer receives in the first round of every chunk of a sum, its linear
 * estimate of a node's statistics is no better than guessing zero (relative error >= 1).
 */
import { describe, expect, it } from 'vitest'
import { loadCsv } from '../../src/data/csv.js'
import { splitIid } from '../../src/data/split.js'
import { DEFAULT_CHUNKS, DEFAULT_CHUNK_SCALE } from '../../src/consensus/index.js'
import { loopNoiseGroups } from '../../src/learning/index.js'
import { createGgm, exactNetwork } from '../../src/models/ggm/index.js'
import { selectRows } from '../../src/numeric/matrix.js'
import { Rng } from '../../src/numeric/rng.js'
import { SecretRng } from '../../src/numeric/secret-rng.js'
import { neighbourAttack } from '../../src/privacy/neighbour-attack.js'
import { generateTopology } from '../../topologies/index.js'

async function ggmStatistics(S: number): Promise<{ vectors: Float64Array[]; groups: Int32Array }> {
  const csv = loadCsv('data/ad_breastw.csv', { labelCol: 'anomaly' })
  const normal = Array.from(csv.labels as Int8Array, (y, i) => (y === 0 ? i : -1)).filter((i) => i >= 0)
  const X = selectRows(csv.features, normal)
  const parts = splitIid(X.rows, S, new Rng('attack-split')).map((idx) => selectRows(X, idx))
  const net = exactNetwork(S)
  const models = parts.map(() => createGgm({ K: 2, seed: 3 }))
  await Promise.all(models.map((m, s) => m.prepare(parts[s], net.aggregate(s))))
  const vectors = models.map((m, s) => {
    const stats = m.localUpdate(parts[s])
    const v = new Float64Array(stats.length + 2)
    v.set(stats)
    v[stats.length + 1] = 1 // the loop's vote entries: [converged, participant]
    return v
  })
  return { vectors, groups: loopNoiseGroups(models[0], vectors[0].length - 2) }
}

describe('neighbour reconstruction attack on random chunking', () => {
  it(`default settings (${DEFAULT_CHUNKS} chunks, chunkScale ${DEFAULT_CHUNK_SCALE}) on cwic-31: every estimate has relative error >= 1`, async () => {
    const S = 31
    const { vectors, groups } = await ggmStatistics(S)
    const r = await neighbourAttack({
      topology: generateTopology('cwic', S),
      vectors,
      sessions: 12,
      noiseGroups: groups,
      noise: (s) => SecretRng.forSimulation('neighbour-attack', s),
    })
    console.log(
      `chunking attack, cwic-31, ${vectors[0].length} statistics: ${r.observations.length} views; relative error min ${r.minRelativeError.toFixed(2)}, median ${r.medianRelativeError.toFixed(2)}; ` +
        `pooled over 12 sums min ${r.pooled.minRelativeError.toFixed(2)}, median ${r.pooled.medianRelativeError.toFixed(2)}`,
    )
    expect(r.observations.length).toBeGreaterThan(S * 12)
    expect(r.exposedSessions).toBe(0)
    expect(r.observations.every((o) => o.chunksSeen < DEFAULT_CHUNKS)).toBe(true)
    expect(r.minRelativeError).toBeGreaterThanOrEqual(1)
    expect(r.belowOne).toBe(0)
  })

  it('control: without chunking every neighbour reads the statistics exactly', async () => {
    const S = 31
    const { vectors, groups } = await ggmStatistics(S)
    const r = await neighbourAttack({
      topology: generateTopology('cwic', S),
      vectors,
      sessions: 2,
      consensus: { chunks: 1 },
      noiseGroups: groups,
      noise: (s) => SecretRng.forSimulation('neighbour-attack', s),
    })
    expect(r.observations.length).toBeGreaterThan(0)
    expect(Math.max(...r.observations.map((o) => o.relativeError))).toBeLessThan(1e-12)
  })
})
