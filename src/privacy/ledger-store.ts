/**
 * Compact in-memory form of a privacy ledger's entries (the ledger is an audit record:
 * every entry keeps all its information; only the representation is compact). A simulated
 * network holds one ledger per node, 10,000 of them, each gaining an l-diversity entry in
 * most iterations; as plain objects an entry cost ~1.9 KB of heap (its 160-order RDP curve
 * alone 1.3 KB, though nearly all curves are the same zero curve).
 *
 * Per entry, in one Float64Array of ROW slots (grown by doubling):
 *   0 time (epoch ms; NaN when the ISO string would not round-trip: kept in `oddTimes`)
 *   1 epsilon   2 order   3 offset of the entry's detail numbers in `nums`
 *   4..7 the entry's sha256 hash as 32 bytes (a Uint8Array view of the same buffer)
 * and three arrays of shared references:
 *   tags    {kind, audience, label}, one frozen object per distinct triple (interned per process)
 *   curves  the RDP curve, one frozen array per distinct curve (interned per process)
 *   shapes  the details' keys and their types / string / boolean values / array lengths (interned);
 *           the details' numbers, in key order, are in `nums`
 * `seq` is the index, `prev` the previous entry's hash (genesis for entry 0: the ledger
 * checks this chain when it loads a file and builds every new entry on it), `id` a sparse map.
 * Details with a value outside number | string | boolean | number[] are kept as given.
 *
 * Entries are materialised on read (`at`): equal (deep) to the entry that was stored, key
 * order included (the schema's order, as zod and `charge` build them), so the JSON and the
 * hash chain of a materialised entry are those of the original. The RDP curve of a
 * materialised entry is the shared frozen array: read it, copy it to change it.
 */
import { Buffer } from 'node:buffer'
import { nextCapacity } from '../numeric/capacity.js'
import type { LedgerDetails, LedgerEntry } from './ledger.js'

/** Doubles per entry in the row buffer. */
const ROW = 8
const HASH_AT = 4
/** Bound on each process-wide intern table (a distinct value past it is stored unshared). */
const INTERN_LIMIT = 4096

type Audience = LedgerEntry['audience']

interface Tag {
  readonly kind: string
  readonly audience: Audience
  readonly label: string
}

type FieldKind = 'n' | 's' | 'b' | 'a'
/** The non-numeric part of a details object: keys in order, with their kinds and fixed values. */
interface Shape {
  readonly keys: readonly string[]
  readonly kinds: readonly FieldKind[]
  /** String or boolean value of 's' / 'b' fields, array length of 'a' fields, unused for 'n'. */
  readonly fixed: readonly (string | boolean | number)[]
  /** Numbers the details hold ('n' fields count 1, 'a' fields their length). */
  readonly count: number
}

const tagTable = new Map<string, Tag>()
const curveTable = new Map<string, readonly number[]>()
const shapeTable = new Map<string, Shape>()
const zeroCurves = new Map<number, readonly number[]>()

function intern<T>(table: Map<string, T>, key: string, make: () => T): T {
  const got = table.get(key)
  if (got !== undefined) return got
  const v = make()
  if (table.size < INTERN_LIMIT) table.set(key, v)
  return v
}

function tagOf(kind: string, audience: Audience, label: string): Tag {
  return intern(tagTable, `${kind}\u0000${audience}\u0000${label}`, () => Object.freeze({ kind, audience, label }))
}

/** One frozen array per distinct curve (bit for bit: -0 and 0 are different curves). */
function curveOf(rdp: readonly number[]): readonly number[] {
  let zero = true
  for (let j = 0; j < rdp.length && zero; j++) zero = Object.is(rdp[j], 0)
  if (zero) {
    let z = zeroCurves.get(rdp.length)
    if (z === undefined) {
      z = Object.freeze(new Array<number>(rdp.length).fill(0))
      zeroCurves.set(rdp.length, z)
    }
    return z
  }
  const key = Buffer.from(Float64Array.from(rdp).buffer).toString('latin1')
  return intern(curveTable, key, () => Object.freeze(Array.from(rdp)))
}

function isNumberArray(v: unknown): v is number[] {
  if (!Array.isArray(v)) return false
  for (let i = 0; i < v.length; i++) if (typeof v[i] !== 'number') return false
  return true
}

/** The details' shape, or null when a value is not number | string | boolean | number[] (kept as given). */
function shapeOf(details: Record<string, unknown>): Shape | null {
  const keys = Object.keys(details)
  const kinds: FieldKind[] = []
  const fixed: (string | boolean | number)[] = []
  let count = 0
  for (const k of keys) {
    const v = details[k]
    if (typeof v === 'number') {
      kinds.push('n')
      fixed.push(0)
      count++
    } else if (typeof v === 'string') {
      kinds.push('s')
      fixed.push(v)
    } else if (typeof v === 'boolean') {
      kinds.push('b')
      fixed.push(v)
    } else if (isNumberArray(v)) {
      kinds.push('a')
      fixed.push(v.length)
      count += v.length
    } else {
      return null
    }
  }
  const key = JSON.stringify([keys, kinds, fixed])
  return intern(shapeTable, key, () => Object.freeze({ keys: Object.freeze(keys), kinds: Object.freeze(kinds), fixed: Object.freeze(fixed), count }))
}

const HEX64 = /^[0-9a-f]{64}$/
/** The buffer of every store before its first entry (never written: `reserve` replaces it). */
const EMPTY = new Float64Array(0)
const EMPTY_BYTES = new Uint8Array(0)

/** The entries of one ledger, stored compactly (module comment). */
export class EntryStore {
  private n = 0
  private rows = EMPTY
  private bytes = EMPTY_BYTES
  private nums = EMPTY
  private numsUsed = 0
  private readonly tags: Tag[] = []
  private readonly curves: (readonly number[])[] = []
  /** Shape of each entry's details; null = the details are in `rawDetails`. */
  private readonly shapes: (Shape | null)[] = []
  // Rare cases, in maps made on first use (a simulation holds 10,000 stores)
  private rawDetails: Map<number, Record<string, unknown>> | null = null
  private ids: Map<number, string> | null = null
  private byIdIndex: Map<string, number> | null = null
  private oddTimes: Map<number, string> | null = null
  private oddHashes: Map<number, string> | null = null

  constructor(private readonly genesis: string) {}

  get length(): number {
    return this.n
  }

  /** Store an entry (its `seq` must be the store's length, its `prev` the last hash). */
  push(e: LedgerEntry): void {
    const i = this.n
    if (e.seq !== i) throw new RangeError(`entry seq ${e.seq} stored at index ${i}`)
    if (e.prev !== this.hashAt(i - 1)) throw new RangeError(`entry ${i}: prev does not equal the previous entry's hash`)
    if (e.hash === undefined) throw new RangeError(`entry ${i} has no hash`)
    this.reserve(i + 1)
    const r = i * ROW
    const ms = Date.parse(e.time)
    if (Number.isFinite(ms) && new Date(ms).toISOString() === e.time) {
      this.rows[r] = ms
    } else {
      this.rows[r] = Number.NaN
      ;(this.oddTimes ??= new Map()).set(i, e.time)
    }
    this.rows[r + 1] = e.epsilon
    this.rows[r + 2] = e.order
    this.rows[r + 3] = this.numsUsed
    if (HEX64.test(e.hash)) {
      this.bytes.set(Buffer.from(e.hash, 'hex'), (r + HASH_AT) * 8)
    } else {
      ;(this.oddHashes ??= new Map()).set(i, e.hash)
    }
    this.tags.push(tagOf(e.kind, e.audience, e.label))
    this.curves.push(curveOf(e.rdp))
    const shape = shapeOf(e.details)
    this.shapes.push(shape)
    if (shape === null) {
      ;(this.rawDetails ??= new Map()).set(i, { ...e.details })
    } else {
      this.reserveNums(this.numsUsed + shape.count)
      for (let f = 0; f < shape.keys.length; f++) {
        const v = e.details[shape.keys[f]]
        if (shape.kinds[f] === 'n') this.nums[this.numsUsed++] = v as number
        else if (shape.kinds[f] === 'a') for (const x of v as number[]) this.nums[this.numsUsed++] = x
      }
    }
    if (e.id !== undefined) {
      ;(this.ids ??= new Map()).set(i, e.id)
      this.byIdIndex ??= new Map()
      if (!this.byIdIndex.has(e.id)) this.byIdIndex.set(e.id, i)
    }
    this.n++
  }

  /** Remove the last entry (a charge that could not be persisted). */
  pop(): void {
    const i = this.n - 1
    if (i < 0) return
    this.n--
    this.numsUsed = this.rows[i * ROW + 3]
    this.tags.pop()
    this.curves.pop()
    this.shapes.pop()
    this.rawDetails?.delete(i)
    this.oddTimes?.delete(i)
    this.oddHashes?.delete(i)
    const id = this.ids?.get(i)
    this.ids?.delete(i)
    if (id !== undefined && this.byIdIndex?.get(id) === i) this.byIdIndex.delete(id)
  }

  /** Hash of entry i (the genesis hash for i = -1). */
  hashAt(i: number): string {
    if (i < 0) return this.genesis
    const odd = this.oddHashes?.get(i)
    if (odd !== undefined) return odd
    const at = (i * ROW + HASH_AT) * 8
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + at, 32).toString('hex')
  }

  /** Index of the first entry with idempotency key `id`, or -1. */
  indexOfId(id: string): number {
    return this.byIdIndex?.get(id) ?? -1
  }

  audienceAt(i: number): Audience {
    return this.tags[i].audience
  }

  /** The RDP curve of entry i (shared, frozen). */
  curveAt(i: number): readonly number[] {
    return this.curves[i]
  }

  /** Entry i as a plain object, deep-equal to the one stored, with the schema's key order. */
  at(i: number): LedgerEntry {
    if (!(i >= 0 && i < this.n)) throw new RangeError(`no ledger entry ${i} (the ledger has ${this.n})`)
    const r = i * ROW
    const tag = this.tags[i]
    const id = this.ids?.get(i)
    const ms = this.rows[r]
    return {
      seq: i,
      ...(id !== undefined ? { id } : {}),
      time: Number.isNaN(ms) ? (this.oddTimes?.get(i) as string) : new Date(ms).toISOString(),
      kind: tag.kind,
      audience: tag.audience,
      label: tag.label,
      // the frozen shared curve: the stored information, not a buffer for the caller to change
      rdp: this.curves[i] as number[],
      details: this.detailsAt(i),
      epsilon: this.rows[r + 1],
      order: this.rows[r + 2],
      prev: this.hashAt(i - 1),
      hash: this.hashAt(i),
    }
  }

  private detailsAt(i: number): LedgerDetails {
    const shape = this.shapes[i]
    if (shape === null) return { ...(this.rawDetails?.get(i) as LedgerDetails) }
    let p = this.rows[i * ROW + 3]
    const pairs: [string, LedgerDetails[string]][] = []
    for (let f = 0; f < shape.keys.length; f++) {
      const kind = shape.kinds[f]
      if (kind === 'n') {
        pairs.push([shape.keys[f], this.nums[p++]])
      } else if (kind === 'a') {
        const len = shape.fixed[f] as number
        pairs.push([shape.keys[f], Array.from(this.nums.subarray(p, p + len))])
        p += len
      } else {
        pairs.push([shape.keys[f], shape.fixed[f]])
      }
    }
    // fromEntries defines own data properties (a key named __proto__ stays a key)
    return Object.fromEntries<LedgerDetails[string]>(pairs)
  }

  private reserve(entries: number): void {
    if (entries * ROW <= this.rows.length) return
    const rows = new Float64Array(nextCapacity(this.rows.length / ROW, entries) * ROW)
    rows.set(this.rows)
    this.rows = rows
    this.bytes = new Uint8Array(rows.buffer)
  }

  private reserveNums(count: number): void {
    if (count <= this.nums.length) return
    const nums = new Float64Array(nextCapacity(this.nums.length, count))
    nums.set(this.nums.subarray(0, this.numsUsed))
    this.nums = nums
  }
}
