/**
 * Load test of the node's scoring API: 200 concurrent clients (autocannon) for 30 s on
 * loopback against POST /v1/score, with a GGM trained on the normal rows of
 * data/ad_breastw.csv. Prints requests/s, latency percentiles and error counts, and, side
 * by side, the same batches scored in-process (the ratio is the HTTP + JSON overhead).
 *
 * BENCH_API_SECONDS and BENCH_API_CONNECTIONS override the 30 s and 200 clients.
 */
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { createApi } from '../node/api/server.js'
import { loadCsv } from '../src/data/index.js'
import { thresholdAt } from '../src/eval/metrics.js'
import { fitCentralised } from '../src/models/ggm/index.js'
import { fromRows, selectRows, toRows } from '../src/numeric/matrix.js'

interface AutocannonResult {
  requests: { average: number; total: number }
  latency: { p50: number; p99: number; max: number }
  errors: number
  timeouts: number
  non2xx: number
  throughput: { average: number }
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>

// autocannon ships no type declarations; it is loaded through require with the narrow shape above
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon

/** Rows per request: a typical small batch from a monitoring client. */
const BATCH = 8

export async function run(): Promise<void> {
  const seconds = Number(process.env.BENCH_API_SECONDS ?? 30)
  const connections = Number(process.env.BENCH_API_CONNECTIONS ?? 200)
  // bench/ runs from the source tree (tsx) or from dist/bench (npm run bench)
  const repo = join(import.meta.dirname, import.meta.dirname.split('/').includes('dist') ? '../..' : '..')
  const csv = loadCsv(join(repo, 'data/ad_breastw.csv'), { labelCol: 'anomaly' })
  const normal: number[] = []
  csv.labels?.forEach((l, i) => {
    if (l === 0) normal.push(i)
  })
  const train = selectRows(csv.features, normal)
  const model = await fitCentralised(train, { K: 3, seed: 1 })
  const threshold = thresholdAt(model.score(train), 0.95)
  const rows = toRows(csv.features)
  const batch = rows.slice(0, BATCH)

  // in-process reference: the same batch through model.score, for 2 s
  const X = fromRows(batch)
  let n = 0
  const t0 = performance.now()
  while (performance.now() - t0 < 2000) {
    model.score(X)
    n++
  }
  const inProcessPerSec = (n * 1000) / (performance.now() - t0)

  const app = createApi({
    backend: {
      scorer: () => ({ dim: model.dim, threshold, score: (x) => model.score(x) }),
      releasedScorer: () => null,
      releasedModel: () => null,
      ledger: () => null,
      status: () => ({ state: 'trained' }),
    },
    registry: new Registry(),
    maxBatch: 1000,
  })
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  try {
    const r = await autocannon({
      url: `${url}/v1/score`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ samples: batch }),
      connections,
      duration: seconds,
    })
    console.log(`POST /v1/score, ${connections} concurrent clients, ${seconds} s, ${BATCH} rows per request (loopback)`)
    console.log(`  requests/s      ${r.requests.average.toFixed(0)}   (total ${r.requests.total})`)
    console.log(`  latency ms      p50 ${r.latency.p50}   p99 ${r.latency.p99}   max ${r.latency.max}`)
    console.log(`  errors ${r.errors}   timeouts ${r.timeouts}   non-2xx ${r.non2xx}`)
    console.log(`  in-process model.score of the same batch: ${inProcessPerSec.toFixed(0)} batches/s`)
    console.log(`  ratio HTTP / in-process: ${(r.requests.average / inProcessPerSec).toFixed(3)}`)
    if (r.errors + r.timeouts + r.non2xx > 0) process.exitCode = 1
  } finally {
    await app.close()
  }
}
