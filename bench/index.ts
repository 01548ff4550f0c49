/**
 * `npm run bench`: every benchmark, each printing ratios measured side by side in this run.
 * Pass area names to run a subset: `npm run bench -- numeric consensus`; an unknown area
 * or flag is a usage error (exit 2), never a silent run of nothing.
 */
import '../src/polyfills.js'
import { pathToFileURL } from 'node:url'
import { Argument, Command } from 'commander'
import { runCommand } from '../cli/errors.js'

type Bench = () => Promise<void>
const benches: Record<string, () => Promise<{ run: Bench }>> = {
  // area: () => import('./area.js'),
  numeric: () => import('./numeric.js'),
  glasso: () => import('./glasso-r.js'),
  vae: () => import('./vae.js'),
  em: () => import('./em.js'),
  ledger: () => import('./ledger.js'),
  consensus: () => import('./consensus.js'),
  spectrum: () => import('./spectrum.js'),
  workers: () => import('./workers.js'),
  api: () => import('./api.js'),
}

export const BENCH_AREAS = Object.keys(benches)

export function benchCommand(): Command {
  return new Command('bench')
    .description('run the benchmarks (all areas, or the ones named)')
    .addArgument(new Argument('[areas...]', 'areas to run (default: all)').choices(BENCH_AREAS))
    .action(async (areas: string[]) => {
      for (const [name, load] of Object.entries(benches)) {
        if (areas.length > 0 && !areas.includes(name)) continue
        console.log(`\n=== ${name} ===`)
        const mod = await load()
        await mod.run()
      }
    })
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runCommand(benchCommand(), process.argv.slice(2))
}
