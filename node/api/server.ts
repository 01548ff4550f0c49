/**
 * The node's anomaly-scoring HTTP API (fastify). Every route validates its input at the
 * edge and answers a client error with 4xx and a message saying what to fix; a 5xx
 * means a bug here. Routes:
 *
 *   POST /v1/score    {"samples": number[][]} -> {"scores", "threshold", "anomalous"}
 *   GET  /v1/model    the released (DP) model; 404 before release
 *   GET  /v1/privacy  the privacy ledger
 *   GET  /v1/status   training state, peers, iteration, consensus rounds
 *   GET  /healthz     liveness
 *   GET  /metrics     Prometheus text format
 *   GET  /openapi.json
 *
 * /v1/* require `Authorization: Bearer <token>` when a token is configured.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { timingSafeEqual } from 'node:crypto'
import { Histogram, type Registry } from 'prom-client'
import type { Mat } from '../../src/numeric/matrix.js'
import { openApiDocument } from './openapi.js'

/** What /v1/score scores with: the node's own model and its threshold. */
export interface Scorer {
  readonly dim: number
  readonly threshold: number
  score(samples: Mat): Float64Array
}

/** The node as the API sees it (narrow, so tests hand it stubs). */
export interface ApiBackend {
  /** Null until the node has a trained model. */
  scorer(): Scorer | null
  /** The released DP model (JSON), or null before release. */
  releasedModel(): unknown
  /** Ledger JSON, or null when the node keeps none. */
  ledger(): unknown
  status(): Record<string, unknown>
}

export interface ApiOptions {
  backend: ApiBackend
  registry: Registry
  token?: string
  /** Largest number of samples per request. */
  maxBatch: number
  /** Largest request body in bytes; default sized from maxBatch (about 32 bytes per number, 100 features). */
  bodyLimit?: number
  logger?: boolean | object
}

export class ApiInputError extends Error {
  override name = 'ApiInputError'
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message)
  }
}

/**
 * Check a /v1/score body by hand rather than with a schema library: a sample matrix of
 * up to maxBatch x dim numbers is validated in one pass with positions in the messages,
 * and packed straight into the row-major Float64Array the model reads.
 */
export function parseSamples(body: unknown, dim: number, maxBatch: number): Mat {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiInputError(400, 'body must be a JSON object {"samples": [[...], ...]}')
  }
  const keys = Object.keys(body)
  const extra = keys.filter((k) => k !== 'samples')
  if (extra.length > 0) throw new ApiInputError(400, `unknown field(s) ${extra.join(', ')}; the body is {"samples": number[][]}`)
  const samples = (body as { samples?: unknown }).samples
  if (!Array.isArray(samples)) throw new ApiInputError(400, 'samples must be an array of rows (number[][])')
  if (samples.length === 0) throw new ApiInputError(400, 'samples is empty; send at least one row')
  if (samples.length > maxBatch) {
    throw new ApiInputError(413, `samples has ${samples.length} rows; at most ${maxBatch} per request, split the batch`)
  }
  const data = new Float64Array(samples.length * dim)
  for (let i = 0; i < samples.length; i++) {
    const row: unknown = samples[i]
    if (!Array.isArray(row)) throw new ApiInputError(400, `samples[${i}] must be an array of ${dim} numbers`)
    if (row.length !== dim) {
      throw new ApiInputError(400, `samples[${i}] has ${row.length} values; the model expects ${dim} features`)
    }
    for (let j = 0; j < dim; j++) {
      const v: unknown = row[j]
      if (typeof v !== 'number') {
        throw new ApiInputError(400, `samples[${i}][${j}] is ${v === null ? 'null' : typeof v}; every value must be a finite number (JSON has no NaN or Infinity)`)
      }
      if (!Number.isFinite(v)) throw new ApiInputError(400, `samples[${i}][${j}] is not finite`)
      data[i * dim + j] = v
    }
  }
  return { rows: samples.length, cols: dim, data }
}

function bearer(req: FastifyRequest): string | null {
  const h = req.headers.authorization
  if (typeof h !== 'string') return null
  const m = /^Bearer\s+(\S+)$/i.exec(h)
  return m ? m[1] : null
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

export function createApi(opts: ApiOptions): FastifyInstance {
  const { backend, registry, maxBatch } = opts
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: opts.bodyLimit ?? Math.max(1 << 20, maxBatch * 100 * 32),
    return503OnClosing: true,
  })
  const latency = new Histogram({
    name: 'collab_score_latency_seconds',
    help: 'Time to validate and score one POST /v1/score request',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  })

  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, _req, reply) => {
    if (err instanceof ApiInputError) return reply.code(err.statusCode).send({ error: err.message })
    const code = err.statusCode
    if (typeof code === 'number' && code >= 400 && code < 500) {
      // fastify's own client errors: malformed JSON, body too large, wrong content type
      return reply.code(code).send({ error: err.message })
    }
    app.log.error(err)
    return reply.code(500).send({ error: 'internal error; see the node log' })
  })
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url}; see /openapi.json` }))

  const auth = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    if (opts.token === undefined) return undefined
    const t = bearer(req)
    if (t === null || !sameToken(t, opts.token)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: 'missing or wrong bearer token: send Authorization: Bearer <token>' })
    }
    return undefined
  }

  app.post('/v1/score', { onRequest: auth }, async (req, reply) => {
    const end = latency.startTimer()
    const scorer = backend.scorer()
    if (scorer === null) {
      return reply.code(503).header('retry-after', '5').send({ error: 'the node has no trained model yet; retry when /v1/status says trained' })
    }
    const samples = parseSamples(req.body, scorer.dim, maxBatch)
    const scores = scorer.score(samples)
    const out: number[] = new Array(scores.length)
    const anomalous: boolean[] = new Array(scores.length)
    for (let i = 0; i < scores.length; i++) {
      if (!Number.isFinite(scores[i])) {
        throw new ApiInputError(422, `samples[${i}] has no finite score (values far outside the training range); check its units`)
      }
      out[i] = scores[i]
      anomalous[i] = scores[i] > scorer.threshold
    }
    end()
    return { scores: out, threshold: scorer.threshold, anomalous }
  })

  app.get('/v1/model', { onRequest: auth }, async (_req, reply) => {
    const m = backend.releasedModel()
    if (m === null || m === undefined) {
      return reply.code(404).send({ error: 'no released model yet: the DP model is published when training finishes (see /v1/status)' })
    }
    return m
  })

  app.get('/v1/privacy', { onRequest: auth }, async (_req, reply) => {
    const l = backend.ledger()
    if (l === null || l === undefined) return reply.code(404).send({ error: 'this node keeps no privacy ledger' })
    return l
  })

  app.get('/v1/status', { onRequest: auth }, async () => backend.status())
  app.get('/healthz', async () => ({ ok: true }))
  app.get('/metrics', async (_req, reply) => {
    const text = await registry.metrics()
    return reply.header('content-type', registry.contentType).send(text)
  })
  app.get('/openapi.json', async () => openApiDocument(maxBatch))
  return app
}
