/**
 * `npm run bench -- em`: plain EM against SQUAREM-accelerated EM (GGM hyper `accelerate:
 * 'squarem'`, src/models/ggm/accelerate.ts), side by side in this run, as the network trains:
 * the "Trainings that finish" scenario of sim/experiments/timing.ts (S = 10 organisations,
 * non-iid split, in-memory consensus at 1e-9, l-diversity monitor, DP release, K 'auto') on
 * the tables where EM takes longest (BENCH_EM_DATASETS, default satellite and pima). Prints
 * iterations of the final fit, CPU seconds of the run, the last objective (mean
 * log-likelihood per row) and ROC-AUC of each, and the ratios.
 */
import { loadavg } from 'node:os'
import { runScenario } from '../sim/run.js'
import { parseScenario } from '../sim/scenario.js'
import { AD_SETS, timingScenario } from '../sim/experiments/timing.js'

interface EmRun {
  iterations: number
  cpuS: number
  objective: number
  roc: number
}

async function train(name: string, hyper: Record<string, unknown>): Promise<EmRun> {
  const sc = parseScenario(timingScenario({ name, path: `data/ad_${name}.csv`, labelCol: 'anomaly' }, 'ggm', 10, hyper))
  const c0 = process.cpuUsage()
  const out = await runScenario(sc)
  const c = process.cpuUsage(c0)
  const r = out.report
  return {
    iterations: r.outcome.iterations,
    cpuS: (c.user + c.system) / 1e6,
    objective: r.iterations.at(-1)?.objective ?? Number.NaN,
    roc: r.auc.collab.rocAuc,
  }
}

export async function run(): Promise<void> {
  const names = (process.env.BENCH_EM_DATASETS ?? 'satellite,pima').split(',').map((s) => s.trim())
  for (const n of names) {
    if (!(AD_SETS as readonly string[]).includes(n)) throw new Error(`BENCH_EM_DATASETS: unknown dataset '${n}'; choose from ${AD_SETS.join(', ')}`)
  }
  console.log(`EM: plain vs SQUAREM (accelerate: squarem), S = 10, monitor + release, K auto; load average ${loadavg()[0].toFixed(1)} before`)
  console.log('| dataset | EM | iterations | CPU s | last objective | ROC-AUC |')
  console.log('|---|---|---:|---:|---:|---:|')
  const ratios: string[] = []
  for (const name of names) {
    const plain = await train(name, {})
    const fast = await train(name, { accelerate: 'squarem' })
    for (const [label, r] of [['plain', plain], ['squarem', fast]] as const) {
      console.log(`| ${name} | ${label} | ${r.iterations} | ${r.cpuS.toFixed(1)} | ${r.objective.toFixed(7)} | ${r.roc.toFixed(3)} |`)
    }
    ratios.push(`${name}: ${(plain.iterations / fast.iterations).toFixed(2)}x fewer iterations, ${(plain.cpuS / fast.cpuS).toFixed(2)}x less CPU, objective ${(fast.objective - plain.objective).toExponential(1)} apart`)
  }
  for (const r of ratios) console.log(r)
}
