/**
 * Seeded graph generators for the overlay. Every generator returns a simple undirected
 * graph (no self-loops, no multi-edges) as a sorted edge list [i, j] with i < j.
 * Expanders (cwic, regular, mgg) keep the consensus rate bounded away from 1 as S grows;
 * ring, torus and complete are the comparison points.
 */
import { Rng } from '../src/numeric/rng.js'

export class TopologyError extends Error {
  override name = 'TopologyError'
}

export type Edge = [number, number]

/** Sorted, de-duplicated edge list without self-loops. */
function simpleEdges(raw: Iterable<Edge>, nodes: number): Edge[] {
  const seen = new Set<number>()
  const out: Edge[] = []
  for (const [a, b] of raw) {
    if (a === b) continue
    const i = Math.min(a, b)
    const j = Math.max(a, b)
    const key = i * nodes + j
    if (seen.has(key)) continue
    seen.add(key)
    out.push([i, j])
  }
  out.sort((x, y) => x[0] - y[0] || x[1] - y[1])
  return out
}

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false
  return true
}

/** x^(e) mod m by square-and-multiply (m < 2^26 so products stay exact in f64). */
function powMod(x: number, e: number, m: number): number {
  let r = 1
  let b = x % m
  while (e > 0) {
    if (e & 1) r = (r * b) % m
    b = (b * b) % m
    e = Math.floor(e / 2)
  }
  return r
}

/**
 * Cycle with inverse chord on Z_p, p prime (Idé & Raymond): x ~ x +- 1 and x ~ x^-1 mod p.
 * 0 has no inverse and +-1 are their own, so nodes 0, 1 and p-1 have degree 2; a node whose
 * inverse is also a cycle neighbour has degree 2 as well (the graph is kept simple).
 */
export function cycleInverseChord(p: number): Edge[] {
  if (!isPrime(p) || p > 1 << 26) {
    throw new TopologyError(`cwic needs a prime number of nodes (got ${p}); try 31, 101, 1009`)
  }
  const raw: Edge[] = []
  for (let x = 0; x < p; x++) {
    raw.push([x, (x + 1) % p])
    if (x !== 0) raw.push([x, powMod(x, p - 2, p)]) // Fermat: x^(p-2) = x^-1
  }
  return simpleEdges(raw, p)
}

/**
 * Random connected d-regular simple graph: random pairing of the S*d half-edges in which
 * each half-edge is matched among the currently admissible partners (no loop, no repeat),
 * restarted on a dead end or a disconnected result (Steger & Wormald 1999 style; the plain
 * configuration model would be rejected with probability ~1 - exp(-(d^2-1)/4)).
 */
export function randomRegular(nodes: number, degree: number, rng: Rng): Edge[] {
  if (!Number.isInteger(degree) || degree < 1 || degree >= nodes) {
    throw new TopologyError(`regular needs 1 <= degree < nodes (got degree ${degree}, nodes ${nodes})`)
  }
  if ((nodes * degree) % 2 !== 0) {
    throw new TopologyError(`regular needs nodes * degree even (got ${nodes} * ${degree}); change one of them`)
  }
  for (let attempt = 0; attempt < 200; attempt++) {
    const edges = tryPairing(nodes, degree, rng)
    if (edges !== null && isConnected(nodes, edges)) return edges
  }
  throw new TopologyError(`could not draw a connected ${degree}-regular graph on ${nodes} nodes; try another seed`)
}

function tryPairing(nodes: number, degree: number, rng: Rng): Edge[] | null {
  const points: number[] = []
  for (let v = 0; v < nodes; v++) for (let k = 0; k < degree; k++) points.push(v)
  const adj: Set<number>[] = Array.from({ length: nodes }, () => new Set<number>())
  const edges: Edge[] = []
  // Remaining half-edges live in `points[0..n)`; pick one at random, then a random admissible partner.
  let n = points.length
  while (n > 0) {
    const ia = rng.int(n)
    const a = points[ia]
    points[ia] = points[n - 1]
    n--
    // Try random partners a bounded number of times, then scan.
    let ib = -1
    for (let tries = 0; tries < 16 && n > 0; tries++) {
      const k = rng.int(n)
      const b = points[k]
      if (b !== a && !adj[a].has(b)) {
        ib = k
        break
      }
    }
    if (ib < 0) {
      const start = n > 0 ? rng.int(n) : 0
      for (let s = 0; s < n; s++) {
        const k = (start + s) % n
        const b = points[k]
        if (b !== a && !adj[a].has(b)) {
          ib = k
          break
        }
      }
    }
    if (ib < 0) return null
    const b = points[ib]
    points[ib] = points[n - 1]
    n--
    adj[a].add(b)
    adj[b].add(a)
    edges.push(a < b ? [a, b] : [b, a])
  }
  edges.sort((x, y) => x[0] - y[0] || x[1] - y[1])
  return edges
}

/**
 * Margulis-Gabber-Galil expander on Z_m x Z_m (S = m^2): (x, y) ~ (x +- 2y, y),
 * (x +- (2y + 1), y), (x, y +- 2x), (x, y +- (2x + 1)); node index x * m + y. The
 * 8-regular multigraph is made simple, so degrees are at most 8.
 */
export function margulisGabberGalil(nodes: number): Edge[] {
  const m = Math.round(Math.sqrt(nodes))
  if (m * m !== nodes || m < 2) {
    throw new TopologyError(`mgg needs a perfect square number of nodes S = m^2 (got ${nodes}); try 36, 100, 1024`)
  }
  const id = (x: number, y: number): number => (((x % m) + m) % m) * m + (((y % m) + m) % m)
  const raw: Edge[] = []
  for (let x = 0; x < m; x++) {
    for (let y = 0; y < m; y++) {
      const v = id(x, y)
      raw.push([v, id(x + 2 * y, y)], [v, id(x + 2 * y + 1, y)])
      raw.push([v, id(x, y + 2 * x)], [v, id(x, y + 2 * x + 1)])
    }
  }
  return simpleEdges(raw, nodes)
}

export function ring(nodes: number): Edge[] {
  if (nodes < 3) throw new TopologyError(`ring needs at least 3 nodes (got ${nodes})`)
  const raw: Edge[] = []
  for (let i = 0; i < nodes; i++) raw.push([i, (i + 1) % nodes])
  return simpleEdges(raw, nodes)
}

/** 2-D torus on a rows x cols grid with wrap-around, rows the largest divisor of S <= sqrt(S). */
export function torus(nodes: number): Edge[] {
  if (nodes < 4) throw new TopologyError(`torus needs at least 4 nodes (got ${nodes})`)
  let rows = Math.floor(Math.sqrt(nodes))
  while (nodes % rows !== 0) rows--
  const cols = nodes / rows
  if (rows < 2) throw new TopologyError(`torus needs a composite number of nodes (got prime ${nodes}); use ring or another S`)
  const raw: Edge[] = []
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = r * cols + c
      raw.push([v, r * cols + ((c + 1) % cols)], [v, ((r + 1) % rows) * cols + c])
    }
  }
  return simpleEdges(raw, nodes)
}

export function complete(nodes: number): Edge[] {
  if (nodes < 2) throw new TopologyError(`complete needs at least 2 nodes (got ${nodes})`)
  const out: Edge[] = []
  for (let i = 0; i < nodes; i++) for (let j = i + 1; j < nodes; j++) out.push([i, j])
  return out
}

/** Adjacency lists (sorted) from an edge list. */
export function adjacency(nodes: number, edges: ReadonlyArray<readonly [number, number]>): number[][] {
  const adj: number[][] = Array.from({ length: nodes }, () => [])
  for (const [i, j] of edges) {
    adj[i].push(j)
    adj[j].push(i)
  }
  for (const a of adj) a.sort((x, y) => x - y)
  return adj
}

export function isConnected(nodes: number, edges: ReadonlyArray<readonly [number, number]>): boolean {
  return componentCount(adjacency(nodes, edges)) <= 1
}

/** Number of connected components among the nodes with `alive[v]` (all when omitted). */
export function componentCount(adj: number[][], alive?: ArrayLike<boolean>): number {
  const n = adj.length
  const seen = new Uint8Array(n)
  const stack: number[] = []
  let count = 0
  for (let s = 0; s < n; s++) {
    if (seen[s] || (alive && !alive[s])) continue
    count++
    seen[s] = 1
    stack.push(s)
    while (stack.length > 0) {
      const v = stack.pop() as number
      for (const w of adj[v]) {
        if (!seen[w] && (!alive || alive[w])) {
          seen[w] = 1
          stack.push(w)
        }
      }
    }
  }
  return count
}
