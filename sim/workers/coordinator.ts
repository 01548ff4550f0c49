/**
 * The main thread's side of a multi-worker simulation: start the workers, route their
 * frame batches, detect when the whole network is quiet (every worker idle and every
 * forwarded batch acknowledged: see sim/workers/protocol.ts), and only then move virtual
 * time, for every worker at once, to the network's earliest timer.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads'
import { ClockStalledError, formatWaits, type SessionWait } from '../../src/consensus/index.js'
import { DEFAULT_VIRTUAL_LIMIT_MS } from '../report-types.js'
import type { FromWorker, NodeInput, OutReport, ToWorker } from './protocol.js'

/** A worker thread failed outside the simulated nodes (a bug or an exhausted resource). */
export class WorkerThreadError extends Error {
  override name = 'WorkerThreadError'
}

/** How a drive ended: every node done, or the network stalled (nothing scheduled / past the time limit). */
export type DriveEnd = { kind: 'done' } | { kind: 'stall'; stall: 'idle' | 'limit'; atMs: number; pendingTimers: number }

/**
 * Young generation of a worker's heap (MB; V8 splits it into two semi-spaces and a large-object
 * space, so 192 is 64 MB semi-spaces, V8's default being 16 MB). A worker's frames and
 * decoded payload views live a round or two; with the default, every scavenge found most
 * of them still alive and copied them. shuttle-1000, 3 iterations, 2 workers (`--trace-gc`,
 * machine loaded by other jobs): 111-128 scavenges per worker and 4.9-6.5 s of pauses in
 * both at the default, 54-57 and 2.5-3.6 s here.
 */
const WORKER_YOUNG_GENERATION_MB = 192

/** Start worker threads from TypeScript sources (tsx loader, for vitest and tsx) or from the built dist/. */
function spawnWorker(): Worker {
  const here = import.meta.url
  const resourceLimits = { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB }
  if (here.endsWith('.ts')) {
    return new Worker(new URL('./tsx-bootstrap.mjs', here), { workerData: { entry: new URL('./worker-entry.ts', here).href }, resourceLimits })
  }
  return new Worker(new URL('./worker-entry.js', here), { resourceLimits })
}

export interface PoolHandlers {
  onInput?(m: NodeInput): void
  onProgress?(m: Extract<FromWorker, { type: 'progress' }>): void
  onSession?(m: Extract<FromWorker, { type: 'session' }>): void
  onFailed?(m: Extract<FromWorker, { type: 'failed' }>): void
}

export class WorkerPool {
  /** Virtual time of the network (the last advance). */
  now = 0
  private readonly workers: Worker[] = []
  private readonly reports: (OutReport | null)[]
  private epoch = 0
  private readonly results: unknown[]
  private resultCount = 0
  private waiter: { resolve: (v: DriveEnd) => void; reject: (e: Error) => void } | null = null
  private finishWaiter: { resolve: (v: unknown[]) => void; reject: (e: Error) => void } | null = null
  private readonly waitsBox: (SessionWait[] | null)[]
  private waitsWaiter: (() => void) | null = null
  private failure: Error | null = null

  constructor(
    readonly size: number,
    private readonly handlers: PoolHandlers,
  ) {
    this.reports = new Array<OutReport | null>(size).fill(null)
    this.results = new Array<unknown>(size).fill(null)
    this.waitsBox = new Array<SessionWait[] | null>(size).fill(null)
  }

  /** Spawn the workers and send each its init message (with its ports to the others); resolves once all have built their nodes. */
  async start(init: (w: number, peers: (MessagePort | null)[]) => ToWorker): Promise<void> {
    const peers: (MessagePort | null)[][] = Array.from({ length: this.size }, () => new Array<MessagePort | null>(this.size).fill(null))
    for (let i = 0; i < this.size; i++) {
      for (let j = i + 1; j < this.size; j++) {
        const ch = new MessageChannel()
        peers[i][j] = ch.port1
        peers[j][i] = ch.port2
      }
    }
    let ready = 0
    await new Promise<void>((resolve, reject) => {
      for (let w = 0; w < this.size; w++) {
        const worker = spawnWorker()
        this.workers.push(worker)
        worker.on('message', (m: FromWorker) => {
          if (m.type === 'ready') {
            if (++ready === this.size) resolve()
            return
          }
          this.onMessage(w, m)
        })
        worker.on('error', (e) => {
          this.fail(new WorkerThreadError(`worker ${w} failed: ${e.message}`))
          reject(e)
        })
        worker.on('exit', (code) => {
          if (code !== 0) {
            const e = new WorkerThreadError(`worker ${w} exited with code ${code} before the run finished`)
            this.fail(e)
            reject(e)
          }
        })
        const mine = peers[w]
        this.workers[w].postMessage(
          init(w, mine),
          mine.filter((p): p is MessagePort => p !== null),
        )
      }
    })
  }

  post(w: number, m: ToWorker, transfer: ArrayBuffer[] = []): void {
    this.workers[w].postMessage(m, transfer)
  }

  broadcast(m: ToWorker): void {
    for (let w = 0; w < this.size; w++) this.post(w, m)
  }

  /** Start the nodes (first call) and run until every node is done or the network stalls. */
  drive(startNodes: boolean): Promise<DriveEnd> {
    if (this.failure) return Promise.reject(this.failure)
    return new Promise<DriveEnd>((resolve, reject) => {
      this.waiter = { resolve, reject }
      if (startNodes) this.broadcast({ type: 'start' })
      else this.check()
    })
  }

  /** Stop every running node on every worker (a failure elsewhere, or a stall). */
  abortAll(): void {
    this.epoch++
    this.broadcast({ type: 'abort', epoch: this.epoch })
  }

  /** The stall as the one-thread virtual clock reports it (driveClock's text), with who waits for what. */
  async stallReason(end: Extract<DriveEnd, { kind: 'stall' }>): Promise<string> {
    const e = new ClockStalledError(end.stall, end.atMs, end.pendingTimers, await this.describe())
    return `${e.name}: ${e.message}`
  }

  /** Who waits for what, in node order (the workers own contiguous blocks). */
  async describe(): Promise<string> {
    this.waitsBox.fill(null)
    await new Promise<void>((resolve) => {
      this.waitsWaiter = resolve
      this.broadcast({ type: 'describe' })
    })
    return formatWaits(this.waitsBox.flatMap((x) => x ?? []))
  }

  /** Close the nodes, collect each worker's result (in worker order), and stop the threads. */
  async finish(): Promise<unknown[]> {
    if (this.failure) throw this.failure
    const res = await new Promise<unknown[]>((resolve, reject) => {
      this.finishWaiter = { resolve, reject }
      this.broadcast({ type: 'finish' })
    })
    await this.close()
    return res
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()))
  }

  private fail(e: Error): void {
    if (this.failure) return
    this.failure = e
    this.waiter?.reject(e)
    this.finishWaiter?.reject(e)
    void this.close()
  }

  private onMessage(w: number, m: FromWorker): void {
    switch (m.type) {
      case 'out':
        this.reports[w] = m
        this.check()
        return
      case 'inputs':
        for (const i of m.inputs) this.handlers.onInput?.(i)
        return
      case 'progress':
        this.handlers.onProgress?.(m)
        return
      case 'session':
        this.handlers.onSession?.(m)
        return
      case 'failed':
        this.handlers.onFailed?.(m)
        return
      case 'waits':
        this.waitsBox[w] = m.waits
        if (this.waitsBox.every((x) => x !== null)) this.waitsWaiter?.()
        return
      case 'result':
        this.results[w] = m.result
        if (++this.resultCount === this.size) this.finishWaiter?.resolve(this.results)
        return
      case 'fatal':
        this.fail(new WorkerThreadError(`worker ${w}: ${m.name}: ${m.message}\n${m.stack}`))
        return
      case 'ready':
        return
    }
  }

  /** Quiet network (Mattern): every worker's latest report is of this epoch, and every batch reported sent is reported received. */
  private check(): void {
    if (this.waiter === null) return
    let running = 0
    let next = Number.POSITIVE_INFINITY
    let pending = 0
    const reports: OutReport[] = []
    for (const r of this.reports) {
      if (r === null || r.epoch !== this.epoch) return
      reports.push(r)
    }
    for (let i = 0; i < this.size; i++) for (let j = 0; j < this.size; j++) if (i !== j && reports[i].sentTo[j] !== reports[j].recvFrom[i]) return
    for (const r of reports) {
      running += r.running
      next = Math.min(next, r.nextAt)
      pending += r.pendingTimers
    }
    if (running === 0) return this.settle({ kind: 'done' })
    if (next === Number.POSITIVE_INFINITY) return this.settle({ kind: 'stall', stall: 'idle', atMs: this.now, pendingTimers: 0 })
    if (next > DEFAULT_VIRTUAL_LIMIT_MS) return this.settle({ kind: 'stall', stall: 'limit', atMs: DEFAULT_VIRTUAL_LIMIT_MS, pendingTimers: pending })
    this.epoch++
    this.now = Math.max(this.now, next)
    this.broadcast({ type: 'advance', epoch: this.epoch, at: this.now })
  }

  private settle(end: DriveEnd): void {
    const w = this.waiter
    this.waiter = null
    w?.resolve(end)
  }
}
