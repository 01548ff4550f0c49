/**
 * Real libp2p (TCP + Noise + Yamux) on 127.0.0.1, in one process: gater, frame delivery,
 * fuzzed frames from a topology member, state sync, lifecycle.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ConsensusFrame } from '../../src/consensus/transport.js'
import { encodeFrame, frameBytes, HEADER_BYTES, type FrameLimits } from '../../src/p2p/codec.js'
import { addPeerAddresses, createHost, PeerBarrierTimeoutError, waitForPeers, type CollabHost } from '../../src/p2p/host.js'
import { fetchGlobal, serveGlobal } from '../../src/p2p/sync.js'
import { CONSENSUS_PROTOCOL, createLibp2pTransport, type Libp2pTransport } from '../../src/p2p/transport.js'

const limits: FrameLimits = { maxPayload: 8, maxChunks: 2, maxRounds: 100 }
const S = 4 // nodes 0,1,2 form a path 0-1-2 plus 0-2; node 3 is a member that is nobody's neighbour
const nbrs = [[1, 2], [0, 2], [0, 1], []]

let keys: PrivateKey[]
let peers: string[]
let hosts: CollabHost[]
let transports: Libp2pTransport[]
const inbox: Array<Array<{ from: number; frame: ConsensusFrame }>> = [[], [], [], []]

function waitFor(pred: () => boolean, what: () => string = () => 'condition', ms = 10_000): Promise<void> {
  const t0 = Date.now()
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (pred()) resolve()
      else if (Date.now() - t0 > ms) reject(new Error(`${what()} not met in time`))
      else setTimeout(tick, 20)
    }
    tick()
  })
}

beforeAll(async () => {
  keys = await Promise.all(Array.from({ length: S }, () => generateKeyPair('Ed25519')))
  peers = keys.map((k) => peerIdFromPrivateKey(k).toString())
  hosts = await Promise.all(keys.map((k) => createHost({ privateKey: k, listen: ['/ip4/127.0.0.1/tcp/0'], allowedPeers: peers })))
  const book = hosts.map((h, i) => ({ peerId: peers[i], multiaddrs: h.getMultiaddrs().map((a) => a.toString()) }))
  for (const h of hosts) await addPeerAddresses(h, book)
  transports = hosts.map((host, i) =>
    createLibp2pTransport({
      host,
      peers,
      self: i,
      neighbours: nbrs[i],
      limits,
      // the engine's session window: frames for session 7 are "wrong session" here
      admit: (_from, f) => (f.session === 7 ? 'bad-session' : null),
    }),
  )
  transports.forEach((t, i) => t.onFrame((from, frame) => inbox[i].push({ from, frame })))
  for (const t of transports) {
    await t.start()
    await t.start() // idempotent
  }
})

afterAll(async () => {
  for (const t of transports ?? []) {
    await t.stop()
    await t.stop() // idempotent
  }
  await Promise.all((hosts ?? []).map(async (h) => h.stop()))
})

describe('libp2p transport on loopback', () => {
  it('the start barrier connects neighbours', async () => {
    await waitForPeers(hosts[0], [peers[1], peers[2]], 10_000)
    expect(hosts[0].getConnections().length).toBeGreaterThanOrEqual(2)
  })

  it('the start barrier names the neighbours it could not reach', async () => {
    const absent = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const t0 = Date.now()
    const err = await waitForPeers(hosts[0], [peers[1], absent], 800).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PeerBarrierTimeoutError)
    expect((err as Error).message).toContain(absent)
    expect((err as Error).message).not.toContain(peers[1])
    // it gave up on its own 800 ms bound, not after some much longer wait (generous for a loaded machine)
    expect(Date.now() - t0).toBeLessThan(60_000)
  })

  it('delivers frames in order, bit-exact, with the authenticated sender index', async () => {
    const sent: ConsensusFrame[] = []
    const sends: Array<Promise<void>> = []
    for (let r = 0; r < 50; r++) {
      const f = { session: 1, chunk: r % 2, round: r, payload: new Float64Array([r, -r / 3, Math.SQRT2 * r]) }
      sent.push(f)
      sends.push(transports[0].send(1, f) as Promise<void>)
    }
    await Promise.all(sends)
    await waitFor(() => inbox[1].length >= 50)
    expect(inbox[1].every((m) => m.from === 0)).toBe(true)
    expect(inbox[1].map((m) => m.frame.round)).toEqual(sent.map((f) => f.round))
    for (let r = 0; r < 50; r++) expect(Array.from(inbox[1][r].frame.payload)).toEqual(Array.from(sent[r].payload))
    expect(transports[0].stats.framesSent).toBe(50)
    expect(transports[1].stats.framesReceived).toBe(50)
    expect(transports[1].stats.bytesReceived).toBe(50 * frameBytes(3))
  })

  it('refuses to send to a non-neighbour', async () => {
    await expect(transports[0].send(3, { session: 1, chunk: 0, round: 0, payload: new Float64Array(1) })).rejects.toThrow(
      /not a neighbour/,
    )
  })

  it('a peer outside the topology cannot connect, either way (gater)', async () => {
    const outsider = await createHost({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      allowedPeers: [...peers],
    })
    try {
      // Noise tells the responder who the initiator is only in the last handshake message,
      // so the dialer may briefly see a connection before the gater's verdict closes it
      await outsider.dial(hosts[0].getMultiaddrs()[0], { signal: AbortSignal.timeout(5000) }).catch(() => null)
      await expect(
        outsider.dialProtocol(hosts[0].getMultiaddrs()[0], CONSENSUS_PROTOCOL, { signal: AbortSignal.timeout(5000) }),
      ).rejects.toBeInstanceOf(Error)
      let outbound: unknown = null
      try {
        outbound = await hosts[0].dial(outsider.getMultiaddrs()[0], { signal: AbortSignal.timeout(5000) })
      } catch (err) {
        outbound = err
      }
      expect(outbound).toBeInstanceOf(Error)
      await waitFor(() => outsider.getConnections(hosts[0].peerId).length === 0)
      expect(hosts[0].getConnections(outsider.peerId)).toHaveLength(0)
      expect(inbox[0].length).toBe(0)
    } finally {
      await outsider.stop()
    }
  })

  it('a topology member that is not a neighbour cannot talk consensus', async () => {
    const stream = await hosts[3].dialProtocol(hosts[0].peerId, CONSENSUS_PROTOCOL)
    const lp = lpStream(stream)
    await lp.write(encodeFrame({ session: 1, chunk: 0, round: 0, payload: new Float64Array([1]) })).catch(() => {})
    await waitFor(() => (transports[0].stats.rejects['unknown-peer'] ?? 0) >= 1)
    expect(inbox[0].some((m) => m.from === 3)).toBe(false)
  })

  it('drops fuzzed frames from a neighbour by reason, keeps valid ones, survives oversize', async () => {
    const victim = transports[2]
    const before = inbox[2].length
    const valid = (round: number): Uint8Array =>
      encodeFrame({ session: 2, chunk: 0, round, payload: new Float64Array([round + 0.5]) })
    const nan = valid(0)
    new DataView(nan.buffer).setFloat64(HEADER_BYTES, NaN, true)
    const wrongVersion = valid(0)
    wrongVersion[0] = 99
    const wrongSession = encodeFrame({ session: 7, chunk: 0, round: 0, payload: new Float64Array([1]) })
    const tooLongPayload = encodeFrame({ session: 2, chunk: 0, round: 0, payload: new Float64Array(limits.maxPayload + 1) })

    const s1 = lpStream(await hosts[0].dialProtocol(hosts[2].peerId, CONSENSUS_PROTOCOL))
    await s1.write(valid(1))
    await s1.write(valid(2).subarray(0, 30)) // truncated
    await s1.write(wrongVersion)
    await s1.write(nan)
    await s1.write(wrongSession)
    await s1.write(tooLongPayload.subarray(0, frameBytes(limits.maxPayload))) // header claims 9 entries: oversized
    await s1.write(new Uint8Array(5)) // garbage shorter than a header
    await s1.write(valid(3))
    await waitFor(() => inbox[2].length >= before + 2, () => `2 valid frames ${JSON.stringify(victim.stats)}`)
    // an lp message beyond the byte limit: the stream is aborted (cannot resynchronise)
    await s1.write(new Uint8Array(frameBytes(limits.maxPayload) + 100)).catch(() => {})
    await waitFor(() => (victim.stats.rejects['oversized'] ?? 0) >= 2, () => `oversized ${JSON.stringify(victim.stats)}`)
    // the victim still accepts a fresh stream from the same neighbour
    const s2 = lpStream(await hosts[0].dialProtocol(hosts[2].peerId, CONSENSUS_PROTOCOL))
    await s2.write(valid(4))
    await waitFor(() => inbox[2].length >= before + 3, () => `3rd frame ${JSON.stringify(victim.stats)}`)

    const got = inbox[2].slice(before)
    expect(got.map((m) => m.frame.round)).toEqual([1, 3, 4])
    expect(got.map((m) => m.frame.payload[0])).toEqual([1.5, 3.5, 4.5])
    expect(victim.stats.rejects).toMatchObject({
      truncated: 2,
      'bad-version': 1,
      'non-finite': 1,
      'bad-session': 1,
      oversized: 2,
    })
    expect(victim.stats.rejectsByPeer[0]).toBe(7)
    // the regular transport path from node 0 to node 2 still works after all that
    await transports[0].send(2, { session: 3, chunk: 1, round: 5, payload: new Float64Array([9]) })
    await waitFor(() => inbox[2].some((m) => m.frame.session === 3))
  })

  it('reconnects after the neighbour restarts', async () => {
    await transports[1].send(2, { session: 4, chunk: 0, round: 0, payload: new Float64Array([1]) })
    await waitFor(() => inbox[2].some((m) => m.frame.session === 4 && m.from === 1))
    // restart node 2's host on a new port with the same key
    await transports[2].stop()
    await hosts[2].stop()
    hosts[2] = await createHost({ privateKey: keys[2], listen: ['/ip4/127.0.0.1/tcp/0'], allowedPeers: peers })
    await addPeerAddresses(hosts[1], [{ peerId: peers[2], multiaddrs: hosts[2].getMultiaddrs().map(String) }])
    transports[2] = createLibp2pTransport({ host: hosts[2], peers, self: 2, neighbours: nbrs[2], limits })
    transports[2].onFrame((from, frame) => inbox[2].push({ from, frame }))
    await transports[2].start()
    await transports[1].send(2, { session: 5, chunk: 0, round: 0, payload: new Float64Array([2]) })
    await waitFor(() => inbox[2].some((m) => m.frame.session === 5 && m.from === 1))
  })

  it('serves the global state to a rejoining neighbour', async () => {
    const g = { iteration: 12, converged: false, state: new Float64Array([1, 2.5, -3]) }
    let ready = false
    await serveGlobal(hosts[1], () => (ready ? g : null))
    expect(await fetchGlobal(hosts[0], peers[1], { maxState: 3 })).toBeNull()
    ready = true
    expect(await fetchGlobal(hosts[0], peers[1], { maxState: 3 })).toEqual(g)
    await expect(fetchGlobal(hosts[0], peers[1], { maxState: 2 })).rejects.toThrow(/SyncError|exceeds|failed/)
  })
})
