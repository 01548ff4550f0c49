/**
 * The in-memory network as one worker thread sees it: transports for the nodes it owns.
 * A frame to a node of the same worker goes through one queue drained in a microtask, as in
 * src/consensus/memory.ts (payload by reference); a frame to another worker's node is copied
 * into that worker's batch (sim/workers/frame-batch.ts), which the worker posts once its
 * nodes have nothing left to do. Zero latency, no loss, no crashes: faults are refused
 * with more than one worker (sim/workers/limits.ts).
 */
import type { MemoryNetworkStats } from '../../src/consensus/memory.js'
import { FrameQueue } from '../../src/consensus/frame-queue.js'
import { settleLentPayloads } from '../../src/consensus/index.js'
import type { ConsensusFrame, FrameHandler, Transport } from '../../src/consensus/transport.js'
import { FrameBatchWriter, readFrameBatch } from './frame-batch.js'
import type { Partition } from './partition.js'

export class PartitionNetworkError extends Error {
  override name = 'PartitionNetworkError'
}

export class PartitionNetwork {
  /** Transports of the nodes this worker owns, by node - partition.lo. */
  readonly transports: Transport[] = []
  readonly stats: MemoryNetworkStats = { sent: 0, delivered: 0, lost: 0, dropped: 0, bytes: 0, reports: {} }
  private readonly handlers: Array<FrameHandler | null>
  private readonly out: FrameBatchWriter[]
  private closed = false
  /** Local deliveries, grouped by recipient (no faults here, so nothing depends on the send order). */
  private readonly queue: FrameQueue
  private scheduled = false
  private readonly deliverFn = (to: number, from: number, frame: ConsensusFrame, lent: boolean): void => this.deliver(to, from, frame, lent)

  constructor(
    private readonly part: Partition,
    private readonly worker: number,
    /** Called when a frame for another worker is waiting (the runtime then queues a flush). */
    private readonly onOutbound: () => void = () => undefined,
  ) {
    const { lo, hi, S } = part
    this.queue = new FrameQueue(hi - lo, true, lo, true)
    this.handlers = new Array<FrameHandler | null>(hi - lo).fill(null)
    this.out = Array.from({ length: part.workers }, () => new FrameBatchWriter())
    for (let self = lo; self < hi; self++) {
      this.transports.push({
        self,
        send: (to: number, frame: ConsensusFrame): void => {
          if (this.closed) return
          if (!Number.isInteger(to) || to < 0 || to >= S) throw new PartitionNetworkError(`node ${to} is not in the ${S}-node network`)
          this.stats.sent++
          this.stats.bytes += 8 * frame.payload.length
          const w = part.owner(to)
          if (w === this.worker) this.enqueue(to, self, frame)
          else {
            this.out[w].push(to, self, frame)
            this.onOutbound()
          }
        },
        onFrame: (handler: FrameHandler): void => {
          this.handlers[self - lo] = handler
        },
        reportPeer: (_peer: number, reason: string): void => {
          this.stats.reports[reason] = (this.stats.reports[reason] ?? 0) + 1
        },
      })
    }
  }

  /**
   * Frames from another worker: delivered now, in batch order (and what they cause locally,
   * in the same drain). The frames are delivered lent (FrameHandler) and settled at the end:
   * when this returns no node holds a view into `batch`, so its buffer can go back to the
   * sender (`recycle` there).
   */
  receive(batch: Float64Array): void {
    readFrameBatch(batch, (to, from, frame) => {
      if (to < this.part.lo || to >= this.part.hi) throw new PartitionNetworkError(`worker ${this.worker} got a frame for node ${to}, which it does not own`)
      this.queue.push(to, from, frame, true)
    })
    this.drain()
    // the runs copy what they still hold of the batch (most rounds completed in the drain)
    settleLentPayloads()
  }

  /** Buffers of batches this worker sent to `worker`, handed back by it after delivery. */
  recycle(worker: number, buffers: readonly ArrayBuffer[]): void {
    const w = this.out[worker]
    if (w === undefined) throw new PartitionNetworkError(`worker ${this.worker} got buffers back from worker ${worker}, which is not in the pool`)
    for (const b of buffers) w.recycle(b)
  }

  /** Batches waiting to be posted, by destination worker (each taken once). */
  takeOutbound(): Array<{ worker: number; frames: number; batch: Float64Array }> {
    const res: Array<{ worker: number; frames: number; batch: Float64Array }> = []
    for (const [w, b] of this.out.entries()) {
      if (b.empty) continue
      const frames = b.frames
      res.push({ worker: w, frames, batch: b.take() })
    }
    return res
  }

  close(): void {
    this.closed = true
  }

  private enqueue(to: number, from: number, frame: ConsensusFrame): void {
    this.queue.push(to, from, frame)
    if (!this.scheduled) {
      this.scheduled = true
      queueMicrotask(() => this.drain())
    }
  }

  private deliver(to: number, from: number, frame: ConsensusFrame, lent: boolean): void {
    if (this.closed) return
    const h = this.handlers[to - this.part.lo]
    if (h === null) {
      this.stats.dropped++
      return
    }
    this.stats.delivered++
    h(from, frame, lent)
  }

  private drain(): void {
    this.scheduled = false
    this.queue.drain(this.deliverFn)
  }
}
