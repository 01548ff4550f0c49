/**
 * `npm run bench -- workers`: the simulator on one thread vs two worker threads, side by side
 * in this run, on 1,000 organisations (sim/scenarios/shuttle-1000.yaml: random 3-regular
 * expander, GGM on ad_shuttle, l-diversity monitor and DP release on), to convergence (48
 * iterations). BENCH_WORKERS_ITERATIONS lowers the cap, but a short run overstates the
 * serial start (at 3 the speed-up was 1.08x). The pair runs BENCH_WORKERS_REPEATS times
 * (default 2) in alternation, 1 then 2 workers: on a shared virtual machine the same run's
 * wall time can vary 2-3x within minutes, so each pair's ratio is printed and the ratio of
 * the best times, the figure least touched by other jobs. Prints wall time (runScenario,
 * as timing.json), CPU time of the process (all threads), whether every report.json is
 * byte-identical, and the load average.
 *
 * The bound: how many cores the one-thread run keeps busy (process CPU / wall; on Linux
 * split into the main thread and the others, V8's helper threads when there are no
 * workers), and the most the machine's cores allow over it with no idle time at all: if
 * two workers needed no more CPU than one thread, and with the CPU they did need.
 *
 * Then the cost of one barrier: a message's round trip between two worker threads over a
 * MessagePort, delivered by the event loop (how the simulator's workers exchange frame
 * batches, once per consensus round) and taken by polling (`receiveMessageOnPort` in a
 * loop, the thread never sleeps).
 */
import { readFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { MessageChannel, Worker } from 'node:worker_threads'
import { reportJson } from '../sim/report.js'
import { runScenario } from '../sim/run.js'
import { resolveScenario } from '../sim/scenario.js'

interface Timed {
  wallMs: number
  cpuMs: number
  /** CPU of the main thread alone (null where /proc/thread-self is not available). */
  mainCpuMs: number | null
  json: string
  iterations: number
  load: number
}

/** CPU time (ms) of the calling thread from /proc/thread-self/stat (utime + stime, in USER_HZ = 100 ticks), or null off Linux. */
function threadCpuMs(): number | null {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'utf8')
    // fields after the command name (which may hold spaces) start at state, field 3
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) * 10
  } catch {
    return null
  }
}

async function timedRun(workers: number, iterations: number): Promise<Timed> {
  const sc = resolveScenario('shuttle-1000')
  const c0 = process.cpuUsage()
  const m0 = threadCpuMs()
  const out = await runScenario({ ...sc, training: { ...sc.training, maxIterations: iterations }, workers })
  const m1 = threadCpuMs()
  const c = process.cpuUsage(c0)
  return {
    wallMs: out.wallMs,
    cpuMs: (c.user + c.system) / 1000,
    mainCpuMs: m0 === null || m1 === null ? null : m1 - m0,
    json: reportJson(out.report),
    iterations: out.report.outcome.iterations,
    load: loadavg()[0],
  }
}

/**
 * Worker source for the round-trip measurement (CommonJS, `eval: true`): 'a' sends, 'b'
 * echoes; 'a' posts the mean of `n` round trips (µs) to the parent, timed from the first
 * echo so that neither thread's start-up is counted.
 */
const PING_PONG = `
const { workerData, parentPort, receiveMessageOnPort } = require('node:worker_threads')
const { role, port, n, poll } = workerData
let k = 0
let t0 = 0
const last = n + 1
const got = () => {
  k++
  if (role === 'a' && k === 1) t0 = performance.now()
  if (role === 'a' && k === last) {
    parentPort.postMessage(((performance.now() - t0) / n) * 1000)
    return false
  }
  port.postMessage(k)
  return k < last
}
if (role === 'a') port.postMessage(0)
if (poll) {
  let going = true
  while (going) if (receiveMessageOnPort(port) !== undefined) going = got()
  port.close()
} else {
  port.on('message', () => { if (!got()) port.close() })
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
  const best = (w: 0 | 1): Timed => pairs.map((p) => p[w]).reduce((a, t) => (t.wallMs < a.wallMs ? t : a))
  const coresBusy = (t: Timed): number => t.cpuMs / t.wallMs
  const [one, two] = [best(0), best(1)]
  const split = one.mainCpuMs === null ? '' : ` (main thread ${(one.mainCpuMs / 1000).toFixed(1)} s, other threads ${((one.cpuMs - one.mainCpuMs) / 1000).toFixed(1)} s: V8's helpers)`
  const cores = cpus().length
  console.log(
    `bound: the best one-thread run keeps ${coresBusy(one).toFixed(2)} cores busy, ${(one.cpuMs / 1000).toFixed(1)} s CPU in ${(one.wallMs / 1000).toFixed(1)} s${split}. ` +
      `${cores} cores with no idle time allow at most ${((cores * one.wallMs) / one.cpuMs).toFixed(2)}x over it if two workers need no more CPU, ` +
      `${((cores * one.wallMs) / two.cpuMs).toFixed(2)}x with the ${(two.cpuMs / 1000).toFixed(1)} s the best two-worker run needed (it kept ${coresBusy(two).toFixed(2)} cores busy)`,
  )
  const identical = pairs.every(([a, b]) => a.json === pairs[0][0].json && b.json === pairs[0][0].json)
  console.log(
    `speed-up 2 workers vs 1: ${(one.wallMs / two.wallMs).toFixed(2)}x on the best wall times (${(one.wallMs / 1000).toFixed(1)} vs ${(two.wallMs / 1000).toFixed(1)} s); report.json ${identical ? 'byte-identical in every run' : 'DIFFERENT (a bug: report it)'}`,
  )
  const n = 2000
  const loop = await roundTripUs(false, n)
  const polled = await roundTripUs(true, n)
  console.log(
    `one barrier: message round trip between two worker threads (${n} trips): ${loop.toFixed(0)} µs through the event loop, ${polled.toFixed(0)} µs polled (${(loop / polled).toFixed(1)}x); the workers exchange one batch per consensus round`,
  )
}
