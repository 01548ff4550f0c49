/**
 * `npm run bench -- workers`: the simulator on one thread vs two worker threads, side by side
 * in this run, on 1,000 organisations (sim/scenarios/shuttle-1000.yaml: random 3-regular
 * expander, GGM on ad_shuttle, l-diversity monitor and DP release on), to convergence (48
 * iterations; BENCH_WORKERS_ITERATIONS lowers the cap, but the first iterations weigh the
 * serial start, which a short run overstates: at 3 the speed-up was 1.08x). The pair runs BENCH_WORKERS_REPEATS times (default 2) in alternation, 1 then 2
 * workers: on a shared virtual machine the same run's wall time can vary 2x within minutes,
 * so each pair's ratio is printed and the ratio of the best times, the figure least
 * touched by other jobs. Prints wall time (runScenario, as timing.json), CPU time of the
 * process (all threads), whether every report.json is byte-identical, and the load average.
 *
 * Then the cost of one barrier: a message's round trip between two worker threads over a
 * MessagePort, delivered by the event loop (how the simulator's workers exchange frame
 * batches, once per consensus round) and taken by polling (`receiveMessageOnPort` in a
 * loop, the thread never sleeps).
 */
import { cpus, loadavg } from 'node:os'
import { MessageChannel, Worker } from 'node:worker_threads'
import { reportJson } from '../sim/report.js'
import { runScenario } from '../sim/run.js'
import { resolveScenario } from '../sim/scenario.js'

interface Timed {
  wallMs: number
  cpuMs: number
  json: string
  iterations: number
  load: number
}

async function timedRun(workers: number, iterations: number): Promise<Timed> {
  const sc = resolveScenario('shuttle-1000')
  const c0 = process.cpuUsage()
  const out = await runScenario({ ...sc, training: { ...sc.training, maxIterations: iterations }, workers })
  const c = process.cpuUsage(c0)
  return { wallMs: out.wallMs, cpuMs: (c.user + c.system) / 1000, json: reportJson(out.report), iterations: out.report.outcome.iterations, load: loadavg()[0] }
}

/**
 * Worker source for the round-trip measurement (CommonJS, `eval: true`): 'a' sends, 'b'
 * echoes, `n` round trips; 'a' posts the mean round trip (µs) to the parent.
 */
const PING_PONG = `
const { workerData, parentPort, receiveMessageOnPort } = require('node:worker_threads')
const { role, port, n, poll } = workerData
let k = 0
const t0 = performance.now()
const done = () => parentPort.postMessage(((performance.now() - t0) / n) * 1000)
if (poll) {
  if (role === 'a') port.postMessage(0)
  while (k < n) {
    const r = receiveMessageOnPort(port)
    if (r === undefined) continue
    k++
    if (role === 'a' && k === n) break
    port.postMessage(k)
  }
  if (role === 'a') done()
  port.close()
} else {
  port.on('message', () => {
    k++
    if (role === 'a' && k === n) { done(); port.close(); return }
    port.postMessage(k)
    if (k === n) port.close()
  })
  if (role === 'a') port.postMessage(0)
}
`

/** Mean round trip (µs) of a message between two worker threads. */
async function roundTripUs(poll: boolean, n: number): Promise<number> {
  const ch = new MessageChannel()
  const start = (role: 'a' | 'b', port: typeof ch.port1): Worker =>
    new Worker(PING_PONG, { eval: true, workerData: { role, port, n, poll }, transferList: [port] })
  const b = start('b', ch.port2)
  const a = start('a', ch.port1)
  const us = await new Promise<number>((resolve, reject) => {
    a.once('message', (m: number) => resolve(m))
    a.once('error', reject)
    b.once('error', reject)
  })
  await Promise.all([a.terminate(), b.terminate()])
  return us
}

export async function run(): Promise<void> {
  const iterations = Number(process.env.BENCH_WORKERS_ITERATIONS ?? resolveScenario('shuttle-1000').training.maxIterations)
  const repeats = Math.max(1, Number(process.env.BENCH_WORKERS_REPEATS ?? 2))
  console.log(
    `simulator on worker threads: shuttle-1000 (1,000 nodes, GGM, monitor + release), iteration cap ${iterations}, ${repeats} pair(s) in alternation; ${cpus().length} cores, load average ${loadavg()[0].toFixed(1)} before`,
  )
  const pairs: Array<[Timed, Timed]> = []
  for (let r = 0; r < repeats; r++) pairs.push([await timedRun(1, iterations), await timedRun(2, iterations)])
  console.log('| pair | workers | iterations | wall s | CPU s (all threads) | load avg after | speed-up |')
  console.log('|---:|---:|---:|---:|---:|---:|---:|')
  for (const [r, [one, two]] of pairs.entries()) {
    for (const [w, t] of [[1, one], [2, two]] as const) {
      const ratio = w === 2 ? `${(one.wallMs / two.wallMs).toFixed(2)}x` : ''
      console.log(`| ${r + 1} | ${w} | ${t.iterations} | ${(t.wallMs / 1000).toFixed(1)} | ${(t.cpuMs / 1000).toFixed(1)} | ${t.load.toFixed(1)} | ${ratio} |`)
    }
  }
  const best = (w: 0 | 1): number => Math.min(...pairs.map((p) => p[w].wallMs))
  const identical = pairs.every(([one, two]) => one.json === pairs[0][0].json && two.json === pairs[0][0].json)
  console.log(
    `speed-up 2 workers vs 1: ${(best(0) / best(1)).toFixed(2)}x on the best wall times (${(best(0) / 1000).toFixed(1)} vs ${(best(1) / 1000).toFixed(1)} s); report.json ${identical ? 'byte-identical in every run' : 'DIFFERENT (a bug: report it)'}`,
  )
  const n = 2000
  const loop = await roundTripUs(false, n)
  const polled = await roundTripUs(true, n)
  console.log(
    `one barrier: message round trip between two worker threads (${n} trips): ${loop.toFixed(0)} µs through the event loop, ${polled.toFixed(0)} µs polled (${(loop / polled).toFixed(1)}x); the workers exchange one batch per consensus round`,
  )
}
