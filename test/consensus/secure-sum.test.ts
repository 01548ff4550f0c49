/**
 * Shamir secure sums as a network protocol (src/consensus/secure-sum.ts) over the
 * in-memory transport: exact sums, the same on every member; a member that never shares
 * is left out; one that dies after sharing is still counted; one whose shares reached only
 * some members is left out by all of them (absent sets merge); loss is repaired.
 */
import { describe, expect, it } from 'vitest'
import { createConsensusNode, createMemoryNetwork, createVirtualClock, type ConsensusFrame, type Transport } from '../../src/consensus/index.js'
import { Rng } from '../../src/numeric/rng.js'
import { SecretRng } from '../../src/numeric/secret-rng.js'
import { generateTopology } from '../../topologies/index.js'

const S = 7
const topology = generateTopology('cwic', S)
const vectors = Array.from({ length: S }, (_, s) => new Rng(`v${s}`).fillNormal(new Float64Array(12)).map((v) => v * 1000))
const sumOf = (members: number[]): Float64Array => {
  const out = new Float64Array(12)
  for (const s of members) for (let i = 0; i < 12; i++) out[i] += vectors[s][i]
  return out
}
const all = Array.from({ length: S }, (_, s) => s)

/** Transport of a member that, after `sendShares`, goes silent (dead): it neither sends nor receives. */
function dying(tr: Transport, reach: (to: number) => boolean): Transport {
  let dead = false
  return {
    self: tr.self,
    send: (to: number, f: ConsensusFrame) => {
      if (dead) return
      if (f.kind === 'share') {
        if (reach(to)) return tr.send(to, f)
        return
      }
      dead = true // its first reveal never leaves: it died after sharing
    },
    onFrame: (h) => tr.onFrame((from, f) => (dead ? undefined : h(from, f))),
  }
}

async function run(opts: { skip?: number; wrap?: (s: number, tr: Transport) => Transport; loss?: number }): Promise<Map<number, Float64Array>> {
  const clock = createVirtualClock()
  const net = createMemoryNetwork(topology, { clock, loss: opts.loss ?? 0, latencyMs: opts.loss ? (r) => 1 + 3 * r.uniform() : undefined, seed: 'shamir-net' })
  const nodes = net.transports.map((tr, s) =>
    createConsensusNode({ topology, transport: opts.wrap ? opts.wrap(s, tr) : tr, clock, seed: 1, protection: 'shamir', timeoutMs: 2000, noise: SecretRng.forSimulation('shamir', s) }),
  )
  const out = new Map<number, Float64Array>()
  const runs: (Promise<void> | null)[] = nodes.map((n, s) => (s === opts.skip ? null : n.sum(vectors[s], "x").then((v) => void out.set(s, v))))
  const live = runs.filter((r): r is Promise<void> => r !== null)
  await clock.run({ until: Promise.allSettled(live), maxMs: 10 * 60_000 })
  await Promise.allSettled(live)
  for (const n of nodes) n.close()
  net.close()
  return out
}

function expectExactSum(out: Map<number, Float64Array>, members: number[], holders: number[]): void {
  const want = sumOf(members)
  const first = out.get(holders[0]) as Float64Array
  for (const s of holders) {
    const got = out.get(s) as Float64Array
    expect(got, `member ${s}`).toBeDefined()
    expect(Array.from(got)).toEqual(Array.from(first)) // bit-identical on every member
  }
  for (let i = 0; i < 12; i++) expect(Math.abs(first[i] - want[i])).toBeLessThanOrEqual(S * 2 ** -33 + 1e-9 * Math.abs(want[i]))
}

describe('Shamir secure sum protocol', () => {
  it('every member gets the exact sum, bit-identical', async () => {
    const out = await run({})
    expectExactSum(out, all, all)
  })

  it('a member that never shares is left out after the timeout; the others agree on the rest', async () => {
    const out = await run({ skip: 3 })
    const rest = all.filter((s) => s !== 3)
    expectExactSum(out, rest, rest)
  })

  it('a member that dies after sharing is still counted (the others reconstruct from a majority)', async () => {
    const out = await run({ wrap: (s, tr) => (s === 5 ? dying(tr, () => true) : tr) })
    const rest = all.filter((s) => s !== 5)
    expect(out.has(5)).toBe(false)
    expectExactSum(out, all, rest)
  })

  it('a member whose shares reached only some members, then died, is left out by every member', async () => {
    const out = await run({ wrap: (s, tr) => (s === 2 ? dying(tr, (to) => to < 4) : tr) })
    const rest = all.filter((s) => s !== 2)
    expectExactSum(out, rest, rest)
  })

  it('repairs 15 % frame loss with jittered latency', async () => {
    const out = await run({ loss: 0.15 })
    expectExactSum(out, all, all)
  })
})
