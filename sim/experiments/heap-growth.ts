/**
 * Retained heap growth per node per iteration of a simulated training (issue 15: the
 * shuttle-10000 run must stay under 4 GB to 100 iterations). Runs a scenario in this
 * process (sim/run.ts `runScenario`, as `collab sim` does), and at two iterations of the
 * progress callback forces full garbage collections and reads the live heap
 * (`heapUsed + arrayBuffers`); the growth between them over (nodes x iterations) is the
 * figure. A byte count, not a timing: a loaded machine does not change it.
 *
 *   npm run -s build && node --expose-gc dist/sim/experiments/heap-growth.js \
 *     [--scenario shuttle-1000] [--nodes N] [--from 6] [--to 18] [--heap-snapshot]
 *
 * `--heap-snapshot` also writes a V8 heap snapshot at both iterations (heap-<it>.heapsnapshot
 * in the working directory), for attributing the growth by object type in Chrome DevTools.
 * The run stops at `--to` iterations (maxIterations), then releases and evaluates as usual.
 */
import '../../src/polyfills.js'
import { writeHeapSnapshot } from 'node:v8'
import { pathToFileURL } from 'node:url'
import { parseScenario, resolveScenario } from '../scenario.js'
import { runScenario } from '../run.js'

export interface HeapGrowth {
  scenario: string
  nodes: number
  from: number
  to: number
  /** Live bytes (heap + ArrayBuffers) after forced GCs at the two iterations. */
  bytesFrom: number
  bytesTo: number
  /** (bytesTo - bytesFrom) / (nodes * (to - from)). */
  perNodeIteration: number
  /** Iterations the run reached (the measurement needs both `from` and `to`). */
  iterations: number
}

function gcFn(): () => void {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run node with --expose-gc (node --expose-gc dist/sim/experiments/heap-growth.js)')
  return gc
}

/** Live bytes after full collections (several: weak references and finalizers free more on later passes). */
export function liveBytes(gc: () => void): number {
  for (let i = 0; i < 4; i++) gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

/** Measure the retained growth between progress iterations `from` and `to` of a scenario. */
export async function measureHeapGrowth(opts: { scenario: string; nodes?: number; from: number; to: number; snapshot?: boolean; gc?: () => void }): Promise<HeapGrowth> {
  const gc = opts.gc ?? gcFn()
  const base = JSON.parse(JSON.stringify(resolveScenario(opts.scenario))) as Record<string, unknown> & { training: Record<string, unknown> }
  if (opts.nodes !== undefined) base.nodes = opts.nodes
  base.training.maxIterations = opts.to
  const sc = parseScenario(base, opts.scenario)
  const at = new Map<number, number>()
  const outcome = await runScenario(sc, {
    onProgress: (p) => {
      if (p.phase !== 'train' || (p.iteration !== opts.from && p.iteration !== opts.to) || at.has(p.iteration)) return
      at.set(p.iteration, liveBytes(gc))
      if (opts.snapshot) writeHeapSnapshot(`heap-${p.iteration}.heapsnapshot`)
    },
  })
  const bytesFrom = at.get(opts.from)
  const bytesTo = at.get(opts.to)
  if (bytesFrom === undefined || bytesTo === undefined) {
    throw new Error(`the run stopped after ${outcome.report.outcome.iterations} iterations, before iteration ${opts.to}; pick a smaller --to`)
  }
  return {
    scenario: opts.scenario,
    nodes: sc.nodes,
    from: opts.from,
    to: opts.to,
    bytesFrom,
    bytesTo,
    perNodeIteration: (bytesTo - bytesFrom) / (sc.nodes * (opts.to - opts.from)),
    iterations: outcome.report.outcome.iterations,
  }
}

async function main(argv: string[]): Promise<void> {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`)
    return i >= 0 ? argv[i + 1] : undefined
  }
  const nodes = arg('nodes')
  const r = await measureHeapGrowth({
    scenario: arg('scenario') ?? 'shuttle-1000',
    nodes: nodes === undefined ? undefined : Number(nodes),
    from: Number(arg('from') ?? 6),
    to: Number(arg('to') ?? 18),
    snapshot: argv.includes('--heap-snapshot'),
  })
  process.stdout.write(
    `${r.scenario}, ${r.nodes} nodes: live heap ${(r.bytesFrom / 1e6).toFixed(1)} MB at iteration ${r.from}, ${(r.bytesTo / 1e6).toFixed(1)} MB at ${r.to}: ` +
      `${r.perNodeIteration.toFixed(0)} bytes per node per iteration\n`,
  )
  process.stdout.write(JSON.stringify(r) + '\n')
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
    process.exit(1)
  })
}
