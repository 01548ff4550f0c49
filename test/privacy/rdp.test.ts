import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { describe, expect, it } from 'vitest'
import { epsilonReport, registerPrivacyCommands } from '../../cli/privacy.js'
import { PrivacyLedger } from '../../src/privacy/ledger.js'
import {
  composeRdp,
  DEFAULT_ORDERS,
  gaussianRdp,
  InvalidOrderError,
  linearRdp,
  logErfc,
  rdpToDp,
  RdpArgumentError,
  subsampledGaussianRdp,
  subsampledGaussianRdpAt,
} from '../../src/privacy/rdp.js'

interface GoldenCase { q: number; sigma: number; steps: number; delta: number; eps_classic: number; eps_improved: number }
const golden = JSON.parse(readFileSync(new URL('../golden/rdp_gaussian.json', import.meta.url), 'utf8')) as { cases: GoldenCase[] }
/** The golden file's grid: [1.1, ..., 10.9] + [12, ..., 63]. */
const GOLDEN_ORDERS = [...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10), ...Array.from({ length: 52 }, (_, x) => 12 + x)]

describe('RDP accountant vs golden (TF-Privacy table and plain Gaussian cases)', () => {
  for (const c of golden.cases) {
    it(`q=${c.q.toFixed(5)} sigma=${c.sigma} steps=${c.steps}: classic ${c.eps_classic.toFixed(3)}, improved ${c.eps_improved.toFixed(3)}`, () => {
      const rdp = subsampledGaussianRdp(c.q, c.sigma, c.steps, GOLDEN_ORDERS)
      expect(Math.abs(rdpToDp(GOLDEN_ORDERS, rdp, c.delta, 'classic').epsilon - c.eps_classic)).toBeLessThan(1e-3)
      expect(Math.abs(rdpToDp(GOLDEN_ORDERS, rdp, c.delta, 'improved').epsilon - c.eps_improved)).toBeLessThan(1e-3)
    })
  }
})

describe('log erfc', () => {
  it('matches tabulated erfc values, including deep tails without underflow', () => {
    const table: [number, number][] = [
      [0, 1], [0.5, 0.4795001221869535], [1, 0.15729920705028513], [2, 0.004677734981047266],
      [3, 2.209049699858544e-5], [5, 1.5374597944280349e-12], [-1, 1.8427007929497148],
    ]
    for (const [x, v] of table) expect(logErfc(x)).toBeCloseTo(Math.log(v), 11)
    // asymptotic expansion erfc(x) ~ e^{-x^2}/(x sqrt(pi)) (1 - 1/(2x^2) + 3/(4x^4)) at x = 30
    const x = 30
    const asym = -x * x - Math.log(x * Math.sqrt(Math.PI)) + Math.log(1 - 1 / (2 * x * x) + 3 / (4 * x ** 4))
    expect(logErfc(x)).toBeCloseTo(asym, 8)
  })
})

/** RDP from A_alpha = E_{z ~ N(0, s^2)} [((1-q) + q exp((2z-1)/(2 s^2)))^alpha] by the trapezoid rule on a wide grid. */
function quadratureRdp(q: number, s: number, alpha: number): number {
  const lo = -12 * s - 2
  const hi = 12 * s + alpha + 2 // the order-i terms peak near z = i
  const n = 200_000
  const h = (hi - lo) / n
  let acc = 0
  for (let i = 0; i <= n; i++) {
    const z = lo + i * h
    const p0 = Math.exp((-z * z) / (2 * s * s)) / (s * Math.sqrt(2 * Math.PI))
    const ratio = 1 - q + q * Math.exp((2 * z - 1) / (2 * s * s))
    acc += (i === 0 || i === n ? 0.5 : 1) * p0 * ratio ** alpha
  }
  return Math.log(acc * h) / (alpha - 1)
}

describe('Poisson-subsampled Gaussian RDP', () => {
  it('fractional-order series agrees with numerical integration of the Rényi divergence', () => {
    for (const [q, s, a] of [[0.1, 1, 2.5], [0.01, 0.8, 5.3], [0.3, 2, 1.5], [0.05, 1.2, 1.05]] as const) {
      const ref = quadratureRdp(q, s, a)
      expect(Math.abs(subsampledGaussianRdpAt(q, s, a) - ref)).toBeLessThan(1e-7 + 1e-6 * ref)
    }
  })
  it('integer closed form agrees with numerical integration and with the series just beside it', () => {
    for (const [q, s, a] of [[0.1, 1, 3], [0.02, 0.7, 8]] as const) {
      const closed = subsampledGaussianRdpAt(q, s, a)
      expect(Math.abs(closed - quadratureRdp(q, s, a))).toBeLessThan(1e-7 + 1e-6 * closed)
      const series = subsampledGaussianRdpAt(q, s, a + 1e-7)
      expect(Math.abs(series - closed)).toBeLessThan(1e-5 * closed + 1e-9)
    }
  })
  it('q = 1 is the plain Gaussian alpha/(2 sigma^2); q = 0 costs nothing; subsampling amplifies privacy', () => {
    const g = gaussianRdp(1.5, 1, 3, DEFAULT_ORDERS)
    const s1 = subsampledGaussianRdp(1, 1.5, 3, DEFAULT_ORDERS)
    for (let i = 0; i < g.length; i++) {
      expect(s1[i]).toBeCloseTo((3 * DEFAULT_ORDERS[i]) / (2 * 1.5 * 1.5), 12)
      expect(g[i]).toBeCloseTo(s1[i], 12)
    }
    expect(subsampledGaussianRdp(0, 1, 10, [2, 3]).every((v) => v === 0)).toBe(true)
    const sub = subsampledGaussianRdp(0.01, 1.5, 3, DEFAULT_ORDERS)
    for (let i = 0; i < g.length; i++) expect(sub[i]).toBeLessThan(g[i])
  })
})

describe('composition and conversion', () => {
  it('composition adds per order: T steps at once == T single steps composed', () => {
    const one = subsampledGaussianRdp(0.02, 1.1, 1)
    const many = subsampledGaussianRdp(0.02, 1.1, 50)
    const composed = composeRdp(...Array.from({ length: 50 }, () => one))
    for (let i = 0; i < one.length; i++) expect(composed[i]).toBeCloseTo(many[i], 10)
    expect(() => composeRdp(one, new Float64Array(3))).toThrow(RdpArgumentError)
  })
  it('classic conversion of a linear curve matches the continuous optimum within grid resolution', () => {
    // eps(alpha) = c alpha, classic: min_alpha c alpha + L/(alpha-1) = c + 2 sqrt(c L) at alpha = 1 + sqrt(L/c)
    const c = 0.05
    const delta = 1e-5
    const L = Math.log(1 / delta)
    const closed = c + 2 * Math.sqrt(c * L)
    const got = rdpToDp(DEFAULT_ORDERS, linearRdp(c, DEFAULT_ORDERS), delta, 'classic')
    expect(got.epsilon).toBeGreaterThanOrEqual(closed - 1e-12)
    expect(got.epsilon - closed).toBeLessThan(1e-3)
    expect(Math.abs(got.order - (1 + Math.sqrt(L / c)))).toBeLessThan(1)
  })
  it('improved conversion is never worse than classic', () => {
    for (const sigma of [0.5, 1, 4]) {
      const rdp = subsampledGaussianRdp(0.01, sigma, 1000)
      const imp = rdpToDp(DEFAULT_ORDERS, rdp, 1e-6, 'improved').epsilon
      expect(imp).toBeLessThanOrEqual(rdpToDp(DEFAULT_ORDERS, rdp, 1e-6, 'classic').epsilon)
    }
  })
  it('refuses orders too close to 1, delta outside (0, 1) and bad rates', () => {
    expect(() => linearRdp(1, [1.001, 2])).toThrow(InvalidOrderError)
    expect(() => linearRdp(1, [2, 2])).toThrow(InvalidOrderError)
    expect(() => rdpToDp([2], [1], 1)).toThrow(RdpArgumentError)
    expect(() => rdpToDp([2], [1], 0)).toThrow(RdpArgumentError)
    expect(() => subsampledGaussianRdpAt(1.5, 1, 2)).toThrow(RdpArgumentError)
    expect(() => subsampledGaussianRdpAt(0.1, 0, 2)).toThrow(RdpArgumentError)
  })
})

describe('collab privacy epsilon', () => {
  it('prints the improved epsilon, its order and the classic value as JSON', async () => {
    const c = golden.cases[0]
    const program = new Command().exitOverride()
    registerPrivacyCommands(program)
    const chunks: string[] = []
    const write = process.stdout.write.bind(process.stdout)
    process.stdout.write = ((s: string) => { chunks.push(s); return true })
    try {
      await program.parseAsync(['privacy', 'epsilon', '--sigma', String(c.sigma), '--q', String(c.q), '--steps', String(c.steps), '--delta', String(c.delta), '--json'], { from: 'user' })
    } finally {
      process.stdout.write = write
    }
    const out = JSON.parse(chunks.join('')) as { epsilon: number; order: number; conversion: string; classic: { epsilon: number; order: number } }
    expect(out.conversion).toBe('improved')
    // DEFAULT_ORDERS is a superset of the golden grid: never worse, and here within 1e-3
    expect(out.epsilon).toBeLessThanOrEqual(c.eps_improved + 1e-9)
    expect(c.eps_improved - out.epsilon).toBeLessThan(1e-3)
    expect(Math.abs(out.classic.epsilon - c.eps_classic)).toBeLessThan(1e-3)
    expect(DEFAULT_ORDERS).toContain(out.order)
  })
  it('refuses invalid arguments with a named error', () => {
    expect(() => epsilonReport({ sigma: '1', q: '0.1', steps: '10', delta: '1' })).toThrow(/delta/)
  })
})

describe('collab privacy ledger', () => {
  it('validates a ledger and prints its entries and running (epsilon, delta)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'privacy-cli-'))
    try {
      const ledgerPath = join(dir, 'ledger.json')
      const ledger = PrivacyLedger.open(ledgerPath, { nodeId: 'org-1' })
      const entry = ledger.charge({ kind: 'release', label: 'network DP release', audience: 'external', rdp: gaussianRdp(3, 1, 1, ledger.orders) })
      const run = async (argv: string[]): Promise<string> => {
        const program = new Command().exitOverride()
        registerPrivacyCommands(program)
        const chunks: string[] = []
        const write = process.stdout.write.bind(process.stdout)
        process.stdout.write = ((s: string) => {
          chunks.push(s)
          return true
        })
        try {
          await program.parseAsync(argv, { from: 'user' })
        } finally {
          process.stdout.write = write
        }
        return chunks.join('')
      }
      const led = JSON.parse(await run(['privacy', 'ledger', '--path', ledgerPath, '--json'])) as { nodeId: string; external: { epsilon: number }; entries: unknown[] }
      expect(led.nodeId).toBe('org-1')
      expect(led.entries.length).toBe(1)
      expect(led.external.epsilon).toBe(entry.epsilon)
      expect(JSON.parse(readFileSync(ledgerPath, 'utf8')).entries[0].kind).toBe('release')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
