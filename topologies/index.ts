/**
 * Topologies: the overlay graph as data. A topology file (JSON) lists the nodes (index
 * 0..S-1, name, optional libp2p PeerId and multiaddrs), the undirected edges as [i, j]
 * index pairs, and the seeded generator that made it, so the same file replays anywhere.
 */
import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { Rng } from '../src/numeric/rng.js'
import {
  DEFAULT_TOL,
  SCHEMES,
  graphSpectrum,
  planScheme,
  type GraphSpectrum,
  type SchemeName,
} from '../src/consensus/weights.js'
import {
  TopologyError,
  adjacency,
  complete,
  componentCount,
  cycleInverseChord,
  margulisGabberGalil,
  randomRegular,
  ring,
  torus,
  type Edge,
} from './generators.js'

export { TopologyError, isPrime, componentCount, adjacency } from './generators.js'
export type { SchemeName } from '../src/consensus/weights.js'

export interface TopologyNode {
  index: number
  name: string
  peerId?: string
  multiaddrs?: string[]
}

export type TopologyKind = 'cwic' | 'regular' | 'mgg' | 'ring' | 'torus' | 'complete'
export const TOPOLOGY_KINDS: readonly TopologyKind[] = ['cwic', 'regular', 'mgg', 'ring', 'torus', 'complete']

export interface Topology {
  version: 1
  nodes: TopologyNode[]
  edges: Array<[number, number]>
  generator?: { kind: string; nodes: number; degree?: number; seed?: number }
}

/** Default degree of `regular` (the sparsest expander family the papers use). */
export const DEFAULT_REGULAR_DEGREE = 3
/** Default generator seed. */
export const DEFAULT_TOPOLOGY_SEED = 1

/** A seeded topology of `kind` on `nodes` nodes (see topologies/generators.ts for each family). */
export function generateTopology(
  kind: TopologyKind,
  nodes: number,
  opts: { degree?: number; seed?: number } = {},
): Topology {
  if (!Number.isInteger(nodes) || nodes < 1) throw new TopologyError(`nodes must be a positive integer, got ${nodes}`)
  let edges: Edge[]
  const generator: NonNullable<Topology['generator']> = { kind, nodes }
  switch (kind) {
    case 'cwic':
      edges = cycleInverseChord(nodes)
      break
    case 'regular': {
      const degree = opts.degree ?? DEFAULT_REGULAR_DEGREE
      const seed = opts.seed ?? DEFAULT_TOPOLOGY_SEED
      edges = randomRegular(nodes, degree, new Rng(seed).fork(`topology/regular/${nodes}/${degree}`))
      generator.degree = degree
      generator.seed = seed
      break
    }
    case 'mgg':
      edges = margulisGabberGalil(nodes)
      break
    case 'ring':
      edges = ring(nodes)
      break
    case 'torus':
      edges = torus(nodes)
      break
    case 'complete':
      edges = complete(nodes)
      break
    default:
      throw new TopologyError(`unknown topology kind '${String(kind)}'; use one of ${TOPOLOGY_KINDS.join(', ')}`)
  }
  const width = String(nodes - 1).length
  return {
    version: 1,
    nodes: Array.from({ length: nodes }, (_, i) => ({ index: i, name: `node-${String(i).padStart(width, '0')}` })),
    edges,
    generator,
  }
}

const nodeSchema = z
  .object({
    index: z.number().int().nonnegative(),
    name: z.string().min(1),
    peerId: z.string().min(1).optional(),
    multiaddrs: z.array(z.string().min(1)).optional(),
  })
  .strict()

const topologySchema = z
  .object({
    version: z.literal(1),
    nodes: z.array(nodeSchema).min(1),
    edges: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])),
    generator: z
      .object({
        kind: z.string().min(1),
        nodes: z.number().int().positive(),
        degree: z.number().int().positive().optional(),
        seed: z.number().int().optional(),
      })
      .strict()
      .optional(),
  })
  .strict()

function where(path: ReadonlyArray<PropertyKey>): string {
  return path.length === 0 ? '(root)' : path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '')
}

/**
 * Validate a parsed topology file: schema (zod), then graph rules (indices 0..S-1 in order,
 * unique names and PeerIds, edges within range, no self-loops or repeated edges, connected).
 * Errors are TopologyError naming the source and the offending field.
 */
export function parseTopology(json: unknown, source = 'topology'): Topology {
  const r = topologySchema.safeParse(json)
  if (!r.success) {
    const issues = r.error.issues.slice(0, 5).map((i) => `${where(i.path)}: ${i.message}`)
    throw new TopologyError(`${source}: invalid topology file: ${issues.join('; ')}`)
  }
  const t = r.data
  const n = t.nodes.length
  const names = new Set<string>()
  const peers = new Set<string>()
  t.nodes.forEach((node, i) => {
    if (node.index !== i) throw new TopologyError(`${source}: nodes[${i}].index is ${node.index}; nodes must be listed in index order 0..${n - 1}`)
    if (names.has(node.name)) throw new TopologyError(`${source}: nodes[${i}].name '${node.name}' is used twice; names must be unique`)
    names.add(node.name)
    if (node.peerId !== undefined) {
      if (peers.has(node.peerId)) throw new TopologyError(`${source}: nodes[${i}].peerId is used twice; each node needs its own identity`)
      peers.add(node.peerId)
    }
  })
  const seen = new Set<number>()
  t.edges.forEach(([a, b], k) => {
    if (a >= n || b >= n) throw new TopologyError(`${source}: edges[${k}] = [${a}, ${b}] names a node outside 0..${n - 1}`)
    if (a === b) throw new TopologyError(`${source}: edges[${k}] = [${a}, ${b}] is a self-loop; remove it`)
    const key = Math.min(a, b) * n + Math.max(a, b)
    if (seen.has(key)) throw new TopologyError(`${source}: edges[${k}] = [${a}, ${b}] repeats an earlier edge; remove it`)
    seen.add(key)
  })
  if (t.generator !== undefined && t.generator.nodes !== n) {
    throw new TopologyError(`${source}: generator.nodes is ${t.generator.nodes} but the file lists ${n} nodes`)
  }
  if (n > 1 && componentCount(adjacency(n, t.edges)) !== 1) {
    throw new TopologyError(`${source}: edges: the graph is disconnected; consensus needs a connected topology`)
  }
  return t
}

/** Read and validate a topology JSON file. */
export function loadTopology(path: string): Topology {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new TopologyError(`cannot read topology file ${path}: ${(e as Error).message}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    throw new TopologyError(`${path}: not valid JSON: ${(e as Error).message}`)
  }
  return parseTopology(json, path)
}

/** Sorted adjacency lists of the topology. */
export function neighbours(t: Topology): number[][] {
  return adjacency(t.nodes.length, t.edges)
}

const spectrumCache = new WeakMap<Topology, GraphSpectrum>()

/**
 * Record a spectrum computed elsewhere for `t` (the simulator's worker threads get the main
 * thread's, so a 10,000-node Lanczos runs once per run, not once per thread).
 */
export function rememberTopologySpectrum(t: Topology, s: GraphSpectrum): void {
  spectrumCache.set(t, s)
}

/** Spectrum of the whole topology, computed once per Topology object. */
export function topologySpectrum(t: Topology): GraphSpectrum {
  let s = spectrumCache.get(t)
  if (s === undefined) {
    s = graphSpectrum(neighbours(t))
    spectrumCache.set(t, s)
  }
  return s
}

export interface SpectralReport {
  nodes: number
  edges: number
  maxDegree: number
  lambda2: number
  lambdaMax: number
  schemes: Record<SchemeName, { rho: number; rounds: number }>
}

/**
 * Laplacian lambda_2 and lambda_max, and per weighting scheme the consensus rate rho
 * (second-largest |eigenvalue| of W; Chebyshev: effective per-round rate) and the rounds
 * for relative tolerance `tol` (rounds = ceil(ln tol / ln rho), eq. 5).
 */
const reportCache = new WeakMap<Topology, Map<number, SpectralReport>>()

export function spectralReport(t: Topology, tol = DEFAULT_TOL): SpectralReport {
  // once per topology and tolerance: the finite-time plan costs two dense eigensolves (S <= 400)
  let perTol = reportCache.get(t)
  if (perTol === undefined) {
    perTol = new Map()
    reportCache.set(t, perTol)
  }
  const hit = perTol.get(tol)
  if (hit !== undefined) return structuredClone(hit)
  const r = computeSpectralReport(t, tol)
  perTol.set(tol, r)
  return structuredClone(r)
}

function computeSpectralReport(t: Topology, tol: number): SpectralReport {
  const spec = topologySpectrum(t)
  const schemes = {} as Record<SchemeName, { rho: number; rounds: number }>
  const adj = neighbours(t)
  for (const s of SCHEMES) {
    const p = planScheme(s, spec, tol, adj)
    schemes[s] = { rho: p.rho, rounds: p.rounds }
  }
  return {
    nodes: spec.nodes,
    edges: spec.edges,
    maxDegree: spec.maxDegree,
    lambda2: spec.lambda2,
    lambdaMax: spec.lambdaMax,
    schemes,
  }
}
