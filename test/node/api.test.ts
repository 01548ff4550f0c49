/**
 * HTTP API edge: every malformed request gets a 4xx with a message naming the problem,
 * never a 5xx; scores, threshold and flags pass through unchanged; the bearer token guards /v1.
 */
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { Validator } from '@seriousme/openapi-schema-validator'
import { createApi, type ApiBackend, type PublicScorer, type Scorer } from '../../node/api/server.js'
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

// The released model as the public route sees it: sum of absolute values, so a test can
// tell which model answered (the private one gives the squared distance).
// It takes missing values (null -> NaN), counted here as 100 each so the test sees where they landed.
const publicScorer: PublicScorer = {
  dim: 3,
  missing: true,
  score(x: Mat): Float64Array {
    const out = new Float64Array(x.rows)
    for (let i = 0; i < x.rows; i++) for (let j = 0; j < x.cols; j++) out[i] += Number.isNaN(x.data[i * x.cols + j]) ? 100 : Math.abs(x.data[i * x.cols + j])
    return out
  },
}

let released: unknown = null
const backend: ApiBackend = {
  scorer: () => scorer,
  releasedScorer: () => (released === null ? null : publicScorer),
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
  return { status: r.statusCode, body: r.json<Record<string, unknown>>() }
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

  it('serves status, privacy, metrics with the latency histogram', async () => {
    expect((await app.inject({ url: '/v1/status', headers: auth })).json()).toEqual({ state: 'trained', iteration: 5 })
    expect((await app.inject({ url: '/v1/privacy', headers: auth })).json().format).toBe('collabdict-privacy-ledger')
    const m = await app.inject({ url: '/metrics' })
    expect(m.body).toMatch(/collab_score_latency_seconds_count \d+/)
    expect((await app.inject({ url: '/nope' })).statusCode).toBe(404)
  })
})

describe('API documentation generated from the routes', () => {
  it('/openapi.json is a valid OpenAPI 3.1 document listing every route the server has', async () => {
    const routes: string[] = []
    const fresh = createApi({ backend, registry: new Registry(), token: TOKEN, maxBatch: 4, rateLimit: { max: 10, windowMs: 1000 } })
    fresh.addHook('onRoute', (r) => {
      // the documentation UI's own pages and assets hide themselves from the document
      if ((r.schema)?.hide) return
      for (const m of [r.method].flat()) if (m !== 'HEAD') routes.push(`${m} ${r.url.replace(/:(\w+)/g, '{$1}')}`)
    })
    await fresh.ready()
    const doc = (await fresh.inject({ url: '/openapi.json' })).json()
    const validator = new Validator()
    const result = await validator.validate(doc)
    expect(result.errors ?? null).toBeNull()
    expect(result.valid).toBe(true)
    expect(doc.openapi).toBe('3.1.0')
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
    expect(documented.sort()).toEqual(routes.sort())
    expect(routes).toEqual(expect.arrayContaining(['GET /', 'POST /v1/score', 'POST /v1/public/score', 'GET /v1/model', 'GET /v1/privacy', 'GET /v1/status', 'GET /healthz', 'GET /metrics', 'GET /openapi.json']))
    // secured routes say so; the public ones do not
    expect(doc.paths['/v1/score'].post.security).toEqual([{ bearer: [] }])
    expect(doc.paths['/v1/public/score'].post.security).toBeUndefined()
    expect(doc.paths['/v1/score'].post.responses['429']).toBeDefined()
    await fresh.close()
  })

  it('serves the documentation page at /docs from the package (no external scripts or styles)', async () => {
    // what `curl localhost:PORT/docs` gets
    const bare = await app.inject({ url: '/docs' })
    expect(bare.statusCode).toBe(200)
    expect(bare.headers['content-type']).toMatch(/text\/html/)
    const page = await app.inject({ url: '/docs/' })
    expect(page.statusCode).toBe(200)
    expect(page.body).toContain('swagger-ui')
    const refs = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1])
    expect(refs.length).toBeGreaterThan(0)
    for (const ref of refs) {
      expect(ref).not.toMatch(/^(https?:)?\/\//)
      expect((await app.inject({ url: new URL(ref, 'http://x/docs/').pathname })).statusCode, ref).toBe(200)
    }
  })

  it('/metrics carries the process metrics (collectDefaultMetrics) next to collab_*', async () => {
    const m = (await app.inject({ url: '/metrics' })).body
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) expect(m).toContain(name)
  })
})

describe('privacy of the HTTP side', () => {
  it('metricsAuth puts /metrics behind the bearer token', async () => {
    const locked = createApi({ backend, registry: new Registry(), token: TOKEN, metricsAuth: true, maxBatch: 4, defaultMetrics: false })
    expect((await locked.inject({ url: '/metrics' })).statusCode).toBe(401)
    expect((await locked.inject({ url: '/metrics', headers: { authorization: 'Bearer wrong-token-1' } })).statusCode).toBe(401)
    const ok = await locked.inject({ url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } })
    expect(ok.statusCode).toBe(200)
    expect(ok.body).toContain('collab_score_latency_seconds')
    await locked.close()
    expect(() => createApi({ backend, registry: new Registry(), metricsAuth: true, maxBatch: 4 })).toThrow(/metricsAuth needs a token/)
  })

  it('POST /v1/public/score answers 404 before a release, then scores with the released model only, without the token', async () => {
    released = null
    const before = await app.inject({ method: 'POST', url: '/v1/public/score', payload: { samples: [[1, -2, 3]] } })
    expect(before.statusCode).toBe(404)
    expect(before.json().error).toMatch(/no released model yet/)
    released = { format: 'collabdict-released-model' }
    const after = await app.inject({ method: 'POST', url: '/v1/public/score', payload: { samples: [[1, -2, 3], [0, 0, 1]] } })
    expect(after.statusCode).toBe(200)
    expect(after.json()).toEqual({ scores: [6, 1] })
    const priv = await score(JSON.stringify({ samples: [[1, -2, 3]] }))
    expect(priv.body.scores).toEqual([14])
    const bad = await app.inject({ method: 'POST', url: '/v1/public/score', payload: { samples: [[1, 2]] } })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().error).toMatch(/samples\[0\] has 2 values/)
    // null is a missing value for a scorer that takes them (the release), an error for one that does not
    const withMissing = await app.inject({ method: 'POST', url: '/v1/public/score', payload: { samples: [[1, null, 3]] } })
    expect(withMissing.json()).toEqual({ scores: [104] })
    const refused = await score(JSON.stringify({ samples: [[1, null, 3]] }))
    expect(refused.status).toBe(400)
    expect(refused.body.error).toMatch(/null marks a missing value only for a model trained with missing: true/)
  })

  it('rate-limits the scoring routes per client with 429 and a message, other clients unaffected', async () => {
    released = { format: 'collabdict-released-model' }
    const limited = createApi({ backend, registry: new Registry(), maxBatch: 4, rateLimit: { max: 3, windowMs: 60_000 }, defaultMetrics: false })
    const post = (url: string, remoteAddress: string) => limited.inject({ method: 'POST', url, payload: { samples: [[1, 2, 3]] }, remoteAddress })
    for (const url of ['/v1/score', '/v1/public/score']) {
      for (let i = 0; i < 3; i++) expect((await post(url, '10.0.0.1')).statusCode).toBe(200)
      const over = await post(url, '10.0.0.1')
      expect(over.statusCode).toBe(429)
      expect(over.json().error).toMatch(/rate limit: at most 3 scoring requests per 60 s from one client; retry in/)
      expect(Number(over.headers['retry-after'])).toBeGreaterThan(0)
      expect((await post(url, '10.0.0.2')).statusCode).toBe(200)
    }
    // the read-only routes are not limited
    for (let i = 0; i < 5; i++) expect((await limited.inject({ url: '/healthz', remoteAddress: '10.0.0.1' })).statusCode).toBe(200)
    await limited.close()
  })
})
