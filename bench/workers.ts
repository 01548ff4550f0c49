/**
 * `npm run bench -- workers`: the simulator on one thread vs two worker threads, side by side
 * in this run, on 1,000 organisations (sim/scenarios/shuttle-1000.yaml: random 3-regular
 * expander, GGM on ad_shuttle, l-diversity monitor and DP release on) with the iteration
 * cap lowered to BENCH_WORKERS_ITERATIONS (default 3) so both runs take a few minutes at
 * most. Prints wall time (runScenario, as timing.json), CPU time of the process (all
 * threads), the ratio, whether the two report.json are byte-identical, and the load average:
 * on a shared machine other jobs' threads take cores, and the ratio shows it.
 */
import { cpus, loadavg } from 'node:os'
import { reportJson } from '../sim/report.js'
import { runScenario } from '../sim/run.js'
import { resolveScenario } from '../sim/scenario.js'

async function timedRun(workers: number, iterations: number): Promise<{ wallMs: number; cpuMs: number; json: string; iterations: number }> {
  const sc = resolveScenario('shuttle-1000')
  const c0 = process.cpuUsage()
  const out = await runScenario({ ...sc, training: { ...sc.training, maxIterations: iterations }, workers })
  const c = process.cpuUsage(c0)
  return { wallMs: out.wallMs, cpuMs: (c.user + c.system) / 1000, json: reportJson(out.report), iterations: out.report.outcome.iterations }
}

export async function run(): Promise<void> {
  const iterations = Number(process.env.BENCH_WORKERS_ITERATIONS ?? 3)
  console.log(`simulator on worker threads: shuttle-1000 (1,000 nodes, GGM, monitor + release), iteration cap ${iterations}; ${cpus().length} cores, load average ${loadavg()[0].toFixed(1)} before`)
  const one = await timedRun(1, iterations)
  const load1 = loadavg()[0]
  const two = await timedRun(2, iterations)
  const load2 = loadavg()[0]
  console.log('| workers | iterations | wall s | CPU s (all threads) | load avg after |')
  console.log('|---:|---:|---:|---:|---:|')
  console.log(`| 1 | ${one.iterations} | ${(one.wallMs / 1000).toFixed(1)} | ${(one.cpuMs / 1000).toFixed(1)} | ${load1.toFixed(1)} |`)
  console.log(`| 2 | ${two.iterations} | ${(two.wallMs / 1000).toFixed(1)} | ${(two.cpuMs / 1000).toFixed(1)} | ${load2.toFixed(1)} |`)
  console.log(`speed-up 2 workers vs 1: ${(one.wallMs / two.wallMs).toFixed(2)}x wall; report.json ${one.json === two.json ? 'byte-identical' : 'DIFFERENT (a bug: report it)'}`)
}
