/**
 * libp2p host factory shared by the peer node (node/) and the simulator's faithful mode
 * (sim/): TCP, Noise, Yamux, identify and ping, with a connection gater that admits only
 * the topology's PeerIds.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify, type Identify } from '@libp2p/identify'
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping, type Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

export type CollabHost = Libp2p<{ identify: Identify; ping: Ping }>

/**
 * Default largest message on a stream: 16 MiB. lpStream's and yamux's defaults (4 MiB
 * read buffers, 64 KiB messages) are too small for a large model's statistics vector.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024

/** Loopback is exempt from inbound rate limits (on 127.0.0.1 every peer shares one IP). */
export const LOOPBACK_ALLOW = ['/ip4/127.0.0.0/ipcidr/8']

export interface HostOptions {
  privateKey: PrivateKey
  /** Listen multiaddrs, e.g. ['/ip4/127.0.0.1/tcp/0']. */
  listen: string[]
  /** PeerIds (strings) admitted by the gater; every other peer is refused both ways. */
  allowedPeers: Iterable<string>
  /** Largest length-prefixed message any protocol of this host reads. */
  maxMessageBytes?: number
  /** Idle time after which a stream is reset (ms). Default 10 min: consensus streams are long-lived. */
  streamInactivityMs?: number
}

/** DEFAULT_STREAM_INACTIVITY_MS: longer than any pause between iterations (a peer restarting). */
export const DEFAULT_STREAM_INACTIVITY_MS = 600_000

export async function createHost(opts: HostOptions): Promise<CollabHost> {
  const allowed = new Set(opts.allowedPeers)
  const deny = (peer: PeerId): boolean => !allowed.has(peer.toString())
  const maxBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
  return createLibp2p({
    privateKey: opts.privateKey,
    addresses: { listen: opts.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [
      yamux({
        streamOptions: {
          maxReadBufferLength: maxBytes + 64,
          inactivityTimeout: opts.streamInactivityMs ?? DEFAULT_STREAM_INACTIVITY_MS,
        },
      }),
    ],
    connectionGater: {
      denyDialPeer: deny,
      denyInboundEncryptedConnection: deny,
      denyOutboundEncryptedConnection: deny,
    },
    connectionManager: { allow: LOOPBACK_ALLOW },
    services: { identify: identify(), ping: ping() },
  })
}

/** A topology member's address book entry. */
export interface PeerAddress {
  peerId: string
  multiaddrs: string[]
}

/** Record the topology's addresses so dial(peerId) knows where to go. */
export async function addPeerAddresses(host: CollabHost, peers: readonly PeerAddress[]): Promise<void> {
  for (const p of peers) {
    if (p.multiaddrs.length === 0 || p.peerId === host.peerId.toString()) continue
    await host.peerStore.merge(peerIdFromString(p.peerId), { multiaddrs: p.multiaddrs.map((a) => multiaddr(a)) })
  }
}

export class PeerBarrierTimeoutError extends Error {
  override name = 'PeerBarrierTimeoutError'
}

/**
 * Start barrier: resolve once a connection exists to every peer in `peers` (dialing
 * those with known addresses, accepting inbound ones), or throw PeerBarrierTimeoutError
 * naming the missing peers after `timeoutMs`.
 */
export async function waitForPeers(
  host: CollabHost,
  peers: readonly string[],
  timeoutMs: number,
  retryMs = 250,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const missing = (): string[] => peers.filter((p) => host.getConnections(peerIdFromString(p)).length === 0)
  for (;;) {
    const left = missing()
    if (left.length === 0) return
    if (Date.now() > deadline) {
      throw new PeerBarrierTimeoutError(
        `neighbours not reachable after ${timeoutMs} ms: ${left.join(', ')}; check they are running and their addresses in the topology file`,
      )
    }
    await Promise.allSettled(
      left.map((p) => host.dial(peerIdFromString(p), { signal: AbortSignal.timeout(Math.max(500, retryMs * 4)) })),
    )
    if (missing().length > 0) await new Promise((r) => setTimeout(r, retryMs))
  }
}
