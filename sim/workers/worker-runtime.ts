/**
 * One simulator worker thread's event loop: it owns a partition of the nodes, their
 * network endpoints (PartitionNetwork) and a StepClock. Batches from other workers are
 * delivered at once; whenever the thread has run out of work (one macrotask turn, as the
 * one-thread virtual clock settles) it posts the batches its nodes produced together with
 * an idle report (sim/workers/protocol.ts). Time moves only on the coordinator's `advance`.
 */
import type { MessagePort, Transferable } from 'node:worker_threads'
import type { SessionWait } from '../../src/consensus/index.js'
import { SPARE_BUFFERS } from './frame-batch.js'
import type { PartitionNetwork } from './partition-network.js'
import type { FromWorker, OutReport, PeerBatch, ToWorker } from './protocol.js'
import type { StepClock } from './step-clock.js'

/** What a worker runs on its nodes (training, or one consensus sum). */
/** Wall-clock quiet (ms) after which a worker posts its idle report (see queueFlush). */
const REPORT_QUIET_MS = 5

export interface WorkerJob {
  start(): void
  /** Nodes still working. */
  running(): number
  abort(): void
  waits(): SessionWait[]
  onSum?(label: string, sum: Float64Array): void
  /** Post whatever the job holds back (before an idle report). */
  flush?(): void
  /** After training: close, evaluate, and hand back what the report needs. */
  finish(): Promise<{ result: unknown; transfer: Transferable[] }>
}

export class WorkerRuntime {
  private readonly sentTo: number[]
  private readonly recvFrom: number[]
  /** Delivered batches' buffers to hand back to each worker with the next batch to it. */
  private readonly returns: ArrayBuffer[][]
  private epoch = 0
  private flushQueued = false
  private reportTimer: ReturnType<typeof setTimeout> | null = null

  constructor(
    private readonly port: MessagePort,
    private readonly peers: readonly (MessagePort | null)[],
    private readonly net: PartitionNetwork,
    private readonly clock: StepClock,
    private readonly job: WorkerJob,
  ) {
    this.sentTo = new Array<number>(peers.length).fill(0)
    this.recvFrom = new Array<number>(peers.length).fill(0)
    this.returns = Array.from({ length: peers.length }, () => [])
    for (const [w, p] of peers.entries()) p?.on('message', (m: PeerBatch) => this.onBatch(w, m))
  }

  private onBatch(from: number, m: PeerBatch): void {
    this.recvFrom[from]++
    this.net.recycle(from, m.back)
    this.net.receive(m.batch)
    // the writer keeps at most SPARE_BUFFERS; hold no more for a peer that has not been sent a batch for a while
    if (this.returns[from].length < SPARE_BUFFERS) this.returns[from].push(m.batch.buffer as ArrayBuffer)
    // Post what the delivery produced (the next round's frames) before the nodes' promise
    // continuations run: those may be long (a node's optimize, local update or release) and
    // the peer's nodes must not wait for them to get this round.
    this.postBatches()
    this.queueFlush()
  }

  private postBatches(): void {
    for (const b of this.net.takeOutbound()) {
      const peer = this.peers[b.worker]
      if (peer === null) continue
      this.sentTo[b.worker]++
      const back = this.returns[b.worker]
      this.returns[b.worker] = []
      const m: PeerBatch = { batch: b.batch, back }
      peer.postMessage(m, [b.batch.buffer as ArrayBuffer, ...back])
    }
  }

  post(m: FromWorker, transfer: Transferable[] = []): void {
    this.port.postMessage(m, transfer)
  }

  /** Handle one coordinator message (init is handled by the entry). */
  handle(m: ToWorker): void {
    switch (m.type) {
      case 'start':
        this.job.start()
        this.queueFlush()
        return
      case 'advance':
        this.epoch = m.epoch
        this.clock.fireUntil(m.at)
        this.queueFlush()
        return
      case 'sum':
        this.job.onSum?.(m.label, m.sum)
        return
      case 'abort':
        this.epoch = m.epoch
        this.job.abort()
        this.queueFlush()
        return
      case 'describe':
        this.post({ type: 'waits', waits: this.job.waits() })
        return
      case 'finish':
        void this.job.finish().then(({ result, transfer }) => this.post({ type: 'result', result }, transfer))
        return
      case 'init':
        return
    }
  }

  /**
   * Post the batches once every microtask and pending immediate has run, and an idle report
   * once the thread has stayed idle for REPORT_QUIET_MS: while batches go back and forth
   * every few milliseconds, a report per turn (one postMessage each, ~8 % of a worker's
   * time on shuttle-1000) tells the coordinator nothing, as the network is not quiet; its
   * quiet check (sent = received, every report of the current epoch) is the same on later
   * reports.
   */
  queueFlush(): void {
    if (this.flushQueued) return
    this.flushQueued = true
    setImmediate(() => {
      this.flushQueued = false
      this.postBatches()
      if (this.reportTimer !== null) clearTimeout(this.reportTimer)
      this.reportTimer = setTimeout(() => this.report(), REPORT_QUIET_MS)
    })
  }

  private report(): void {
    this.reportTimer = null
    this.job.flush?.()
    const report: OutReport = {
      type: 'out',
      sentTo: [...this.sentTo],
      recvFrom: [...this.recvFrom],
      epoch: this.epoch,
      nextAt: this.clock.nextAt(),
      pendingTimers: this.clock.pending(),
      running: this.job.running(),
    }
    this.post(report)
  }
}
