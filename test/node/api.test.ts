/**
 * HTTP API edge: every malformed request gets a 4xx with a message naming the problem,
 * never a 5xx; scores, threshold and flags pass through unchanged; the bearer token guards /v1.
 */
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { createApi, type ApiBackend, type Scorer } from '../../node/api/server.js'
import type { Mat } from '../../src/numeric/matrix.js'

// Squared distance from the origin: a stand-in model whose scores the test can recompute.
const scorer: Scorer = {
  dim: 3,
  threshold: 2,
  score(x: Mat): Float64Array {
    const out = new Float64Array(x.rows)
    for (let i = 0; i < x.rows; i++) for (let j = 0; j < x.cols; j++) out[i] += x.data[i * x.cols + j] ** 2
    return out
  },
}

let released: unknown = null
const backend: ApiBackend = {
  scorer: () => scorer,
  releasedModel: () => released,
  ledger: () => ({ format: 'collabdict-privacy-ledger', entries: [] }),
  status: () => ({ state: 'trained', iteration: 5 }),
}

let app: FastifyInstance
let open: FastifyInstance
const TOKEN = 'secret-token-123'

beforeAll(async () => {
  app = createApi({ backend, registry: new Registry(), token: TOKEN, maxBatch: 4 })
  open = createApi({ backend: { ...backend, scorer: () => null }, registry: new Registry(), maxBatch: 4 })
  await app.ready()
  await open.ready()
})
afterAll(async () => {
  await app?.close()
  await open?.close()
})

const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }
async function score(payload: string, headers: Record<string, string> = auth) {
  const r = await app.inject({ method: 'POST', url: '/v1/score', headers, payload })
  return { status: r.statusCode, body: r.json() as Record<string, unknown> }
}

describe('POST /v1/score', () => {
  it('returns the model scores, the threshold and score > threshold', async () => {
    const r = await score(JSON.stringify({ samples: [[1, 0, 0], [1, 1, 1], [0.5, -0.5, 0]] }))
    expect(r.status).toBe(200)
    expect(r.body).toEqual({ scores: [1, 3, 0.5], threshold: 2, anomalous: [false, true, false] })
  })

  it.each([
    ['malformed JSON', '{"samples": [[1,2,3]', 400, /JSON/i],
    ['NaN literal', '{"samples": [[NaN,2,3]]}', 400, /JSON/i],
    ['Infinity literal', '{"samples": [[Infinity,2,3]]}', 400, /JSON/i],
    ['huge number overflowing to Infinity', '{"samples": [[1e999,2,3]]}', 400, /not finite/],
    ['string value', '{"samples": [[1,"2",3]]}', 400, /samples\[0\]\[1\] is string/],
    ['null value', '{"samples": [[1,2,null]]}', 400, /samples\[0\]\[2\] is null/],
    ['wrong dimension', '{"samples": [[1,2,3],[1,2]]}', 400, /samples\[1\] has 2 values; the model expects 3/],
    ['row not an array', '{"samples": [5]}', 400, /samples\[0\] must be an array/],
    ['empty batch', '{"samples": []}', 400, /empty/],
    ['oversized batch', JSON.stringify({ samples: Array(5).fill([0, 0, 0]) }), 413, /at most 4/],
    ['missing samples', '{}', 400, /samples must be an array/],
    ['unknown field', '{"samples": [[1,2,3]], "x": 1}', 400, /unknown field/],
    ['body is an array', '[[1,2,3]]', 400, /JSON object/],
    ['empty body', '', 400, /./],
  ])('%s -> %i', async (_name, payload, status, message) => {
    const r = await score(payload)
    expect(r.status).toBe(status)
    expect(String(r.body.error)).toMatch(message)
  })

  it('rejects a body that is not JSON (415) and an oversized body (413)', async () => {
    const r = await score('1,2,3', { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/csv' })
    expect(r.status).toBe(415)
    const big = await score(JSON.stringify({ samples: [[1, 2, 3]], pad: 'x'.repeat(2 << 20) }))
    expect(big.status).toBe(413)
  })

  it('requires the bearer token when configured', async () => {
    const none = await score('{"samples": [[1,2,3]]}', { 'content-type': 'application/json' })
    expect(none.status).toBe(401)
    const wrong = await score('{"samples": [[1,2,3]]}', { authorization: 'Bearer nope', 'content-type': 'application/json' })
    expect(wrong.status).toBe(401)
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200)
  })

  it('answers 503 before the node has a model', async () => {
    const r = await open.inject({ method: 'POST', url: '/v1/score', payload: { samples: [[1, 2, 3]] } })
    expect(r.statusCode).toBe(503)
  })
})

describe('read-only routes', () => {
  it('GET /v1/model is 404 with a clear message before release, the model after', async () => {
    const before = await app.inject({ url: '/v1/model', headers: auth })
    expect(before.statusCode).toBe(404)
    expect(before.json().error).toMatch(/no released model yet/)
    released = { format: 'collabdict-model', kind: 'ggm' }
    const after = await app.inject({ url: '/v1/model', headers: auth })
    expect(after.json()).toEqual(released)
  })

  it('serves status, privacy, metrics with the latency histogram, and the OpenAPI document', async () => {
    expect((await app.inject({ url: '/v1/status', headers: auth })).json()).toEqual({ state: 'trained', iteration: 5 })
    expect((await app.inject({ url: '/v1/privacy', headers: auth })).json().format).toBe('collabdict-privacy-ledger')
    const m = await app.inject({ url: '/metrics' })
    expect(m.body).toMatch(/collab_score_latency_seconds_count \d+/)
    const doc = (await app.inject({ url: '/openapi.json' })).json()
    expect(doc.openapi).toBe('3.1.0')
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/score', '/v1/model', '/v1/privacy', '/v1/status', '/healthz', '/metrics']))
    expect((await app.inject({ url: '/nope' })).statusCode).toBe(404)
  })
})
