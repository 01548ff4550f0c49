/**
 * Two runs of the same 3-organisation network (real nodes, libp2p on loopback) with the
 * same config and fresh state: the released files differ in every data-derived number
 * (but the graphical lasso's exact zeros)
 * (each run's noise comes from the nodes' own OS entropy, so nothing in the config lets
 * anyone recompute it), every member of a run publishes the same file, and the nodes' own
 * models agree across runs to the consensus tolerance.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { loadNodeConfig } from '../../node/config.js'
import { startNode } from '../../node/peer.js'
import { loadModel } from '../../src/models/index.js'
import { loadReleasedGgm, type ReleasedGgmFile } from '../../src/privacy/ggm-release.js'
import { BACKSTOP_MS, makeCluster } from './cluster.js'

const roots: string[] = []
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true })
})

async function runOnce(tag: string): Promise<{ files: ReleasedGgmFile[]; globals: Float64Array[] }> {
  const root = mkdtempSync(join(tmpdir(), `collab-two-runs-${tag}-`))
  roots.push(root)
  const c = await makeCluster({
    root: join(root, 'net'),
    S: 3,
    kind: 'complete',
    csv: 'data/ad_breastw.csv',
    labelCol: 'anomaly',
    training: {
      model: { kind: 'ggm', hyper: { K: 2 } },
      seed: 21,
      maxIterations: 30,
      consensus: { timeoutMs: 20_000 },
      privacy: { monitor: false, budget: 10, release: { enabled: true, epsilon: 4, bounds: { lower: 1, upper: 10 } } },
    },
  })
  const nodes = await Promise.all(c.nodes.map((n) => startNode(loadNodeConfig(n.config), { logger: pino({ level: 'silent' }) })))
  await Promise.all(nodes.map((n) => n.training))
  await Promise.all(nodes.map((n) => n.stop()))
  return {
    files: c.nodes.map((n) => loadReleasedGgm(JSON.parse(readFileSync(join(n.storage, 'released.json'), 'utf8')))),
    globals: c.nodes.map((n) => loadModel(JSON.parse(readFileSync(join(n.storage, 'model.json'), 'utf8'))).exportGlobal().state),
  }
}

/** Every data-derived number of a released file, flattened in a fixed order. */
function dataNumbers(f: ReleasedGgmFile): number[] {
  return [...f.means.flat(), ...f.precisions.flat(2), ...f.weights, ...f.transform.shift, ...f.transform.scale, f.threshold.value]
}

describe('two runs of the same network', () => {
  it('publish releases that differ in every data-derived number, and train the same own models', { timeout: BACKSTOP_MS }, async () => {
    const a = await runOnce('a')
    const b = await runOnce('b')
    for (const run of [a, b]) for (const f of run.files.slice(1)) expect(f).toEqual(run.files[0]) // one release per network
    const x = dataNumbers(a.files[0])
    const y = dataNumbers(b.files[0])
    if (a.files[0].K === b.files[0].K) {
      expect(x.length).toBe(y.length)
      // equal only where the graphical lasso put an exact zero in both (a sparsity pattern),
      // or where a feature's noisy mean fell outside the public bounds in both runs and was
      // clamped to the bound (shift = bound, scale = the public noise floor): public values
      const M = a.files[0].transform.shift.length
      const offset = x.length - 1 - 2 * M
      const clamped = new Set<number>()
      for (let j = 0; j < M; j++) {
        const atBound = (f: ReleasedGgmFile): boolean => f.transform.shift[j] === 1 || f.transform.shift[j] === 10
        if (atBound(a.files[0]) && atBound(b.files[0])) clamped.add(offset + j).add(offset + M + j)
      }
      const same = x.map((v, i) => (v === y[i] && v !== 0 && !clamped.has(i) ? i : -1)).filter((i) => i >= 0)
      // The noisy sums are rounded to a grid of 1/64 of their noise std before use (agreement),
      // so two independent runs land on the same grid point of one feature's mean with
      // probability ~1/(64 * 2 sqrt(pi)) = 0.4 % (~4 % for some feature of 9), and that
      // feature's shift, and its scale when the noise floor sets it, then coincide. Allow that
      // for one feature (two features: ~0.1 %); every other number must differ.
      const coinciding = new Set(same.map((i) => (i >= offset && i < offset + 2 * M ? (i - offset) % M : -1 - i)))
      expect(coinciding.size).toBeLessThanOrEqual(1)
      expect([...coinciding].every((j) => j >= 0)).toBe(true)
      expect(x.filter((v, i) => v !== 0 && v !== y[i]).length).toBeGreaterThan(x.length / 2)
    }
    // the nodes' own models: the same up to consensus error
    for (let s = 0; s < 3; s++) {
      const g = a.globals[s]
      const h = b.globals[s]
      expect(g.length).toBe(h.length)
      let worst = 0
      for (let i = 0; i < g.length; i++) if (!Number.isNaN(g[i])) worst = Math.max(worst, Math.abs(g[i] - h[i]) / Math.max(1, Math.abs(g[i])))
      expect(worst).toBeLessThan(1e-6)
    }
  })
})
