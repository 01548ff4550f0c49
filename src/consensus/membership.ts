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
import { Rng } from '../numeric/rng.js'
import { topologySpectrum, type Topology } from '../../topologies/index.js'
import { adjacency, componentCount } from '../../topologies/generators.js'
import { DisconnectedGraphError, graphSpectrum, planScheme, type GraphSpectrum, type SchemeName, type SchemePlan } from './weights.js'

/** x split into C chunks that add up to x (eq. 6): C-1 are N(0, scale^2) noise, one (at a random slot) the remainder. */
export function splitChunks(x: Float64Array, chunks: number, scale: number, rng: Rng): Float64Array[] {
  if (chunks === 1) return [Float64Array.from(x)]
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
      v[i] *= scale
      remainder[i] -= v[i]
    }
    out.push(v)
  }
  return out
}

export interface Relabelling {
  /** pos[node] = position the node plays. */
  pos: Int32Array
  /** node[position] = node playing it. */
  node: Int32Array
}

const permCache = new Map<string, Relabelling>()
const PERM_CACHE_SIZE = 64

/** The shared permutation of (session, chunk), with excluded nodes pinned to their own index. */
export function relabelling(
  seed: number | string,
  nodes: number,
  session: number,
  chunk: number,
  excluded: ReadonlyArray<number>,
  enabled: boolean,
): Relabelling {
  let base: Relabelling
  if (!enabled) {
    const id = new Int32Array(nodes)
    for (let i = 0; i < nodes; i++) id[i] = i
    base = { pos: id, node: id }
  } else {
    const key = `${typeof seed}:${seed}|${nodes}|${session}|${chunk}`
    const hit = permCache.get(key)
    if (hit !== undefined) {
      base = hit
    } else {
      const node = new Rng(seed).fork(`consensus/relabel/${session}/${chunk}`).permutation(nodes)
      const pos = new Int32Array(nodes)
      for (let p = 0; p < nodes; p++) pos[node[p]] = p
      base = { pos, node }
      permCache.set(key, base)
      if (permCache.size > PERM_CACHE_SIZE) permCache.delete(permCache.keys().next().value as string)
    }
  }
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
        p = planScheme(scheme, g.spectrum(), tol)
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
