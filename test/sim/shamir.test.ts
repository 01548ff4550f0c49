/**
 * The simulator with `consensus.protection: shamir`: a 5-organisation network trains the
 * GGM through Shamir secure sums (exact: the same model as exact sums), and keeps training
 * when one organisation drops out mid-training.
 */
import { describe, expect, it } from 'vitest'
import { runScenario } from '../../sim/run.js'
import { parseScenario } from '../../sim/scenario.js'

const base = {
  name: 'shamir',
  seed: 2,
  dataset: { path: 'data/ad_breastw.csv', labelCol: 'anomaly', split: { kind: 'iid' }, testFraction: 0.3 },
  nodes: 5,
  topology: { kind: 'cwic' },
  evaluate: { local: false, centralised: false },
}
const training = (protection: 'shamir' | 'chunking') => ({
  model: { kind: 'ggm', hyper: { K: 2 } },
  seed: 4,
  maxIterations: 40,
  consensus: { protection, timeoutMs: 2000 },
  privacy: { monitor: false },
})

describe('simulator with Shamir secure sums', () => {
  it('trains the same model as exact sums (fixed-point exact), and survives a dropout', async () => {
    const shamir = await runScenario(parseScenario({ ...base, transport: 'memory', training: training('shamir') }))
    const exact = await runScenario(parseScenario({ ...base, transport: 'exact', training: training('shamir') }))
    expect(shamir.report.outcome.status).toBe('completed')
    expect(shamir.report.outcome.iterations).toBe(exact.report.outcome.iterations)
    const a = shamir.models[0]?.exportGlobal().state as Float64Array
    const b = exact.models[0]?.exportGlobal().state as Float64Array
    let worst = 0
    for (let i = 0; i < a.length; i++) if (!Number.isNaN(a[i])) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])))
    expect(worst).toBeLessThan(1e-6)
    expect(shamir.report.consensus.bytesPerNode.mean).toBeGreaterThan(0)

    const dropped = await runScenario(parseScenario({ ...base, transport: 'memory', training: training('shamir'), faults: { crashes: [{ node: 3, atIteration: 2 }] } }))
    expect(dropped.report.outcome.status).toBe('completed')
    expect(dropped.report.nodes[3].status).toBe('crashed')
    const after = dropped.report.iterations.filter((r) => r.iteration >= 2)
    expect(after.length).toBeGreaterThan(0)
    expect(after.every((r) => r.participants === 4)).toBe(true)
  })
})
