/**
 * Consensus benchmark (`npm run bench -- consensus`), all measured in this run:
 * 1. rounds and wall time per scheme for S = 31, 101, 1009 over the in-memory transport,
 *    vector length 5,000 (random 4-regular overlays: 31 * 3 is odd), predicted vs used;
 * 2. rounds vs S (spectral, tol 1e-9) for the cycle with inverse chord, random 3-regular,
 *    Margulis-Gabber-Galil and the ring;
 * 3. the simulator's load: 1,000 nodes, statistics vectors of 800, C = 3 chunks, one
 *    aggregate per EM iteration, on random 3-regular and cwic-1009;
 * 4. finite-time exact consensus vs Chebyshev at 1e-9 on small graphs with few distinct
 *    eigenvalues (cwic-31, ring-31, torus-100, ring-101): rounds, wall time, error reached.
 */
import { Rng } from '../src/numeric/rng.js'
import { SCHEMES, createConsensusNode, createMemoryNetwork, type SchemeName } from '../src/consensus/index.js'
import { generateTopology, spectralReport, type Topology } from '../topologies/index.js'

const TOL = 1e-9
/** Longest run we do (rounds x nodes x length); beyond it the bench prints an estimate. */
const WORK_LIMIT = 2e10

interface Run {
  rounds: number
  ms: number
  relErr: number
}

async function runOnce(t: Topology, scheme: SchemeName, len: number, chunks: number): Promise<Run> {
  const S = t.nodes.length
  const net = createMemoryNetwork(t)
  const nodes = net.transports.map((tr) => createConsensusNode({ topology: t, transport: tr, seed: 1, scheme, tol: TOL, chunks }))
  const rng = new Rng(`bench/${S}/${scheme}`)
  const xs = nodes.map(() => rng.fillNormal(new Float64Array(len)))
  const mean = new Float64Array(len)
  for (const x of xs) for (let i = 0; i < len; i++) mean[i] += x[i] / S
  const t0 = performance.now()
  const out = await Promise.all(nodes.map((n, i) => n.average(xs[i], 'bench')))
  const ms = performance.now() - t0
  let num = 0
  let den = 0
  for (let s = 0; s < S; s++) {
    for (let i = 0; i < len; i++) {
      num += (out[s][i] - mean[i]) ** 2
      den += (xs[s][i] - mean[i]) ** 2
    }
  }
  for (const n of nodes) n.close()
  return { rounds: nodes[0].stats.history[0].rounds[0], ms, relErr: Math.sqrt(num / den) }
}

const pad = (s: string | number, n: number): string => String(s).padStart(n)

async function schemesTable(): Promise<void> {
  const len = 5000
  console.log(`\n-- rounds and wall time per scheme, vector length ${len}, tol ${TOL}, C = 1, in-memory transport --`)
  console.log(`${'S'.padStart(5)} ${'scheme'.padEnd(14)} ${pad('predicted', 9)} ${pad('rounds', 7)} ${pad('wall s', 8)} ${pad('ms/round', 9)} ${pad('rel.err', 9)}`)
  for (const S of [31, 101, 1009]) {
    const t = generateTopology('regular', S, { degree: 4, seed: 1 })
    const rep = spectralReport(t, TOL)
    let msPerRoundNode = 0
    const wall: Partial<Record<SchemeName, number>> = {}
    const skipped: SchemeName[] = []
    for (const scheme of SCHEMES) {
      const predicted = rep.schemes[scheme].rounds
      if (predicted * S * len > WORK_LIMIT) {
        skipped.push(scheme)
        continue
      }
      const r = await runOnce(t, scheme, len, 1)
      msPerRoundNode = Math.max(msPerRoundNode, r.ms / r.rounds / S)
      wall[scheme] = r.ms
      console.log(
        `${pad(S, 5)} ${scheme.padEnd(14)} ${pad(predicted, 9)} ${pad(r.rounds, 7)} ${pad((r.ms / 1000).toFixed(2), 8)} ${pad((r.ms / r.rounds).toFixed(2), 9)} ${pad(r.relErr.toExponential(1), 9)}`,
      )
    }
    for (const scheme of skipped) {
      const predicted = rep.schemes[scheme].rounds
      const est = msPerRoundNode * predicted * S
      wall[scheme] = est
      console.log(`${pad(S, 5)} ${scheme.padEnd(14)} ${pad(predicted, 9)} ${pad('-', 7)} ${pad(`~${(est / 1000).toFixed(0)}`, 8)}   not run: estimated from the slowest measured cost per node-round`)
    }
    const c = wall.chebyshev ?? Number.NaN
    console.log(
      `${pad(S, 5)} chebyshev speed-up (wall): ${((wall.metropolis ?? Number.NaN) / c).toFixed(1)}x vs metropolis, ${((wall.paper ?? Number.NaN) / c).toFixed(0)}x vs paper`,
    )
  }
  const cw = spectralReport(generateTopology('cwic', 31), TOL).schemes
  console.log(
    `cwic-31 rounds at ${TOL}: paper ${cw.paper.rounds}, metropolis ${cw.metropolis.rounds}, chebyshev ${cw.chebyshev.rounds}: ` +
      `${(cw.metropolis.rounds / cw.chebyshev.rounds).toFixed(1)}x fewer than metropolis, ${(cw.paper.rounds / cw.chebyshev.rounds).toFixed(1)}x fewer than paper`,
  )
}

function primeNear(n: number): number {
  for (let p = n; ; p++) {
    let ok = p > 1
    for (let d = 2; d * d <= p && ok; d++) if (p % d === 0) ok = false
    if (ok) return p
  }
}

function roundsTable(): void {
  console.log(`\n-- rounds vs S (spectral prediction, tol ${TOL}): metropolis / chebyshev, and metropolis rounds / ln S --`)
  const families: Array<[string, (s: number) => Topology, number[]]> = [
    ['cwic', (s) => generateTopology('cwic', primeNear(s)), [31, 64, 128, 256, 512, 1009]],
    ['regular-3', (s) => generateTopology('regular', s, { degree: 3, seed: 1 }), [32, 64, 128, 256, 512, 1024]],
    ['mgg', (s) => generateTopology('mgg', s), [36, 64, 121, 256, 529, 1024]],
    ['ring', (s) => generateTopology('ring', s), [32, 64, 128, 256, 512, 1024]],
  ]
  for (const [name, make, sizes] of families) {
    const cells: string[] = []
    for (const s of sizes) {
      const t = make(s)
      const r = spectralReport(t, TOL)
      const S = t.nodes.length
      cells.push(`S=${S}: ${r.schemes.metropolis.rounds}/${r.schemes.chebyshev.rounds} (${(r.schemes.metropolis.rounds / Math.log(S)).toFixed(0)})`)
    }
    console.log(`${name.padEnd(10)} ${cells.join('  ')}`)
  }
  console.log('(ring: metropolis rounds grow ~4x per doubling of S, i.e. like S^2; expanders stay within a constant of ln S)')
}

async function simulatorLoad(): Promise<void> {
  console.log('\n-- simulator load: 1,000 nodes, vector length 800, C = 3 chunks, one aggregate per EM iteration --')
  for (const [name, t] of [
    ['regular-3, S=1000', generateTopology('regular', 1000, { degree: 3, seed: 1 })],
    ['cwic, S=1009', generateTopology('cwic', 1009)],
  ] as const) {
    const rounds = spectralReport(t, TOL).schemes.chebyshev.rounds
    const net = createMemoryNetwork(t)
    const nodes = net.transports.map((tr) => createConsensusNode({ topology: t, transport: tr, seed: 1, tol: TOL, chunks: 3 }))
    const rng = new Rng('sim-load')
    const xs = nodes.map(() => rng.fillNormal(new Float64Array(800)))
    const times: number[] = []
    for (let it = 0; it < 3; it++) {
      const t0 = performance.now()
      await Promise.all(nodes.map((n, i) => n.sum(xs[i], `em-${it}`)))
      times.push(performance.now() - t0)
    }
    const per = times.slice(1).reduce((a, b) => a + b, 0) / (times.length - 1)
    console.log(
      `${name.padEnd(18)} chebyshev ${rounds} rounds x 3 chunks: ${(per / 1000).toFixed(2)} s per aggregate ` +
        `(${((per * 1000) / (rounds * 3 * t.nodes.length)).toFixed(2)} us per node-round-chunk, ${net.stats.delivered} frames); ` +
        `40 iterations ~ ${((40 * per) / 1000).toFixed(0)} s`,
    )
    for (const n of nodes) n.close()
  }
}

export async function finiteTimeTable(): Promise<void> {
  const len = 5000
  console.log(`\n-- finite-time exact consensus vs chebyshev, tol ${TOL}, vector length ${len}, C = 1 --`)
  console.log(`${'graph'.padEnd(10)} ${pad('cheb rounds', 11)} ${pad('wall s', 7)} ${pad('rel.err', 8)}   ${pad('finite rounds', 13)} ${pad('wall s', 7)} ${pad('rel.err', 8)}  ratio`)
  for (const [name, t] of [
    ['cwic-31', generateTopology('cwic', 31)],
    ['ring-31', generateTopology('ring', 31)],
    ['torus-100', generateTopology('torus', 100)],
    ['ring-101', generateTopology('ring', 101)],
  ] as const) {
    const c = await runOnce(t, 'chebyshev', len, 1)
    const f = await runOnce(t, 'finite-time', len, 1)
    console.log(
      `${name.padEnd(10)} ${pad(c.rounds, 11)} ${pad((c.ms / 1000).toFixed(2), 7)} ${pad(c.relErr.toExponential(1), 8)}   ${pad(f.rounds, 13)} ${pad((f.ms / 1000).toFixed(2), 7)} ${pad(f.relErr.toExponential(1), 8)}  ${(c.rounds / f.rounds).toFixed(1)}x fewer rounds`,
    )
  }
}

export async function run(): Promise<void> {
  await schemesTable()
  roundsTable()
  await simulatorLoad()
  await finiteTimeTable()
}
