/**
 * The in-memory network's delivery orders (src/consensus/frame-queue.ts): recipient order
 * delivers each generation grouped by recipient in node order, keeps the order of frames
 * on one link, and drains what the handlers send as the next generation; and the
 * consensus engine reaches bit-for-bit the same sums (and counters) in either order.
 */
import { describe, expect, it } from 'vitest'
import { FrameQueue, FrameQueueError } from '../../src/consensus/frame-queue.js'
import { createVirtualClock, type ConsensusFrame } from '../../src/consensus/index.js'
import { generateTopology } from '../../topologies/index.js'
import { network, randomVectors } from './helpers.js'

const frame = (round: number): ConsensusFrame => ({ session: 0, chunk: 0, round, payload: new Float64Array(1) })

/** Deliveries of a queue holding `sends` (to, from, round), with handlers echoing as `echo` says. */
function deliveries(q: FrameQueue, sends: Array<[number, number, number]>, echo: (to: number, from: number, round: number) => Array<[number, number, number]> = () => []): Array<[number, number, number]> {
  const seen: Array<[number, number, number]> = []
  for (const [to, from, round] of sends) q.push(to, from, frame(round))
  q.drain((to, from, f) => {
    seen.push([to, from, f.round])
    for (const [t2, f2, r2] of echo(to, from, f.round)) q.push(t2, f2, frame(r2))
  })
  return seen
}

describe('FrameQueue', () => {
  it('a lending queue hands each frame its own lent flag, in both orders, small and large generations', () => {
    for (const byRecipient of [false, true]) {
      for (const n of [5, 400]) {
        const q = new FrameQueue(40, byRecipient, 0, true)
        const want = new Map<ConsensusFrame, boolean>()
        for (let i = 0; i < n; i++) {
          const f = frame(i)
          const lent = i % 3 === 0
          want.set(f, lent)
          q.push((i * 7) % 40, i % 11, f, lent)
        }
        const got: boolean[] = []
        q.drain((_to, _from, f, lent) => {
          expect(lent).toBe(want.get(f))
          got.push(lent)
        })
        expect(got).toHaveLength(n)
      }
    }
    // a queue built without lending refuses a lent frame (the flag would be lost)
    const plain = new FrameQueue(4, true)
    expect(() => plain.push(1, 0, frame(0), true)).toThrow(FrameQueueError)
    plain.push(1, 0, frame(0))
    plain.drain((_to, _from, _f, lent) => expect(lent).toBe(false))
  })

  const sends: Array<[number, number, number]> = [
    [5, 1, 0],
    [2, 7, 0],
    [5, 3, 0],
    [0, 9, 0],
    [2, 7, 1], // second frame on link 7 -> 2: must stay after the first
    [5, 1, 1],
  ]

  it('fifo delivers in send order', () => {
    expect(deliveries(new FrameQueue(10, false), sends)).toEqual(sends)
  })

  it('recipient order groups a generation by recipient, stable per link, for small and large generations', () => {
    const want: Array<[number, number, number]> = [
      [0, 9, 0],
      [2, 7, 0],
      [2, 7, 1],
      [5, 1, 0],
      [5, 3, 0],
      [5, 1, 1],
    ]
    // S = 10: 6 frames use the counting sort; S = 1000: the comparison sort
    expect(deliveries(new FrameQueue(10, true), sends)).toEqual(want)
    expect(deliveries(new FrameQueue(1000, true), sends)).toEqual(want)
    // a partition's recipients lo..lo+S-1
    const shifted = sends.map(([t, f, r]): [number, number, number] => [t + 100, f, r])
    expect(deliveries(new FrameQueue(10, true, 100), shifted)).toEqual(want.map(([t, f, r]) => [t + 100, f, r]))
  })

  it('frames sent while draining form the next generation', () => {
    // every round-0 delivery answers its sender with a round-1 frame
    const seen = deliveries(new FrameQueue(10, true), sends.filter((s) => s[2] === 0), (to, from, round) => (round === 0 ? [[from, to, 1]] : []))
    expect(seen.map((s) => s[2])).toEqual([0, 0, 0, 0, 1, 1, 1, 1])
    expect(seen.slice(4).map((s) => s[0])).toEqual([1, 3, 7, 9])
    expect(new FrameQueue(10, true).length).toBe(0)
  })
})

describe('memory network delivery order', () => {
  it('gives the same sums, bit for bit, and the same frame counts in fifo and recipient order', async () => {
    const t = generateTopology('regular', 40, { degree: 3, seed: 4 })
    const xs = randomVectors(40, 12, 'order')
    const run = async (delivery: 'fifo' | 'by-recipient'): Promise<{ sums: Float64Array[]; frames: number }> => {
      const clock = createVirtualClock()
      const { net, nodes } = network(t, { clock, chunks: 3, tol: 1e-9 }, { clock, delivery })
      const all = Promise.all(nodes.map((c, s) => c.sum(xs[s], 'a').then(() => c.sum(xs[(s + 1) % 40], 'b'))))
      await clock.run({ until: all, maxMs: 1e9, describe: () => 'order test' })
      return { sums: await all, frames: net.stats.delivered }
    }
    const fifo = await run('fifo')
    const grouped = await run('by-recipient')
    expect(grouped.frames).toBe(fifo.frames)
    expect(fifo.frames).toBeGreaterThan(0)
    for (let s = 0; s < 40; s++) expect(Array.from(grouped.sums[s])).toEqual(Array.from(fifo.sums[s]))
  })
})
