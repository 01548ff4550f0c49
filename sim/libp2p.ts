/**
 * The simulator's faithful transport: S real libp2p hosts in this process on 127.0.0.1
 * (TCP + Noise + Yamux, the topology gater, the versioned frame codec), built with the
 * same factory and Transport the peer node uses (src/p2p). Wall clock, real sockets; no
 * injected faults (use the in-memory transport for those).
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Transport } from '../src/consensus/transport.js'
import { addPeerAddresses, createHost, createLibp2pTransport, waitForPeers, DEFAULT_MAX_MESSAGE_BYTES, type CollabHost, type Libp2pTransport } from '../src/p2p/index.js'

/** How long the start barrier waits for all connections (loopback; generous for a loaded machine). */
export const DEFAULT_BARRIER_MS = 120_000

/** Upper bound on rounds a frame may carry (the engine stops far earlier). */
export const SIM_MAX_WIRE_ROUNDS = 1_000_000

export interface Libp2pMesh {
  transports: Transport[]
  peerIds: string[]
  /** Bytes on the wire per node (frames, after encoding; before Noise). */
  bytesSent(): number[]
  close(): Promise<void>
}

/** Start S hosts on loopback and one consensus Transport per host. */
export async function createLibp2pMesh(S: number, opts: { maxPayload: number; chunks: number; barrierMs?: number }): Promise<Libp2pMesh> {
  const keys = await Promise.all(Array.from({ length: S }, () => generateKeyPair('Ed25519')))
  const peerIds = keys.map((k) => peerIdFromPrivateKey(k).toString())
  const hosts: CollabHost[] = []
  const transports: Libp2pTransport[] = []
  try {
    for (const k of keys) {
      hosts.push(
        await createHost({
          privateKey: k,
          listen: ['/ip4/127.0.0.1/tcp/0'],
          allowedPeers: peerIds,
          maxMessageBytes: Math.max(DEFAULT_MAX_MESSAGE_BYTES, 8 * opts.maxPayload + 64),
        }),
      )
    }
    const book = hosts.map((h, i) => ({ peerId: peerIds[i], multiaddrs: h.getMultiaddrs().map((a) => a.toString()) }))
    for (const h of hosts) await addPeerAddresses(h, book)
    // Start barrier, as a peer node has: connect every pair before the first session
    // (relabelling makes any two nodes neighbours in some session).
    await Promise.all(hosts.map((h, s) => waitForPeers(h, peerIds.slice(s + 1), opts.barrierMs ?? DEFAULT_BARRIER_MS)))
    for (let s = 0; s < S; s++) {
      const t = createLibp2pTransport({
        host: hosts[s],
        peers: peerIds,
        self: s,
        limits: { maxPayload: opts.maxPayload, maxChunks: opts.chunks, maxRounds: SIM_MAX_WIRE_ROUNDS },
      })
      await t.start()
      transports.push(t)
    }
  } catch (e) {
    await Promise.allSettled(transports.map((t) => t.stop()))
    await Promise.allSettled(hosts.map(async (h) => h.stop()))
    throw e
  }
  return {
    transports,
    peerIds,
    bytesSent: () => transports.map((t) => t.stats.bytesSent),
    async close() {
      await Promise.allSettled(transports.map((t) => t.stop()))
      await Promise.allSettled(hosts.map(async (h) => h.stop()))
    },
  }
}
