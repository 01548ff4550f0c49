/**
 * Lent payloads (FrameHandler's `lent`): a transport that reuses the memory of delivered
 * payloads (the simulator's workers recycle frame batches) must get the same sums, bit for
 * bit, as one that leaves payloads alone. The lending transport here hands each frame a
 * scratch copy, settles (settleLentPayloads) and poisons it (NaN) right after the handler or
 * at the end of the network's drain, so any view the engine kept past the settle would turn
 * the sums into NaN or a conflict.
 */
import { describe, expect, it } from 'vitest'
import { generateTopology, type Topology } from '../../topologies/index.js'
import { createConsensusNode, createMemoryNetwork, createShamirNode, settleLentPayloads, type FrameHandler, type Transport } from '../../src/consensus/index.js'
import { SecretRng } from '../../src/numeric/secret-rng.js'
import { randomVectors } from './helpers.js'

/**
 * `tr` with every delivered payload copied into a scratch buffer that is overwritten with NaN
 * once lent payloads are settled: after each frame ('frame'), or at the end of the network's
 * drain ('drain': payloads stay valid while the rounds they complete run, as in a worker).
 */
function lending(tr: Transport, declare: boolean, settle: 'frame' | 'drain' = 'frame'): Transport {
  const pending: Float64Array[] = []
  const flush = (): void => {
    if (declare) settleLentPayloads()
    for (const x of pending) x.fill(Number.NaN)
    pending.length = 0
  }
  return {
    self: tr.self,
    send: (to, f) => tr.send(to, f),
    onFrame(h: FrameHandler) {
      tr.onFrame((from, f) => {
        const scratch = Float64Array.from(f.payload)
        h(from, { ...f, payload: scratch }, declare)
        pending.push(scratch)
        if (settle === 'frame') flush()
        else if (pending.length === 1) setImmediate(flush)
      })
    },
    reportPeer: (p, r) => tr.reportPeer?.(p, r),
  }
}

type Mode = 'plain' | 'lent' | 'lent-drain' | 'lent-undeclared'

/** Two sums on every node, node 0 starting both before the others (its peers' frames arrive early). */
async function twoSums(t: Topology, mode: Mode, xs: Float64Array[], ys: Float64Array[]): Promise<Float64Array[][]> {
  const net = createMemoryNetwork(t)
  const nodes = net.transports.map((tr) =>
    createConsensusNode({
      seed: 5,
      chunks: 2,
      noise: SecretRng.forSimulation('lent', tr.self),
      topology: t,
      transport: mode === 'plain' ? tr : lending(tr, mode !== 'lent-undeclared', mode === 'lent-drain' ? 'drain' : 'frame'),
    }),
  )
  const a0 = nodes[0].sum(xs[0], 'a')
  const b0 = nodes[0].sum(ys[0], 'b')
  await new Promise((r) => setImmediate(r))
  const a = nodes.slice(1).map((n, i) => n.sum(xs[i + 1], 'a'))
  const b = nodes.slice(1).map((n, i) => n.sum(ys[i + 1], 'b'))
  const out = await Promise.all([Promise.all([a0, ...a]), Promise.all([b0, ...b])])
  for (const n of nodes) n.close()
  return out
}

describe('payloads lent by the transport', () => {
  const t = generateTopology('regular', 24, { degree: 3, seed: 2 })
  const xs = randomVectors(24, 7, 'lent-x')
  const ys = randomVectors(24, 7, 'lent-y')

  it('give the same sums, bit for bit, as payloads left alone (early frames included)', async () => {
    const plain = await twoSums(t, 'plain', xs, ys)
    const lent = await twoSums(t, 'lent', xs, ys)
    expect(lent).toEqual(plain)
    // settled only after the drain: rounds completed meanwhile used the payloads in place
    expect(await twoSums(t, 'lent-drain', xs, ys)).toEqual(plain)
    for (const v of plain[0]) for (const x of v) expect(Number.isFinite(x)).toBe(true)
  })

  it('the poisoning transport is a real check: an engine told nothing keeps the views and gets NaN', async () => {
    const undeclared = await twoSums(t, 'lent-undeclared', xs, ys).catch((e: Error) => e)
    const broken = undeclared instanceof Error || undeclared.some((vs) => vs.some((v) => v.some((x) => !Number.isFinite(x))))
    expect(broken).toBe(true)
  })

  it('Shamir secure sums keep early shares too', async () => {
    const S = 6
    // a share lost to poisoning would be resent after retransmitMs and the sum still right,
    // so the check is that no early share was refused as garbage
    const run = async (mode: Mode): Promise<{ sums: Float64Array[]; badFrames: number }> => {
      const net = createMemoryNetwork(generateTopology('complete', S))
      const nodes = net.transports.map((tr) =>
        createShamirNode({ topology: generateTopology('complete', S), transport: mode === 'plain' ? tr : lending(tr, mode === 'lent'), noise: SecretRng.forSimulation('lent-shamir', tr.self), retransmitMs: 20 }),
      )
      const first = nodes[0].sum(Float64Array.of(1, 2), 'a')
      await new Promise((r) => setImmediate(r))
      const rest = nodes.slice(1).map((n, i) => n.sum(Float64Array.of(i, -i), 'a'))
      const sums = await Promise.all([first, ...rest])
      const badFrames = nodes.reduce((a, n) => a + (n.stats.rejected['bad-frame'] ?? 0), 0)
      for (const n of nodes) n.close()
      return { sums, badFrames }
    }
    const plain = await run('plain')
    const lent = await run('lent')
    expect(lent.sums).toEqual(plain.sums)
    expect(lent.badFrames).toBe(0)
    for (const v of plain.sums) expect(Array.from(v)).toEqual([1 + 0 + 1 + 2 + 3 + 4, 2 - 10])
    expect((await run('lent-undeclared')).badFrames).toBeGreaterThan(0)
  })
})

