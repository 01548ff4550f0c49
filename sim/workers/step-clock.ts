/**
 * The virtual clock of one worker thread. It never moves by itself: the coordinator moves
 * every worker's clock together, to the earliest timer of the whole network, and only when
 * no worker has work left and no batch of frames is in flight (sim/workers/coordinator.ts).
 * Timers fire in (time, creation) order, as on the one-thread virtual clock
 * (src/consensus/clock.ts), and timers set while firing that are due by then fire with them.
 */
import type { Clock } from '../../src/consensus/transport.js'

interface Timer {
  at: number
  seq: number
  fn: () => void
  live: boolean
}

export class StepClock implements Clock {
  private t = 0
  private seq = 0
  private live = 0
  private readonly heap: Timer[] = []

  now(): number {
    return this.t
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const timer: Timer = { at: this.t + Math.max(0, Number.isFinite(ms) ? ms : 0), seq: this.seq++, fn, live: true }
    this.live++
    this.push(timer)
    return timer
  }

  clearTimeout(h: unknown): void {
    const timer = h as Timer | null | undefined
    if (timer !== null && timer !== undefined && timer.live) {
      timer.live = false
      this.live--
    }
  }

  /** Timers not yet fired or cleared. */
  pending(): number {
    return this.live
  }

  /** Time of the earliest live timer (Infinity when none). */
  nextAt(): number {
    return this.peekLive()?.at ?? Number.POSITIVE_INFINITY
  }

  /** Move to `at` (never back) and fire every live timer due by then, in (time, creation) order. */
  fireUntil(at: number): void {
    this.t = Math.max(this.t, at)
    for (let timer = this.peekLive(); timer !== undefined && timer.at <= at; timer = this.peekLive()) {
      this.pop()
      timer.live = false
      this.live--
      timer.fn()
    }
  }

  private less(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq)
  }

  private push(timer: Timer): void {
    const h = this.heap
    h.push(timer)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(h[i], h[p])) break
      ;[h[i], h[p]] = [h[p], h[i]]
      i = p
    }
  }

  private pop(): Timer | undefined {
    const h = this.heap
    const top = h[0]
    const last = h.pop()
    if (h.length > 0 && last !== undefined) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && this.less(h[l], h[m])) m = l
        if (r < h.length && this.less(h[r], h[m])) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m], h[i]]
        i = m
      }
    }
    return top
  }

  private peekLive(): Timer | undefined {
    while (this.heap.length > 0 && !this.heap[0].live) this.pop()
    return this.heap[0]
  }
}
