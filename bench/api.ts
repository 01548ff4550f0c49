/**
 * Load test of the node's scoring API, measured from outside: the server runs in its own
 * process (bench/api-server.ts: the node's real API over a saved GGM trained on the normal rows
 * of data/ad_breastw.csv) and autocannon runs as a separate child process against it on
 * loopback, at 100 and 200 connections, batches of 8 rows and of 1 row. Prints requests/s,
 * samples/s, latency p50/p99 and errors/time-outs, and, for reference, the same batch scored
 * in-process (the ratio is the HTTP + JSON cost).
 *
 * BENCH_API_SECONDS (default 10) and BENCH_API_CONNECTIONS (default "100,200") override the
 * duration and the connection counts.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { loadCsv } from '../src/data/index.js'
import { thresholdAt } from '../src/eval/metrics.js'
import { fitCentralised } from '../src/models/ggm/index.js'
import { fromRows, selectRows, toRows } from '../src/numeric/matrix.js'

interface AutocannonJson {
  requests: { average: number; total: number }
  latency: { p50: number; p99: number; max: number }
  errors: number
  timeouts: number
  non2xx: number
}

function startServer(script: string, modelFile: string, threshold: number): Promise<{ proc: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [script, modelFile, String(threshold)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let buf = ''
    proc.stdout.on('data', (d: Buffer) => {
      buf += d.toString()
      const m = /listening (\S+)/.exec(buf)
      if (m !== null) resolve({ proc, url: m[1] })
    })
    proc.on('exit', (code) => reject(new Error(`api-server exited with code ${code} before listening`)))
  })
}

function runAutocannon(cli: string, url: string, body: string, connections: number, seconds: number): Promise<AutocannonJson> {
  return new Promise((resolve, reject) => {
    const args = [cli, '-c', String(connections), '-d', String(seconds), '-m', 'POST', '-H', 'content-type=application/json', '-b', body, '-j', url]
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] })
    let out = ''
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()))
    proc.on('exit', (code) => {
      try {
        resolve(JSON.parse(out) as AutocannonJson)
      } catch {
        reject(new Error(`autocannon exited with code ${code} without a JSON result`))
      }
    })
  })
}

export async function run(): Promise<void> {
  const seconds = Number(process.env.BENCH_API_SECONDS ?? 10)
  const connectionList = (process.env.BENCH_API_CONNECTIONS ?? '100,200').split(',').map(Number)
  // bench/ runs from the source tree (tsx) or from dist/bench (npm run bench)
  const inDist = import.meta.dirname.split('/').includes('dist')
  const repo = join(import.meta.dirname, inDist ? '../..' : '..')
  if (!inDist) {
    console.log('the API bench starts dist/bench/api-server.js: run it through `npm run bench -- api`')
    return
  }
  const csv = loadCsv(join(repo, 'data/ad_breastw.csv'), { labelCol: 'anomaly' })
  const normal: number[] = []
  csv.labels?.forEach((l, i) => {
    if (l === 0) normal.push(i)
  })
  const train = selectRows(csv.features, normal)
  const model = await fitCentralised(train, { K: 3, seed: 1 })
  const threshold = thresholdAt(model.score(train), 0.95)
  const rows = toRows(csv.features)
  const dir = mkdtempSync(join(tmpdir(), 'bench-api-'))
  const modelFile = join(dir, 'model.json')
  writeFileSync(modelFile, JSON.stringify(model.save()))
  const cli = join(dirname(createRequire(import.meta.url).resolve('autocannon')), 'autocannon.js')
  const { proc, url } = await startServer(join(import.meta.dirname, 'api-server.js'), modelFile, threshold)
  try {
    console.log(`POST /v1/score on a separate server process (${url}), autocannon in another process, ${seconds} s per row`)
    console.log('| connections | rows/request | requests/s | samples/s | p50 ms | p99 ms | max ms | errors | time-outs | non-2xx | in-process samples/s |')
    console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    for (const batch of [8, 1]) {
      const sample = rows.slice(0, batch)
      const X = fromRows(sample)
      let n = 0
      const t0 = performance.now()
      while (performance.now() - t0 < 1000) {
        model.score(X)
        n++
      }
      const inProcess = (n * batch * 1000) / (performance.now() - t0)
      for (const connections of connectionList) {
        const r = await runAutocannon(cli, `${url}/v1/score`, JSON.stringify({ samples: sample }), connections, seconds)
        console.log(
          `| ${connections} | ${batch} | ${r.requests.average.toFixed(0)} | ${(r.requests.average * batch).toFixed(0)} | ${r.latency.p50} | ${r.latency.p99} | ${r.latency.max} | ${r.errors} | ${r.timeouts} | ${r.non2xx} | ${inProcess.toFixed(0)} |`,
        )
        if (r.errors + r.timeouts + r.non2xx > 0) process.exitCode = 1
      }
    }
  } finally {
    proc.kill('SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  }
}
