import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  LedgerCorruptError,
  PrivacyBudgetExceededError,
  PrivacyLedger,
  PrivacySettingsError,
} from '../../src/privacy/ledger.js'
import { composeRdp, DEFAULT_ORDERS, gaussianRdp, linearRdp, rdpToDp } from '../../src/privacy/rdp.js'

const dirs: string[] = []
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'ledger-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
const fixedClock = () => new Date('2026-01-01T00:00:00Z')

describe('PrivacyLedger', () => {
  it('composes charges per order and reports the running guarantee of each audience', () => {
    const led = PrivacyLedger.inMemory({ nodeId: 'n1', delta: 1e-5 })
    const a = linearRdp(0.01)
    const b = gaussianRdp(3, 1, 4)
    led.charge({ kind: 'release', label: 'r1', audience: 'external', rdp: a })
    const e2 = led.charge({ kind: 'release', label: 'r2', audience: 'external', rdp: b })
    led.charge({ kind: 'perturbation', label: 'p1', audience: 'peers', rdp: b })
    const want = rdpToDp(DEFAULT_ORDERS, composeRdp(a, b), 1e-5, 'improved')
    expect(led.spent('external').epsilon).toBeCloseTo(want.epsilon, 12)
    expect(e2.epsilon).toBeCloseTo(want.epsilon, 12)
    expect(led.spent('peers').epsilon).toBeCloseTo(rdpToDp(DEFAULT_ORDERS, b, 1e-5).epsilon, 12)
    expect(led.entries.map((e) => e.seq)).toEqual([0, 1, 2])
  })

  it('refuses the charge that would pass the budget, records nothing, and keeps refusing', () => {
    const path = join(tmp(), 'ledger.json')
    const led = PrivacyLedger.open(path, { nodeId: 'n1', delta: 1e-5, budget: 2 }, fixedClock)
    const step = gaussianRdp(4) // about 0.9 epsilon at delta 1e-5 alone
    let accepted = 0
    for (let i = 0; i < 100; i++) {
      try {
        led.charge({ kind: 'release', label: `r${i}`, audience: 'external', rdp: step })
        accepted++
      } catch (e) {
        expect((e as Error).name).toBe('PrivacyBudgetExceededError')
        break
      }
    }
    expect(accepted).toBeGreaterThan(0)
    expect(led.entries.length).toBe(accepted)
    expect(led.spent().epsilon).toBeLessThanOrEqual(2)
    // the refused charge would really have passed the budget
    expect(led.preview(step).epsilon).toBeGreaterThan(2)
    const before = readFileSync(path, 'utf8')
    expect(() => led.charge({ kind: 'release', label: 'again', audience: 'external', rdp: step })).toThrow(PrivacyBudgetExceededError)
    expect(readFileSync(path, 'utf8')).toBe(before)
    // peers-side logging is not limited by the external budget
    led.charge({ kind: 'perturbation', label: 'p', audience: 'peers', rdp: step })
  })

  it('persists atomically and reloads with the same entries and totals', () => {
    const dir = tmp()
    const path = join(dir, 'sub', 'ledger.json')
    const led = PrivacyLedger.open(path, { nodeId: 'n7', delta: 1e-4, budget: 50 }, fixedClock)
    led.charge({ kind: 'release', label: 'r', audience: 'external', rdp: linearRdp(0.02), details: { K: 3, R: 2 } })
    led.charge({ kind: 'gaussian', label: 'g', audience: 'peers', rdp: gaussianRdp(2) })
    expect(readdirSync(join(dir, 'sub'))).toEqual(['ledger.json']) // no temp files left behind
    const again = PrivacyLedger.open(path, { nodeId: 'n7', delta: 1e-4, budget: 50 })
    expect(again.entries).toEqual(led.entries)
    expect(again.spent().epsilon).toBe(led.spent().epsilon)
    expect(again.spent('peers').epsilon).toBe(led.spent('peers').epsilon)
    expect(again.entries[0].details).toEqual({ K: 3, R: 2 })
  })

  it('rejects edited, malformed or mismatching ledgers with named errors', () => {
    const path = join(tmp(), 'ledger.json')
    const led = PrivacyLedger.open(path, { nodeId: 'n1' })
    led.charge({ kind: 'release', label: 'r', audience: 'external', rdp: linearRdp(0.5) })
    expect(() => PrivacyLedger.open(path, { nodeId: 'n1', budget: 3 })).toThrow(PrivacySettingsError)
    const doc = JSON.parse(readFileSync(path, 'utf8')) as { entries: { rdp: number[] }[] }
    doc.entries[0].rdp = doc.entries[0].rdp.map((v) => v / 10) // someone shrinks a recorded cost
    writeFileSync(path, JSON.stringify(doc))
    expect(() => PrivacyLedger.load(path)).toThrow(LedgerCorruptError)
    writeFileSync(path, '{"format": "something-else"}')
    expect(() => PrivacyLedger.load(path)).toThrow(LedgerCorruptError)
    writeFileSync(path, 'not json')
    expect(() => PrivacyLedger.load(path)).toThrow(LedgerCorruptError)
  })

  it('hash-chains its entries: an edited detail, a removed middle entry or a swapped order is refused', () => {
    const path = join(tmp(), 'ledger.json')
    const led = PrivacyLedger.open(path, { nodeId: 'n1' }, fixedClock)
    for (let i = 0; i < 3; i++) led.charge({ kind: 'perturbation', label: `p${i}`, audience: 'peers', rdp: linearRdp(0.01), details: { iteration: i } })
    const good = readFileSync(path, 'utf8')
    const doc = (): { version: number; entries: Record<string, unknown>[] } => JSON.parse(good) as { version: number; entries: Record<string, unknown>[] }
    expect(doc().version).toBe(2)
    expect(PrivacyLedger.load(path).entries).toEqual(led.entries)
    // an edited detail (the totals still add up): caught by the chain
    const edited = doc()
    ;(edited.entries[1].details as Record<string, unknown>).iteration = 7
    writeFileSync(path, JSON.stringify(edited))
    expect(() => PrivacyLedger.load(path)).toThrow(/hash chain/)
    // a relabelled entry
    const relabelled = doc()
    relabelled.entries[0].label = 'harmless'
    writeFileSync(path, JSON.stringify(relabelled))
    expect(() => PrivacyLedger.load(path)).toThrow(LedgerCorruptError)
  })

  it('detects a truncated or reset ledger against a recorded head, and accepts a longer one', () => {
    const path = join(tmp(), 'ledger.json')
    const led = PrivacyLedger.open(path, { nodeId: 'n1' }, fixedClock)
    led.charge({ kind: 'release', label: 'r0', audience: 'external', rdp: linearRdp(0.1) })
    const older = readFileSync(path, 'utf8')
    led.charge({ kind: 'release', label: 'r1', audience: 'external', rdp: linearRdp(0.1) })
    const head = led.head()
    expect(head.length).toBe(2)
    led.charge({ kind: 'release', label: 'r2', audience: 'external', rdp: linearRdp(0.1) })
    PrivacyLedger.load(path).assertContains(head, 'checkpoint.json') // longer than the head: fine
    writeFileSync(path, older) // swapped for an older copy: a valid chain, but one entry short
    expect(() => PrivacyLedger.load(path).assertContains(head, 'checkpoint.json')).toThrow(/truncated, reset or replaced/)
    const fresh = PrivacyLedger.inMemory({ nodeId: 'n1' })
    expect(() => fresh.assertContains(head, 'checkpoint.json')).toThrow(LedgerCorruptError)
    fresh.assertContains(fresh.head(), 'itself')
  })

  it('charges an idempotency key once: the second charge returns the recorded entry', () => {
    const path = join(tmp(), 'ledger.json')
    const led = PrivacyLedger.open(path, { nodeId: 'n1', budget: 10 }, fixedClock)
    const a = led.charge({ id: 'release/abc/42', kind: 'release', label: 'r', audience: 'external', rdp: linearRdp(0.2) })
    const spent = led.spent().epsilon
    const again = PrivacyLedger.open(path, { nodeId: 'n1', budget: 10 }, fixedClock)
    const b = again.charge({ id: 'release/abc/42', kind: 'release', label: 'r', audience: 'external', rdp: linearRdp(0.2) })
    expect(b).toEqual(a)
    expect(again.entries).toHaveLength(1)
    expect(again.spent().epsilon).toBe(spent)
    expect(again.byId('release/abc/42')?.seq).toBe(0)
  })

  it('reads a v1 (unchained) ledger and writes it back chained', () => {
    const path = join(tmp(), 'ledger.json')
    const led = PrivacyLedger.open(path, { nodeId: 'n1' }, fixedClock)
    led.charge({ kind: 'release', label: 'r', audience: 'external', rdp: linearRdp(0.1) })
    const v1 = JSON.parse(readFileSync(path, 'utf8')) as { version: number; entries: Record<string, unknown>[] }
    v1.version = 1
    for (const e of v1.entries) {
      delete e.prev
      delete e.hash
    }
    writeFileSync(path, JSON.stringify(v1))
    const up = PrivacyLedger.load(path)
    expect(up.entries[0].hash).toBe(led.entries[0].hash)
    up.charge({ kind: 'release', label: 'r2', audience: 'external', rdp: linearRdp(0.1) })
    expect((JSON.parse(readFileSync(path, 'utf8')) as { version: number }).version).toBe(2)
    expect(PrivacyLedger.load(path).entries).toHaveLength(2)
  })

  it('rolls back a charge that could not be written, so no entry exists without being durable', () => {
    const dir = tmp()
    writeFileSync(join(dir, 'file'), 'x')
    const bad = PrivacyLedger.open(join(dir, 'ok.json'), { nodeId: 'n' })
    // make the target unwritable by replacing the path's directory with a file
    Object.defineProperty(bad, 'path', { value: join(dir, 'file', 'ledger.json') })
    expect(() => bad.charge({ kind: 'release', label: 'r', audience: 'external', rdp: linearRdp(0.1) })).toThrow()
    expect(bad.entries.length).toBe(0)
    expect(bad.spent().epsilon).toBe(0)
  })

  it('refuses invalid settings with PrivacySettingsError', () => {
    expect(() => PrivacyLedger.inMemory({ nodeId: 'n', delta: 1 })).toThrow(PrivacySettingsError)
    expect(() => PrivacyLedger.inMemory({ nodeId: 'n', delta: 0 })).toThrow(PrivacySettingsError)
    expect(() => PrivacyLedger.inMemory({ nodeId: 'n', budget: -1 })).toThrow(PrivacySettingsError)
    expect(() => PrivacyLedger.inMemory({ nodeId: 'n', orders: [1.0001, 2] })).toThrow(PrivacySettingsError)
    const led = PrivacyLedger.inMemory({ nodeId: 'n' })
    expect(() => led.charge({ kind: 'x', label: 'x', audience: 'external', rdp: [1, 2] })).toThrow(PrivacySettingsError)
  })
})

describe('ledgerSettings defaults', () => {
  it('fills explicit undefined fields with the defaults', () => {
    const led = PrivacyLedger.inMemory({ nodeId: 'n', budget: undefined, delta: undefined })
    expect(led.settings.budget).toBeNull()
    expect(led.settings.delta).toBe(1e-5)
    expect(led.settings.orders).toEqual([...DEFAULT_ORDERS])
  })
})
