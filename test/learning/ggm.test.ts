import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SecretRng } from '../../src/numeric/secret-rng.js'
import { describe, expect, it } from 'vitest'
import { loadCsv } from '../../src/data/index.js'
import { selectRows, type Mat } from '../../src/numeric/matrix.js'
import { parseTrainingConfig, runTraining, type Checkpoint } from '../../src/learning/index.js'
import { createExactAggregator } from '../../src/learning/exact.js'
import { createLedger, createPrivacyGuard, createReleaser } from '../../src/learning/privacy.js'
import { runNetwork } from '../../src/learning/network.js'
import { createNodeModel, loadNodeModel } from '../../src/learning/models.js'
import { fitCentralised } from '../../src/models/ggm/index.js'

const bcw = loadCsv('data/ad_breastw.csv', { labelCol: 'anomaly' })
const normalRows = Array.from(bcw.labels as Int8Array, (y, i) => (y === 0 ? i : -1)).filter((i) => i >= 0)
const X = selectRows(bcw.features, normalRows)

function slices(data: Mat, S: number): Mat[] {
  return Array.from({ length: S }, (_, s) => selectRows(data, Array.from({ length: Math.ceil((data.rows - s) / S) }, (_, j) => s + j * S)))
}

function maxAbsDiff(a: Float64Array, b: Float64Array): number {
  let d = 0
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]) && Number.isNaN(b[i])) continue // absent fields (e.g. no clipping radius) are NaN on both
    d = Math.max(d, Number.isNaN(a[i] - b[i]) ? Infinity : Math.abs(a[i] - b[i]))
  }
  return d
}

describe('runTraining hosts the GGM mixture unchanged', () => {
  it('S nodes with exact sums reproduce the GGM centralised fit of src/models (weights shared)', async () => {
    const cfg = parseTrainingConfig({
      model: { kind: 'ggm', hyper: { K: 3, weights: 'shared', maxIter: 40 } },
      seed: 11,
      privacy: { monitor: false, release: { enabled: false } },
    })
    const reference = await fitCentralised(X, { K: 3, weights: 'shared', maxIter: 40, seed: 11 })
    const net = await runNetwork({ config: cfg, parts: slices(X, 6), aggregation: { kind: 'exact' }, nodeParts: () => ({ model: createNodeModel(cfg) }) })
    const ref = reference.exportGlobal()
    for (const r of net.nodes) {
      const g = r.model.exportGlobal()
      expect(r.iterations).toBe(reference.iteration)
      expect(g.state.length).toBe(ref.state.length)
      expect(maxAbsDiff(g.state, ref.state)).toBeLessThan(1e-9)
    }
  })
})

describe('GGM resume', () => {
  it('nodes resumed from mid-run checkpoints (monitor and release on) end with the uninterrupted models and releases', async () => {
    const cfg = parseTrainingConfig({
      model: { kind: 'ggm', hyper: { K: 3, maxIter: 30 } },
      seed: 4,
      privacy: { monitor: true, l0: 40, release: { enabled: true, epsilon: 4, bounds: { lower: 1, upper: 10 } }, budget: 1e6 },
    })
    const S = 4
    const parts = slices(X, S)
    const saved = new Map<string, Checkpoint>()
    const full = await runNetwork({
      config: cfg,
      parts,
      noise: (s) => SecretRng.forSimulation('resume', s),
      aggregation: { kind: 'exact' },
      nodeParts: (s) => {
        const ledger = createLedger(cfg, `n${s}`, { now: () => new Date(0) })
        return { model: createNodeModel(cfg), ledger, guard: createPrivacyGuard(cfg, ledger), releaser: createReleaser(cfg, ledger, { members: S }) }
      },
      checkpoint: async (s, cp) => {
        saved.set(`${s}:${cp.iteration}:${cp.finished}`, JSON.parse(JSON.stringify(cp)) as Checkpoint)
      },
    })
    expect(full.nodes[0].iterations).toBeGreaterThan(4)
    expect(full.nodes.some((r) => r.perturbations > 0)).toBe(true)
    const agg = createExactAggregator(S)
    const dir = mkdtempSync(join(tmpdir(), 'collab-resume-'))
    const resumed = await Promise.all(
      parts.map((data, s) => {
        const cp = saved.get(`${s}:3:false`) as Checkpoint
        // The node's ledger as it was at the checkpoint (a peer node keeps it on disk).
        const path = join(dir, `ledger-${s}.json`)
        writeFileSync(path, JSON.stringify(cp.ledger))
        const ledger = createLedger(cfg, `n${s}`, { path, now: () => new Date(0) })
        return runTraining(
          {
            nodeIndex: s,
            data,
            model: loadNodeModel(cfg, cp.model),
            aggregate: agg.forNode(s),
            noise: SecretRng.forSimulation('resume', s),
            ledger,
            guard: createPrivacyGuard(cfg, ledger),
            releaser: createReleaser(cfg, ledger, { members: S }),
          },
          { config: cfg, resume: cp },
        )
      }),
    )
    for (let s = 0; s < S; s++) {
      const a = resumed[s]
      const b = full.nodes[s]
      expect(a.iterations).toBe(b.iterations)
      expect(Array.from(a.model.exportGlobal().state)).toEqual(Array.from(b.model.exportGlobal().state))
      expect(a.model.score(parts[s])).toEqual(b.model.score(parts[s]))
      expect(a.release).toEqual(b.release)
    }
    // one release for the network: every member holds the same file
    const files = full.nodes.map((r) => JSON.stringify(r.release !== null && 'released' in r.release ? r.release.released : null))
    expect(new Set(files).size).toBe(1)
    expect(files[0]).not.toBe('null')
    rmSync(dir, { recursive: true, force: true })
  })
})
