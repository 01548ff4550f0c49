/**
 * Wire codec of the consensus protocol `/collabdict/consensus/1.0.0`.
 *
 * One frame per length-prefixed message (the varint prefix is lpStream's). Layout,
 * little-endian, 24-byte header so the payload starts 8-byte aligned within the frame:
 *
 *   offset size field
 *   0      1    version   (FRAME_VERSION)
 *   1      1    kind      (FrameKind)
 *   2      2    reserved  (must be 0)
 *   4      4    session   u32
 *   8      4    chunk     u32
 *   12     4    round     u32
 *   16     4    length    u32, number of f64 payload entries
 *   20     4    attempt   u32, member-set id of a session rerun (0 = every node)
 *   24     8*n  payload   f64, finite
 *
 * Every field is validated before anything reaches the consensus engine: a frame that
 * fails is reported as a `FrameError` carrying a stable `reason` that the transport
 * counts (metrics label) and passes to `reportPeer`.
 */
import type { ConsensusFrame, FrameKind } from '../consensus/transport.js'

export const FRAME_VERSION = 1
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
export const HEADER_BYTES = 24

/** Wire code of each frame kind: 'data' a round's vector, 'exclude' a rerun's excluded set (control), 'share' / 'reveal' the Shamir secure sum's two steps. */
export const FRAME_KIND_CODE: Record<FrameKind, number> = { data: 0, exclude: 1, share: 2, reveal: 3 }
const KIND_BY_CODE = new Map<number, FrameKind>(
  (Object.entries(FRAME_KIND_CODE) as Array<[FrameKind, number]>).map(([k, c]) => [c, k]),
)

/** Reasons a frame is rejected (stable strings: used as Prometheus label values). */
export type FrameRejectReason =
  | 'truncated'
  | 'oversized'
  | 'bad-version'
  | 'bad-kind'
  | 'bad-reserved'
  | 'bad-length'
  | 'non-finite'
  | 'bad-chunk'
  | 'bad-round'
  | 'bad-session'
  | 'unknown-peer'
  | 'stream-error'

export class FrameError extends Error {
  override name = 'FrameError'
  constructor(
    readonly reason: FrameRejectReason,
    message: string,
  ) {
    super(message)
  }
}

/** Limits a decoder enforces; derived from the model (statistics length) and the consensus config. */
export interface FrameLimits {
  /** Largest payload (number of f64 entries) accepted: the model's statistics length. */
  maxPayload: number
  /** Chunks per aggregate() call: chunk must be < maxChunks. */
  maxChunks: number
  /** Rounds per session upper bound: round must be < maxRounds. */
  maxRounds: number
}

/** Bytes of an encoded frame (without the length prefix) for a payload of n entries. */
export function frameBytes(n: number): number {
  return HEADER_BYTES + 8 * n
}

function checkU32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new RangeError(`${name} must be an integer in [0, 2^32-1], got ${v}`)
  }
}

/** Encode one frame. Throws RangeError on a frame this node must never send. */
export function encodeFrame(frame: ConsensusFrame): Uint8Array {
  const attempt = frame.attempt ?? 0
  checkU32('attempt', attempt)
  checkU32('session', frame.session)
  checkU32('chunk', frame.chunk)
  checkU32('round', frame.round)
  const n = frame.payload.length
  const buf = new Uint8Array(frameBytes(n))
  const view = new DataView(buf.buffer)
  view.setUint8(0, FRAME_VERSION)
  view.setUint8(1, FRAME_KIND_CODE[frame.kind ?? 'data'])
  view.setUint32(4, frame.session, true)
  view.setUint32(8, frame.chunk, true)
  view.setUint32(12, frame.round, true)
  view.setUint32(16, n, true)
  view.setUint32(20, attempt, true)
  if (LITTLE_ENDIAN_HOST) {
    const p = frame.payload
    buf.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), HEADER_BYTES)
  } else {
    for (let i = 0; i < n; i++) view.setFloat64(HEADER_BYTES + 8 * i, frame.payload[i], true)
  }
  return buf
}

/**
 * Decode and validate one frame. `bytes` may be a view at any offset (received bytes are
 * not 8-byte aligned): values are read through a DataView, so the payload is a fresh copy.
 */
export function decodeFrame(bytes: Uint8Array, limits: FrameLimits): Required<ConsensusFrame> {
  if (bytes.byteLength < HEADER_BYTES) {
    throw new FrameError('truncated', `frame of ${bytes.byteLength} bytes is shorter than the ${HEADER_BYTES}-byte header`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const version = view.getUint8(0)
  if (version !== FRAME_VERSION) {
    throw new FrameError('bad-version', `frame version ${version}, this node speaks ${FRAME_VERSION}`)
  }
  const code = view.getUint8(1)
  const kind = KIND_BY_CODE.get(code)
  if (kind === undefined) throw new FrameError('bad-kind', `unknown frame kind ${code}`)
  if (view.getUint16(2, true) !== 0) {
    throw new FrameError('bad-reserved', 'reserved header bytes must be zero')
  }
  const session = view.getUint32(4, true)
  const chunk = view.getUint32(8, true)
  const round = view.getUint32(12, true)
  const n = view.getUint32(16, true)
  const attempt = view.getUint32(20, true)
  if (n > limits.maxPayload) {
    throw new FrameError('oversized', `payload of ${n} entries exceeds the limit ${limits.maxPayload}`)
  }
  if (bytes.byteLength < frameBytes(n)) {
    throw new FrameError('truncated', `frame declares ${n} entries (${frameBytes(n)} bytes) but has ${bytes.byteLength}`)
  }
  if (bytes.byteLength !== frameBytes(n)) {
    throw new FrameError('bad-length', `frame declares ${n} entries (${frameBytes(n)} bytes) but has ${bytes.byteLength}`)
  }
  if (chunk >= limits.maxChunks) throw new FrameError('bad-chunk', `chunk ${chunk} >= ${limits.maxChunks}`)
  if (round >= limits.maxRounds) throw new FrameError('bad-round', `round ${round} >= ${limits.maxRounds}`)
  let payload: Float64Array
  if (LITTLE_ENDIAN_HOST) {
    // copy into a fresh buffer first: received bytes may be a Node Buffer view into a
    // shared pool, not 8-byte aligned (and Buffer#slice does not copy)
    const copy = new Uint8Array(8 * n)
    copy.set(bytes.subarray(HEADER_BYTES, frameBytes(n)))
    payload = new Float64Array(copy.buffer)
  } else {
    payload = new Float64Array(n)
    for (let i = 0; i < n; i++) payload[i] = view.getFloat64(HEADER_BYTES + 8 * i, true)
  }
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(payload[i])) throw new FrameError('non-finite', `payload entry ${i} is ${payload[i]}`)
  }
  return { kind, attempt, session, chunk, round, payload }
}
