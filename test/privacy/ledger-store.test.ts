/**
 * The ledger keeps its entries compactly (src/privacy/ledger-store.ts: shared curves, typed
 * columns, materialised on read). An audit record must not lose anything to that: every
 * entry read back equals, key order and JSON bytes included, the entry as the ledger's
 * rules define it, built here independently (seq, ISO time, running epsilon from
 * rdpToDp of the audience's composed curve, the sha256 chain from genesis).
 */
import { createHash } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { entryHash, genesisHash, PrivacyLedger, type Charge, type LedgerEntry } from '../../src/privacy/ledger.js'
import { DEFAULT_ORDERS, gaussianRdp, linearRdp, rdpToDp } from '../../src/privacy/rdp.js'

/** The entries a ledger must hold after `charges`, built from the ledger's rules (module comment). */
function reference(led: PrivacyLedger, charges: Charge[], times: Date[]): LedgerEntry[] {
  const n = led.orders.length
  const totals = { external: new Array<number>(n).fill(0), peers: new Array<number>(n).fill(0) }
  let prev = genesisHash(led.settings)
  return charges.map((c, seq) => {
    const t = totals[c.audience]
    for (let j = 0; j < n; j++) t[j] += c.rdp[j]
    const g = rdpToDp(led.orders, t, led.settings.delta, led.settings.conversion)
    const e: LedgerEntry = {
      seq,
      ...(c.id !== undefined ? { id: c.id } : {}),
      time: times[seq].toISOString(),
      kind: c.kind,
      audience: c.audience,
      label: c.label,
      rdp: Array.from(c.rdp),
      details: { ...(c.details ?? {}) },
      epsilon: g.epsilon,
      order: g.order,
      prev,
    }
    e.hash = entryHash(e, prev)
    prev = e.hash
    return e
  })
}

/** A clock that returns the given dates in turn. */
function clockOf(times: Date[]): () => Date {
  let i = 0
  return () => times[i++]
}

const zero = new Float64Array(DEFAULT_ORDERS.length)
const withNegZero = Float64Array.from(linearRdp(0.01), (v, j) => (j === 3 ? -0 : v))

/** Charges of every kind the ledger sees: l-diversity entries (zero curve, array details), releases, ids, odd values. */
function charges(): Charge[] {
  const out: Charge[] = []
  for (let i = 0; i < 6; i++) {
    out.push({
      kind: 'ldiversity-perturbation',
      audience: 'peers',
      label: `l-diversity perturbation, iteration ${i}`,
      rdp: zero,
      details: {
        l0: 2,
        pseudoSamples: 2,
        noise: 'posterior',
        components: i % 2 === 0 ? [0] : [1, 3],
        entropyBefore: i % 2 === 0 ? [0.1 * i] : [0.25, 1 / 3],
        entropyAfter: i % 2 === 0 ? [0.7] : [0.6931471805599453, 0.75],
        tau: i % 2 === 0 ? [1.5e-7] : [2, 1e300],
        minEntropy: -0,
        maxEntropy: Number.MAX_VALUE,
      },
    })
  }
  out.push({ id: 'release/abc', kind: 'release', audience: 'external', label: 'network DP release (DP-EM)', rdp: linearRdp(0.02), details: { K: 4, B: 3, R: 1.25, ok: true, none: [] } })
  out.push({ kind: 'gaussian', audience: 'peers', label: 'g ✓ unicode', rdp: gaussianRdp(2) })
  out.push({ kind: 'odd', audience: 'peers', label: '', rdp: withNegZero, details: { nested: { a: 1 } as unknown as number, n: Number.NaN, inf: -Infinity } })
  out.push({ kind: 'odd', audience: 'peers', label: '', rdp: withNegZero, details: {} })
  // zero curves after non-zero ones: the ledger reuses the last guarantee of the audience
  out.push({ kind: 'ldiversity-perturbation', audience: 'peers', label: 'after', rdp: zero, details: { exposed: [0, 2], odd: [Number.NaN, Infinity, -0, 1e-300, 1e21, 5e-324] } })
  out.push({ kind: 'zero', audience: 'external', label: 'after', rdp: zero })
  return out
}

/** sha256 chain hash with a canonical JSON written here, element by element (not the ledger's). */
function independentHash(e: LedgerEntry): string {
  const canon = (v: unknown): string => {
    if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null'
    if (Array.isArray(v)) return '[' + v.map(canon).join(',') + ']'
    const o = v as Record<string, unknown>
    const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort()
    return '{' + keys.map((k) => JSON.stringify(k) + ':' + canon(o[k])).join(',') + '}'
  }
  const { hash: _h, ...rest } = e
  return createHash('sha256').update(`${e.prev}\n${canon(rest)}`).digest('hex')
}

function times(n: number): Date[] {
  // virtual-clock dates (1970 + ms, fractional ms are cut by Date) and wall-clock ones
  return Array.from({ length: n }, (_, i) => new Date(i % 3 === 0 ? i * 1234.5 : Date.UTC(2026, 11, 6, 21, i, 7, 123 + i)))
}

describe('compact ledger entries', () => {
  it('reads back every entry equal to the independently built one: values, key order, JSON and hash chain', () => {
    const cs = charges()
    const ts = times(cs.length)
    const led = PrivacyLedger.inMemory({ nodeId: 'n1', delta: 1e-5 }, clockOf(ts))
    const returned = cs.map((c) => led.charge(c))
    const want = reference(led, cs, ts)
    const got = led.entries
    expect(got).toHaveLength(want.length)
    for (let i = 0; i < want.length; i++) {
      expect(got[i]).toStrictEqual(want[i])
      expect(Object.keys(got[i])).toEqual(Object.keys(want[i]))
      expect(Object.keys(got[i].details)).toEqual(Object.keys(want[i].details))
      expect(JSON.stringify(got[i])).toBe(JSON.stringify(want[i]))
      expect(returned[i]).toStrictEqual(want[i])
      expect(led.entryAt(i)).toStrictEqual(want[i])
      // -0 stays -0 and NaN stays NaN (toStrictEqual compares with Object.is)
      expect(Object.is(got[i].rdp[3], want[i].rdp[3])).toBe(true)
    }
    // the chain's hashes against a canonical JSON built here (-0, NaN, Infinity, 1e-300, 1e21 in number arrays included)
    for (const e of got) expect(e.hash).toBe(independentHash(e))
    expect(led.size).toBe(want.length)
    expect(led.head()).toEqual({ length: want.length, hash: want.at(-1)?.hash })
    expect(led.byId('release/abc')).toStrictEqual(want[6])
    expect(led.byId('no-such-id')).toBeUndefined()
    // the document of the entries a file can hold (finite numbers, no nested details)
    // round-trips: its chain verifies and it reloads to the same bytes
    const fileable = PrivacyLedger.inMemory({ nodeId: 'n1', delta: 1e-5 }, clockOf(ts))
    for (const c of cs.slice(0, 8)) fileable.charge(c)
    const doc = JSON.stringify(fileable.toJSON())
    const again = PrivacyLedger.fromJSON(JSON.parse(doc))
    expect(again.entries).toStrictEqual(JSON.parse(doc).entries)
    expect(JSON.stringify(again.toJSON())).toBe(doc)
  })

  it('keeps a loaded file exactly, including times that are not the ledger\'s own ISO form', () => {
    const led = PrivacyLedger.inMemory({ nodeId: 'n2' }, () => new Date(0))
    const settings = led.settings
    // a hand-written (valid) v2 document: short and offset time stamps, as another tool may write them
    const odd = ['2026-01-01', '2026-12-06T21:00:00+01:00', '2026-12-06T20:00:00.000Z']
    let prev = genesisHash(settings)
    const entries: LedgerEntry[] = odd.map((time, seq) => {
      const e: LedgerEntry = { seq, time, kind: 'release', audience: 'external', label: `r${seq}`, rdp: Array.from(linearRdp(0.01)), details: { seq }, epsilon: 0, order: 0, prev }
      e.hash = entryHash(e, prev)
      prev = e.hash
      return e
    })
    // the running epsilon the loader does not check; totals it does
    const totals = { external: Array.from(linearRdp(0.03)), peers: new Array<number>(settings.orders.length).fill(0) }
    const file = { format: 'collabdict-privacy-ledger', version: 2, settings, totals, entries }
    const text = JSON.stringify(file)
    const loaded = PrivacyLedger.fromJSON(JSON.parse(text))
    expect(loaded.entries).toStrictEqual(entries)
    expect(loaded.entries.map((e) => e.time)).toEqual(odd)
    expect(JSON.stringify(loaded.toJSON())).toBe(text)
  })

  it('hands out copies: changing a read entry changes nothing in the ledger, and the shared curve is frozen', () => {
    const led = PrivacyLedger.inMemory({ nodeId: 'n3' })
    const c = charges()[1]
    led.charge(c)
    const e = led.entries[0]
    ;(e.details.components as number[])[0] = 99
    e.label = 'edited'
    expect(led.entries[0].details.components).toEqual([1, 3])
    expect(led.entries[0].label).toBe(c.label)
    expect(() => {
      e.rdp[0] = 1
    }).toThrow(TypeError)
    expect(led.entries[0].rdp.every((v) => v === 0)).toBe(true)
  })

  it('stores one RDP curve per distinct curve, across ledgers', () => {
    const a = PrivacyLedger.inMemory({ nodeId: 'a' })
    const b = PrivacyLedger.inMemory({ nodeId: 'b' })
    for (const led of [a, b]) {
      led.charge({ kind: 'p', audience: 'peers', label: 'p', rdp: zero })
      led.charge({ kind: 'r', audience: 'external', label: 'r', rdp: linearRdp(0.5) })
    }
    expect(a.entryAt(0).rdp).toBe(b.entryAt(0).rdp)
    expect(a.entryAt(1).rdp).toBe(b.entryAt(1).rdp)
    expect(a.entryAt(1).rdp).toEqual(Array.from(linearRdp(0.5)))
    expect(a.entryAt(0).rdp).not.toBe(a.entryAt(1).rdp)
  })

  it('retains a few hundred bytes per l-diversity entry (1.9 KB as plain objects)', () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const live = (): number => {
      for (let i = 0; i < 4; i++) gc()
      const m = process.memoryUsage()
      return m.heapUsed + m.arrayBuffers
    }
    const NODES = 200
    const ITERATIONS = 40
    const base = charges()
    const before = live()
    const ledgers = Array.from({ length: NODES }, (_, s) => PrivacyLedger.inMemory({ nodeId: `node-${s}` }, () => new Date(s * 1000)))
    const empty = live()
    for (let i = 0; i < ITERATIONS; i++) {
      for (const [s, led] of ledgers.entries()) {
        const c = base[(i + s) % 2]
        // per node values, as a real perturbation has (entropies and tau depend on the node's data)
        const details = { ...c.details, entropyBefore: [(s + i) / 1000], entropyAfter: [0.7 + s / 1e5], tau: [i + s / 7] }
        led.charge({ ...c, label: `l-diversity perturbation, iteration ${i}`, details })
      }
    }
    const perEntry = (live() - empty) / (NODES * ITERATIONS)
    if (process.env.MEM_TEST_VERBOSE) console.log(`${perEntry.toFixed(0)} bytes per entry; ${((empty - before) / NODES).toFixed(0)} bytes per empty ledger`)
    expect(ledgers.every((l) => l.size === ITERATIONS)).toBe(true)
    // plain objects held ~1,900 bytes per entry (1,300 of them the RDP curve); the compact
    // form ~150 plus the typed columns' spare capacity (up to 2x)
    expect(perEntry).toBeLessThan(500)
  })
})
