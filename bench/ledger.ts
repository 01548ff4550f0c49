/**
 * `npm run bench -- ledger`: cost of one privacy-ledger charge (src/privacy/ledger.ts), side
 * by side in this run: the l-diversity perturbation's zero RDP curve (what every exposed node
 * charges in every iteration: ~350,000-540,000 charges in a 10,000-node training), which
 * reuses the audience's last guarantee, against a non-zero curve (a Gaussian release), which
 * converts the composed curve over the ledger's 160 orders. Both build, hash and store an
 * entry with the same details. Median of BENCH_LEDGER_REPS runs (default 5) of 20,000 charges
 * on an in-memory ledger.
 */
import { PrivacyLedger, type Charge } from '../src/privacy/ledger.js'
import { DEFAULT_ORDERS, gaussianRdp } from '../src/privacy/rdp.js'

const CHARGES = 20_000

function usPerCharge(rdp: () => Float64Array): number {
  const led = PrivacyLedger.inMemory({ nodeId: 'bench' })
  led.charge({ kind: 'start', audience: 'peers', label: 'start', rdp: gaussianRdp(50) })
  const details: Charge['details'] = { exposed: [1], entropies: [0.1, 0.7, 0.2, 0], tau: 0.5 }
  const t0 = performance.now()
  for (let i = 0; i < CHARGES; i++) led.charge({ kind: 'ldiversity-perturbation', audience: 'peers', label: `l-diversity perturbation, iteration ${i % 100}`, rdp: rdp(), details })
  return ((performance.now() - t0) * 1000) / CHARGES
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

export async function run(): Promise<void> {
  const reps = Number(process.env.BENCH_LEDGER_REPS ?? 5)
  const curve = gaussianRdp(1e4)
  const zero: number[] = []
  const nonZero: number[] = []
  for (let r = 0; r < reps; r++) {
    zero.push(usPerCharge(() => new Float64Array(DEFAULT_ORDERS.length)))
    nonZero.push(usPerCharge(() => curve))
  }
  console.log(`privacy ledger: us per charge, median of ${reps} x ${CHARGES.toLocaleString('en')} charges (${DEFAULT_ORDERS.length} orders)`)
  console.log('| curve | us per charge |')
  console.log('|---|---:|')
  console.log(`| zero (l-diversity perturbation: last guarantee reused) | ${median(zero).toFixed(1)} |`)
  console.log(`| non-zero (Gaussian, sigma 1e4: converted over every order) | ${median(nonZero).toFixed(1)} |`)
  console.log(`zero-curve charge ${(median(nonZero) / median(zero)).toFixed(2)}x cheaper than a converted one`)
}
