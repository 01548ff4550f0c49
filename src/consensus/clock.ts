/**
 * Deterministic simulated time for the simulator: timers fire in (time, creation) order,
 * and time jumps to the next timer once the process has nothing else to do (every
 * microtask and pending immediate settled). Timers due at the same instant fire together
 * before the next settle. A binary heap keeps set/clear O(log n).
 */
import type { Clock } from './transport.js'

/**
 * The virtual clock was driven until a promise settled, but it cannot settle: nothing is
 * scheduled any more while someone still waits (`kind: 'idle'`; a real clock would sit at
 * 0 % CPU forever), or virtual time reached the caller's limit (`kind: 'limit'`). The
 * message carries the time, the timers left and the host's description of who waits for what.
 */
export class ClockStalledError extends Error {
  override name = 'ClockStalledError'
  constructor(
    readonly kind: 'idle' | 'limit',
    readonly atMs: number,
    readonly pendingTimers: number,
    readonly waiting: string,
  ) {
    super(
      (kind === 'idle'
        ? `simulation stalled at virtual time ${atMs} ms: nothing is scheduled but the run has not finished (a wait no event can end)`
        : `simulation still running at the virtual-time limit ${atMs} ms with ${pendingTimers} timers pending`) +
        `; waiting: ${waiting || 'no description from the host'}. This is a bug (nodes disagree on what to wait for): report it with the scenario and seed`,
    )
  }
}

export interface VirtualClock extends Clock {
  /**
   * Drive time: settle, fire the earliest due timers, repeat, until `until` settles, no
   * timer is left, or virtual time would pass `maxMs` (absolute clock time).
   * `quantumMs` (default 0 = exact) fires every timer due within that window of the
   * earliest one before settling: still in time order and deterministic, but promise
   * continuations (e.g. the next sum() call) see time up to one quantum late. With a
   * random per-frame latency it cuts the settles per simulated second by orders of magnitude.
   */
  run(opts?: RunOptions): Promise<void>
  /** Run every timer due within `ms` from now, then set now += ms. */
  advance(ms: number): Promise<void>
  /** Timers not yet fired or cleared. */
  pending(): number
}

export interface RunOptions {
  until?: Promise<unknown>
  maxMs?: number
  quantumMs?: number
  /**
   * Who is still waiting, and for what (e.g. each consensus node's open sessions and the
   * peers it misses): put in the ClockStalledError when `until` cannot settle.
   */
  describe?: () => string
  /**
   * When `until` is given and cannot settle (no timer left, or maxMs reached): 'throw' a
   * ClockStalledError (default), or 'return' and let the caller inspect the state.
   */
  onStall?: 'throw' | 'return'
}

interface Timer {
  at: number
  seq: number
  fn: () => void
  live: boolean
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r))

function describeSafely(describe: (() => string) | undefined): string {
  if (describe === undefined) return ''
  try {
    return describe()
  } catch (e) {
    return `(the host's description failed: ${e instanceof Error ? e.message : String(e)})`
  }
}

export function createVirtualClock(start = 0): VirtualClock {
  let now = start
  let seq = 0
  let live = 0
  const heap: Timer[] = []
  const less = (a: Timer, b: Timer): boolean => a.at < b.at || (a.at === b.at && a.seq < b.seq)
  const push = (t: Timer): void => {
    heap.push(t)
    let i = heap.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!less(heap[i], heap[p])) break
      ;[heap[i], heap[p]] = [heap[p], heap[i]]
      i = p
    }
  }
  const pop = (): Timer | undefined => {
    const top = heap[0]
    const last = heap.pop()
    if (heap.length > 0 && last !== undefined) {
      heap[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < heap.length && less(heap[l], heap[m])) m = l
        if (r < heap.length && less(heap[r], heap[m])) m = r
        if (m === i) break
        ;[heap[i], heap[m]] = [heap[m], heap[i]]
        i = m
      }
    }
    return top
  }
  const peekLive = (): Timer | undefined => {
    while (heap.length > 0 && !heap[0].live) pop()
    return heap[0]
  }
  /** Fire every live timer due within `quantum` of the earliest one (and <= limit); false when none. */
  const fireNext = (limit: number, quantum = 0): boolean => {
    const first = peekLive()
    if (first === undefined || first.at > limit) return false
    const end = Math.min(limit, first.at + quantum)
    for (let t = peekLive(); t !== undefined && t.at <= end; t = peekLive()) {
      pop()
      now = Math.max(now, t.at)
      t.live = false
      live--
      t.fn()
    }
    return true
  }

  return {
    now: () => now,
    setTimeout(fn, ms) {
      const t: Timer = { at: now + Math.max(0, Number.isFinite(ms) ? ms : 0), seq: seq++, fn, live: true }
      live++
      push(t)
      return t
    },
    clearTimeout(h) {
      const t = h as Timer | null | undefined
      if (t !== null && t !== undefined && t.live) {
        t.live = false
        live--
      }
    },
    pending: () => live,
    async run(opts = {}) {
      let done = false
      opts.until?.then(
        () => {
          done = true
        },
        () => {
          done = true
        },
      )
      const limit = opts.maxMs ?? Number.POSITIVE_INFINITY
      const quantum = opts.quantumMs ?? 0
      for (;;) {
        await settle()
        if (done) return
        if (!fireNext(limit, quantum)) break
      }
      // a promise may settle on the last settle's continuations: give it one more turn
      await settle()
      if (done || opts.until === undefined || opts.onStall === 'return') return
      const left = live
      throw new ClockStalledError(left === 0 ? 'idle' : 'limit', left === 0 ? now : limit, left, describeSafely(opts.describe))
    },
    async advance(ms) {
      const target = now + ms
      for (;;) {
        await settle()
        if (!fireNext(target)) break
      }
      now = Math.max(now, target)
      await settle()
    },
  }
}
