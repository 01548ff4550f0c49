import { describe, expect, it } from 'vitest'
import { runScenario } from '../../sim/run.js'
import { parseScenario, type ScenarioInput } from '../../sim/scenario.js'

const base: ScenarioInput = {
  name: 'p2p',
  seed: 2,
  dataset: { path: 'data/ad_breastw.csv', split: { kind: 'iid', minRows: 8 } },
  nodes: 5,
  topology: { kind: 'cwic' },
  training: {
    model: { kind: 'ggm', hyper: { K: 2, rho: 1, maxIter: 3 } },
    seed: 9,
    consensus: { scheme: 'chebyshev', tol: 1e-10, chunks: 2, timeoutMs: 60_000 },
    privacy: { monitor: true, l0: 2, release: { enabled: false } },
  },
  evaluate: { local: false, centralised: false },
}

describe('collab sim over real libp2p on loopback', () => {
  it('completes and agrees with the in-memory run of the same seed within the consensus tolerance', async () => {
    const p2p = await runScenario(parseScenario({ ...base, transport: 'libp2p' }))
    const mem = await runScenario(parseScenario({ ...base, transport: 'memory' }))
    expect(p2p.report.outcome.status).toBe('completed')
    expect(p2p.report.outcome.iterations).toBe(mem.report.outcome.iterations)
    expect(p2p.report.consensus.bytesPerNode.mean).toBeGreaterThan(0)
    for (let s = 0; s < 5; s++) {
      const a = p2p.models[s]?.exportGlobal().state as Float64Array
      const b = mem.models[s]?.exportGlobal().state as Float64Array
      let d = 0
      for (let i = 0; i < a.length; i++) if (!(Number.isNaN(a[i]) && Number.isNaN(b[i]))) d = Math.max(d, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])))
      expect(d).toBeLessThan(1e-6)
    }
  }, 120_000)
})
