import { describe, expect, it } from 'vitest'
import { generateTopology, neighbours } from '../../topologies/index.js'
import {
  ClockStalledError,
  ConsensusClosedError,
  ConsensusInputError,
  createConsensusNode,
  createVirtualClock,
  SessionMismatchError,
  type ConsensusFrame,
  type FrameHandler,
  type Transport,
} from '../../src/consensus/index.js'
import { network } from './helpers.js'

/** A transport for node `self` whose traffic the test drives by hand. */
function manual(self: number) {
  let handler: FrameHandler = () => undefined
  const sent: Array<[number, ConsensusFrame]> = []
  const reports: Array<[number, string]> = []
  const transport: Transport = {
    self,
    send: (to, f) => {
      sent.push([to, f])
    },
    onFrame: (h) => {
      handler = h
    },
    reportPeer: (p, r) => {
      reports.push([p, r])
    },
  }
  return { transport, sent, reports, deliver: (from: number, f: ConsensusFrame) => handler(from, f) }
}

describe('round engine', () => {
  const ring = generateTopology('ring', 6)

  it('rejects and reports frames from non-neighbours, duplicates, rounds too far ahead, wrong lengths', async () => {
    const m = manual(0)
    const node = createConsensusNode({ topology: ring, transport: m.transport, seed: 1, chunks: 1, relabel: false, retransmitMs: 0, scheme: 'metropolis' })
    const p = node.sum(Float64Array.of(1, 2), 'x')
    const nb = neighbours(ring)[0] // [1, 5]
    expect(m.sent.map(([to]) => to).sort()).toEqual(nb)
    const frame = (round: number, len = 2): ConsensusFrame => ({ session: 0, chunk: 0, round, attempt: 0, payload: new Float64Array(len) })
    m.deliver(3, frame(0)) // not a neighbour
    m.deliver(1, frame(0))
    m.deliver(1, frame(0)) // duplicate
    m.deliver(1, frame(5)) // too far ahead
    expect(node.stats.rejected).toEqual({ 'not-neighbour': 1, duplicate: 1, 'round-ahead': 1 })
    expect(m.reports).toEqual([
      [3, 'not-neighbour'],
      [1, 'duplicate'],
      [1, 'round-ahead'],
    ])
    // A round-1 frame is early, not wrong: it is kept until round 0 completes.
    m.deliver(1, frame(1))
    expect(node.stats.rejected.duplicate).toBe(1)
    m.deliver(5, frame(0))
    expect(m.sent.filter(([, f]) => f.round === 1).length).toBe(2)
    node.close()
    await expect(p).rejects.toBeInstanceOf(ConsensusClosedError)
  })

  it('a replayed frame is counted (silentRejects, for collab_frame_rejects_total) without blaming the peer', async () => {
    const m = manual(0)
    const node = createConsensusNode({ topology: ring, transport: m.transport, clock: createVirtualClock(), seed: 1, chunks: 1, relabel: false, retransmitMs: 5, scheme: 'metropolis' })
    const p = node.sum(Float64Array.of(1, 2), 'x')
    const f: ConsensusFrame = { session: 0, chunk: 0, round: 0, attempt: 0, payload: Float64Array.of(3, 4) }
    m.deliver(1, f)
    m.deliver(1, f) // replayed
    m.deliver(1, f)
    expect(node.stats.silentRejects).toEqual({ duplicate: 2 })
    expect(m.reports).toEqual([])
    node.close()
    await expect(p).rejects.toBeInstanceOf(ConsensusClosedError)
  })

  it('a neighbour summing a vector of another length in the same session fails it at once, naming node, session, label and peer', async () => {
    const m = manual(0)
    const clock = createVirtualClock()
    const node = createConsensusNode({ topology: ring, transport: m.transport, clock, seed: 1, chunks: 1, relabel: false, retransmitMs: 5, scheme: 'metropolis' })
    const p = node.sum(Float64Array.of(1, 2), 'iter:7:stats')
    expect(node.waiting()).toEqual([{ node: 0, session: 0, label: 'iter:7:stats', attempt: 0, chunks: [{ chunk: 0, round: 0, missing: [1, 5] }], openMs: 0 }])
    // peer 1 sends garbage of another length besides its real frame: not blamed
    m.deliver(1, { session: 0, chunk: 0, round: 0, attempt: 0, payload: new Float64Array(3) })
    m.deliver(1, { session: 0, chunk: 0, round: 0, attempt: 0, payload: Float64Array.of(0, 1) })
    // peer 5 only ever sums a vector of length 3: after the grace (8 resend intervals) the session fails
    m.deliver(5, { session: 0, chunk: 0, round: 0, attempt: 0, payload: new Float64Array(3) })
    void clock.advance(100)
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(SessionMismatchError)
    expect(err).toMatchObject({ node: 0, session: 0, label: 'iter:7:stats', peer: 5, peerLength: 3, ownLength: 2 })
    expect(m.reports).toEqual([
      [1, 'bad-length'],
      [5, 'bad-length'],
    ])
    expect(node.waiting()).toEqual([])
    node.close()
  })

  it('frames of a session a node has not started yet are queued, not lost', async () => {
    const { nodes } = network(ring, { chunks: 2 })
    // Node 0 starts two calls before anyone else has started one.
    const a0 = nodes[0].average(Float64Array.of(6), 'a')
    const b0 = nodes[0].average(Float64Array.of(60), 'b')
    await new Promise((r) => setImmediate(r))
    const rest = nodes.slice(1).map((n, i) => n.average(Float64Array.of(i), 'a'))
    const restB = nodes.slice(1).map((n, i) => n.average(Float64Array.of(10 * i), 'b'))
    const [a, b] = await Promise.all([Promise.all([a0, ...rest]), Promise.all([b0, ...restB])])
    for (const v of a) expect(v[0]).toBeCloseTo((6 + 0 + 1 + 2 + 3 + 4) / 6, 6)
    for (const v of b) expect(v[0]).toBeCloseTo((60 + 0 + 10 + 20 + 30 + 40) / 6, 6)
    expect(nodes[3].nextSession).toBe(2)
  })

  it('lifecycle: close() twice is harmless; calls after close reject; bad input is refused by name', async () => {
    const m = manual(2)
    const node = createConsensusNode({ topology: ring, transport: m.transport, seed: 1 })
    await expect(node.sum(Float64Array.of(Number.NaN), 'x')).rejects.toBeInstanceOf(ConsensusInputError)
    node.close()
    node.close()
    await expect(node.sum(Float64Array.of(1), 'x')).rejects.toBeInstanceOf(ConsensusClosedError)
    expect(() => createConsensusNode({ topology: ring, transport: manual(9).transport, seed: 1 })).toThrow(ConsensusInputError)
    expect(() => createConsensusNode({ topology: ring, transport: manual(0).transport, seed: 1, tol: 2 })).toThrow(/tol/)
  })

  it('a lone member returns its own value at once', async () => {
    const one = { version: 1 as const, nodes: [{ index: 0, name: 'solo' }], edges: [] }
    const node = createConsensusNode({ topology: one, transport: manual(0).transport, seed: 1 })
    expect(Array.from(await node.sum(Float64Array.of(4, 5), 'x'))).toEqual([4, 5])
  })
})

describe('virtual clock', () => {
  it('fires timers in time order, jumps over idle time, and stops when the awaited promise settles', async () => {
    const clock = createVirtualClock()
    const log: string[] = []
    clock.setTimeout(() => log.push(`b@${clock.now()}`), 20)
    clock.setTimeout(() => log.push(`a@${clock.now()}`), 10)
    const h = clock.setTimeout(() => log.push('never'), 15)
    clock.clearTimeout(h)
    const done = new Promise<void>((r) => clock.setTimeout(r, 30))
    clock.setTimeout(() => log.push('after'), 1000)
    await clock.run({ until: done })
    expect(log).toEqual(['a@10', 'b@20'])
    expect(clock.now()).toBe(30)
    expect(clock.pending()).toBe(1)
    await clock.advance(2000)
    expect(log.at(-1)).toBe('after')
    expect(clock.now()).toBe(2030)
  })

  it('a latency network on the virtual clock is deterministic (same seed, same trace)', async () => {
    const trace = async (quantumMs = 0): Promise<string> => {
      const clock = createVirtualClock()
      const t = generateTopology('cwic', 31)
      const { nodes } = network(t, { clock, chunks: 2 }, { clock, latencyMs: (rng) => 1 + 4 * rng.uniform(), seed: 'lat' })
      const all = Promise.all(nodes.map((n, i) => n.average(Float64Array.of(i), 'x')))
      await clock.run({ until: all, quantumMs })
      const out = await all
      for (const v of out) expect(v[0]).toBeCloseTo(15, 6)
      return `${clock.now()}|${out.map((v) => v[0].toFixed(12)).join(',')}`
    }
    const a = await trace()
    expect(await trace()).toBe(a)
    expect(Number(a.split('|')[0])).toBeGreaterThan(0)
    // Batched firing (quantumMs) is deterministic too.
    expect(await trace(2)).toBe(await trace(2))
  })
})

describe('virtual clock liveness', () => {
  it('nothing scheduled while someone still waits: run() throws ClockStalledError with the host\'s description, instead of hanging', async () => {
    const clock = createVirtualClock()
    let fired = 0
    clock.setTimeout(() => fired++, 40)
    const never = new Promise<void>(() => undefined)
    const err = await clock.run({ until: never, describe: () => 'node 3 session 12 waits for 5' }).then(
      () => null,
      (e: unknown) => e,
    )
    expect(fired).toBe(1)
    expect(err).toBeInstanceOf(ClockStalledError)
    expect(err).toMatchObject({ kind: 'idle', atMs: 40, pendingTimers: 0 })
    expect((err as Error).message).toMatch(/node 3 session 12 waits for 5/)
  })

  it('a run past maxMs throws the limit kind; onStall return keeps the old behaviour; a promise that settles is no stall', async () => {
    const clock = createVirtualClock()
    const tick = (): void => {
      clock.setTimeout(tick, 10)
    }
    tick()
    const never = new Promise<void>(() => undefined)
    await expect(clock.run({ until: never, maxMs: 100 })).rejects.toMatchObject({ name: 'ClockStalledError', kind: 'limit', atMs: 100 })
    await clock.run({ until: never, maxMs: 200, onStall: 'return' })
    expect(clock.now()).toBe(200)
    const soon = new Promise<void>((r) => clock.setTimeout(r, 5))
    await clock.run({ until: soon, maxMs: 1000 })
    expect(clock.now()).toBe(205)
  })
})
