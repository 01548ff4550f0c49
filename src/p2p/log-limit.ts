/**
 * Per-peer rate limit for warn lines (issue 14: one peer's bad frames wrote 4,569 warn lines
 * in 30 s). Each peer may log `burst` lines per `windowMs`; the rest are counted, and the
 * first line after the window closes is a summary: how many were suppressed and why.
 * Counters (metrics) are never limited, only the log lines.
 */
export interface WarnLogger {
  warn(obj: object, msg: string): void
}

export interface PeerLogLimitOptions {
  /** Lines per peer per window (default 5). */
  burst?: number
  /** Window length in ms (default 60 s). */
  windowMs?: number
  now?: () => number
}

interface Window {
  start: number
  logged: number
  suppressed: Record<string, number>
}

export class PeerLogLimiter {
  private readonly burst: number
  private readonly windowMs: number
  private readonly now: () => number
  private readonly peers = new Map<number, Window>()
  /** Lines suppressed so far, all peers. */
  suppressedTotal = 0

  constructor(
    private readonly log: WarnLogger,
    opts: PeerLogLimitOptions = {},
  ) {
    this.burst = opts.burst ?? 5
    this.windowMs = opts.windowMs ?? 60_000
    this.now = opts.now ?? Date.now
  }

  /** Log `msg` for `peer` unless it has used its burst in this window; `reason` keys the summary. */
  warn(peer: number, reason: string, obj: object, msg: string): void {
    const t = this.now()
    let w = this.peers.get(peer)
    if (w === undefined || t - w.start >= this.windowMs) {
      if (w !== undefined) this.summarise(peer, w)
      w = { start: t, logged: 0, suppressed: {} }
      this.peers.set(peer, w)
    }
    if (w.logged < this.burst) {
      w.logged++
      this.log.warn(obj, msg)
      return
    }
    w.suppressed[reason] = (w.suppressed[reason] ?? 0) + 1
    this.suppressedTotal++
  }

  private summarise(peer: number, w: Window): void {
    const n = Object.values(w.suppressed).reduce((a, b) => a + b, 0)
    if (n === 0) return
    this.log.warn({ peer, suppressed: n, reasons: w.suppressed, windowMs: this.windowMs }, `peer ${peer}: ${n} more warnings suppressed in the last window (rate limit ${this.burst} per ${this.windowMs} ms)`)
  }
}
