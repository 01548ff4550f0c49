/**
 * The node's HTTP API (fastify). Every route validates its input at the edge and answers
 * a client error with 4xx and a message saying what to fix; a 5xx means a bug here.
 * The OpenAPI document is generated from the route schemas below (@fastify/swagger) and
 * served at /openapi.json, with a browsable copy at /docs (@fastify/swagger-ui, its
 * assets served from the package: no CDN). Routes:
 *
 *   GET  /                    the node status page (node/api/status-page.ts)
 *   POST /v1/score            {"samples": number[][]} -> scores with this node's own model (a classifier
 *                             node adds class probabilities and the predicted class)
 *   POST /v1/public/score     {"samples": number[][]} -> scores with the released DP model only
 *   GET  /v1/model            the released (DP) model; 404 before release
 *   GET  /v1/privacy          the privacy ledger
 *   GET  /v1/status           training state, history, peers, consensus, privacy
 *   GET  /healthz             liveness
 *   GET  /metrics             Prometheus text format (behind the token with metricsAuth)
 *   GET  /openapi.json        the OpenAPI document
 *   GET  /docs                the API documentation page
 *   GET  /assets/:file        the status page's chart library (vega, vega-lite)
 *
 * /v1/* require `Authorization: Bearer <token>` when a token is configured, /metrics too
 * when metricsAuth is set. The scoring routes are rate-limited per client when a limit
 * is configured.
 */
import { createServer as createNetServer } from 'node:net'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifySchema } from 'fastify'
import fastifyRateLimit, { type RateLimitOptions } from '@fastify/rate-limit'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import { timingSafeEqual } from 'node:crypto'
import { collectDefaultMetrics, Histogram, type Registry } from 'prom-client'
import type { Mat } from '../../src/numeric/matrix.js'
import { errorRef, ErrorSchema, freeJson, OPENAPI_HEADER, PublicScoreResponse, scoreRequestSchema, ScoreResponse } from './schemas.js'
import { STATUS_ASSETS, statusAsset, statusPageHtml } from './status-page.js'

/** What /v1/score scores with: the node's own model and its threshold. */
export interface Scorer {
  readonly dim: number
  readonly threshold: number
  /** The model was trained with missing values (hyper missing: true): a null in a row is a missing value. */
  readonly missing?: boolean
  score(samples: Mat): Float64Array
  /**
   * A classifier's class probabilities (rows x classes); present only when the node's
   * model is a classifier, and then /v1/score adds `probabilities` and `predicted`.
   */
  probabilities?(samples: Mat): Mat
}

/** What /v1/public/score scores with: the released DP model (no threshold of its own). */
export interface PublicScorer {
  readonly dim: number
  /** A null in a row is a missing value (scored on the observed entries). */
  readonly missing?: boolean
  score(samples: Mat): Float64Array
}

/** The node as the API sees it (narrow, so tests hand it stubs). */
export interface ApiBackend {
  /** Null until the node has a trained model. */
  scorer(): Scorer | null
  /** The released DP model as a scorer, or null before a release exists. */
  releasedScorer(): PublicScorer | null
  /** The released DP model (JSON), or null before release. */
  releasedModel(): unknown
  /** Ledger JSON, or null when the node keeps none. */
  ledger(): unknown
  status(): Record<string, unknown>
}

/** Per-client limit on the scoring routes: at most `max` requests per `windowMs` for each client address. */
export interface RateLimit {
  max: number
  windowMs: number
}

export interface ApiOptions {
  backend: ApiBackend
  registry: Registry
  token?: string
  /** Require the bearer token on /metrics too (needs `token`). */
  metricsAuth?: boolean
  /** Largest number of samples per request. */
  maxBatch: number
  /** Per-client limit on POST /v1/score and /v1/public/score; none when absent. */
  rateLimit?: RateLimit | null
  /** Largest request body in bytes; default sized from maxBatch (about 32 bytes per number, 100 features). */
  bodyLimit?: number
  /** Add prom-client's process metrics (CPU, memory, event loop, GC) to the registry; default true. */
  defaultMetrics?: boolean
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

export class ApiConfigError extends Error {
  override name = 'ApiConfigError'
}

export class ApiPortInUseError extends Error {
  override name = 'ApiPortInUseError'
}

/**
 * Fail before the node joins the overlay when its API address cannot be bound (taken by
 * another program, or a privileged port): otherwise the libp2p host starts first, the peers
 * connect, and the node leaves again when the API fails to listen. Port 0 is always free.
 * A port taken between this check and the API's listen (milliseconds) still fails there.
 */
export async function assertApiAddressFree(host: string, port: number): Promise<void> {
  if (port === 0) return
  await new Promise<void>((resolve, reject) => {
    const probe = createNetServer()
    probe.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') {
        reject(
          new ApiPortInUseError(
            `API address ${host}:${port} cannot be bound (${err.code}${err.code === 'EACCES' ? ': a privileged port' : ': another program holds it'}): stop what holds it or set api.port to a free port (0 picks one); the node did not join the network`,
          ),
        )
      } else reject(err)
    })
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()))
  })
}

/**
 * Check a /v1/score body by hand rather than with a schema library: a sample matrix of
 * up to maxBatch x dim numbers is validated in one pass with positions in the messages,
 * and packed straight into the row-major Float64Array the model reads.
 */
export function parseSamples(body: unknown, dim: number, maxBatch: number, missing = false): Mat {
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
      if (v === null && missing) {
        data[i * dim + j] = Number.NaN
        continue
      }
      if (typeof v !== 'number') {
        throw new ApiInputError(400, `samples[${i}][${j}] is ${v === null ? 'null' : typeof v}; every value must be a finite number (JSON has no NaN or Infinity)${v === null ? '; null marks a missing value only for a model trained with missing: true' : ''}`)
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

/** Scores as a JSON array; a row without a finite score is the client's problem (far outside the training range). */
function finiteScores(scores: Float64Array): number[] {
  const out = new Array<number>(scores.length)
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i])) {
      throw new ApiInputError(422, `samples[${i}] has no finite score (values far outside the training range); check its units`)
    }
    out[i] = scores[i]
  }
  return out
}

/** A classifier's answer: per row its class probabilities and the most probable class. */
function classOutputs(p: Mat): { probabilities: number[][]; predicted: number[] } {
  const probabilities: number[][] = []
  const predicted: number[] = []
  for (let i = 0; i < p.rows; i++) {
    const row = Array.from(p.data.subarray(i * p.cols, (i + 1) * p.cols))
    probabilities.push(row)
    predicted.push(row.indexOf(Math.max(...row)))
  }
  return { probabilities, predicted }
}

/** What the route groups share. */
interface RouteContext {
  opts: ApiOptions
  /** onRequest hook: 401 unless the bearer token matches (a no-op without a token). */
  auth: (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>
  /** OpenAPI security requirement of the token-guarded routes. */
  secured: { bearer: never[] }[] | undefined
  /** Route config of @fastify/rate-limit for the scoring routes, when limited. */
  rateLimit: RateLimitOptions | undefined
  latency: Histogram
  /** The app, for its OpenAPI document (app.swagger()). */
  root: FastifyInstance
}

export function createApi(opts: ApiOptions): FastifyInstance {
  const { registry, maxBatch } = opts
  if (opts.metricsAuth && opts.token === undefined) throw new ApiConfigError('metricsAuth needs a token: set api.token or turn api.metricsAuth off')
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: opts.bodyLimit ?? Math.max(1 << 20, maxBatch * 100 * 32),
    return503OnClosing: true,
  })
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry })
  const latency = new Histogram({
    name: 'collab_score_latency_seconds',
    help: 'Time to validate and score one POST /v1/score request',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  })
  answerErrorsAsJson(app)
  app.addSchema(ErrorSchema)
  app.addSchema(scoreRequestSchema(maxBatch))
  // plugins load in registration order: the documentation and the rate limit hook into
  // every route registered after them
  void app.register(fastifySwagger, {
    openapi: OPENAPI_HEADER,
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  })
  void app.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { validatorUrl: null, deepLinking: false } })
  void app.register(fastifyRateLimit, { global: false })
  const ctx: RouteContext = {
    opts,
    auth: bearerAuth(opts.token),
    secured: opts.token === undefined ? undefined : [{ bearer: [] }],
    rateLimit: opts.rateLimit ? rateLimitConfig(opts.rateLimit) : undefined,
    latency,
    root: app,
  }
  void app.register(async (api) => {
    pageRoutes(api)
    scoringRoutes(api, ctx)
    readRoutes(api, ctx)
  })
  return app
}

/** Every error as {"error": message}: 4xx for the client's mistakes, 500 (logged) for ours. */
function answerErrorsAsJson(app: FastifyInstance): void {
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    if (err instanceof ApiInputError) return reply.code(err.statusCode).send({ error: err.message })
    const code = err.statusCode
    if (typeof code === 'number' && code >= 400 && code < 500) {
      // fastify's own client errors (malformed JSON, body too large, wrong content type) and the rate limit's 429
      return reply.code(code).send({ error: err.message })
    }
    app.log.error(err)
    return reply.code(500).send({ error: 'internal error; see the node log' })
  })
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url}; see /docs or /openapi.json` }))
}

function bearerAuth(token: string | undefined): RouteContext['auth'] {
  return async (req, reply) => {
    if (token === undefined) return undefined
    const t = bearer(req)
    if (t === null || !sameToken(t, token)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: 'missing or wrong bearer token: send Authorization: Bearer <token>' })
    }
    return undefined
  }
}

function rateLimitConfig(limit: RateLimit): RateLimitOptions {
  return {
    max: limit.max,
    timeWindow: limit.windowMs,
    errorResponseBuilder: (_req, c) => ({
      statusCode: 429,
      message: `rate limit: at most ${limit.max} scoring requests per ${limit.windowMs / 1000} s from one client; retry in ${c.after} (api.rateLimit in the node config)`,
    }),
  }
}

/** The status page and its chart library. */
function pageRoutes(api: FastifyInstance): void {
  api.get(
    '/',
    { schema: { summary: 'The node status page (HTML, refreshes itself)', tags: ['operations'] } satisfies FastifySchema },
    async (_req, reply) => reply.type('text/html; charset=utf-8').send(statusPageHtml()),
  )
  api.get<{ Params: { file: string } }>(
    '/assets/:file',
    {
      schema: {
        summary: "The status page's chart library, served from this package (no CDN)",
        tags: ['operations'],
        params: { type: 'object', required: ['file'], properties: { file: { type: 'string', enum: [...STATUS_ASSETS] } } },
      },
    },
    async (req, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=86400').send(statusAsset(req.params.file)),
  )
}

/** POST /v1/score (the node's own model, private) and /v1/public/score (the release only). */
function scoringRoutes(api: FastifyInstance, ctx: RouteContext): void {
  const { backend, maxBatch } = ctx.opts
  const limited = ctx.rateLimit ? { 429: errorRef('Too many scoring requests from this client (api.rateLimit)') } : {}
  const config = { rateLimit: ctx.rateLimit ?? (false as const) }
  // the bodies are parsed by hand (parseSamples: positions in the messages, packed
  // straight into a Float64Array); the body schema is there for the documentation only
  const documentOnly = () => () => true
  const inputErrors = {
    400: errorRef('Malformed JSON, wrong dimension, non-numbers, empty batch'),
    413: errorRef(`More than ${maxBatch} samples, or body too large`),
    415: errorRef('Body is not application/json'),
    422: errorRef('A sample has no finite score'),
  }
  api.post(
    '/v1/score',
    {
      onRequest: ctx.auth,
      config,
      validatorCompiler: documentOnly,
      schema: {
        summary: "Score samples with this node's own (private) model",
        tags: ['scoring'],
        security: ctx.secured,
        body: { $ref: 'ScoreRequest#' },
        response: { 200: ScoreResponse, ...inputErrors, 401: errorRef('Missing or wrong bearer token'), ...limited, 503: errorRef('No trained model yet') },
      },
    },
    async (req, reply) => {
      const end = ctx.latency.startTimer()
      const scorer = backend.scorer()
      if (scorer === null) {
        return reply.code(503).header('retry-after', '5').send({ error: 'the node has no trained model yet; retry when /v1/status says trained' })
      }
      const samples = parseSamples(req.body, scorer.dim, maxBatch, scorer.missing === true)
      const scores = finiteScores(scorer.score(samples))
      const out: Record<string, unknown> = { scores, threshold: scorer.threshold, anomalous: scores.map((s) => s > scorer.threshold) }
      if (scorer.probabilities !== undefined) Object.assign(out, classOutputs(scorer.probabilities(samples)))
      end()
      return out
    },
  )
  api.post(
    '/v1/public/score',
    {
      config,
      validatorCompiler: documentOnly,
      schema: {
        summary: 'Score samples with the released differentially-private model only (public, no token)',
        description:
          "Uses nothing but the released model (the file GET /v1/model serves), never this node's own model, so answers reveal no more than the release itself. 404 until a release exists.",
        tags: ['scoring'],
        body: { $ref: 'ScoreRequest#' },
        response: { 200: PublicScoreResponse, ...inputErrors, 404: errorRef('No released model yet'), ...limited },
      },
    },
    async (req, reply) => {
      const scorer = backend.releasedScorer()
      if (scorer === null) {
        return reply.code(404).send({ error: 'no released model yet: public scoring uses only the DP release, published when training finishes (see /v1/status)' })
      }
      return { scores: finiteScores(scorer.score(parseSamples(req.body, scorer.dim, maxBatch, scorer.missing === true))) }
    },
  )
}

/** The read-only routes: released model, ledger, status, health, metrics, the OpenAPI document. */
function readRoutes(api: FastifyInstance, ctx: RouteContext): void {
  const { backend, registry, metricsAuth } = ctx.opts
  const unauthorised = errorRef('Missing or wrong bearer token')
  api.get(
    '/v1/model',
    {
      onRequest: ctx.auth,
      schema: {
        summary: 'The released (Rényi-DP) global model, a file any third party can load (collab privacy score)',
        tags: ['privacy'],
        security: ctx.secured,
        response: { 200: freeJson('Released model JSON'), 401: unauthorised, 404: errorRef('Not released yet') },
      },
    },
    async (_req, reply) => {
      const m = backend.releasedModel()
      if (m === null || m === undefined) {
        return reply.code(404).send({ error: 'no released model yet: the DP model is published when training finishes (see /v1/status)' })
      }
      return m
    },
  )
  api.get(
    '/v1/privacy',
    {
      onRequest: ctx.auth,
      schema: {
        summary: 'Privacy ledger: every release and perturbation with its cost, running (epsilon, delta)',
        tags: ['privacy'],
        security: ctx.secured,
        response: { 200: freeJson('Ledger JSON'), 401: unauthorised, 404: errorRef('This node keeps no ledger') },
      },
    },
    async (_req, reply) => {
      const l = backend.ledger()
      if (l === null || l === undefined) return reply.code(404).send({ error: 'this node keeps no privacy ledger' })
      return l
    },
  )
  api.get(
    '/v1/status',
    {
      onRequest: ctx.auth,
      schema: {
        summary: 'Training state and history, peers and their liveness, consensus rounds and bytes, privacy spent vs budget, last release',
        tags: ['operations'],
        security: ctx.secured,
        response: { 200: freeJson('Status'), 401: unauthorised },
      },
    },
    async () => backend.status(),
  )
  api.get(
    '/healthz',
    { schema: { summary: 'Liveness', tags: ['operations'], response: { 200: { description: 'Alive', type: 'object', properties: { ok: { type: 'boolean' } } } } } },
    async () => ({ ok: true }),
  )
  api.get(
    '/metrics',
    {
      onRequest: metricsAuth ? ctx.auth : undefined,
      schema: {
        summary: 'Prometheus metrics (text format): collab_* and the process metrics (CPU, memory, event loop, GC)',
        tags: ['operations'],
        security: metricsAuth ? ctx.secured : undefined,
      },
    },
    async (_req, reply) => {
      const text = await registry.metrics()
      return reply.header('content-type', registry.contentType).send(text)
    },
  )
  api.get(
    '/openapi.json',
    { schema: { summary: 'This OpenAPI document', tags: ['operations'], response: { 200: freeJson('OpenAPI 3.1 document') } } },
    async () => ctx.root.swagger(),
  )
}
