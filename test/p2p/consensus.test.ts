/**
 * The consensus engine (src/consensus) over the libp2p transport on loopback (real TCP +
 * Noise + Yamux), with a neighbour that also injects fuzzed frames: every sum still equals
 * the exact sum within the consensus tolerance, nobody crashes, and the garbage is counted.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createConsensusNode, type ConsensusNode } from '../../src/consensus/index.js'
import { encodeFrame, HEADER_BYTES, type FrameLimits } from '../../src/p2p/codec.js'
import { addPeerAddresses, createHost, waitForPeers, type CollabHost } from '../../src/p2p/host.js'
import { CONSENSUS_PROTOCOL, createLibp2pTransport, type Libp2pTransport } from '../../src/p2p/transport.js'
import { generateTopology } from '../../topologies/index.js'
import { Rng } from '../../src/numeric/rng.js'

const S = 5
const LEN = 40
const TOL = 1e-9
const limits: FrameLimits = { maxPayload: LEN, maxChunks: 3, maxRounds: 100_000 }
const topology = generateTopology('cwic', S)
let hosts: CollabHost[]
let transports: Libp2pTransport[]
let nodes: ConsensusNode[]
let peers: string[]

beforeAll(async () => {
  const keys = await Promise.all(topology.nodes.map(() => generateKeyPair('Ed25519')))
  peers = keys.map((k) => peerIdFromPrivateKey(k).toString())
  hosts = await Promise.all(keys.map((k) => createHost({ privateKey: k, listen: ['/ip4/127.0.0.1/tcp/0'], allowedPeers: peers })))
  const book = hosts.map((h, i) => ({ peerId: peers[i], multiaddrs: h.getMultiaddrs().map(String) }))
  for (const h of hosts) await addPeerAddresses(h, book)
  transports = hosts.map((host, i) => createLibp2pTransport({ host, peers, self: i, limits }))
  for (const t of transports) await t.start()
  for (let i = 0; i < S; i++) await waitForPeers(hosts[i], peers.filter((_, j) => j !== i), 20_000)
  nodes = transports.map((transport) =>
    createConsensusNode({ topology, transport, scheme: 'metropolis', tol: TOL, chunks: 3, seed: 11, timeoutMs: 20_000 }),
  )
})

afterAll(async () => {
  for (const n of nodes ?? []) n.close()
  for (const t of transports ?? []) await t.stop()
  await Promise.all((hosts ?? []).map(async (h) => h.stop()))
})

describe('consensus over libp2p', () => {
  it('sums equal the exact sums while a neighbour injects fuzzed frames', async () => {
    const rng = new Rng(5)
    const inputs = Array.from({ length: 3 }, () =>
      Array.from({ length: S }, () => Float64Array.from({ length: LEN }, () => rng.normal() * 10)),
    )
    // node 1 is a neighbour of node 0 (cwic) and also sends garbage on a side stream
    const nan = encodeFrame({ session: 0, chunk: 0, round: 0, payload: new Float64Array(LEN) })
    new DataView(nan.buffer).setFloat64(HEADER_BYTES + 8, Number.NaN, true)
    const badVersion = encodeFrame({ session: 0, chunk: 0, round: 1, payload: new Float64Array(LEN) })
    badVersion[0] = 7
    const garbage = [
      nan,
      badVersion,
      encodeFrame({ session: 0, chunk: 0, round: 2, payload: new Float64Array(LEN) }).subarray(0, 50), // truncated
      encodeFrame({ session: 900, chunk: 1, round: 0, payload: new Float64Array(LEN).fill(1e6) }), // wrong session
      encodeFrame({ session: 1, chunk: 2, round: 3, payload: new Float64Array(3).fill(1e6) }), // wrong length for the session
      // oversized payload, last: a message beyond the byte limit aborts the stream (no resync possible)
      encodeFrame({ session: 0, chunk: 0, round: 0, payload: new Float64Array(LEN + 1) }),
    ]
    const injector = (async () => {
      for (let k = 0; k < 20; k++) {
        const raw = lpStream(await hosts[1].dialProtocol(hosts[0].peerId, CONSENSUS_PROTOCOL))
        for (const g of garbage) await raw.write(g)
        await new Promise((r) => setTimeout(r, 30))
      }
    })()

    for (let call = 0; call < inputs.length; call++) {
      const exact = new Float64Array(LEN)
      for (const v of inputs[call]) for (let i = 0; i < LEN; i++) exact[i] += v[i]
      const sums = await Promise.all(nodes.map((n, s) => n.sum(inputs[call][s], `fuzz:${call}`)))
      const scale = Math.max(...exact.map(Math.abs))
      for (const sum of sums) {
        for (let i = 0; i < LEN; i++) expect(Math.abs(sum[i] - exact[i])).toBeLessThan(1e-6 * scale)
      }
    }
    await injector
    const r = transports[0].stats.rejects
    expect(r['non-finite']).toBe(20)
    expect(r['bad-version']).toBe(20)
    expect(r['truncated']).toBe(20)
    expect(r['oversized']).toBe(20)
    // structurally valid frames the engine refused and reported: far-future session, wrong length
    expect((r['too-early'] ?? 0) + (r['bad-frame'] ?? 0) + (r['bad-length'] ?? 0)).toBeGreaterThan(0)
    expect(transports[0].stats.rejectsByPeer[1]).toBeGreaterThanOrEqual(80)
  })
})
