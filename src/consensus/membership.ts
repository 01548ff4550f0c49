/**
 * Who talks to whom in one session chunk: random chunking and per-session relabelling
 * (DESIGN.md eq. 6), and the member graph left after exclusions.
 *
 * Relabelling: node v plays position pos[v] of the topology in (session, chunk); its peers
 * are the nodes at the positions next to pos[v]. The permutation comes from the seed all
 * nodes share, so every node computes the same one. Excluded nodes are pinned to their own
 * index as position, so the member graph (topology minus the excluded positions) is the
 * same in every chunk and its spectrum is computed once per member set.
 */
import { Rng, type RandomSource } from '../numeric/rng.js'
import { topologySpectrum, type Topology } from '../../topologies/index.js'
import { adjacency, componentCount } from '../../topologies/generators.js'
import { DisconnectedGraphError, graphSpectrum, planScheme, type GraphSpectrum, type SchemeName, type SchemePlan } from './weights.js'

/**
 * x split into C chunks that add up to x (eq. 6): C-1 chunks are N(0, sigma^2 I) noise and
 * one, at a random slot, is the remainder x - (their sum). The noise is scaled to the data:
 * sigma = scale * 2^ceil(log2 max_i |x_i|) (scale when x = 0), so every coordinate's noise
 * is at least `scale` times its own magnitude. A neighbour that sees the remainder but misses one noise
 * chunk then estimates x with error power L sigma^2 >= scale^2 ||x||^2 (relative error
 * >= scale, SNR <= -20 log10(scale) dB); one that misses the remainder sees only noise.
 * What sigma reveals is one number, the binary order of magnitude of max_i |x_i|. `rng` must be the node's secret
 * generator (peers must not be able to recompute the chunks).
 */
export function splitChunks(x: Float64Array, chunks: number, scale: number, rng: RandomSource, groups?: Int32Array): Float64Array[] {
  if (chunks === 1) return [Float64Array.from(x)]
  const sigma = chunkSigmas(x, scale, groups)
  const out: Float64Array[] = []
  const rem = rng.int(chunks)
  const remainder = Float64Array.from(x)
  for (let c = 0; c < chunks; c++) {
    if (c === rem) {
      out.push(remainder)
      continue
    }
    const v = rng.fillNormal(new Float64Array(x.length))
    for (let i = 0; i < v.length; i++) {
      v[i] *= sigma[i]
      remainder[i] -= v[i]
    }
    out.push(v)
  }
  return out
}

/**
 * Per-coordinate chunk-noise std: scale * 2^ceil(log2 max |x_i|) over the coordinate's
 * group (the whole vector without `groups`), and `scale` for a group that is all zero.
 */
export function chunkSigmas(x: Float64Array, scale: number, groups?: Int32Array): Float64Array {
  if (groups !== undefined && groups.length !== x.length) {
    throw new RangeError(`noise groups have ${groups.length} entries for a vector of ${x.length}`)
  }
  const peaks = new Map<number, number>()
  for (let i = 0; i < x.length; i++) {
    const g = groups === undefined ? 0 : groups[i]
    peaks.set(g, Math.max(peaks.get(g) ?? 0, Math.abs(x[i])))
  }
  // rounded up to a power of two: sigma reveals only the binary order of magnitude of the peak
  const sigmaOf = new Map<number, number>()
  for (const [g, peak] of peaks) sigmaOf.set(g, scale * (peak > 0 && Number.isFinite(peak) ? 2 ** Math.ceil(Math.log2(peak)) : 1))
  const out = new Float64Array(x.length)
  for (let i = 0; i < x.length; i++) out[i] = sigmaOf.get(groups === undefined ? 0 : groups[i]) as number
  return out
}

export interface Relabelling {
  /** pos[node] = position the node plays. */
  pos: Int32Array
  /** node[position] = node playing it. */
  node: Int32Array
}

/** Swap attempts per node when repairing the last chunk's permutation (see sessionRelabelling). */
export const COVERAGE_REPAIR_SWAPS_PER_NODE = 50

/** The relabellings of one session's chunks, and how many node pairs are adjacent in every chunk. */
export interface SessionRelabelling {
  chunks: Relabelling[]
  /** Unordered node pairs adjacent in every chunk (0 unless the topology leaves no choice). */
  coveringPairs: number
}

const sessionCache = new Map<string, SessionRelabelling>()
const SESSION_CACHE_SIZE = 64
const topologyIds = new WeakMap<Topology, number>()
let nextTopologyId = 1

function topologyId(t: Topology): number {
  let id = topologyIds.get(t)
  if (id === undefined) {
    id = nextTopologyId++
    topologyIds.set(t, id)
  }
  return id
}

function permutationOf(seed: number | string, nodes: number, session: number, label: string): Relabelling {
  const node = new Rng(seed).fork(`consensus/relabel/${session}/${label}`).permutation(nodes)
  const pos = new Int32Array(nodes)
  for (let p = 0; p < nodes; p++) pos[node[p]] = p
  return { pos, node }
}

/** Keys (min * S + max) of the node pairs that the edges join under relabelling `r`. */
function pairKeys(edges: ReadonlyArray<readonly [number, number]>, r: Relabelling, S: number): number[] {
  return edges.map(([u, v]) => {
    const a = r.node[u]
    const b = r.node[v]
    return a < b ? a * S + b : b * S + a
  })
}

/**
 * The shared permutations of a session's C chunks (DESIGN.md eq. 6), drawn from the seed
 * every node shares, so every node computes the same ones. Chunking only hides a value
 * from a neighbour that misses at least one chunk, so no two nodes may be adjacent in all
 * C chunks: chunks 0..C-2 are drawn freely, and the last chunk's permutation is redrawn
 * (up to COVERAGE_REPAIR_SWAPS_PER_NODE times, deterministically) until no pair adjacent in all of them
 * is adjacent in it too. On graphs where that is impossible (complete graphs, a triangle)
 * the fewest such pairs are kept and reported as `coveringPairs`.
 */
export function sessionRelabelling(seed: number | string, topology: Topology, session: number, chunks: number, enabled: boolean): SessionRelabelling {
  const S = topology.nodes.length
  if (!enabled) {
    const id = new Int32Array(S)
    for (let i = 0; i < S; i++) id[i] = i
    const r = { pos: id, node: id }
    return { chunks: Array.from({ length: chunks }, () => r), coveringPairs: chunks > 1 ? topology.edges.length : 0 }
  }
  const key = `${topologyId(topology)}|${typeof seed}:${seed}|${session}|${chunks}`
  const hit = sessionCache.get(key)
  if (hit !== undefined) return hit
  const out: Relabelling[] = []
  for (let c = 0; c < chunks - 1; c++) out.push(permutationOf(seed, S, session, String(c)))
  let coveringPairs = 0
  if (chunks === 1) {
    out.push(permutationOf(seed, S, session, '0'))
  } else {
    // pairs adjacent in every chunk so far
    let common = new Set(pairKeys(topology.edges, out[0], S))
    for (let c = 1; c < chunks - 1; c++) {
      const next = new Set(pairKeys(topology.edges, out[c], S))
      common = new Set([...common].filter((k) => next.has(k)))
    }
    const last = permutationOf(seed, S, session, String(chunks - 1))
    coveringPairs = repairCoverage(last, common, topology, new Rng(seed).fork(`consensus/relabel/${session}/repair`))
    out.push(last)
  }
  const res = { chunks: out, coveringPairs }
  sessionCache.set(key, res)
  if (sessionCache.size > SESSION_CACHE_SIZE) sessionCache.delete(sessionCache.keys().next().value as string)
  return res
}

/**
 * Local search on permutation `r` (in place, deterministic from `rng`): while some edge
 * joins a pair in `common`, move one of its endpoints' nodes to a random position when
 * that does not add violations. Returns the violations left (0 unless impossible).
 */
function repairCoverage(r: Relabelling, common: Set<number>, topology: Topology, rng: Rng): number {
  const S = topology.nodes.length
  if (common.size === 0) return 0
  const adj = adjacency(S, topology.edges)
  const key = (a: number, b: number): number => (a < b ? a * S + b : b * S + a)
  const violationsAt = (p: number): number => {
    let n = 0
    for (const q of adj[p]) if (common.has(key(r.node[p], r.node[q]))) n++
    return n
  }
  const violating = (): number[] => {
    const out: number[] = []
    for (const [u, v] of topology.edges) if (common.has(key(r.node[u], r.node[v]))) out.push(u)
    return out
  }
  let bad = violating()
  const budget = COVERAGE_REPAIR_SWAPS_PER_NODE * S
  for (let step = 0; step < budget && bad.length > 0; step++) {
    const u = bad[rng.int(bad.length)]
    const q = rng.int(S)
    if (q === u) continue
    const before = violationsAt(u) + violationsAt(q)
    const t = r.node[u]
    r.node[u] = r.node[q]
    r.node[q] = t
    const after = violationsAt(u) + violationsAt(q)
    if (after > before) {
      r.node[q] = r.node[u]
      r.node[u] = t
      continue
    }
    if (after < before) bad = violating()
  }
  for (let p = 0; p < S; p++) r.pos[r.node[p]] = p
  return violating().length
}

/**
 * The relabelling of (session, chunk) with excluded nodes pinned to their own index as
 * position (see sessionRelabelling for how the session's permutations are drawn).
 */
export function relabelling(
  seed: number | string,
  topology: Topology,
  session: number,
  chunk: number,
  chunks: number,
  excluded: ReadonlyArray<number>,
  enabled: boolean,
): Relabelling {
  const base = sessionRelabelling(seed, topology, session, chunks, enabled).chunks[chunk]
  if (excluded.length === 0) return base
  const pos = Int32Array.from(base.pos)
  const node = Int32Array.from(base.node)
  for (const p of excluded) {
    const q = node[p] // whoever sits at position p swaps with p
    const pp = pos[p]
    node[pp] = q
    pos[q] = pp
    node[p] = p
    pos[p] = p
  }
  return { pos, node }
}

/** The topology minus excluded positions, in compact indices, with its spectrum and plans. */
export interface MemberGraph {
  members: number
  /** compact index of a position, -1 when excluded. */
  compactOf: Int32Array
  /** position of a compact index. */
  positionOf: Int32Array
  adj: number[][]
  connected: boolean
  spectrum(): GraphSpectrum
  plan(scheme: SchemeName, tol: number): SchemePlan
}

const graphCache = new WeakMap<Topology, Map<string, MemberGraph>>()
const GRAPH_CACHE_SIZE = 16

/** Member graph of `topology` without `excluded` (sorted positions); cached per topology object. */
export function memberGraph(topology: Topology, excluded: ReadonlyArray<number>, baseAdj?: number[][]): MemberGraph {
  let perTopo = graphCache.get(topology)
  if (perTopo === undefined) {
    perTopo = new Map()
    graphCache.set(topology, perTopo)
  }
  const key = excluded.join(',')
  const hit = perTopo.get(key)
  if (hit !== undefined) return hit
  const full = baseAdj ?? adjacency(topology.nodes.length, topology.edges)
  const n = full.length
  const compactOf = new Int32Array(n).fill(-1)
  const out = new Set(excluded)
  const positions: number[] = []
  for (let p = 0; p < n; p++) {
    if (!out.has(p)) {
      compactOf[p] = positions.length
      positions.push(p)
    }
  }
  const adj = positions.map((p) => full[p].filter((q) => compactOf[q] >= 0).map((q) => compactOf[q]))
  const connected = adj.length <= 1 || componentCount(adj) === 1
  let spec: GraphSpectrum | null = null
  const plans = new Map<string, SchemePlan>()
  const g: MemberGraph = {
    members: positions.length,
    compactOf,
    positionOf: Int32Array.from(positions),
    adj,
    connected,
    spectrum() {
      if (spec === null) {
        if (!connected) {
          throw new DisconnectedGraphError(
            `excluding nodes ${excluded.join(', ')} disconnects the topology; consensus cannot continue (use a better-connected topology)`,
          )
        }
        // The full topology shares its spectrum with spectralReport (one eigensolve per process).
        spec = excluded.length === 0 ? topologySpectrum(topology) : graphSpectrum(adj)
      }
      return spec
    },
    plan(scheme, tol) {
      const k = `${scheme}|${tol}`
      let p = plans.get(k)
      if (p === undefined) {
        p = planScheme(scheme, g.spectrum(), tol, adj)
        plans.set(k, p)
      }
      return p
    },
  }
  perTopo.set(key, g)
  if (perTopo.size > GRAPH_CACHE_SIZE) {
    // Evict the oldest member set, keeping the full topology.
    for (const k of perTopo.keys()) {
      if (k !== '') {
        perTopo.delete(k)
        break
      }
    }
  }
  return g
}
