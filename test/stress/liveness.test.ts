/**
 * Liveness stress (issue 14): the GGM trained over many seeds x splits x topologies x K on
 * small networks, over the in-memory transport on the virtual clock, a few runs with frame
 * loss and latency and a few with crashed nodes. Every run must END: complete, or stop with
 * a named error; never stall. The bound is on simulated events (virtual time, iterations),
 * not on wall clock: a run still going after STRESS_VIRTUAL_LIMIT_MS of virtual time, or
 * one the clock finds waiting with nothing scheduled, fails with ClockStalledError.
 * With the old drop rule (each node comparing its own consensus estimate of Nbar_k with
 * delta) 4 of these 96 runs diverged (seeds 5 and 7, K 5-7): they hung before the engine's
 * SessionMismatchError, and stopped with it after; with the drop vote all complete.
 */
import { describe, expect, it } from 'vitest'
import { loadCsv } from '../../src/data/index.js'
import { splitIid, splitUneven } from '../../src/data/split.js'
import { ClockStalledError, createConsensusNode, createMemoryNetwork, createVirtualClock, formatWaits } from '../../src/consensus/index.js'
import { parseTrainingConfig } from '../../src/learning/config.js'
import { createNodeModel } from '../../src/learning/models.js'
import { runNetwork } from '../../src/learning/network.js'
import { createPrivacyGuard } from '../../src/learning/privacy.js'
import { selectRows, type Mat } from '../../src/numeric/matrix.js'
import { Rng } from '../../src/numeric/rng.js'
import { runScenario } from '../../sim/run.js'
import { parseScenario } from '../../sim/scenario.js'
import { generateTopology, type Topology } from '../../topologies/index.js'

/** Virtual time a small run may take (a 10-iteration run takes a few virtual seconds). */
const STRESS_VIRTUAL_LIMIT_MS = 30 * 60_000
const MAX_ITER = 20
/** Seeds per topology and split (STRESS_SEEDS=40 for a longer soak); 8 covers every case the old drop rule hung on. */
const STRESS_SEEDS = Number(process.env.STRESS_SEEDS ?? 8)

// WDBC's benign rows, first STRESS_DIMS features: with a few rows per node and a generous K,
// components collapse onto single rows (Nbar_k -> 1 = delta), the case that hung
const STRESS_DIMS = Number(process.env.STRESS_DIMS ?? 20)
const normal = benign()
function benign(): Mat {
  const raw = loadCsv('data/wdbc_sklearn.csv', { dropCols: ['diagnosis'], labelCol: 'target' })
  const keep = Array.from(raw.labels!, (v, i) => (v === 1 ? i : -1)).filter((i) => i >= 0)
  const x = selectRows(raw.features, keep)
  const out = new Float64Array(x.rows * STRESS_DIMS)
  for (let i = 0; i < x.rows; i++) for (let j = 0; j < STRESS_DIMS; j++) out[i * STRESS_DIMS + j] = x.data[i * x.cols + j]
  return { rows: x.rows, cols: STRESS_DIMS, data: out }
}

const TOPOLOGIES: Array<() => Topology> = [
  () => generateTopology('cwic', 5),
  () => generateTopology('cwic', 7),
  () => generateTopology('regular', 6, { degree: 3, seed: 1 }),
  () => generateTopology('regular', 8, { degree: 3, seed: 2 }),
  () => generateTopology('regular', 10, { degree: 3, seed: 2 }),
  () => generateTopology('ring', 6),
]

interface Case {
  seed: number
  topo: number
  split: 'iid' | 'uneven'
  K: number
  loss: number
}

type Outcome = { ended: 'completed'; iterations: number; virtualMs: number } | { ended: 'named-error'; name: string; virtualMs: number }

async function runCase(c: Case): Promise<Outcome> {
  const topology = TOPOLOGIES[c.topo]()
  const S = topology.nodes.length
  const rng = new Rng(c.seed).fork(`stress/${c.topo}/${c.split}`)
  const rows = selectRows(normal, rng.fork('rows').permutation(normal.rows).slice(0, 100 + 20 * (c.seed % 5)))
  const idx = c.split === 'iid' ? splitIid(rows.rows, S, rng.fork('split')) : splitUneven(rows.rows, S, rng.fork('split'), { minRows: 4 })
  const parts: Mat[] = idx.map((i) => selectRows(rows, i))
  const config = parseTrainingConfig(
    { model: { kind: 'ggm', hyper: { K: c.K, maxIter: MAX_ITER } }, seed: c.seed, maxIterations: MAX_ITER + 1, consensus: { chunks: 2, timeoutMs: 2000 }, privacy: { monitor: c.seed % 2 === 0, release: { enabled: false } } },
    'stress',
  )
  const clock = createVirtualClock()
  const net = createMemoryNetwork(topology, { clock, seed: `stress/${c.seed}`, loss: c.loss, ...(c.loss > 0 ? { latencyMs: (r: Rng) => 1 + 4 * r.uniform() } : {}) })
  const cns = net.transports.map((t, s) =>
    createConsensusNode({ topology, transport: t, clock, seed: config.seed, chunks: 2, tol: 1e-9, timeoutMs: 2000, rerunOnTimeout: true, noise: new Rng(`noise/${c.seed}/${s}`) }),
  )
  const run = runNetwork({
    config,
    parts,
    noise: (s) => new Rng(`learning/${c.seed}/${s}`),
    nodeParts: () => ({ model: createNodeModel(config), guard: config.privacy.monitor ? createPrivacyGuard(config, null) : undefined }),
    aggregation: { kind: 'custom', aggregateFor: (s) => (v, l, o) => cns[s].sum(v, l, o), fail: () => cns.forEach((n) => n.close()) },
    clock,
  })
  run.catch(() => undefined)
  try {
    await clock.run({ until: run, maxMs: STRESS_VIRTUAL_LIMIT_MS, describe: () => formatWaits(cns.flatMap((n) => n.waiting())) })
    const res = await run
    return { ended: 'completed', iterations: res.nodes[0].iterations, virtualMs: clock.now() }
  } catch (e) {
    if (e instanceof ClockStalledError) throw e // the one outcome that must never happen
    const err = e as Error
    return { ended: 'named-error', name: err.name, virtualMs: clock.now() }
  } finally {
    net.close()
    cns.forEach((n) => n.close())
  }
}

function cases(): Case[] {
  const out: Case[] = []
  for (let seed = 1; seed <= STRESS_SEEDS; seed++) {
    for (let topo = 0; topo < TOPOLOGIES.length; topo++) {
      for (const split of ['iid', 'uneven'] as const) {
        const K = 3 + ((seed + topo) % 5) // 3..7: generous K makes components collapse onto single rows (Nbar_k -> 1 = delta)
        const loss = (seed + topo) % 7 === 0 ? 0.03 : 0
        out.push({ seed, topo, split, K, loss })
      }
    }
  }
  return out
}

describe('liveness stress: every GGM run ends (completes or a named error), none stalls', () => {
  it(`${cases().length} runs over seeds x splits x topologies x K, a few with loss`, { timeout: 600_000 }, async () => {
    const tally = { completed: 0, named: new Map<string, number>() }
    let maxVirtual = 0
    for (const c of cases()) {
      const o = await runCase(c)
      maxVirtual = Math.max(maxVirtual, o.virtualMs)
      if (o.ended === 'completed') {
        tally.completed++
        expect(o.iterations).toBeLessThanOrEqual(MAX_ITER)
      } else {
        expect(o.name).not.toBe('Error') // a named error, never a bare one
        tally.named.set(o.name, (tally.named.get(o.name) ?? 0) + 1)
        if (process.env.STRESS_VERBOSE) console.log('failed', JSON.stringify(c), o.name)
      }
    }
    // the drop vote removed the divergence: every run completes
    expect(tally.named).toEqual(new Map())
    expect(tally.completed).toBe(cases().length)
    expect(maxVirtual).toBeLessThan(STRESS_VIRTUAL_LIMIT_MS)
  })

  it('crashed nodes (with and without restart): the network completes without them or stops with a named error', { timeout: 600_000 }, async () => {
    for (const [seed, crashes] of [
      [1, [{ node: 2, atIteration: 2 }]],
      [2, [{ node: 0, atIteration: 1, restartAtIteration: 3 }]],
      [3, [{ node: 4, atIteration: 3 }, { node: 6, atIteration: 4 }]],
    ] as const) {
      const sc = parseScenario({
        name: 'stress-crash',
        seed,
        dataset: { path: 'data/ad_breastw.csv', labelCol: 'anomaly', split: { kind: 'uneven', minRows: 8 } },
        nodes: 11,
        topology: { kind: 'cwic' },
        transport: 'memory',
        training: { model: { kind: 'ggm', hyper: { K: 3, rho: 1, maxIter: 8 } }, seed, consensus: { chunks: 2, timeoutMs: 2000 }, privacy: { monitor: true, release: { enabled: false } } },
        faults: { crashes: crashes.map((x) => ({ ...x })) },
        evaluate: { local: false, centralised: false },
      })
      const out = await runScenario(sc)
      const o = out.report.outcome
      expect(o.reason ?? '').not.toMatch(/SimulationStalled|ClockStalledError/)
      if (o.status !== 'completed') expect(o.reason).toMatch(/^node \d+: [A-Z]\w+Error: /)
      expect(o.virtualMs).toBeLessThan(STRESS_VIRTUAL_LIMIT_MS)
    }
  })
})
