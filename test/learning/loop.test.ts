import { describe, expect, it } from 'vitest'
import { loadCsv } from '../../src/data/index.js'
import { selectRows, type Mat } from '../../src/numeric/matrix.js'
import {
  CheckpointMismatchError,
  TrainingStoppedError,
  parseTrainingConfig,
  runTraining,
  statsLabel,
  type Checkpoint,
  type TrainingConfig,
} from '../../src/learning/index.js'
import { createExactAggregator } from '../../src/learning/exact.js'
import { runNetwork } from '../../src/learning/network.js'
import { DiagGmm } from './diag-gmm.js'

const bcw = loadCsv('data/ad_breastw.csv', { labelCol: 'anomaly' })
const normalRows = Array.from(bcw.labels as Int8Array, (y, i) => (y === 0 ? i : -1)).filter((i) => i >= 0)
const X = selectRows(bcw.features, normalRows)
const M = X.cols

/** Round-robin slices: node s holds rows s, s+S, ... (deterministic, uneven when S does not divide n). */
function slices(data: Mat, S: number): Mat[] {
  return Array.from({ length: S }, (_, s) => selectRows(data, Array.from({ length: Math.ceil((data.rows - s) / S) }, (_, j) => s + j * S)))
}


const config: TrainingConfig = parseTrainingConfig({
  model: { kind: 'ggm' },
  seed: 7,
  maxIterations: 200,
  privacy: { monitor: false, release: { enabled: false } },
})

async function fit(S: number, cfg = config, checkpoint?: (s: number, cp: Checkpoint) => Promise<void>) {
  return runNetwork({
    config: cfg,
    parts: slices(X, S),
    nodeParts: () => ({ model: new DiagGmm(M, 3) }),
    aggregation: { kind: 'exact' },
    checkpoint,
  })
}

function maxAbsDiff(a: Float64Array, b: Float64Array): number {
  let d = 0
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]))
  return d
}

describe('runTraining with exact aggregation', () => {
  it('S nodes learn the model one node learns on the pooled rows (decentralised == centralised)', async () => {
    const central = (await fit(1)).nodes[0]
    const net = await fit(9)
    expect(central.converged).toBe(true)
    expect(central.iterations).toBeGreaterThan(5)
    for (const r of net.nodes) {
      expect(r.iterations).toBe(central.iterations)
      expect(r.stopReason).toBe('converged')
      const m = r.model as DiagGmm
      const c = central.model as DiagGmm
      expect(maxAbsDiff(m.mu, c.mu)).toBeLessThan(1e-9)
      expect(maxAbsDiff(m.v, c.v)).toBeLessThan(1e-9)
      expect(r.records.every((x) => x.participants === 9)).toBe(true)
    }
  })

  it('stops every node at maxIterations with the same count', async () => {
    const cfg = { ...config, maxIterations: 4 }
    const net = await fit(5, cfg)
    for (const r of net.nodes) {
      expect(r.iterations).toBe(4)
      expect(r.stopReason).toBe('max-iterations')
      expect(r.converged).toBe(false)
    }
  })

  it('resuming every node from a mid-run checkpoint ends with the uninterrupted model', async () => {
    const S = 5
    const saved = new Map<string, Checkpoint>()
    const full = await fit(S, config, async (s, cp) => {
      saved.set(`${s}:${cp.iteration}:${cp.finished}`, JSON.parse(JSON.stringify(cp)) as Checkpoint)
    })
    const at = 4
    const agg = createExactAggregator(S)
    const parts = slices(X, S)
    const resumed = await Promise.all(
      parts.map((data, s) => {
        const cp = saved.get(`${s}:${at}:false`) as Checkpoint
        return runTraining({ nodeIndex: s, data, model: DiagGmm.load(cp.model, M), aggregate: agg.forNode(s) }, { config, resume: cp })
      }),
    )
    for (let s = 0; s < S; s++) {
      const a = resumed[s].model as DiagGmm
      const b = full.nodes[s].model as DiagGmm
      expect(resumed[s].resumedFrom).toBe(at)
      expect(resumed[s].iterations).toBe(full.nodes[s].iterations)
      expect(Array.from(a.mu)).toEqual(Array.from(b.mu))
      expect(Array.from(a.v)).toEqual(Array.from(b.v))
      expect(resumed[s].records.map((r) => r.objective)).toEqual(full.nodes[s].records.map((r) => r.objective))
    }
  })

  it('a node resuming behind its peers adopts their global part and finishes with them', async () => {
    const S = 4
    const saved = new Map<string, Checkpoint>()
    const full = await fit(S, config, async (s, cp) => {
      saved.set(`${s}:${cp.iteration}`, JSON.parse(JSON.stringify(cp)) as Checkpoint)
    })
    const ahead = 6
    const agg = createExactAggregator(S)
    const parts = slices(X, S)
    const peer = DiagGmm.load((saved.get(`1:${ahead}`) as Checkpoint).model, M)
    const results = await Promise.all(
      parts.map((data, s) => {
        const cp = saved.get(`${s}:${s === 0 ? 2 : ahead}`) as Checkpoint
        return runTraining(
          {
            nodeIndex: s,
            data,
            model: DiagGmm.load(cp.model, M),
            aggregate: agg.forNode(s),
            fetchGlobal: async () => peer.exportGlobal(),
          },
          { config, resume: cp },
        )
      }),
    )
    expect(results[0].adoptedIteration).toBe(ahead)
    expect(results[0].iterations).toBe(full.nodes[0].iterations)
    expect(Array.from((results[0].model as DiagGmm).mu)).toEqual(Array.from((full.nodes[0].model as DiagGmm).mu))
  })

  it('refuses a checkpoint from another node or another config, naming what to do', async () => {
    const saved: Checkpoint[] = []
    await fit(2, { ...config, maxIterations: 2 }, async (s, cp) => {
      if (s === 0) saved.push(JSON.parse(JSON.stringify(cp)) as Checkpoint)
    })
    const cp = saved[1]
    const model = DiagGmm.load(cp.model, M)
    const ctx = { nodeIndex: 1, data: X, model, aggregate: createExactAggregator(1).forNode(0) }
    await expect(runTraining(ctx, { config: { ...config, maxIterations: 2 }, resume: cp })).rejects.toThrow(CheckpointMismatchError)
    await expect(runTraining({ ...ctx, nodeIndex: 0 }, { config, resume: cp })).rejects.toThrow(/different training config/)
  })

  it('a failing aggregate stops training with a named error naming the session, and peers do not hang', async () => {
    const S = 3
    const agg = createExactAggregator(S)
    const parts = slices(X, S)
    const runs = parts.map((data, s) =>
      runTraining(
        {
          nodeIndex: s,
          data,
          model: new DiagGmm(M, 3),
          aggregate: (vec, label) => {
            if (s === 2 && label === statsLabel(3)) {
              const e = new Error('neighbour 5 silent at round 17')
              e.name = 'NeighbourTimeoutError'
              agg.fail(e)
              return Promise.reject(e)
            }
            return agg.forNode(s)(vec, label)
          },
        },
        { config },
      ),
    )
    const settled = await Promise.allSettled(runs)
    for (const r of settled) {
      expect(r.status).toBe('rejected')
      const err = (r as PromiseRejectedResult).reason as TrainingStoppedError
      expect(err.name).toBe('TrainingStoppedError')
      expect(err.iteration).toBe(3)
      expect(err.message).toContain("'iter:3:stats'")
      expect(err.message).toContain('NeighbourTimeoutError')
    }
  })
})

describe('TrainingConfig', () => {
  it('fills defaults and names the offending field', () => {
    const c = parseTrainingConfig({ model: { kind: 'vae' }, seed: 1 })
    expect(c.consensus.scheme).toBe('chebyshev')
    expect(c.privacy.monitor).toBe(true)
    expect(c.privacy.release.enabled).toBe(false)
    expect(() => parseTrainingConfig({ model: { kind: 'ggm' }, seed: 1, consensus: { tol: -1 } }, 'org.yaml', ['training'])).toThrow(
      /org\.yaml: training\.consensus\.tol: tol must be > 0/,
    )
    expect(() => parseTrainingConfig({ model: { kind: 'gmm' }, seed: 1 })).toThrow(/model\.kind/)
    expect(() => parseTrainingConfig({ model: { kind: 'ggm' }, seed: 1, privacy: { releese: {} } })).toThrow(/privacy/)
  })
})
