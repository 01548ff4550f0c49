import { describe, expect, it } from 'vitest'
import { PeerLogLimiter } from '../../src/p2p/log-limit.js'

describe('per-peer warn rate limit', () => {
  it('a flood from one peer logs its burst, then one summary line per window; other peers are unaffected', () => {
    let now = 0
    const lines: Array<{ obj: Record<string, unknown>; msg: string }> = []
    const lim = new PeerLogLimiter({ warn: (obj, msg) => lines.push({ obj: obj as Record<string, unknown>, msg }) }, { burst: 3, windowMs: 1000, now: () => now })
    for (let i = 0; i < 4569; i++) lim.warn(7, i % 2 === 0 ? 'bad-frame' : 'too-large', { peer: 7 }, 'consensus frame rejected')
    lim.warn(2, 'bad-frame', { peer: 2 }, 'consensus frame rejected')
    expect(lines.filter((l) => l.obj.peer === 7)).toHaveLength(3)
    expect(lines.filter((l) => l.obj.peer === 2)).toHaveLength(1)
    expect(lim.suppressedTotal).toBe(4566)
    now = 1500
    lim.warn(7, 'bad-frame', { peer: 7 }, 'consensus frame rejected')
    const summary = lines[lines.length - 2]
    expect(summary.obj).toMatchObject({ peer: 7, suppressed: 4566, reasons: { 'bad-frame': 2283, 'too-large': 2283 } })
    expect(summary.msg).toMatch(/4566 more warnings suppressed/)
    expect(lines[lines.length - 1].msg).toBe('consensus frame rejected')
  })
})
