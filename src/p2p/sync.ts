/**
 * State sync `/collabdict/sync/1.0.0`: a rejoining node asks a neighbour for the model's
 * global part (`CollabModel.exportGlobal()`), instead of recomputing iterations it missed.
 *
 * Request: one length-prefixed message, 1 byte (SYNC_VERSION). Response: one message,
 * little-endian: version u8, status u8 (0 ok, 1 nothing to share yet), converged u8,
 * reserved u8, iteration u32, length u32 (f64 entries), reserved u32, then the f64 state.
 * The reply is validated like a consensus frame (version, status, length limit, no
 * infinities; NaN passes because model layouts use it to mark absent values).
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import type { CollabHost } from './host.js'

export const SYNC_PROTOCOL = '/collabdict/sync/1.0.0'
export const SYNC_VERSION = 1
const HEADER = 16

export interface GlobalState {
  iteration: number
  converged: boolean
  state: Float64Array
}

export class SyncError extends Error {
  override name = 'SyncError'
}

export function encodeGlobal(g: GlobalState | null): Uint8Array {
  const n = g?.state.length ?? 0
  const buf = new Uint8Array(HEADER + 8 * n)
  const v = new DataView(buf.buffer)
  v.setUint8(0, SYNC_VERSION)
  v.setUint8(1, g === null ? 1 : 0)
  if (g !== null) {
    v.setUint8(2, g.converged ? 1 : 0)
    v.setUint32(4, g.iteration, true)
    v.setUint32(8, n, true)
    for (let i = 0; i < n; i++) v.setFloat64(HEADER + 8 * i, g.state[i], true)
  }
  return buf
}

/** Decode a sync reply; null when the peer has nothing to share yet. Throws SyncError on any invalid field. */
export function decodeGlobal(bytes: Uint8Array, maxState: number): GlobalState | null {
  if (bytes.byteLength < HEADER) throw new SyncError(`sync reply of ${bytes.byteLength} bytes is truncated`)
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (v.getUint8(0) !== SYNC_VERSION) throw new SyncError(`sync reply version ${v.getUint8(0)}, expected ${SYNC_VERSION}`)
  const status = v.getUint8(1)
  if (status === 1) return null
  if (status !== 0) throw new SyncError(`sync reply status ${status} unknown`)
  const n = v.getUint32(8, true)
  if (n > maxState) throw new SyncError(`sync state of ${n} entries exceeds the limit ${maxState}`)
  if (bytes.byteLength !== HEADER + 8 * n) throw new SyncError(`sync reply declares ${n} entries but has ${bytes.byteLength} bytes`)
  const state = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const x = v.getFloat64(HEADER + 8 * i, true)
    // NaN is allowed: exportGlobal() layouts use it as the "absent" marker (e.g. no prior objective)
    if (x === Infinity || x === -Infinity) throw new SyncError(`sync state entry ${i} is ${x}`)
    state[i] = x
  }
  return { iteration: v.getUint32(4, true), converged: v.getUint8(2) === 1, state }
}

/** Serve this node's global part to peers that ask (the gater already limits who can). */
export async function serveGlobal(host: CollabHost, provide: () => GlobalState | null): Promise<void> {
  await host.handle(SYNC_PROTOCOL, async (stream) => {
    const lp = lpStream(stream, { maxDataLength: 16 })
    try {
      const req = await lp.read({ signal: AbortSignal.timeout(10_000) })
      if (req.byteLength !== 1 || req.get(0) !== SYNC_VERSION) {
        stream.abort(new SyncError('bad sync request'))
        return
      }
      await lp.write(encodeGlobal(provide()))
      await stream.close()
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  })
}

/** Ask `peerId` for its global part; null if it has none yet. */
export async function fetchGlobal(
  host: CollabHost,
  peerId: string,
  opts: { maxState: number; timeoutMs?: number },
): Promise<GlobalState | null> {
  const signal = AbortSignal.timeout(opts.timeoutMs ?? 10_000)
  const stream = await host.dialProtocol(peerIdFromString(peerId), SYNC_PROTOCOL, { signal })
  const maxBytes = HEADER + 8 * opts.maxState
  const lp = lpStream(stream, { maxDataLength: maxBytes, maxBufferSize: maxBytes + 64 })
  try {
    await lp.write(new Uint8Array([SYNC_VERSION]), { signal })
    const reply = await lp.read({ signal })
    await stream.close().catch(() => {})
    return decodeGlobal(reply.subarray(), opts.maxState)
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err instanceof SyncError ? err : new SyncError(`state sync from ${peerId} failed: ${String(err)}`)
  }
}

/** `/collabdict/released/1.0.0`: the network's released (DP) model, as its JSON file. */
export const RELEASED_PROTOCOL = '/collabdict/released/1.0.0'
/** Largest released-model file accepted from a peer. */
export const MAX_RELEASED_BYTES = 16 * 1024 * 1024

/**
 * Serve this node's released model (public: the same file it publishes) to members that
 * ask, e.g. one that restarted during the release. Reply: the JSON bytes, empty when none.
 */
export async function serveReleased(host: CollabHost, provide: () => unknown): Promise<void> {
  await host.handle(RELEASED_PROTOCOL, async (stream) => {
    const lp = lpStream(stream, { maxDataLength: 16, maxBufferSize: MAX_RELEASED_BYTES + 64 })
    try {
      const req = await lp.read({ signal: AbortSignal.timeout(10_000) })
      if (req.byteLength !== 1 || req.get(0) !== SYNC_VERSION) {
        stream.abort(new SyncError('bad released-model request'))
        return
      }
      const file = provide()
      await lp.write(file === null || file === undefined ? new Uint8Array(0) : new TextEncoder().encode(JSON.stringify(file)))
      await stream.close()
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  })
}

/** Ask `peerId` for the network's released model; null if it has none. The caller validates the JSON. */
export async function fetchReleased(host: CollabHost, peerId: string, opts: { timeoutMs?: number } = {}): Promise<unknown> {
  const signal = AbortSignal.timeout(opts.timeoutMs ?? 10_000)
  const stream = await host.dialProtocol(peerIdFromString(peerId), RELEASED_PROTOCOL, { signal })
  const lp = lpStream(stream, { maxDataLength: MAX_RELEASED_BYTES, maxBufferSize: MAX_RELEASED_BYTES + 64 })
  try {
    await lp.write(new Uint8Array([SYNC_VERSION]), { signal })
    const reply = await lp.read({ signal })
    await stream.close().catch(() => {})
    if (reply.byteLength === 0) return null
    try {
      return JSON.parse(new TextDecoder().decode(reply.subarray())) as unknown
    } catch {
      throw new SyncError(`released model from ${peerId} is not JSON`)
    }
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err instanceof SyncError ? err : new SyncError(`released-model fetch from ${peerId} failed: ${String(err)}`)
  }
}
