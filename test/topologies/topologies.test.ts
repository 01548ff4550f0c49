import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { EigenvalueDecomposition, Matrix } from 'ml-matrix'
import { describe, expect, it, vi } from 'vitest'
import {
  TopologyError,
  componentCount,
  generateTopology,
  loadTopology,
  neighbours,
  parseTopology,
  spectralReport,
  type Topology,
} from '../../topologies/index.js'
import { registerTopologyCommands, setMember } from '../../topologies/cli.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'

const dir = join(import.meta.dirname, '../../topologies')
const degrees = (t: Topology): number[] => neighbours(t).map((a) => a.length)
const connected = (t: Topology): boolean => componentCount(neighbours(t)) === 1

/** Independent reference: dense eigenvalues by ml-matrix. */
function refEigs(rows: number[][]): number[] {
  return [...new EigenvalueDecomposition(new Matrix(rows), { assumeSymmetric: true }).realEigenvalues].sort((a, b) => a - b)
}

describe('generators', () => {
  it('cwic: x ~ x +- 1 and x ~ x^-1 mod p; 0, 1, p-1 have degree 2, the rest at most 3', () => {
    for (const p of [31, 101, 1009]) {
      const t = generateTopology('cwic', p)
      const adj = neighbours(t)
      for (let x = 0; x < p; x++) {
        expect(adj[x]).toContain((x + 1) % p)
        expect(adj[x]).toContain((x + p - 1) % p)
        if (x > 1 && x < p - 1) {
          const inv = adj[x].find((y) => (x * y) % p === 1)
          expect(inv, `node ${x} links its inverse`).toBeDefined()
        }
      }
      const d = degrees(t)
      expect(d[0]).toBe(2)
      expect(d[1]).toBe(2)
      expect(d[p - 1]).toBe(2)
      expect(Math.max(...d)).toBe(3)
      expect(connected(t)).toBe(true)
    }
    expect(() => generateTopology('cwic', 30)).toThrow(TopologyError)
  })

  it('regular: every degree is d, connected, seeded (same seed same graph)', () => {
    for (const [S, d] of [[100, 3], [1000, 3], [31, 4], [64, 6]] as const) {
      const t = generateTopology('regular', S, { degree: d, seed: 5 })
      expect(new Set(degrees(t))).toEqual(new Set([d]))
      expect(connected(t)).toBe(true)
      expect(generateTopology('regular', S, { degree: d, seed: 5 }).edges).toEqual(t.edges)
    }
    expect(generateTopology('regular', 100, { seed: 6 }).edges).not.toEqual(generateTopology('regular', 100, { seed: 5 }).edges)
    expect(() => generateTopology('regular', 31, { degree: 3 })).toThrow(/even/)
  })

  it('mgg: S = m^2, degrees at most 8, connected, an expander (lambda_2 does not vanish with m)', () => {
    const l2: number[] = []
    for (const m of [6, 12, 24]) {
      const t = generateTopology('mgg', m * m)
      expect(Math.max(...degrees(t))).toBeLessThanOrEqual(8)
      expect(connected(t)).toBe(true)
      l2.push(spectralReport(t).lambda2)
    }
    expect(Math.min(...l2)).toBeGreaterThan(0.3 * Math.max(...l2))
    expect(() => generateTopology('mgg', 50)).toThrow(/perfect square/)
  })

  it('ring, torus, complete: degrees 2, 4, S-1', () => {
    expect(new Set(degrees(generateTopology('ring', 20)))).toEqual(new Set([2]))
    expect(new Set(degrees(generateTopology('torus', 30)))).toEqual(new Set([4]))
    expect(new Set(degrees(generateTopology('complete', 9)))).toEqual(new Set([8]))
  })
})

describe('spectral report', () => {
  it('matches closed forms: ring lambda_2 = 2 - 2cos(2 pi / S), lambda_max = 4; complete: one round', () => {
    const S = 40
    const r = spectralReport(generateTopology('ring', S))
    expect(r.lambda2).toBeCloseTo(2 - 2 * Math.cos((2 * Math.PI) / S), 10)
    expect(r.lambdaMax).toBeCloseTo(4, 10)
    // Best constant 2/(l2 + lmax): rho = (lmax - l2)/(lmax + l2), rounds = ceil(ln tol / ln rho).
    const rho = (4 - r.lambda2) / (4 + r.lambda2)
    expect(r.schemes['best-constant'].rho).toBeCloseTo(rho, 12)
    expect(r.schemes['best-constant'].rounds).toBe(Math.ceil(Math.log(1e-9) / Math.log(rho)))
    const k = spectralReport(generateTopology('complete', 12))
    expect(k.lambda2).toBeCloseTo(12, 9)
    expect(k.schemes.paper.rounds).toBe(1) // W = I - L/S = (1/S) 1 1^T: exact in one round
    expect(k.schemes['best-constant'].rounds).toBe(1)
  })

  it('Metropolis rho agrees with an independent eigensolver (ml-matrix)', () => {
    const t = generateTopology('cwic', 31)
    const adj = neighbours(t)
    const W = adj.map((a, i) => {
      const row = new Array(31).fill(0)
      for (const j of a) row[j] = 1 / (1 + Math.max(a.length, adj[j].length))
      row[i] = 1 - row.reduce((x: number, y: number) => x + y, 0)
      return row
    })
    const ev = refEigs(W)
    const rho = Math.max(Math.abs(ev[0]), Math.abs(ev[29]))
    expect(spectralReport(t).schemes.metropolis.rho).toBeCloseTo(rho, 10)
    const L = adj.map((a, i) => {
      const row = new Array(31).fill(0)
      for (const j of a) row[j] = -1
      row[i] = a.length
      return row
    })
    const lev = refEigs(L)
    expect(spectralReport(t).lambda2).toBeCloseTo(lev[1], 10)
  })

  it('the accelerated scheme needs >= 2x fewer rounds than metropolis and >= 10x fewer than paper on cwic-31 at 1e-9', () => {
    const r = spectralReport(loadTopology(join(dir, 'cwic-31.json')), 1e-9)
    expect(r.schemes.metropolis.rounds).toBeGreaterThanOrEqual(2 * r.schemes.chebyshev.rounds)
    expect(r.schemes.paper.rounds).toBeGreaterThanOrEqual(10 * r.schemes.chebyshev.rounds)
    for (const s of ['paper', 'max-degree', 'metropolis', 'best-constant'] as const) {
      expect(r.schemes.chebyshev.rounds).toBeLessThan(r.schemes[s].rounds)
    }
  })

  it('rounds: flat-to-ln S on random 3-regular, like S^2 on the ring', () => {
    const sizes = [64, 256, 1024]
    const reg = sizes.map((S) => spectralReport(generateTopology('regular', S, { seed: 2 })).schemes.metropolis.rounds)
    // No faster than ln S: rounds(S)/rounds(64) <= ln S / ln 64.
    for (let k = 1; k < sizes.length; k++) expect(reg[k] / reg[0]).toBeLessThanOrEqual(Math.log(sizes[k]) / Math.log(sizes[0]))
    // And bounded: lambda_2 of random 3-regular graphs tends to 3 - 2 sqrt 2 (Alon-Boppana,
    // Friedman), so Metropolis (W = I - L/4) needs at most about ln tol / ln(1 - (3 - 2 sqrt 2)/4).
    const limit = Math.log(1e-9) / Math.log(1 - (3 - 2 * Math.SQRT2) / 4)
    for (const r of reg) expect(r).toBeLessThan(1.1 * limit)
    const ring = [16, 32, 64].map((S) => spectralReport(generateTopology('ring', S)).schemes.metropolis.rounds)
    expect(ring[1] / ring[0]).toBeGreaterThan(3.5)
    expect(ring[1] / ring[0]).toBeLessThan(4.5)
    expect(ring[2] / ring[1]).toBeGreaterThan(3.5)
    expect(ring[2] / ring[1]).toBeLessThan(4.5)
  })
})

describe('topology files', () => {
  it('every shipped file loads, and a generated one reproduces it exactly', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'))
    expect(files).toContain('cwic-31.json')
    for (const f of files) {
      const t = loadTopology(join(dir, f))
      const g = t.generator
      expect(g, f).toBeDefined()
      if (g === undefined) continue
      if (g.nodes > 1100) continue
      const again = generateTopology(g.kind as Parameters<typeof generateTopology>[0], g.nodes, { degree: g.degree, seed: g.seed })
      expect(again.edges, f).toEqual(t.edges)
    }
  })

  it('validation errors name the field', () => {
    const good = generateTopology('ring', 5)
    const bad = (patch: (t: Record<string, unknown>) => void): unknown => {
      const t = JSON.parse(JSON.stringify(good)) as Record<string, unknown>
      patch(t)
      return t
    }
    const cases: Array<[unknown, RegExp]> = [
      [bad((t) => delete t.version), /version/],
      [bad((t) => ((t.edges as number[][])[2] = [1, 9])), /edges\[2\]/],
      [bad((t) => ((t.edges as number[][])[1] = [3, 3])), /edges\[1\].*self-loop/],
      [bad((t) => (t.edges as number[][]).push([1, 0])), /edges\[5\].*repeats/],
      [bad((t) => ((t.edges as unknown[])[0] = [0, 'a'])), /edges\[0\]\[1\]/],
      [bad((t) => ((t.nodes as Array<{ index: number }>)[3].index = 7)), /nodes\[3\]\.index/],
      [bad((t) => ((t.nodes as Array<{ name: string }>)[4].name = 'node-0')), /nodes\[4\]\.name/],
      [bad((t) => (t.extra = 1)), /extra|unrecognized/i],
      [bad((t) => (t.edges = [[0, 1], [2, 3]])), /disconnected/],
      [bad((t) => ((t.generator as { nodes: number }).nodes = 9)), /generator\.nodes/],
    ]
    for (const [json, re] of cases) {
      expect(() => parseTopology(json, 'x.json')).toThrow(TopologyError)
      expect(() => parseTopology(json, 'x.json')).toThrow(re)
    }
    const tmp = mkdtempSync(join(tmpdir(), 'topo-'))
    writeFileSync(join(tmp, 'broken.json'), '{"version": 1,')
    expect(() => loadTopology(join(tmp, 'broken.json'))).toThrow(/broken\.json: not valid JSON/)
    expect(() => loadTopology(join(tmp, 'missing.json'))).toThrow(/cannot read/)
  })
})

describe('collab topology CLI', () => {
  async function run(args: string[]): Promise<string> {
    const out: string[] = []
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      out.push(String(s))
      return true
    })
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    try {
      const program = new Command().exitOverride()
      registerTopologyCommands(program)
      await program.parseAsync(['node', 'collab', 'topology', ...args])
    } finally {
      spy.mockRestore()
      err.mockRestore()
    }
    return out.join('')
  }

  it('generate writes a loadable file; inspect --json prints the report for --tol', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'topo-'))
    const file = join(tmp, 'r.json')
    await run(['generate', '--kind', 'regular', '--nodes', '40', '--degree', '3', '--seed', '9', '--out', file])
    const t = loadTopology(file)
    expect(t.generator).toEqual({ kind: 'regular', nodes: 40, degree: 3, seed: 9 })
    const json = JSON.parse(await run(['inspect', file, '--json', '--tol', '1e-6'])) as Record<string, unknown>
    expect(Object.keys(json)).toEqual(['nodes', 'edges', 'maxDegree', 'lambda2', 'lambdaMax', 'schemes'])
    expect(json).toEqual(JSON.parse(JSON.stringify(spectralReport(t, 1e-6))))
    const stdout = await run(['generate', '--kind', 'cwic', '--nodes', '31'])
    expect(JSON.parse(stdout)).toEqual(JSON.parse(readFileSync(join(dir, 'cwic-31.json'), 'utf8')))
  })

  it('set-member records a PeerId and addresses in place, refusing bad PeerIds, addresses and indices', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'topo-'))
    const file = join(tmp, 'c.json')
    await run(['generate', '--kind', 'cwic', '--nodes', '5', '--out', file])
    const key = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(key).toString()
    await run(['set-member', file, '--index', '2', '--peer-id', peerId, '--addr', '/ip4/10.0.0.5/tcp/4001', '--addr', '/dns4/clinic.example/tcp/4001', '--name', 'clinic-a'])
    const t = loadTopology(file)
    expect(t.nodes[2]).toEqual({ index: 2, name: 'clinic-a', peerId, multiaddrs: ['/ip4/10.0.0.5/tcp/4001', '/dns4/clinic.example/tcp/4001'] })
    expect(t.edges).toEqual(generateTopology('cwic', 5).edges)
    expect(() => setMember(t, 1, { peerId: 'not-a-peer', addrs: ['/ip4/1.2.3.4/tcp/1'] })).toThrow(/not a PeerId/)
    expect(() => setMember(t, 1, { peerId, addrs: ['/ip4/1.2.3.4/tcp/1'] })).toThrow(/used twice/)
    expect(() => setMember(t, 9, { peerId, addrs: ['/ip4/1.2.3.4/tcp/1'] })).toThrow(/outside 0..4/)
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    expect(() => setMember(t, 1, { peerId: other, addrs: ['/ip4/1.2.3.4/udp/1'] })).toThrow(/TCP address/)
    expect(() => setMember(t, 1, { peerId: other, addrs: ['garbage'] })).toThrow(/not a multiaddr/)
    expect(() => setMember(t, 1, { peerId: other, addrs: [] })).toThrow(/at least one --addr/)
  })
})
