/**
 * A scoring server in its own process for `npm run bench -- api`: loads a saved model file
 * and serves it through the node's real API (node/api/server.ts, the same backend shape as
 * node/peer.ts), then prints `listening <url>` on stdout. Usage:
 *   node dist/bench/api-server.js <model.json> <threshold>
 * Stops on SIGTERM / SIGINT.
 */
import '../src/polyfills.js'
import { readFileSync } from 'node:fs'
import { Registry } from 'prom-client'
import { createApi } from '../node/api/server.js'
import { loadModel } from '../src/models/index.js'

const [file, thr] = process.argv.slice(2)
if (file === undefined || thr === undefined) {
  console.error('usage: api-server <model.json> <threshold>')
  process.exit(2)
}
const model = loadModel(JSON.parse(readFileSync(file, 'utf8')))
const threshold = Number(thr)
const scorer = { dim: model.dim, threshold, score: (x: Parameters<typeof model.score>[0]) => model.score(x) }
const app = createApi({
  backend: {
    scorer: () => scorer,
    releasedScorer: () => null,
    releasedModel: () => null,
    ledger: () => null,
    status: () => ({ state: 'trained' }),
  },
  registry: new Registry(),
  maxBatch: 1000,
})
const url = await app.listen({ host: '127.0.0.1', port: 0 })
console.log(`listening ${url}`)
const stop = (): void => {
  void app.close().then(() => process.exit(0))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
