/**
 * A node's iteration records, stored compactly. A simulated network holds 10,000 nodes,
 * each adding one record per iteration, and as plain objects a record cost ~230 bytes (the
 * record, its exposure object, five heap numbers, its slot). Here a record is nine doubles
 * in one Float64Array (iteration, objective, participants, convergedVotes, aggregateMs,
 * iterationMs, minEntropy, maxEntropy, exposure flags; grown by doubling) and a reference to
 * its trace entry (the model's own, shared as before). A record with values of other types
 * than the loop writes (e.g. read from a checkpoint file, where NaN became null) is kept
 * as given. Records are materialised on read, deep-equal to the ones recorded, in the same
 * key order, and the trace entry is the same object.
 */
import type { TraceEntry } from '../models/model.js'
import { nextCapacity } from '../numeric/capacity.js'
import type { IterationRecord } from './types.js'

const NUMS = 9
/** Exposure flags: none (exposure null), else 1 + exposed + 2 perturbed. */
const NO_EXPOSURE = 0

const EMPTY = new Float64Array(0)

type Exposure = NonNullable<IterationRecord['exposure']>

function isExposure(x: unknown): x is Exposure {
  if (x === null || typeof x !== 'object') return false
  const keys = Object.keys(x)
  const e = x as Record<string, unknown>
  return (
    keys.length === 4 &&
    keys[0] === 'minEntropy' &&
    keys[1] === 'maxEntropy' &&
    keys[2] === 'exposed' &&
    keys[3] === 'perturbed' &&
    typeof e.minEntropy === 'number' &&
    typeof e.maxEntropy === 'number' &&
    typeof e.exposed === 'boolean' &&
    typeof e.perturbed === 'boolean'
  )
}

const KEYS = ['iteration', 'objective', 'participants', 'convergedVotes', 'exposure', 'aggregateMs', 'iterationMs', 'trace']

/** Whether `r` is a record as the loop writes it (these keys in this order, numbers, an exposure or null). */
function compactable(r: IterationRecord): boolean {
  const keys = Object.keys(r)
  if (keys.length !== KEYS.length || keys.some((k, i) => k !== KEYS[i])) return false
  const nums = [r.iteration, r.objective, r.participants, r.convergedVotes, r.aggregateMs, r.iterationMs]
  return nums.every((v) => typeof v === 'number') && (r.exposure === null || isExposure(r.exposure))
}

export class RecordStore {
  private nums = EMPTY
  private readonly traces: (TraceEntry | undefined)[] = []
  /** Records kept as given (not in the loop's form), by index. */
  private raw: Map<number, IterationRecord> | null = null

  get length(): number {
    return this.traces.length
  }

  push(r: IterationRecord): void {
    const i = this.traces.length
    if (!compactable(r)) {
      ;(this.raw ??= new Map()).set(i, r)
      this.traces.push(undefined)
      return
    }
    if ((i + 1) * NUMS > this.nums.length) {
      const next = new Float64Array(nextCapacity(this.nums.length / NUMS, i + 1) * NUMS)
      next.set(this.nums)
      this.nums = next
    }
    const at = i * NUMS
    const n = this.nums
    n[at] = r.iteration
    n[at + 1] = r.objective
    n[at + 2] = r.participants
    n[at + 3] = r.convergedVotes
    n[at + 4] = r.aggregateMs
    n[at + 5] = r.iterationMs
    const e = r.exposure
    n[at + 6] = e === null ? 0 : e.minEntropy
    n[at + 7] = e === null ? 0 : e.maxEntropy
    n[at + 8] = e === null ? NO_EXPOSURE : 1 + (e.exposed ? 1 : 0) + (e.perturbed ? 2 : 0)
    this.traces.push(r.trace)
  }

  /** Record i as a fresh object (its trace entry is the one recorded). */
  at(i: number): IterationRecord {
    const kept = this.raw?.get(i)
    if (kept !== undefined) return kept
    const at = i * NUMS
    const n = this.nums
    const flags = n[at + 8]
    return {
      iteration: n[at],
      objective: n[at + 1],
      participants: n[at + 2],
      convergedVotes: n[at + 3],
      exposure: flags === NO_EXPOSURE ? null : { minEntropy: n[at + 6], maxEntropy: n[at + 7], exposed: ((flags - 1) & 1) === 1, perturbed: ((flags - 1) & 2) === 2 },
      aggregateMs: n[at + 4],
      iterationMs: n[at + 5],
      trace: this.traces[i] as TraceEntry,
    }
  }

  /** All records, oldest first, as fresh objects. */
  all(): IterationRecord[] {
    const out = new Array<IterationRecord>(this.traces.length)
    for (let i = 0; i < out.length; i++) out[i] = this.at(i)
    return out
  }
}
