/**
 * The pending zero-latency deliveries of an in-memory network (src/consensus/memory.ts, the
 * simulator's worker partitions), drained in one loop.
 *
 * FIFO order (`byRecipient` false) delivers frames as they were sent. Recipient order
 * (`byRecipient` true) drains in generations: the frames pending when a generation starts
 * are delivered grouped by recipient, in node order (stable, so frames on one link keep
 * their order), and what the handlers send meanwhile forms the next generation. A
 * generation is about one round of every running session, so a node's three or so
 * frames of a round arrive back to back and its session state is loaded from memory once,
 * not once per frame from wherever the sender happened to be: at S = 10,000 the frame path
 * is bound by memory latency, not arithmetic. The consensus engine's results do not depend
 * on the order frames of different links arrive in (a round waits for every neighbour's
 * frame and combines them in peer order), so both orders give the same values; the
 * networks use recipient order only when nothing else depends on the send order (no loss
 * draws, no latency, no crashes).
 */
import type { ConsensusFrame } from './transport.js'

/** `lent`: as pushed (the payload stays valid only until the transport settles it, see FrameHandler). */
export type Deliver = (to: number, from: number, frame: ConsensusFrame, lent: boolean) => void

/** A frame queue used against its construction (a lent frame where lending is off). */
export class FrameQueueError extends Error {
  override name = 'FrameQueueError'
}

/** Below this many frames a generation is sorted by comparison, above by counting (S / this). */
const COUNTING_SORT_DIVISOR = 8

export class FrameQueue {
  private qTo: number[] = []
  private qFrom: number[] = []
  private qFrame: ConsensusFrame[] = []
  /** Per frame: lent (only kept by queues that take lent frames). */
  private qLent: boolean[] = []
  /** Counting-sort buckets (recipient order), allocated on the first large generation. */
  private counts: Int32Array | null = null

  /**
   * @param S       recipients are 0..S-1 (or an offset range of that size, see `lo`)
   * @param byRecipient deliver generations grouped by recipient (see the module note)
   * @param lo      smallest recipient index (a worker's partition)
   * @param lending some frames are pushed lent (the worker partitions' batch frames)
   */
  constructor(
    private readonly S: number,
    private readonly byRecipient: boolean,
    private readonly lo = 0,
    private readonly lending = false,
  ) {}

  get length(): number {
    return this.qTo.length
  }

  push(to: number, from: number, frame: ConsensusFrame, lent = false): void {
    if (lent && !this.lending) throw new FrameQueueError('a lent frame was pushed to a queue built without lending; construct it with lending = true so the flag reaches the handler')
    this.qTo.push(to)
    this.qFrom.push(from)
    this.qFrame.push(frame)
    if (this.lending) this.qLent.push(lent)
  }

  /** Deliver until no frame is pending (handlers may push more meanwhile). */
  drain(deliver: Deliver): void {
    if (this.byRecipient) this.drainByRecipient(deliver)
    else this.drainFifo(deliver)
  }

  private drainFifo(deliver: Deliver): void {
    let i = 0
    while (i < this.qTo.length) {
      deliver(this.qTo[i], this.qFrom[i], this.qFrame[i], this.lending && this.qLent[i])
      i++
      if (i > 65536 && i * 2 > this.qTo.length) {
        this.qTo = this.qTo.slice(i)
        this.qFrom = this.qFrom.slice(i)
        this.qFrame = this.qFrame.slice(i)
        if (this.lending) this.qLent = this.qLent.slice(i)
        i = 0
      }
    }
    this.qTo = []
    this.qFrom = []
    this.qFrame = []
    this.qLent = []
  }

  private drainByRecipient(deliver: Deliver): void {
    while (this.qTo.length > 0) {
      const to = this.qTo
      const from = this.qFrom
      const frames = this.qFrame
      const lent = this.lending ? this.qLent : null
      this.qTo = []
      this.qFrom = []
      this.qFrame = []
      this.qLent = []
      const order = this.order(to)
      for (let k = 0; k < order.length; k++) {
        const i = order[k]
        deliver(to[i], from[i], frames[i], lent !== null && lent[i])
      }
    }
  }

  /** Indices of `to` in stable recipient order. */
  private order(to: number[]): Int32Array | Float64Array {
    const n = to.length
    if (n * COUNTING_SORT_DIVISOR < this.S) {
      // small generation: sort keys (recipient, index) packed in one double (n, S < 2^26)
      const keys = new Float64Array(n)
      for (let i = 0; i < n; i++) keys[i] = (to[i] - this.lo) * 67108864 + i
      keys.sort()
      for (let i = 0; i < n; i++) keys[i] = keys[i] % 67108864
      return keys
    }
    const counts = (this.counts ??= new Int32Array(this.S + 1))
    counts.fill(0)
    for (let i = 0; i < n; i++) counts[to[i] - this.lo + 1]++
    for (let r = 0; r < this.S; r++) counts[r + 1] += counts[r]
    const out = new Int32Array(n)
    for (let i = 0; i < n; i++) out[counts[to[i] - this.lo]++] = i
    return out
  }
}
