import { describe, expect, it } from 'vitest'
import { Rng } from '../../src/numeric/rng.js'
import { generateTopology, neighbours, spectralReport } from '../../topologies/index.js'
import { createConsensusNode, createMemoryNetwork, relabelling, sessionRelabelling, sessionTol, splitChunks, type ConsensusFrame } from '../../src/consensus/index.js'
import { directMean, randomVectors } from './helpers.js'
import { pearson } from '../../src/privacy/audit.js'

const t31 = generateTopology('cwic', 31)

/**
 * Many sessions on cwic-31 with fresh private values x ~ N(0, 1); a spy on the transport
 * records, per session and sender, the first round-0 frame one neighbour receives: that
 * neighbour's view of the sender. Returns the (private value, viewed value) pairs.
 */
async function firstViews(chunks: number, sessions: number): Promise<{ x: number[]; v: number[] }> {
  const net = createMemoryNetwork(t31)
  const views = new Map<string, number>()
  const transports = net.transports.map((tr) => ({
    self: tr.self,
    send: (to: number, f: ConsensusFrame) => tr.send(to, f),
    onFrame: (h: (from: number, f: ConsensusFrame) => void) =>
      tr.onFrame((from, f) => {
        const key = `${f.session}/${from}`
        if (f.round === 0 && f.chunk === 0 && (f.kind ?? 'data') === 'data' && !views.has(key)) views.set(key, f.payload[0])
        h(from, f)
      }),
  }))
  const nodes = transports.map((tr) => createConsensusNode({ topology: t31, transport: tr, seed: 'chunk-test', chunks, chunkScale: 100, tol: 1e-3 }))
  const x: number[] = []
  const v: number[] = []
  const rng = new Rng('private-values')
  for (let s = 0; s < sessions; s++) {
    const xs = nodes.map(() => rng.normal())
    await Promise.all(nodes.map((n, i) => n.average(Float64Array.of(xs[i]), `s${s}`)))
    for (let i = 0; i < 31; i++) {
      const seen = views.get(`${s}/${i}`)
      if (seen !== undefined) {
        x.push(xs[i])
        v.push(seen)
      }
    }
  }
  return { x, v }
}

describe('random chunking (eq. 6) and relabelling', () => {
  it("a neighbour's first-round view is uncorrelated with the sender's private value", async () => {
    const sessions = 150
    const chunked = await firstViews(3, sessions)
    const n = chunked.x.length
    expect(n).toBe(31 * sessions)
    // |r| < 4 / sqrt(n) (about p = 1e-4 under no correlation); the expected r with
    // chunkScale 100 is about (1/3)/116 = 0.003.
    expect(Math.abs(pearson(chunked.x, chunked.v))).toBeLessThan(4 / Math.sqrt(n))
    // Control: without chunking the view is the private value itself.
    const plain = await firstViews(1, 20)
    expect(pearson(plain.x, plain.v)).toBeGreaterThan(0.999)
  })

  it('the chunks add up to the vector, and the C chunk averages add up to the true average', async () => {
    const rng = new Rng(5)
    const x = rng.fillNormal(new Float64Array(100))
    for (const C of [2, 3, 5]) {
      const parts = splitChunks(x, C, 10, rng)
      expect(parts.length).toBe(C)
      for (let i = 0; i < 100; i++) expect(parts.reduce((a, p) => a + p[i], 0)).toBeCloseTo(x[i], 10)
    }
    const C = 4
    const tol = 1e-9
    const xs = randomVectors(31, 8, 'chunk-avg')
    const mean = directMean(xs)
    // chunked sessions run to the tolerance that covers the chunk noise (sessionTol)
    const R = spectralReport(t31, sessionTol(tol, C, 10, 8)).schemes.chebyshev.rounds
    const net = createMemoryNetwork(t31)
    const finals: Float64Array[][] = Array.from({ length: 31 }, () => [])
    const nodes = net.transports.map((tr) =>
      createConsensusNode({
        topology: t31,
        transport: tr,
        seed: 3,
        chunks: C,
        chunkScale: 10,
        tol,
        onRound: (e) => {
          if (e.round === R) finals[tr.self][e.chunk] = Float64Array.from(e.value)
        },
      }),
    )
    const out = await Promise.all(nodes.map((nd, i) => nd.average(xs[i], 'a')))
    for (let i = 0; i < 31; i++) {
      expect(finals[i].length).toBe(C)
      for (let k = 0; k < 8; k++) {
        const added = finals[i].reduce((a, f) => a + f[k], 0)
        expect(added).toBeCloseTo(out[i][k], 12)
        // Error scale: tol times the spread of the chunk values (chunkScale 10, 31 nodes).
        expect(Math.abs(added - mean[k])).toBeLessThan(tol * 10 * Math.sqrt(31 * C) * 10)
      }
    }
  })

  it('relabelling changes neighbours between sessions and chunks, but every graph is the topology', () => {
    const adj = neighbours(t31)
    const peersOf0 = new Set<string>()
    for (let s = 0; s < 10; s++) {
      for (let c = 0; c < 3; c++) {
        const r = relabelling('seed', t31, s, c, 3, [], true)
        // node[pos[v]] = v: a permutation and its inverse.
        for (let v = 0; v < 31; v++) expect(r.node[r.pos[v]]).toBe(v)
        const peers = adj[r.pos[0]].map((p) => r.node[p]).sort((a, b) => a - b)
        peersOf0.add(peers.join(','))
      }
    }
    expect(peersOf0.size).toBeGreaterThan(20)
    // Same seed, same permutation on every node; excluded nodes pinned to their own index.
    const a = relabelling('seed', t31, 4, 1, 3, [3, 17], true)
    const b = relabelling('seed', t31, 4, 1, 3, [3, 17], true)
    expect(Array.from(a.pos)).toEqual(Array.from(b.pos))
    expect(a.pos[3]).toBe(3)
    expect(a.pos[17]).toBe(17)
  })

  it('no two nodes are neighbours in every chunk of a session (checked against the edge lists directly)', () => {
    const cases = [
      { t: t31, chunks: 2 },
      { t: t31, chunks: 3 },
      { t: generateTopology('regular', 100, { degree: 3, seed: 5 }), chunks: 2 },
      { t: generateTopology('ring', 12), chunks: 2 },
    ]
    for (const { t, chunks } of cases) {
      const S = t.nodes.length
      const adj = neighbours(t)
      for (let session = 0; session < 60; session++) {
        const rel = sessionRelabelling('cover', t, session, chunks, true)
        expect(rel.coveringPairs).toBe(0)
        // independent check: intersect each node's peer sets over the chunks
        for (let v = 0; v < S; v++) {
          let common = null as Set<number> | null
          for (const r of rel.chunks) {
            const peers = new Set(adj[r.pos[v]].map((p) => r.node[p]))
            common = common === null ? peers : new Set([...common].filter((q: number) => peers.has(q)))
          }
          expect((common as Set<number>).size).toBe(0)
        }
      }
    }
    // where the topology leaves no choice (every pair adjacent in every chunk), it is reported
    const k5 = generateTopology('complete', 5)
    expect(sessionRelabelling('cover', k5, 0, 3, true).coveringPairs).toBe(10)
  })

  it('the chunk noise scales with the vector: every coordinate carries noise of at least chunkScale x max|x_i|', () => {
    const rng = new Rng('scale')
    for (const magnitude of [1e-3, 1, 1e4]) {
      const x = rng.fillNormal(new Float64Array(400)).map((v) => v * magnitude)
      let peak = 0
      for (const v of x) peak = Math.max(peak, Math.abs(v))
      const parts = splitChunks(x, 3, 1, new Rng(`noise-${magnitude}`))
      // the remainder is the chunk that is not pure noise: the two others have sample sd sigma
      const sds = parts.map((p) => Math.sqrt(p.reduce((a, v) => a + v * v, 0) / p.length))
      const noiseSd = Math.min(...sds)
      expect(noiseSd).toBeGreaterThan(0.9 * peak)
      expect(noiseSd).toBeLessThan(2.2 * peak)
    }
  })
})
