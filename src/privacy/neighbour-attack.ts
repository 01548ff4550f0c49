/**
 * The honest-but-curious neighbour's attack on random chunking (DESIGN.md eq. 6): a peer
 * records everything it receives in the first round of every chunk run of a sum and
 * estimates each sender's vector from it. In round 0 a node sends each of its chunks
 * x^c(0) to that chunk's neighbours; a peer that is the sender's neighbour in a set O of
 * the C chunks holds {x^c : c in O}. The linear estimate is the sum of what it holds,
 * xhat = sum_{c in O} x^c, which is unbiased exactly when O contains the remainder chunk;
 * its error is then the sum of the noise chunks it missed (at least one: the relabelling
 * leaves no two nodes adjacent in every chunk). Without the remainder the peer holds pure
 * noise, independent of x.
 *
 * relativeError = ||xhat - x|| / ||x||; >= 1 means the estimate is no closer than guessing
 * zero (signal-to-noise <= 0 dB). The attack runs the real consensus engine over the
 * in-memory transport with a spy on every link, so it measures what the engine sends.
 */
import { createConsensusNode, createMemoryNetwork, type ConsensusFrame, type ConsensusOptions, type Transport } from '../consensus/index.js'
import type { RandomSource } from '../numeric/rng.js'
import type { Topology } from '../../topologies/index.js'

export interface NeighbourAttackOptions {
  topology: Topology
  /** The vector each node contributes (index = node), the same in every session (the attacker's best case). */
  vectors: Float64Array[]
  /** Sums to run (each a fresh split into chunks). */
  sessions: number
  /** Engine settings under attack (chunks, chunkScale, scheme, tol, seed); defaults as the engine's. */
  consensus?: Partial<Pick<ConsensusOptions, 'chunks' | 'chunkScale' | 'scheme' | 'tol' | 'seed'>>
  /** Chunk-noise groups passed with every sum (as the learning loop does). */
  noiseGroups?: Int32Array
  /** Node s's secret generator (replayable streams in a simulation). */
  noise: (s: number) => RandomSource
}

export interface NeighbourObservation {
  observer: number
  target: number
  session: number
  /** Chunks of the target the observer held in round 0. */
  chunksSeen: number
  relativeError: number
}

export interface NeighbourAttackResult {
  observations: NeighbourObservation[]
  /** Smallest relative error over every (observer, target, session). */
  minRelativeError: number
  medianRelativeError: number
  /** Fraction of observations with relative error below 1 (estimate beats guessing zero). */
  belowOne: number
  /**
   * The same attacker pooling all sessions: per (observer, target), the mean of its
   * per-session estimates over the sessions where it held the most chunks; relative error.
   * Shows how fast repeated sums of the same vector erode the protection.
   */
  pooled: { minRelativeError: number; medianRelativeError: number }
  /** Engine-reported sessions in which a peer saw every chunk (0 when the topology allows). */
  exposedSessions: number
}

function norm(v: ArrayLike<number>): number {
  let s = 0
  for (let i = 0; i < v.length; i++) s += v[i] * v[i]
  return Math.sqrt(s)
}

function median(a: number[]): number {
  if (a.length === 0) return Number.NaN
  const s = [...a].sort((x, y) => x - y)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Run `sessions` sums with a spy on every link and attack every sender from every peer. */
export async function neighbourAttack(opts: NeighbourAttackOptions): Promise<NeighbourAttackResult> {
  const S = opts.topology.nodes.length
  if (opts.vectors.length !== S) throw new RangeError(`neighbourAttack: ${opts.vectors.length} vectors for ${S} nodes`)
  const net = createMemoryNetwork(opts.topology)
  // observer -> target -> session -> chunk -> payload (round 0 only)
  const seen = new Map<string, Map<number, Float64Array>>()
  const spy = (tr: Transport): Transport => ({
    self: tr.self,
    send: (to: number, f: ConsensusFrame) => tr.send(to, f),
    onFrame: (h) =>
      tr.onFrame((from, f, lent) => {
        if ((f.kind ?? 'data') === 'data' && f.round === 0) {
          const key = `${tr.self}/${from}/${f.session}`
          let m = seen.get(key)
          if (m === undefined) {
            m = new Map()
            seen.set(key, m)
          }
          if (!m.has(f.chunk)) m.set(f.chunk, Float64Array.from(f.payload))
        }
        h(from, f, lent)
      }),
  })
  const nodes = net.transports.map((tr, s) => createConsensusNode({ ...(opts.consensus ?? {}), seed: opts.consensus?.seed ?? 'attack', topology: opts.topology, transport: spy(tr), noise: opts.noise(s) }))
  try {
    for (let t = 0; t < opts.sessions; t++) {
      await Promise.all(nodes.map((n, s) => n.sum(opts.vectors[s], `attack:${t}`, { noiseGroups: opts.noiseGroups })))
    }
  } finally {
    for (const n of nodes) n.close()
    net.close()
  }
  const observations: NeighbourObservation[] = []
  const pooledSum = new Map<string, { best: number; sum: Float64Array; count: number }>()
  for (const [key, chunks] of seen) {
    const [observer, target, session] = key.split('/').map(Number)
    const x = opts.vectors[target]
    const est = new Float64Array(x.length)
    for (const c of chunks.values()) for (let i = 0; i < est.length; i++) est[i] += c[i]
    const diff = est.map((v, i) => v - x[i])
    observations.push({ observer, target, session, chunksSeen: chunks.size, relativeError: norm(diff) / Math.max(norm(x), Number.MIN_VALUE) })
    const pk = `${observer}/${target}`
    const p = pooledSum.get(pk)
    if (p === undefined || chunks.size > p.best) pooledSum.set(pk, { best: chunks.size, sum: est, count: 1 })
    else if (chunks.size === p.best) {
      for (let i = 0; i < est.length; i++) p.sum[i] += est[i]
      p.count++
    }
  }
  const pooledErrors: number[] = []
  for (const [pk, p] of pooledSum) {
    const x = opts.vectors[Number(pk.split('/')[1])]
    const diff = p.sum.map((v, i) => v / p.count - x[i])
    pooledErrors.push(norm(diff) / Math.max(norm(x), Number.MIN_VALUE))
  }
  const errs = observations.map((o) => o.relativeError)
  return {
    observations,
    minRelativeError: errs.length ? Math.min(...errs) : Number.NaN,
    medianRelativeError: median(errs),
    belowOne: errs.length ? errs.filter((e) => e < 1).length / errs.length : 0,
    pooled: { minRelativeError: pooledErrors.length ? Math.min(...pooledErrors) : Number.NaN, medianRelativeError: median(pooledErrors) },
    exposedSessions: nodes.reduce((a, n) => a + n.stats.exposedSessions, 0),
  }
}
