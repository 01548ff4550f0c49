/**
 * In-memory transport for tests and the simulator: S endpoints in one process, optional
 * per-frame latency, loss and crash injection, all from one seeded Rng.
 *
 * Zero latency (the default) takes no timer per frame: send() appends to one queue and the
 * whole network drains it in a single microtask, so a session of many rounds over many
 * nodes runs in one loop without re-entering the sender (grouped by recipient when nothing
 * depends on the send order, see frame-queue.ts). Payloads are passed by
 * reference (the engine never mutates a payload it sent before all recipients used it).
 */
import { Rng } from '../numeric/rng.js'
import type { Topology } from '../../topologies/index.js'
import { FrameQueue } from './frame-queue.js'
import { systemClock, type Clock, type ConsensusFrame, type FrameHandler, type Transport } from './transport.js'

export interface MemoryNetworkOptions {
  clock?: Clock
  /** Per-frame latency in ms drawn from the network's Rng; absent = 0 (no timers). */
  latencyMs?: (rng: Rng) => number
  /** Probability that a frame is dropped. */
  loss?: number
  /** Scheduled crashes (clock time from creation); a crashed node neither sends nor receives. */
  crashes?: Array<{ node: number; atMs: number; restartAtMs?: number }>
  seed?: number | string
  /**
   * Order of zero-latency deliveries (src/consensus/frame-queue.ts): 'fifo' as sent, or
   * 'by-recipient' (a round's frames grouped by recipient: the same results, faster at
   * large S). Default: 'by-recipient' unless loss draws or crashes make the run depend on
   * the send order, then 'fifo'.
   */
  delivery?: 'fifo' | 'by-recipient'
}

export interface MemoryNetworkStats {
  sent: number
  delivered: number
  /** Dropped by the loss model. */
  lost: number
  /** Dropped because the sender or the recipient was down. */
  dropped: number
  bytes: number
  /** Peer reports (reportPeer) by reason. */
  reports: Record<string, number>
}

export interface MemoryNetwork {
  readonly transports: Transport[]
  readonly stats: MemoryNetworkStats
  crash(node: number): void
  restart(node: number): void
  isUp(node: number): boolean
  /** Cancel scheduled crashes and pending deliveries. */
  close(): void
}

export class MemoryNetworkError extends Error {
  override name = 'MemoryNetworkError'
}

export function createMemoryNetwork(topology: Topology, opts: MemoryNetworkOptions = {}): MemoryNetwork {
  const S = topology.nodes.length
  const clock = opts.clock ?? systemClock
  const rng = new Rng(opts.seed ?? 'memory-network')
  const loss = opts.loss ?? 0
  if (!(loss >= 0 && loss < 1)) throw new MemoryNetworkError(`loss must be in [0, 1), got ${loss}`)
  const latency = opts.latencyMs
  const handlers: Array<FrameHandler | null> = new Array<FrameHandler | null>(S).fill(null)
  const up = new Uint8Array(S).fill(1)
  const stats: MemoryNetworkStats = { sent: 0, delivered: 0, lost: 0, dropped: 0, bytes: 0, reports: {} }
  const timers = new Set<unknown>()
  let closed = false

  // Pending zero-latency deliveries, drained in one microtask; grouped by recipient when no
  // loss draw, latency or crash makes anything depend on the send order (frame-queue.ts).
  const byRecipient = opts.delivery === undefined ? loss === 0 && latency === undefined && (opts.crashes ?? []).length === 0 : opts.delivery === 'by-recipient'
  const queue = new FrameQueue(S, byRecipient)
  let scheduled = false

  const deliver = (to: number, from: number, frame: ConsensusFrame): void => {
    if (closed) return
    if (up[to] === 0 || up[from] === 0) {
      stats.dropped++
      return
    }
    const h = handlers[to]
    if (h === null) {
      stats.dropped++
      return
    }
    stats.delivered++
    h(from, frame)
  }

  const drain = (): void => {
    scheduled = false
    // Handlers enqueue more while we drain; keep going until quiet.
    queue.drain(deliver)
  }

  const transports: Transport[] = []
  for (let self = 0; self < S; self++) {
    transports.push({
      self,
      send(to: number, frame: ConsensusFrame): void {
        if (closed) return
        if (!Number.isInteger(to) || to < 0 || to >= S) throw new MemoryNetworkError(`node ${to} is not in the ${S}-node network`)
        stats.sent++
        stats.bytes += 8 * frame.payload.length
        if (up[self] === 0) {
          stats.dropped++
          return
        }
        if (loss > 0 && rng.uniform() < loss) {
          stats.lost++
          return
        }
        const ms = latency === undefined ? 0 : latency(rng)
        if (ms > 0) {
          const h = clock.setTimeout(() => {
            timers.delete(h)
            deliver(to, self, frame)
          }, ms)
          timers.add(h)
          return
        }
        queue.push(to, self, frame)
        if (!scheduled) {
          scheduled = true
          queueMicrotask(drain)
        }
      },
      onFrame(handler: FrameHandler): void {
        handlers[self] = handler
      },
      reportPeer(_peer: number, reason: string): void {
        stats.reports[reason] = (stats.reports[reason] ?? 0) + 1
      },
    })
  }

  const check = (node: number): void => {
    if (!Number.isInteger(node) || node < 0 || node >= S) throw new MemoryNetworkError(`node ${node} is not in the ${S}-node network`)
  }
  const net: MemoryNetwork = {
    transports,
    stats,
    crash(node) {
      check(node)
      up[node] = 0
    },
    restart(node) {
      check(node)
      up[node] = 1
    },
    isUp(node) {
      check(node)
      return up[node] === 1
    },
    close() {
      closed = true
      for (const h of timers) clock.clearTimeout(h)
      timers.clear()
    },
  }
  for (const c of opts.crashes ?? []) {
    check(c.node)
    const h = clock.setTimeout(() => {
      timers.delete(h)
      net.crash(c.node)
    }, c.atMs)
    timers.add(h)
    if (c.restartAtMs !== undefined) {
      const r = clock.setTimeout(() => {
        timers.delete(r)
        net.restart(c.node)
      }, c.restartAtMs)
      timers.add(r)
    }
  }
  return net
}
