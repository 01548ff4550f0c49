/**
 * Per-node privacy ledger: every release or perturbation with its RDP cost curve over a
 * fixed order grid, the running (epsilon, delta) at the configured delta after each
 * entry, and a budget that, once it would be exceeded, refuses further charges with
 * `PrivacyBudgetExceededError` (nothing is recorded then, and the caller must not release).
 *
 * Two audiences are accounted separately: `external` (what leaves the network: released
 * models; this is what the budget limits) and `peers` (what a node exposes to the other
 * nodes: l-diversity perturbations, noisy consensus contributions). Both compose by adding
 * RDP per order (Mironov 2017, Prop. 1).
 *
 * Persistence: one JSON file, rewritten atomically on every charge (write a temp file in the
 * same directory, fsync it, rename over the old file, fsync the directory), so a crash
 * leaves either the old or the new ledger, never a torn one. `charge` returns only after
 * the entry is durable. Loading validates the file with zod and re-adds the entries to
 * check the stored totals.
 *
 * Tamper evidence (format v2): entries are hash-chained. Entry i stores
 *   prev = hash of entry i-1 (entry 0: genesis = sha256 of the canonical settings),
 *   hash = sha256(prev + "\n" + canonical JSON of the entry without `hash`),
 * so editing, removing or reordering any entry breaks the chain on load. Dropping entries
 * from the end leaves a valid shorter chain: hosts detect that by keeping the ledger's
 * `head()` elsewhere (the node's checkpoint holds a copy) and checking it with
 * `assertContains`. v1 files (no chain) are read and chained on the next write.
 *
 * Idempotence: a charge may carry an `id`; charging an id already in the ledger returns
 * the recorded entry and charges nothing, so a release re-run after a crash between its
 * charge and its output is never paid twice.
 */
import { readFileSync, existsSync } from 'node:fs'
import { writeFileAtomic } from '../data/atomic-file.js'
import { createHash } from 'node:crypto'
import { z } from 'zod'

export { writeFileAtomic }
import { DEFAULT_ORDERS, checkOrders, rdpToDp, type Conversion, type DpGuarantee } from './rdp.js'
import { LedgerCorruptError, PrivacyBudgetExceededError, PrivacySettingsError } from './errors.js'
import { EntryStore } from './ledger-store.js'

export { PrivacyBudgetExceededError, PrivacySettingsError, LedgerCorruptError, LedgerMissingError } from './errors.js'

export const LEDGER_FORMAT = 'collabdict-privacy-ledger'
export const LEDGER_VERSION = 2

/** Default delta for reporting: 1e-5 (TF-Privacy tutorials; ref. 4 uses 1e-4 for ~1k-row datasets). */
export const DEFAULT_LEDGER_DELTA = 1e-5

export type Audience = 'external' | 'peers'

export interface LedgerSettings {
  /** Node the ledger belongs to (peer id or name). */
  nodeId: string
  /** delta at which the running epsilon is reported and the budget is checked; in (0, 1). */
  delta: number
  /** Epsilon budget for the `external` audience at `delta`; null = unlimited (still recorded). */
  budget: number | null
  /** RDP orders (all entries share this grid). */
  orders: number[]
  conversion: Conversion
}

const SettingsSchema = z.object({
  nodeId: z.string().min(1),
  delta: z.number().gt(0).lt(1),
  budget: z.number().nonnegative().finite().nullable(),
  orders: z.array(z.number().finite()).min(1),
  conversion: z.enum(['classic', 'improved']),
})

const DetailValue = z.union([z.number(), z.string(), z.boolean(), z.array(z.number())])

const EntrySchema = z.object({
  seq: z.number().int().nonnegative(),
  /** Idempotency key: a second charge with the same id records nothing. */
  id: z.string().min(1).optional(),
  time: z.string(),
  kind: z.string().min(1),
  audience: z.enum(['external', 'peers']),
  label: z.string(),
  rdp: z.array(z.number().nonnegative()),
  details: z.record(z.string(), DetailValue),
  /** Running guarantee of this entry's audience after it was added. */
  epsilon: z.number().nonnegative(),
  order: z.number(),
  /** Hash of the previous entry (genesis hash for entry 0); absent only in v1 files. */
  prev: z.string().optional(),
  /** sha256(prev + "\n" + canonical JSON of this entry without `hash`). */
  hash: z.string().optional(),
})

const FileSchema = z.object({
  format: z.literal(LEDGER_FORMAT),
  version: z.union([z.literal(1), z.literal(LEDGER_VERSION)]),
  settings: SettingsSchema,
  totals: z.object({ external: z.array(z.number()), peers: z.array(z.number()) }),
  entries: z.array(EntrySchema),
})

export type LedgerEntry = z.infer<typeof EntrySchema>
export type LedgerFile = z.infer<typeof FileSchema>
export type LedgerDetails = Record<string, number | string | boolean | number[]>

/** What a charge is for, with its RDP curve over the ledger's orders. */
export interface Charge {
  /** Idempotency key (e.g. the release's id): a charge whose id is recorded is not repeated. */
  id?: string
  kind: string
  label: string
  audience: Audience
  rdp: ArrayLike<number>
  details?: LedgerDetails
}

/** JSON with object keys sorted (undefined dropped), so equal values give equal strings. */
function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null'
  if (Array.isArray(v)) {
    // an array of numbers (an RDP curve: 160 orders in every entry) is what JSON.stringify
    // writes for it, element by element the same text: one native call instead of 160
    if (v.every((x) => typeof x === 'number')) return JSON.stringify(v)
    return `[${v.map(canonical).join(',')}]`
  }
  const o = v as Record<string, unknown>
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(',')}}`
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

/** The chain's first `prev`: binds the chain to the ledger's settings. */
export function genesisHash(settings: LedgerSettings): string {
  return sha256(`collabdict-privacy-ledger/genesis\n${canonical(settings)}`)
}

/** Hash of an entry given its predecessor's hash (the entry's own `hash` is ignored). */
export function entryHash(entry: LedgerEntry, prev: string): string {
  const { hash: _ignored, ...rest } = entry
  return sha256(`${prev}\n${canonical({ ...rest, prev })}`)
}

/** Where a ledger's chain ends: its length and the hash of its last entry (genesis when empty). */
export interface LedgerHead {
  length: number
  hash: string
}

/** Validate ledger settings (edge check); fills defaults. Throws PrivacySettingsError. */
export function ledgerSettings(input: Partial<LedgerSettings> & { nodeId: string }): LedgerSettings {
  // Explicit `undefined` fields take the defaults too (configs often carry optional keys).
  const s = {
    nodeId: input.nodeId,
    delta: input.delta ?? DEFAULT_LEDGER_DELTA,
    budget: input.budget ?? null,
    orders: input.orders ?? [...DEFAULT_ORDERS],
    conversion: input.conversion ?? ('improved' as const),
  }
  if (!(s.delta > 0 && s.delta < 1)) throw new PrivacySettingsError(`ledger delta must be in (0, 1), got ${s.delta}; typical values are 1e-5 or 1/(10 N)`)
  if (s.budget !== null && !(s.budget >= 0 && Number.isFinite(s.budget))) {
    throw new PrivacySettingsError(`privacy budget must be a finite epsilon >= 0 (or null for none), got ${s.budget}`)
  }
  try {
    checkOrders(s.orders)
  } catch (e) {
    throw new PrivacySettingsError(`ledger orders: ${(e as Error).message}`)
  }
  const parsed = SettingsSchema.safeParse(s)
  if (!parsed.success) throw new PrivacySettingsError(`invalid ledger settings: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
  return parsed.data
}

export class PrivacyLedger {
  readonly settings: LedgerSettings
  readonly path: string | null
  private readonly totals: { external: Float64Array; peers: Float64Array }
  /** The entries, stored compactly and materialised on read (./ledger-store.ts). */
  private readonly list: EntryStore
  private readonly now: () => Date
  /** The guarantee of each audience's current totals, as computed by its last charge (null: not yet, or rolled back). */
  private readonly lastGuarantee: Record<Audience, DpGuarantee | null> = { external: null, peers: null }

  private constructor(settings: LedgerSettings, path: string | null, file: LedgerFile | null, now: () => Date) {
    this.settings = settings
    this.path = path
    this.now = now
    const n = settings.orders.length
    this.totals = {
      external: file ? Float64Array.from(file.totals.external) : new Float64Array(n),
      peers: file ? Float64Array.from(file.totals.peers) : new Float64Array(n),
    }
    this.list = new EntryStore(genesisHash(settings))
    if (file) for (const e of file.entries) this.list.push(e)
  }

  /** A ledger kept in memory only (tests, simulations that persist elsewhere). */
  static inMemory(settings: Partial<LedgerSettings> & { nodeId: string }, now: () => Date = () => new Date()): PrivacyLedger {
    return new PrivacyLedger(ledgerSettings(settings), null, null, now)
  }

  /**
   * Open the ledger at `path`: load and validate it if the file exists (its settings must
   * equal `settings`), otherwise create it and write it out.
   */
  static open(path: string, settings: Partial<LedgerSettings> & { nodeId: string }, now: () => Date = () => new Date()): PrivacyLedger {
    const s = ledgerSettings(settings)
    if (existsSync(path)) {
      const led = PrivacyLedger.load(path, now)
      const a = led.settings
      const same =
        a.nodeId === s.nodeId && a.delta === s.delta && a.budget === s.budget && a.conversion === s.conversion &&
        a.orders.length === s.orders.length && a.orders.every((o, i) => o === s.orders[i])
      if (!same) {
        throw new PrivacySettingsError(
          `ledger ${path} was created with settings ${JSON.stringify({ ...a, orders: `${a.orders.length} orders` })}, ` +
            `which differ from the configured ${JSON.stringify({ ...s, orders: `${s.orders.length} orders` })}; ` +
            'use the ledger\'s settings, or archive the file to start a new ledger (spent privacy is not refunded)',
        )
      }
      return led
    }
    const led = new PrivacyLedger(s, path, null, now)
    led.persist()
    return led
  }

  /** Load and validate a persisted ledger. Throws LedgerCorruptError. */
  static load(path: string, now: () => Date = () => new Date()): PrivacyLedger {
    let raw: unknown
    try {
      raw = JSON.parse(readFileSync(path, 'utf8'))
    } catch (e) {
      throw new LedgerCorruptError(`cannot read ledger ${path}: ${(e as Error).message}; restore it from a backup (do not delete it: spent privacy is not refunded)`)
    }
    return PrivacyLedger.fromJSON(raw, path, now)
  }

  /**
   * A ledger from its JSON document (toJSON() output, e.g. the copy in a checkpoint),
   * validated like a file; persisted to `path` on the next charge when given.
   */
  static fromJSON(raw: unknown, path: string | null = null, now: () => Date = () => new Date()): PrivacyLedger {
    const where = path ?? 'document'
    const parsed = FileSchema.safeParse(raw)
    if (!parsed.success) {
      throw new LedgerCorruptError(`ledger ${where} is malformed: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
    }
    const file = parsed.data
    const s = ledgerSettings(file.settings)
    const n = s.orders.length
    const re = { external: new Float64Array(n), peers: new Float64Array(n) }
    let prev = genesisHash(s)
    for (const [i, e] of file.entries.entries()) {
      if (e.seq !== i) throw new LedgerCorruptError(`ledger ${where}: entry ${i} has seq ${e.seq}; entries were removed or reordered`)
      if (e.rdp.length !== n) throw new LedgerCorruptError(`ledger ${where}: entry ${i} has ${e.rdp.length} RDP values for ${n} orders`)
      if (file.version === LEDGER_VERSION) {
        if (e.prev !== prev || e.hash !== entryHash(e, prev)) {
          throw new LedgerCorruptError(
            `ledger ${where}: entry ${i} does not match its hash chain; the file was edited. Restore it from a backup (do not delete it: spent privacy is not refunded)`,
          )
        }
      } else {
        // v1 (before chaining): chain it now; it is written as v2 with the next charge
        e.prev = prev
        e.hash = entryHash(e, prev)
      }
      prev = e.hash
      const t = re[e.audience]
      for (let j = 0; j < n; j++) t[j] += e.rdp[j]
    }
    for (const aud of ['external', 'peers'] as const) {
      const stored = file.totals[aud]
      if (stored.length !== n || stored.some((v, j) => Math.abs(v - re[aud][j]) > 1e-9 * Math.max(1, Math.abs(v)))) {
        throw new LedgerCorruptError(`ledger ${where}: stored ${aud} totals do not equal the sum of its entries; the file was edited`)
      }
    }
    return new PrivacyLedger(s, path, file, now)
  }

  /**
   * The entries, in order: a fresh array of plain objects built from the compact store on
   * each read (each entry's `rdp` is a shared frozen array). Use `size` / `entryAt` to read
   * a count or one entry without building them all.
   */
  get entries(): readonly LedgerEntry[] {
    const out: LedgerEntry[] = new Array<LedgerEntry>(this.list.length)
    for (let i = 0; i < out.length; i++) out[i] = this.list.at(i)
    return out
  }

  /** Number of entries. */
  get size(): number {
    return this.list.length
  }

  /** Entry i (0-based, = its seq); throws RangeError outside the ledger. */
  entryAt(i: number): LedgerEntry {
    return this.list.at(i)
  }

  /** The chain's head: keep it elsewhere (a checkpoint) to detect a truncated or replaced file. */
  head(): LedgerHead {
    return { length: this.list.length, hash: this.list.hashAt(this.list.length - 1) }
  }

  /**
   * Throws LedgerCorruptError unless this ledger contains `head` (the chain has at least
   * head.length entries and entry head.length - 1 has that hash): a ledger reset, truncated
   * or swapped for an older copy fails this against a head recorded after it.
   */
  assertContains(head: LedgerHead, where: string): void {
    const ok =
      head.length === 0
        ? head.hash === genesisHash(this.settings)
        : this.list.length >= head.length && this.list.hashAt(head.length - 1) === head.hash
    if (!ok) {
      throw new LedgerCorruptError(
        `ledger${this.path ? ` ${this.path}` : ''} has ${this.list.length} entries and does not contain the ${head.length} recorded in ${where}: ` +
          'it was truncated, reset or replaced by an older copy. Restore the ledger from a backup; spent privacy is not refunded',
      )
    }
  }

  /** The recorded entry with idempotency key `id`, if any. */
  byId(id: string): LedgerEntry | undefined {
    const i = this.list.indexOfId(id)
    return i < 0 ? undefined : this.list.at(i)
  }

  get orders(): readonly number[] {
    return this.settings.orders
  }

  /** Composed RDP curve of an audience so far (copy). */
  totalRdp(audience: Audience = 'external'): Float64Array {
    return Float64Array.from(this.totals[audience])
  }

  /** Running (epsilon, delta) of an audience at the ledger's delta. All zero before any charge. */
  spent(audience: Audience = 'external'): DpGuarantee {
    return rdpToDp(this.settings.orders, this.totals[audience], this.settings.delta, this.settings.conversion)
  }

  /** The guarantee the audience would have after adding `rdp` (no side effect). */
  preview(rdp: ArrayLike<number>, audience: Audience = 'external'): DpGuarantee {
    return rdpToDp(this.settings.orders, this.addTo(this.totals[audience], rdp), this.settings.delta, this.settings.conversion)
  }

  /**
   * rdpToDp of `next` = the audience's totals + `rdp`. A zero curve (every l-diversity
   * perturbation: no RDP cost) leaves the totals as they were, so the guarantee of the last
   * charge to that audience is the answer; at 10,000 nodes that saves ~500,000 conversions
   * over 160 orders in a training.
   */
  private guaranteeAfter(audience: Audience, rdp: ArrayLike<number>, next: Float64Array): DpGuarantee {
    let zero = true
    for (let j = 0; j < rdp.length && zero; j++) zero = rdp[j] === 0
    const last = this.lastGuarantee[audience]
    if (zero && last !== null) return last
    const g = rdpToDp(this.settings.orders, next, this.settings.delta, this.settings.conversion)
    this.lastGuarantee[audience] = g
    return g
  }

  /** Epsilon left in the external budget (Infinity without a budget). */
  remaining(): number {
    return this.settings.budget === null ? Infinity : Math.max(0, this.settings.budget - this.spent('external').epsilon)
  }

  /** Throws PrivacyBudgetExceededError if charging `rdp` to `external` would exceed the budget. */
  assertAffordable(rdp: ArrayLike<number>, what = 'this release'): void {
    const budget = this.settings.budget
    if (budget === null) return
    const after = this.preview(rdp, 'external')
    if (after.epsilon > budget) {
      throw new PrivacyBudgetExceededError(
        `${what} would raise epsilon from ${this.spent('external').epsilon.toFixed(4)} to ${after.epsilon.toFixed(4)} ` +
          `(delta = ${this.settings.delta}), past the budget ${budget}; nothing was released. ` +
          'Increase the noise (larger lambda0, smaller R or B), release less often, or raise the budget in the config',
      )
    }
  }

  /**
   * Record a cost. External charges are checked against the budget first (throws
   * PrivacyBudgetExceededError and records nothing); the entry is durable on return.
   */
  charge(c: Charge): LedgerEntry {
    if (c.id !== undefined) {
      const done = this.byId(c.id)
      if (done !== undefined) return done
    }
    const n = this.settings.orders.length
    if (c.rdp.length !== n) {
      throw new PrivacySettingsError(`charge "${c.label}": RDP curve has ${c.rdp.length} values, the ledger has ${n} orders; compute it over ledger.orders`)
    }
    for (let j = 0; j < n; j++) {
      if (!(c.rdp[j] >= 0) || !Number.isFinite(c.rdp[j])) {
        throw new PrivacySettingsError(`charge "${c.label}": RDP value ${c.rdp[j]} at order ${this.settings.orders[j]} must be finite and >= 0`)
      }
    }
    if (c.audience === 'external') this.assertAffordable(c.rdp, `"${c.label}"`)
    const next = this.addTo(this.totals[c.audience], c.rdp)
    const g = this.guaranteeAfter(c.audience, c.rdp, next)
    const prev = this.head().hash
    const entry: LedgerEntry = {
      seq: this.list.length,
      ...(c.id !== undefined ? { id: c.id } : {}),
      time: this.now().toISOString(),
      kind: c.kind,
      audience: c.audience,
      label: c.label,
      rdp: Array.from(c.rdp),
      details: { ...(c.details ?? {}) },
      epsilon: g.epsilon,
      order: g.order,
      prev,
    }
    entry.hash = entryHash(entry, prev)
    const prevTotals = this.totals[c.audience].slice()
    this.totals[c.audience].set(next)
    this.list.push(entry)
    try {
      this.persist()
    } catch (e) {
      // Not durable: roll back so memory and disk agree, and let the caller withhold the release.
      this.totals[c.audience].set(prevTotals)
      this.lastGuarantee[c.audience] = null
      this.list.pop()
      throw e
    }
    // the entry as built (deep-equal to what the store reads back; the caller's own copy)
    return entry
  }

  /** The JSON document persisted to disk (also served by the node's API). */
  toJSON(): LedgerFile {
    return {
      format: LEDGER_FORMAT,
      version: LEDGER_VERSION,
      settings: { ...this.settings, orders: [...this.settings.orders] },
      totals: { external: Array.from(this.totals.external), peers: Array.from(this.totals.peers) },
      entries: this.entries as LedgerEntry[],
    }
  }

  private addTo(total: Float64Array, rdp: ArrayLike<number>): Float64Array {
    const out = Float64Array.from(total)
    for (let j = 0; j < out.length; j++) out[j] += rdp[j]
    return out
  }

  private persist(): void {
    if (this.path !== null) writeFileAtomic(this.path, JSON.stringify(this.toJSON(), null, 1) + '\n')
  }
}
