import { describe, expect, it } from 'vitest'
import { summaryText } from '../../sim/cli.js'
import { runScenario } from '../../sim/run.js'
import { resolveScenario } from '../../sim/scenario.js'

describe('collab demo (the npm start scenario)', () => {
  it('trains 31 organisations to convergence with sane summary figures', async () => {
    const sc = resolveScenario('demo')
    expect(sc.nodes).toBe(31)
    expect(sc.topology).toEqual({ kind: 'cwic' })
    expect(sc.training.consensus.chunks).toBeGreaterThan(1)
    expect(sc.training.privacy.monitor).toBe(true)
    const { report: r, wallMs, models } = await runScenario(sc)
    expect(r.outcome.status).toBe('completed')
    expect(r.outcome.converged).toBe(true)
    expect(r.outcome.iterations).toBeGreaterThan(3)
    expect(r.outcome.iterations).toBeLessThan(sc.training.maxIterations)
    // Every statistics session ran the spectrally predicted number of rounds and met the
    // tolerance. The prediction is for the longest vector the network sums (the model
    // selection's); a shorter statistics vector gets a looser chunk tolerance, a few rounds fewer.
    for (const it of r.iterations) {
      expect(it.rounds).toBeLessThanOrEqual(r.topology.predictedRounds)
      expect(it.rounds).toBeGreaterThanOrEqual(Math.floor(0.9 * r.topology.predictedRounds))
      expect(it.participants).toBe(31)
      expect(it.consensusError as number).toBeLessThan(1e-7)
    }
    // Collaboration helps, and comes close to pooling the data.
    const a = r.auc
    expect(a.collab.rocAuc).toBeGreaterThan((a.local as { rocAuc: number }).rocAuc)
    expect(Math.abs(a.collab.rocAuc - (a.centralised as { rocAuc: number }).rocAuc)).toBeLessThan(0.02)
    // One release for the network: every member holds the same file, at the configured
    // network-level epsilon, and that release is the only external charge of each ledger.
    const rel = sc.training.privacy.release
    const released = r.privacy.released
    expect(models[0]).not.toBeNull()
    expect(released).not.toBeNull()
    expect(released?.identicalFiles).toBe(true)
    expect(released?.nodes).toBe(31)
    expect(released?.epsilon).toBeLessThanOrEqual(rel.epsilon)
    expect(released?.epsilon).toBeGreaterThan(0.99 * rel.epsilon)
    expect(r.privacy.spent?.epsilon).toBeCloseTo(released?.epsilon ?? NaN, 9)
    expect(r.nodes.every((n) => n.release === 'released')).toBe(true)
    expect(r.privacy.noise.source).toBe('simulation-secret')
    // l-diversity is reported per node; exposed contributions were perturbed.
    expect(r.nodes.every((n) => n.minEntropy !== null && n.minEntropy >= 0)).toBe(true)
    expect(r.privacy.perturbations).toBe(r.nodes.reduce((s, n) => s + n.perturbations, 0))
    const text = summaryText(r, wallMs, 'sim/out/demo/report.html')
    expect(text).toContain('31 organisations')
    expect(text).toContain(`converged after ${r.outcome.iterations} iterations`)
    expect(text).toContain(`CollabDict ${r.auc.collab.rocAuc.toFixed(3)}`)
    expect(text).toContain(`one release for the network at (${(released?.epsilon ?? NaN).toFixed(3)}, 0.00001)-DP, the same file on 31 nodes`)
    expect(text).toContain('sim/out/demo/report.html')
  }, 120_000)
})
