import { describe, expect, it } from 'vitest'
import { reportJson } from '../../sim/report.js'
import { runScenario } from '../../sim/run.js'
import { parseScenario, type ScenarioInput } from '../../sim/scenario.js'

/** A small network: 11 nodes on the cycle with inverse chord, BCW benign rows, few iterations. */
function small(over: Partial<ScenarioInput> = {}, training: Record<string, unknown> = {}): ScenarioInput {
  return {
    name: 'test',
    seed: 3,
    dataset: { path: 'data/ad_breastw.csv', split: { kind: 'uneven', minRows: 8 } },
    nodes: 11,
    topology: { kind: 'cwic' },
    transport: 'memory',
    training: {
      model: { kind: 'ggm', hyper: { K: 3, rho: 1, maxIter: 6 } },
      seed: 5,
      consensus: { scheme: 'chebyshev', tol: 1e-10, chunks: 2, timeoutMs: 60_000 },
      privacy: { monitor: true, l0: 2, release: { enabled: false } },
      ...training,
    },
    evaluate: { local: false, centralised: false },
    ...over,
  }
}

describe('collab sim on the in-memory transport', () => {
  it('is deterministic: the same scenario and seed give the same report bytes', async () => {
    const sc = parseScenario(small({ faults: { loss: 0.05, latency: { kind: 'exponential', meanMs: 4 } } }))
    const a = await runScenario(sc)
    const b = await runScenario(sc)
    expect(a.report.outcome.status).toBe('completed')
    expect(a.report.consensus.network?.lost).toBeGreaterThan(0)
    expect(reportJson(a.report)).toBe(reportJson(b.report))
    const c = await runScenario(parseScenario({ ...small({ faults: { loss: 0.05, latency: { kind: 'exponential', meanMs: 4 } } }), seed: 4 }))
    expect(reportJson(c.report)).not.toBe(reportJson(a.report))
  })

  it('the VAE with its default plain step trains on the ggm-vs-vae breastw network (it diverged to -Infinity before the default gradient clip)', async () => {
    const sc = parseScenario({
      ...small({ seed: 1, transport: 'exact', dataset: { path: 'data/ad_breastw.csv', labelCol: 'anomaly', split: { kind: 'non-iid', minRows: 8 }, testFraction: 0.3 } }),
      training: { model: { kind: 'vae' }, seed: 7, maxIterations: 20, consensus: { scheme: 'chebyshev', tol: 1e-9, chunks: 2 }, privacy: { monitor: true, l0: 2, release: { enabled: false } } },
    })
    const out = await runScenario(sc)
    expect(out.report.outcome.status).toBe('completed')
    const obj = out.report.iterations.map((r) => r.objective)
    expect(obj.length).toBe(20)
    expect(obj.every(Number.isFinite)).toBe(true)
    expect(obj[obj.length - 1]).toBeGreaterThan(obj[0] + 10)
  })

  it('consensus reaches the exact-sum model within its tolerance, and reports the error it measured', async () => {
    const exact = await runScenario(parseScenario(small({ transport: 'exact' })))
    const cons = await runScenario(parseScenario(small()))
    expect(cons.report.outcome.iterations).toBe(exact.report.outcome.iterations)
    for (const row of cons.report.iterations) expect(row.consensusError as number).toBeLessThan(1e-8)
    const ge = exact.models[0]?.exportGlobal().state as Float64Array
    const gc = cons.models[0]?.exportGlobal().state as Float64Array
    let d = 0
    for (let i = 0; i < ge.length; i++) if (!(Number.isNaN(ge[i]) && Number.isNaN(gc[i]))) d = Math.max(d, Math.abs(ge[i] - gc[i]) / Math.max(1, Math.abs(ge[i])))
    expect(d).toBeLessThan(1e-5)
    const errs = cons.report.consensus.errorPerRound?.errors as number[]
    expect(errs[0]).toBe(1)
    expect(errs[errs.length - 1]).toBeLessThan(1e-8)
  })

  it('with 10% message loss the run completes and counts the lost frames', async () => {
    const r = (await runScenario(parseScenario(small({ faults: { loss: 0.1 } })))).report
    expect(r.outcome.status).toBe('completed')
    expect(r.consensus.network?.lost).toBeGreaterThan(0)
    expect(r.iterations.every((i) => i.participants === 11)).toBe(true)
  })

  it('two crashed nodes: sessions are rerun without them, and the report names them', async () => {
    const r = (
      await runScenario(
        parseScenario(
          small({
            faults: {
              crashes: [
                { node: 2, atIteration: 1 },
                { node: 7, atIteration: 2 },
              ],
            },
          }),
        ),
      )
    ).report
    expect(r.outcome.status).toBe('completed')
    expect(r.nodes.filter((n) => n.status === 'crashed').map((n) => n.node)).toEqual([2, 7])
    const excluded = new Set(r.consensus.reruns.flatMap((x) => x.excluded))
    expect(excluded).toEqual(new Set([2, 7]))
    expect(r.consensus.reruns.some((x) => x.label === 'iter:1:stats' && x.excluded.includes(2))).toBe(true)
    expect(r.iterations.find((i) => i.iteration === 1)?.participants).toBe(10)
    expect(r.iterations.at(-1)?.participants).toBe(9)
  })

  it('without reruns a crashed node stops the network with a named reason', async () => {
    const sc = small({ faults: { crashes: [{ node: 4, atIteration: 1 }] } }, {})
    ;(sc.training as { consensus: Record<string, unknown> }).consensus.rerunOnTimeout = false
    const r = (await runScenario(parseScenario(sc))).report
    expect(r.outcome.status).toBe('stopped')
    expect(r.outcome.reason).toMatch(/TrainingStoppedError.*iter:1:stats.*NeighbourTimeoutError/)
  })

  it('a crashed node restarts from its checkpoint, adopts the global part and finishes with the others', async () => {
    const r = (await runScenario(parseScenario(small({ faults: { crashes: [{ node: 5, atIteration: 1, restartAtIteration: 3 }] } })))).report
    expect(r.outcome.status).toBe('completed')
    const c = r.faults.crashes[0]
    expect(c.rejoinedAt).toBe(1)
    expect(c.adoptedIteration).toBe(3)
    expect(r.nodes[5].status).toBe('finished')
    expect(r.nodes[5].iterations).toBe(r.outcome.iterations)
    expect(r.iterations.find((i) => i.iteration === 2)?.participants).toBe(10)
    expect(r.iterations.find((i) => i.iteration === 3)?.participants).toBe(11)
  })
})
