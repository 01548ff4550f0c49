/**
 * A consensus node's session history (`stats.history`), stored compactly: a simulated
 * network holds 10,000 engines, each adding a record per session (one per training
 * iteration), and as plain objects a record cost ~130 bytes (the object, its two heap
 * numbers, its slot). Here a record is five doubles in one Float64Array (session,
 * attempts, members, errorBound, durationMs; grown by doubling) and one reference to its
 * {label, rounds, scheme}, one frozen object per distinct triple in the process
 * (./intern.ts). Records are materialised on read, deep-equal to the ones recorded, in the
 * same key order; the oldest are dropped past `limit`, as the array was shifted before.
 */
import type { SchemeName } from './weights.js'
import { nextCapacity } from '../numeric/capacity.js'
import { internLabel, internRounds, INTERN_LIMIT } from './intern.js'
import type { SessionRecord } from './node.js'

const NUMS = 5

interface SessionKind {
  readonly label: string
  readonly rounds: number[]
  readonly scheme: SchemeName
}

const kinds = new Map<string, SessionKind>()

function kindOf(label: string, rounds: readonly number[], scheme: SchemeName): SessionKind {
  const key = `${scheme}\u0000${rounds.join(',')}\u0000${label}`
  let k = kinds.get(key)
  if (k === undefined) {
    k = Object.freeze({ label: internLabel(label), rounds: internRounds(rounds), scheme })
    if (kinds.size < INTERN_LIMIT) kinds.set(key, k)
  }
  return k
}

const EMPTY = new Float64Array(0)

export class SessionHistory {
  private nums = EMPTY
  private kinds: SessionKind[] = []
  /** Index of the oldest kept record in `nums` / `kinds` (records before it were dropped). */
  private start = 0
  /** Records pushed so far (dropped ones included). */
  private pushes = 0
  /** `pushes` when syncInto last rebuilt its target's records. */
  private syncedAt = -1

  constructor(private readonly limit: number) {}

  get length(): number {
    return this.kinds.length - this.start
  }

  push(r: SessionRecord): void {
    if ((this.kinds.length + 1) * NUMS > this.nums.length) this.grow(this.kinds.length + 1)
    const i = this.kinds.length
    const at = i * NUMS
    this.nums[at] = r.session
    this.nums[at + 1] = r.attempts
    this.nums[at + 2] = r.members
    this.nums[at + 3] = r.errorBound
    this.nums[at + 4] = r.durationMs
    this.kinds.push(kindOf(r.label, r.rounds, r.scheme))
    this.pushes++
    if (this.length > this.limit) this.start++
  }

  /**
   * Keep `target.history` (an engine's stats: one target per history) equal to the kept
   * records, rebuilding it only after a push since the last call: a reader of the stats
   * (e.g. the report, once per node) gets the same array until a session ends.
   */
  syncInto(target: { history: SessionRecord[] }): void {
    if (this.syncedAt === this.pushes) return
    target.history = this.records()
    this.syncedAt = this.pushes
  }

  /** The kept records, oldest first, as fresh objects (their `rounds` arrays are shared and frozen). */
  records(): SessionRecord[] {
    const out = new Array<SessionRecord>(this.length)
    for (let j = 0; j < out.length; j++) {
      const i = this.start + j
      const at = i * NUMS
      const k = this.kinds[i]
      out[j] = {
        session: this.nums[at],
        label: k.label,
        rounds: k.rounds,
        attempts: this.nums[at + 1],
        members: this.nums[at + 2],
        scheme: k.scheme,
        errorBound: this.nums[at + 3],
        durationMs: this.nums[at + 4],
      }
    }
    return out
  }

  /** Room for `records` records: first by dropping the ones shifted out (never read again), else by doubling. */
  private grow(records: number): void {
    if (this.start > 0) {
      this.nums.copyWithin(0, this.start * NUMS, this.kinds.length * NUMS)
      this.kinds = this.kinds.slice(this.start)
      records -= this.start
      this.start = 0
      if (records * NUMS <= this.nums.length) return
    }
    const next = new Float64Array(nextCapacity(this.nums.length / NUMS, records) * NUMS)
    next.set(this.nums.subarray(0, this.kinds.length * NUMS))
    this.nums = next
  }
}
