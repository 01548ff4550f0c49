/**
 * A consensus engine's session history is kept compactly (src/consensus/history.ts) and
 * read back as records. Every record read back must equal the one recorded (key order
 * included), the oldest must be dropped past the limit exactly as shifting an array did,
 * and an engine's records must agree with the sums it ran.
 */
import { describe, expect, it } from 'vitest'
import type { SessionRecord } from '../../src/consensus/index.js'
import { SessionHistory } from '../../src/consensus/history.js'
import { generateTopology } from '../../topologies/index.js'
import { network, randomVectors } from './helpers.js'

function record(i: number): SessionRecord {
  return {
    session: i * 7 + 3,
    label: i % 5 === 0 ? `prepare:ggm/select:lloyd:${i}` : `iter:${i % 50}:stats`,
    rounds: i % 3 === 0 ? [62] : [61, 64],
    attempts: 1 + (i % 2),
    members: 1000 - (i % 4),
    scheme: i % 4 === 0 ? 'metropolis' : 'chebyshev',
    errorBound: 1 / Math.cosh(62 * Math.acosh(1 + i / 1000)),
    durationMs: i * 0.1 + 1e-3,
  }
}

describe('compact session history', () => {
  it('reads back every record equal to the one recorded, in order and key order', () => {
    const h = new SessionHistory(1000)
    const want = Array.from({ length: 37 }, (_, i) => record(i))
    for (const r of want) h.push(r)
    const got = h.records()
    expect(got).toStrictEqual(want)
    for (let i = 0; i < want.length; i++) {
      expect(Object.keys(got[i])).toEqual(Object.keys(want[i]))
      expect(JSON.stringify(got[i])).toBe(JSON.stringify(want[i]))
    }
    expect(h.length).toBe(37)
  })

  it('keeps the newest `limit` records, as pushing and shifting an array does', () => {
    for (const limit of [1, 5, 64, 1000]) {
      const h = new SessionHistory(limit)
      const ref: SessionRecord[] = []
      for (let i = 0; i < 2600; i++) {
        const r = record(i)
        h.push(r)
        ref.push(r)
        if (ref.length > limit) ref.shift()
        if (i % 97 === 0 || i > 2590) expect(h.records()).toStrictEqual(ref)
      }
      expect(h.length).toBe(limit)
    }
  })

  it('an engine records one entry per sum with the rounds it ran; equal rounds lists are one frozen array across nodes', async () => {
    const t = generateTopology('regular', 40, { degree: 3, seed: 2 })
    const { nodes } = network(t, { scheme: 'chebyshev', tol: 1e-9, chunks: 2 })
    const labels = ['a', 'iter:0:stats', 'iter:1:stats']
    for (const [k, label] of labels.entries()) {
      const xs = randomVectors(nodes.length, 8, `history/${k}`)
      await Promise.all(nodes.map((n, s) => n.sum(xs[s], label)))
    }
    const all = nodes.map((n) => n.stats.history)
    for (const hist of all) {
      expect(hist.map((r) => r.label)).toEqual(labels)
      expect(hist.map((r) => r.session)).toEqual([0, 1, 2])
      for (const r of hist) {
        expect(r.members).toBe(40)
        expect(r.attempts).toBe(1)
        expect(r.rounds).toHaveLength(2)
        expect(r.rounds.every((x) => Number.isInteger(x) && x > 0)).toBe(true)
        expect(Object.isFrozen(r.rounds)).toBe(true)
      }
    }
    // the same rounds on two nodes: the same array
    const r0 = all[0][1]
    const twin = all.slice(1).map((h) => h[1]).find((r) => r.rounds.join() === r0.rounds.join())
    expect(twin).toBeDefined()
    expect(twin?.rounds).toBe(r0.rounds)
    // the history is part of the counters wherever they are copied
    const copy = structuredClone({ ...nodes[0].stats })
    expect(copy.history).toStrictEqual(all[0].map((r) => ({ ...r, rounds: [...r.rounds] })))
    expect((JSON.parse(JSON.stringify(nodes[0].stats)) as { history: unknown }).history).toEqual(JSON.parse(JSON.stringify(all[0])))
    // one counters object per engine, live between reads; each read brings history up to date
    const st = nodes[1].stats
    const framesBefore = st.framesReceived
    const xs = randomVectors(nodes.length, 8, 'history/late')
    await Promise.all(nodes.map((n, s) => n.sum(xs[s], 'late')))
    expect(nodes[1].stats).toBe(st)
    expect(st.framesReceived).toBeGreaterThan(framesBefore)
    expect(nodes[1].stats.history.map((r) => r.label)).toEqual([...labels, 'late'])
    // reading the counters again without a new session does not rebuild the records
    expect(nodes[1].stats.history).toBe(nodes[1].stats.history)
    for (const n of nodes) n.close()
  })
})
