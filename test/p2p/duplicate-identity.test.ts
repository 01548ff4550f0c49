/**
 * One node's key held by two processes: the lock file catches it on one host; across hosts
 * the neighbours see that node's frames interleave over two live connections. Unit cases
 * of the watch (restart and redial are not duplicates), then real libp2p on loopback: two
 * hosts started with the same key send frames to a third, which reports
 * 'duplicate-identity' once; one host sending over one connection is never reported.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeFrame, type FrameLimits } from '../../src/p2p/codec.js'
import { DuplicateIdentityWatch } from '../../src/p2p/duplicate-identity.js'
import { addPeerAddresses, createHost, type CollabHost } from '../../src/p2p/host.js'
import { CONSENSUS_PROTOCOL, createLibp2pTransport, type Libp2pTransport } from '../../src/p2p/transport.js'

describe('DuplicateIdentityWatch', () => {
  it('interleaving X, Y, X, Y within the window is a duplicate, reported once', () => {
    const w = new DuplicateIdentityWatch(10_000, 2)
    const seen = ['X', 'Y', 'X', 'Y', 'X', 'Y'].map((c, i) => w.observe(3, c, 1000 + i * 100))
    expect(seen.slice(0, 3)).toEqual([null, null, null])
    expect(seen[3]).toEqual({ peer: 3, connections: ['X', 'Y'] })
    expect(seen.slice(4)).toEqual([null, null])
  })

  it('a restart or redial moves to a new connection once: never a duplicate', () => {
    const w = new DuplicateIdentityWatch(10_000, 2)
    let t = 0
    const frames = [...Array(50).fill('X'), ...Array(50).fill('Y'), ...Array(50).fill('Z')] as string[]
    for (const c of frames) expect(w.observe(1, c, (t += 50))).toBeNull()
  })

  it('returns spread over more than the window are forgotten; other peers are tracked apart', () => {
    const w = new DuplicateIdentityWatch(1000, 2)
    expect(w.observe(1, 'X', 0)).toBeNull()
    expect(w.observe(1, 'Y', 100)).toBeNull()
    expect(w.observe(1, 'X', 200)).toBeNull() // one return
    expect(w.observe(2, 'Y', 300)).toBeNull() // another peer
    expect(w.observe(1, 'Y', 5000)).toBeNull() // Y silent > window: forgotten, not a return
    expect(w.observe(1, 'X', 5100)).toBeNull() // X last used at 200: forgotten too
  })
})

describe('duplicate identity over real libp2p', () => {
  const limits: FrameLimits = { maxPayload: 4, maxChunks: 1, maxRounds: 1000 }
  let bKey: PrivateKey
  let aKey: PrivateKey
  let peers: string[]
  let b: CollabHost
  let a1: CollabHost
  let a2: CollabHost
  let transport: Libp2pTransport
  const frame = (round: number): Uint8Array => encodeFrame({ session: 0, chunk: 0, round, payload: Float64Array.of(1, 2, 3, 4) })

  beforeAll(async () => {
    ;[bKey, aKey] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    peers = [peerIdFromPrivateKey(bKey).toString(), peerIdFromPrivateKey(aKey).toString()]
    b = await createHost({ privateKey: bKey, listen: ['/ip4/127.0.0.1/tcp/0'], allowedPeers: peers })
    // the same key twice: two processes started from one copied identity directory
    a1 = await createHost({ privateKey: aKey, listen: ['/ip4/127.0.0.1/tcp/0'], allowedPeers: peers })
    a2 = await createHost({ privateKey: aKey, listen: ['/ip4/127.0.0.1/tcp/0'], allowedPeers: peers })
    for (const h of [a1, a2]) await addPeerAddresses(h, [{ peerId: peers[0], multiaddrs: b.getMultiaddrs().map(String) }])
    transport = createLibp2pTransport({ host: b, peers, self: 0, neighbours: [1], limits })
    transport.onFrame(() => {})
    await transport.start()
  })

  afterAll(async () => {
    await transport?.stop()
    await Promise.all([a1, a2, b].map(async (h) => h?.stop()))
  })

  async function until(pred: () => boolean, what: string): Promise<void> {
    // progress-bound wait: generous, polled, for a loaded machine
    for (let i = 0; i < 3000 && !pred(); i++) await new Promise((r) => setTimeout(r, 10))
    if (!pred()) throw new Error(`${what} did not happen`)
  }

  it('one process over one connection: frames delivered, no report', async () => {
    const s = lpStream(await a1.dialProtocol(b.peerId, CONSENSUS_PROTOCOL))
    for (let r = 0; r < 20; r++) await s.write(frame(r))
    await until(() => transport.stats.framesReceived >= 20, '20 frames from one process')
    expect(transport.stats.rejects['duplicate-identity'] ?? 0).toBe(0)
  })

  it('two processes with one key, frames in turn: reported once as duplicate-identity', async () => {
    const s1 = lpStream(await a1.dialProtocol(b.peerId, CONSENSUS_PROTOCOL))
    const s2 = lpStream(await a2.dialProtocol(b.peerId, CONSENSUS_PROTOCOL))
    const before = transport.stats.framesReceived
    for (let r = 0; r < 6; r++) {
      await s1.write(frame(100 + r))
      await until(() => transport.stats.framesReceived >= before + 2 * r + 1, `frame ${2 * r + 1} from the first process`)
      await s2.write(frame(200 + r))
      await until(() => transport.stats.framesReceived >= before + 2 * r + 2, `frame ${2 * r + 2} from the second process`)
    }
    expect(transport.stats.rejects['duplicate-identity']).toBe(1)
    expect(transport.stats.rejectsByPeer[1]).toBe(1)
  })
})
