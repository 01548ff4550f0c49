import { describe, expect, it } from 'vitest'
import { RoundProbe } from '../../sim/run-common.js'
import { Rng } from '../../src/numeric/rng.js'
import type { RoundEvent } from '../../src/consensus/index.js'
import { generateTopology } from '../../topologies/index.js'
import { network } from '../consensus/helpers.js'

/** Every node of `S` reports rounds 0..rounds-1 of `session`, node s's value at round t being (s + 1) / (t + 1) in every entry. */
function play(probe: RoundProbe, S: number, session: number, rounds: number, len = 4): void {
  for (let t = 0; t < rounds; t++) {
    for (let s = 0; s < S; s++) {
      const e: RoundEvent = { session, chunk: 0, attempt: 0, round: t, value: new Float64Array(len).fill((s + 1) / (t + 1)) }
      probe.onRound(s, e)
    }
  }
}

describe('RoundProbe (the report\'s per-round disagreement of the traced session)', () => {
  it('records the traced session and skips sessions the nodes said carry another label', () => {
    const probe = new RoundProbe(3, Number.POSITIVE_INFINITY, new Rng(1), 'iter:0:stats')
    probe.labelSession(0, 'ggm/moments')
    probe.labelSession(1, 'iter:0:stats')
    play(probe, 3, 0, 4)
    play(probe, 3, 1, 4)
    expect(probe.roundsOf(0)).toBeUndefined()
    const rounds = probe.roundsOf(1)
    expect(rounds).toHaveLength(4)
    // the spread of (s + 1) / (t + 1) shrinks as 1 / (t + 1): errors relative to round 0
    const err = probe.errors(1) as number[]
    for (let t = 0; t < 4; t++) expect(err[t]).toBeCloseTo(1 / (t + 1), 12)
  })

  it('records a session no node has labelled yet, and drops it once it is known to be another one', () => {
    const probe = new RoundProbe(2, Number.POSITIVE_INFINITY, new Rng(2), 'iter:0:stats')
    play(probe, 2, 0, 3)
    expect(probe.roundsOf(0)).toHaveLength(3)
    probe.labelSession(0, 'ggm/select:seed:0')
    probe.labelSession(1, 'iter:0:stats')
    play(probe, 2, 1, 2)
    expect(probe.roundsOf(0)).toBeUndefined()
    expect(probe.roundsOf(1)).toHaveLength(2)
  })

  it('the first label a node gives a session stands', () => {
    const probe = new RoundProbe(2, Number.POSITIVE_INFINITY, new Rng(3), 'iter:0:stats')
    probe.labelSession(5, 'iter:0:stats')
    probe.labelSession(5, 'other')
    play(probe, 2, 5, 2)
    expect(probe.roundsOf(5)).toHaveLength(2)
  })

  it('wants() labels the session and says yes only to the traced one (and within maxSessions)', () => {
    const probe = new RoundProbe(2, 3, new Rng(4), 'iter:0:stats')
    expect(probe.wants(0, 'ggm/moments')).toBe(false)
    expect(probe.wants(1, 'iter:0:stats')).toBe(true)
    expect(probe.wants(1, 'other')).toBe(true) // the first label stands
    expect(probe.wants(3, 'iter:0:stats')).toBe(false) // past maxSessions
  })

  it('the engine calls onRound only for the sessions onRoundFor accepts, with every round of them', async () => {
    const t = generateTopology('ring', 5)
    const seen: Array<[number, number, number]> = []
    const asked: Array<[number, string]> = []
    const { nodes } = network(t, {
      chunks: 2,
      onRound: (e) => seen.push([e.session, e.chunk, e.round]),
      onRoundFor: (session, label) => {
        asked.push([session, label])
        return label === 'b'
      },
    })
    for (const label of ['a', 'b', 'c']) await Promise.all(nodes.map((n, i) => n.sum(Float64Array.of(i), label)))
    expect(new Set(asked.map(([s, l]) => `${s}:${l}`))).toEqual(new Set(['0:a', '1:b', '2:c']))
    expect(asked).toHaveLength(3 * 5)
    expect(new Set(seen.map(([s]) => s))).toEqual(new Set([1]))
    const last = Math.max(...seen.map(([, , r]) => r))
    expect(last).toBeGreaterThan(0)
    // rounds 0..R of both chunks, on every node
    expect(seen).toHaveLength(5 * 2 * (last + 1))
  })
})
