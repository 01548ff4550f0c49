/**
 * `npm run bench`: every benchmark, each printing ratios measured side by side in this run.
 * Pass area names to run a subset: `npm run bench -- numeric consensus`.
 */
import '../src/polyfills.js'

type Bench = () => Promise<void>
const benches: Record<string, () => Promise<{ run: Bench }>> = {
  // area: () => import('./area.js'),
  numeric: () => import('./numeric.js'),
  vae: () => import('./vae.js'),
  consensus: () => import('./consensus.js'),
  api: () => import('./api.js'),
}

const wanted = process.argv.slice(2)
for (const [name, load] of Object.entries(benches)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue
  console.log(`\n=== ${name} ===`)
  const mod = await load()
  await mod.run()
}
