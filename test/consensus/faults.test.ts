import { describe, expect, it } from 'vitest'
import { generateTopology } from '../../topologies/index.js'
import { createConsensusNode, createVirtualClock, DisconnectedGraphError, ExcludedError, NeighbourTimeoutError, type ConsensusNode } from '../../src/consensus/index.js'
import { deviation, directMean, network, randomVectors } from './helpers.js'

const t31 = generateTopology('cwic', 31)

/** Start sum() on every node; settle each into value or error, with the virtual time it settled. */
function startAll(nodes: ConsensusNode[], xs: Float64Array[], now: () => number, label = 'x') {
  return nodes.map((n, i) =>
    n.average(xs[i], label).then(
      (v) => ({ ok: true as const, v, at: now() }),
      (e: Error) => ({ ok: false as const, e, at: now() }),
    ),
  )
}

describe('faults', () => {
  it('a node crashed mid-session gives its neighbours NeighbourTimeoutError naming it within the timeout', async () => {
    const clock = createVirtualClock()
    const timeoutMs = 40
    const crashAt = 12
    const { nodes, net } = network(
      t31,
      { clock, timeoutMs, retransmitMs: 10, chunks: 1, relabel: false },
      { clock, latencyMs: () => 1, crashes: [{ node: 5, atMs: crashAt }] },
    )
    const xs = randomVectors(31, 4, 'crash')
    const all = startAll(nodes, xs, clock.now)
    await clock.run({ until: Promise.all(all.filter((_, i) => i !== 5)) })
    const res = await Promise.all(all.filter((_, i) => i !== 5))
    const nb = new Set(t31.edges.filter((e) => e.includes(5)).map((e) => (e[0] === 5 ? e[1] : e[0])))
    for (const [k, r] of res.entries()) {
      const i = k < 5 ? k : k + 1
      expect(r.ok).toBe(false)
      if (r.ok) continue
      expect(r.e).toBeInstanceOf(NeighbourTimeoutError)
      const err = r.e as NeighbourTimeoutError
      expect(err.name).toBe('NeighbourTimeoutError')
      expect(err.peer).toBe(5)
      expect(err.session).toBe(0)
      expect(err.round).toBeGreaterThan(0)
      // Neighbours detect it themselves, within the timeout plus one check interval.
      if (nb.has(i)) expect(r.at - crashAt).toBeLessThanOrEqual(timeoutMs * 1.25 + 2)
    }
    nodes[5].close()
    net.close()
  })

  it('with rerunOnTimeout the survivors rerun without the crashed node and return their own average', async () => {
    const clock = createVirtualClock()
    const { nodes, net } = network(
      t31,
      { clock, timeoutMs: 40, retransmitMs: 10, rerunOnTimeout: true, chunks: 3, chunkScale: 5 },
      { clock, latencyMs: () => 1, crashes: [{ node: 5, atMs: 12 }] },
    )
    const xs = randomVectors(31, 6, 'rerun')
    const survivors = xs.filter((_, i) => i !== 5)
    const all = startAll(nodes, xs, clock.now)
    const live = all.filter((_, i) => i !== 5)
    await clock.run({ until: Promise.all(live) })
    const res = await Promise.all(live)
    const mean = directMean(survivors)
    const values: Float64Array[] = []
    for (const r of res) {
      expect(r.ok).toBe(true)
      if (r.ok) values.push(r.v)
    }
    // Relative tolerance 1e-9 of the chunk values' spread (chunkScale 5 dominates the data's).
    const spread = 5 * Math.sqrt(30 * 3 * 6)
    expect(deviation(values, mean)).toBeLessThan(1e-9 * spread * 10)
    for (const n of nodes.filter((_, i) => i !== 5)) {
      expect(n.stats.reruns.at(-1)?.excluded).toEqual([5])
      expect(n.stats.history[0].members).toBe(30)
    }
    // The crashed node itself never finishes; closing it rejects its pending call.
    nodes[5].close()
    const r5 = await all[5]
    expect(r5.ok).toBe(false)
    net.close()
  })

  it('an excluded node that is alive learns it (ExcludedError) and rejoins at the next call', async () => {
    const clock = createVirtualClock()
    // Node 7 is cut off for a while (frames dropped both ways), then comes back.
    const { nodes, net } = network(
      t31,
      { clock, timeoutMs: 30, retransmitMs: 5, rerunOnTimeout: true, chunks: 2 },
      { clock, latencyMs: () => 1, crashes: [{ node: 7, atMs: 3, restartAtMs: 80 }] },
    )
    const xs = randomVectors(31, 3, 'rejoin')
    const first = startAll(nodes, xs, clock.now, 'a')
    await clock.run({ until: Promise.all(first) })
    const r1 = await Promise.all(first)
    const r7 = r1[7]
    expect(r7.ok).toBe(false)
    // Cut off, it either hears of its exclusion or finds all its neighbours silent.
    if (!r7.ok) expect([ExcludedError, DisconnectedGraphError].some((c) => r7.e instanceof c), r7.e.message).toBe(true)
    const mean1 = directMean(xs.filter((_, i) => i !== 7))
    for (const [i, r] of r1.entries()) if (i !== 7) expect(r.ok && Math.abs(r.v[0] - mean1[0]) < 1e-6).toBe(true)
    await clock.advance(100)
    // Second call: everyone, node 7 included.
    const second = startAll(nodes, xs, clock.now, 'b')
    await clock.run({ until: Promise.all(second) })
    const r2 = await Promise.all(second)
    const mean2 = directMean(xs)
    for (const r of r2) expect(r.ok && Math.abs(r.v[1] - mean2[1]) < 1e-6).toBe(true)
    net.close()
  })

  it('10% message loss still completes, by retransmission', async () => {
    const clock = createVirtualClock()
    const { nodes, net } = network(t31, { clock, retransmitMs: 5, chunks: 3 }, { clock, loss: 0.1, seed: 3 })
    const xs = randomVectors(31, 5, 'loss')
    const all = startAll(nodes, xs, clock.now)
    await clock.run({ until: Promise.all(all) })
    const res = await Promise.all(all)
    const mean = directMean(xs)
    const values = res.map((r) => (r.ok ? r.v : new Float64Array(5).fill(Number.NaN)))
    expect(deviation(values, mean)).toBeLessThan(1e-6)
    expect(net.stats.lost).toBeGreaterThan(100)
    expect(nodes.reduce((a, n) => a + n.stats.retransmits, 0)).toBeGreaterThan(0)
    net.close()
  })

  it('loss repair takes a few round times, not the retransmit ceiling (10% loss, 1-5 ms latency, defaults)', async () => {
    const clock = createVirtualClock()
    const { nodes, net } = network(t31, { clock, chunks: 3 }, { clock, latencyMs: (r) => 1 + 4 * r.uniform(), loss: 0.1, seed: 5 })
    const durations: number[] = []
    for (let s = 0; s < 5; s++) {
      const t0 = clock.now()
      const all = Promise.all(nodes.map((n, i) => n.average(Float64Array.of(i), `s${s}`)))
      await clock.run({ until: all })
      for (const v of await all) expect(v[0]).toBeCloseTo(15, 6)
      durations.push(clock.now() - t0)
    }
    // 53 rounds of at most 5 ms: 0.27 s without loss. A fixed 250 ms resend would take ~18 s.
    for (const d of durations.slice(1)) expect(d).toBeLessThan(3000)
    net.close()
  })

  it('two crashes at different times under 10% loss and jittered latency: survivors agree on their average', async () => {
    const t = generateTopology('regular', 100, { seed: 3 })
    const clock = createVirtualClock()
    const { nodes, net } = network(
      t,
      { clock, chunks: 3, timeoutMs: 100, retransmitMs: 10, rerunOnTimeout: true },
      { clock, latencyMs: (r) => 1 + r.uniform(), loss: 0.1, seed: 2, crashes: [{ node: 10, atMs: 15 }, { node: 50, atMs: 40 }] },
    )
    const xs = nodes.map((_, i) => Float64Array.of(i))
    const all = startAll(nodes, xs, clock.now)
    const live = all.filter((_, i) => i !== 10 && i !== 50)
    await clock.run({ until: Promise.all(live) })
    const expected = (4950 - 10 - 50) / 98
    for (const r of await Promise.all(live)) {
      expect(r.ok).toBe(true)
      if (r.ok) expect(r.v[0]).toBeCloseTo(expected, 6)
    }
    expect(nodes[0].stats.reruns.map((r) => r.excluded)).toEqual([[10], [10, 50]])
    for (const n of nodes) n.close()
    net.close()
  })
})

describe('rejoining', () => {
  it('a node restarted into a session that already excluded it learns so at once (ExcludedError), then rejoins', async () => {
    const t = generateTopology('cwic', 31)
    const clock = createVirtualClock()
    const { nodes, net } = network(t, { clock, timeoutMs: 30, retransmitMs: 5, rerunOnTimeout: true, chunks: 1 }, { clock, latencyMs: () => 1 })
    net.crash(4)
    const xs = randomVectors(31, 1, 'late')
    // Everyone but node 4 starts session 0; they exclude it after the timeout.
    const others = nodes.map((n, i) => (i === 4 ? null : n.average(xs[i], 'a'))).filter((p) => p !== null)
    await clock.advance(60)
    expect(nodes[0].stats.reruns.map((r) => r.excluded)).toEqual([[4]])
    // Node 4 comes back and calls session 0 late: its peers answer its stale frames.
    net.restart(4)
    const late = nodes[4].average(xs[4], 'a').then(
      () => 'ok',
      (e: Error) => `${e.name}@${clock.now()}`,
    )
    const start = clock.now()
    await clock.run({ until: Promise.all([late, ...others]) })
    const r = await late
    expect(r.startsWith('ExcludedError@')).toBe(true)
    expect(Number(r.split('@')[1]) - start).toBeLessThan(10) // a few hops, not a timeout
    const mean = directMean(xs.filter((_, i) => i !== 4))
    for (const v of await Promise.all(others)) expect(v[0]).toBeCloseTo(mean[0], 6)
    // Next call: node 4 is back in.
    const next = Promise.all(nodes.map((n, i) => n.average(xs[i], 'b')))
    await clock.run({ until: next })
    for (const v of await next) expect(v[0]).toBeCloseTo(directMean(xs)[0], 6)
    net.close()
  })
})

describe('restarted mid-session', () => {
  it('a node restarted with fresh state inside a running session is excluded, never averaged in inconsistently', async () => {
    const t = generateTopology('cwic', 31)
    for (const restartAt of [1.5, 3, 20]) {
      const clock = createVirtualClock()
      const opts = { clock, timeoutMs: 40, retransmitMs: 5, rerunOnTimeout: true, chunks: 2, relabel: false, seed: 11 }
      const { nodes, net } = network(t, opts, { clock, latencyMs: () => 1 })
      const xs = randomVectors(31, 3, `restart/${restartAt}`)
      const first = startAll(nodes, xs, clock.now)
      await clock.advance(restartAt)
      // Node 4 "reboots": old engine gone, a new one on the same transport re-enters session 0.
      nodes[4].close()
      const fresh = createConsensusNode({ ...opts, topology: t, transport: net.transports[4] })
      const again = fresh.average(xs[4], 'x').then(
        (v) => ({ ok: true as const, v }),
        (e: Error) => ({ ok: false as const, e }),
      )
      const others = first.filter((_, i) => i !== 4)
      await clock.run({ until: Promise.all([again, ...others]) })
      const res = await Promise.all(others)
      const r4 = await again
      const full = directMean(xs)
      const survivors = directMean(xs.filter((_, i) => i !== 4))
      const ref = r4.ok ? full : survivors
      for (const r of res) {
        expect(r.ok).toBe(true)
        if (r.ok) for (let k = 0; k < 3; k++) expect(r.v[k]).toBeCloseTo(ref[k], 6)
      }
      if (!r4.ok) expect(r4.e).toBeInstanceOf(ExcludedError)
      net.close()
    }
  })
})
