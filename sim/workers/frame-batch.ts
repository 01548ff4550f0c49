/**
 * Consensus frames between worker threads: every frame a worker's nodes send to nodes of
 * another worker during one drain cycle goes into one Float64Array per destination, posted
 * as a transferable ArrayBuffer (in-process, so the platform's byte order is fine).
 *
 * Layout per frame: to, from, kind code (-1 absent, 0 data, 1 exclude, 2 share, 3 reveal),
 * attempt (-1 absent), session, chunk, round, payload length, then the payload. A length
 * of -1 (no payload follows) repeats the previous frame of the batch for another
 * recipient: a node sends one frame object to all its peers, so its copy is written once
 * per destination worker, not once per peer there, and the reader hands the recipients
 * one decoded frame, as the one-thread network does.
 *
 * Buffers go round: the reader delivers every frame of a batch lent (FrameHandler), settles
 * them before it returns (its nodes copy what they still hold), and hands the buffer back to
 * the writer with its next batch (`recycle`).
 */
import type { ConsensusFrame, FrameKind } from '../../src/consensus/transport.js'

const HEADER = 8
/** Returned buffers a writer keeps for its next batches (batches in flight at once are few). */
export const SPARE_BUFFERS = 4
const KINDS: readonly FrameKind[] = ['data', 'exclude', 'share', 'reveal']

export class FrameBatchError extends Error {
  override name = 'FrameBatchError'
}

function isInt32(x: number): boolean {
  return (x | 0) === x
}

/** A growable batch of frames for one destination worker. */
export class FrameBatchWriter {
  private buf: Float64Array = new Float64Array(1024)
  /** Buffers of earlier batches the reader handed back (recycle). */
  private readonly spare: Float64Array[] = []
  private used = 0
  frames = 0
  /** The frame (and its sender) written last, to write a repeat of it as a header only. */
  private last: ConsensusFrame | null = null
  private lastFrom = -1

  get empty(): boolean {
    return this.frames === 0
  }

  /** Copy `frame` (header and payload) into the batch: the sender may reuse its payload after this returns. */
  push(to: number, from: number, frame: ConsensusFrame): void {
    if (!isInt32(to)) throw new FrameBatchError(`recipient ${to} is not a 32-bit integer; the reader takes header fields as int32`)
    if (frame === this.last && from === this.lastFrom) {
      // The same frame object right after itself: its payload cannot have changed (a node
      // changes a payload only in its next round, whose frame goes to every peer first).
      this.reserve(HEADER)
      const b = this.buf
      const i = this.used
      b.fill(0, i, i + HEADER)
      b[i] = to
      b[i + 1] = from
      b[i + 7] = -1
      this.used = i + HEADER
      this.frames++
      return
    }
    if (!(isInt32(from) && isInt32(frame.session) && isInt32(frame.chunk) && isInt32(frame.round))) {
      throw new FrameBatchError(`frame ${from} -> ${to} (session ${frame.session}, chunk ${frame.chunk}, round ${frame.round}) has a header field that is not a 32-bit integer; the reader takes them as int32`)
    }
    this.last = frame
    this.lastFrom = from
    const len = frame.payload.length
    this.reserve(HEADER + len)
    const b = this.buf
    let i = this.used
    b[i++] = to
    b[i++] = from
    b[i++] = frame.kind === undefined ? -1 : KINDS.indexOf(frame.kind)
    b[i++] = frame.attempt === undefined ? -1 : frame.attempt
    b[i++] = frame.session
    b[i++] = frame.chunk
    b[i++] = frame.round
    b[i++] = len
    b.set(frame.payload, i)
    this.used = i + len
    this.frames++
  }

  /**
   * The batch so far, as a view over the writer's buffer (to transfer); the writer goes on in
   * a returned buffer (`recycle`) or a new one of the same capacity, so a batch costs no copy
   * and, once buffers come back, no allocation. At S = 10,000 a fresh ~20 MB batch per round,
   * grown from 8 KB and sliced, was 9 % of a worker's CPU profile over the EM iterations, and
   * its external memory started most of the collections (sim/README.md, 10,000 nodes on two
   * workers).
   */
  take(): Float64Array {
    const out = this.buf.subarray(0, this.used)
    const cap = this.buf.length
    this.buf = this.spareOf(cap)
    this.used = 0
    this.frames = 0
    this.last = null
    this.lastFrom = -1
    return out
  }

  /** A buffer of a batch this writer took, handed back once the reader is done with it. */
  recycle(buffer: ArrayBuffer): void {
    if (buffer.byteLength === 0 || this.spare.length >= SPARE_BUFFERS) return
    this.spare.push(new Float64Array(buffer))
  }

  /** Spare buffers held (tests). */
  get spares(): number {
    return this.spare.length
  }

  /** The largest spare buffer, or a new one of `cap` values when there is none. */
  private spareOf(cap: number): Float64Array {
    if (this.spare.length === 0) return new Float64Array(cap)
    let best = 0
    for (let k = 1; k < this.spare.length; k++) if (this.spare[k].length > this.spare[best].length) best = k
    const [b] = this.spare.splice(best, 1)
    return b
  }

  private reserve(n: number): void {
    if (this.used + n <= this.buf.length) return
    let cap = this.buf.length * 2
    while (cap < this.used + n) cap *= 2
    const next = new Float64Array(cap)
    next.set(this.buf.subarray(0, this.used))
    this.buf = next
  }
}

/** Call `fn(to, from, frame)` for every frame of a batch, in the order they were written. Payloads are views into `batch`. */
export function readFrameBatch(batch: Float64Array, fn: (to: number, from: number, frame: ConsensusFrame) => void): number {
  let i = 0
  let n = 0
  let prev: ConsensusFrame | null = null
  let prevFrom = -1
  while (i < batch.length) {
    if (i + HEADER > batch.length) throw new FrameBatchError(`truncated frame header at ${i} of ${batch.length}; batches must come from FrameBatchWriter`)
    // Header fields are small integers: read them as int32 (`| 0`), so they stay Smis. A
    // double read from a Float64Array that reaches a Map key or an object field is boxed
    // (a heap number per use), and one double-valued frame field turns that field into a
    // boxed double in every frame of the shape, the sent ones included.
    const to = batch[i] | 0
    const from = batch[i + 1] | 0
    const k = batch[i + 2] | 0
    const a0 = batch[i + 3]
    const a = a0 === (a0 | 0) ? a0 | 0 : a0 // attempt ids are uint32 hashes (src/consensus/node.ts)
    const len = batch[i + 7] | 0
    if (len === -1) {
      if (prev === null || from !== prevFrom) throw new FrameBatchError(`frame ${n} repeats a previous frame of node ${from} that the batch does not have; batches must come from FrameBatchWriter`)
      fn(to, from, prev)
      i += HEADER
      n++
      continue
    }
    const start = i + HEADER
    if (start + len > batch.length) throw new FrameBatchError(`frame payload of ${len} values overruns the batch (${batch.length}); batches must come from FrameBatchWriter`)
    // Data frames get the shape the consensus engine sends (src/consensus/round.ts), so the
    // frame path's property loads stay monomorphic on frames from either side.
    const frame: ConsensusFrame =
      k < 0 && a >= 0
        ? { session: batch[i + 4] | 0, chunk: batch[i + 5] | 0, round: batch[i + 6] | 0, attempt: a, payload: batch.subarray(start, start + len) }
        : { session: batch[i + 4] | 0, chunk: batch[i + 5] | 0, round: batch[i + 6] | 0, payload: batch.subarray(start, start + len) }
    if (k >= 0) frame.kind = KINDS[k]
    if (a >= 0 && frame.attempt === undefined) frame.attempt = a
    prev = frame
    prevFrom = from
    fn(to, from, frame)
    i = start + len
    n++
  }
  return n
}
