/**
 * The organisation's node config (`collab node start --config org.yaml`): one YAML or
 * JSON file, validated with zod at the edge. Errors name the file and the field and say
 * what is expected. Relative paths resolve against the config file's directory.
 *
 *   identity: ./identity            # dir holding identity.key (collab node init --dir)
 *   listen: [/ip4/0.0.0.0/tcp/4001]
 *   data: { path: ./private.csv, labelCol: anomaly, trainOn: normal }
 *   topology: ./topology.json       # every member's PeerId and multiaddrs
 *   storage: ./state                # checkpoint, privacy ledger, model
 *   api: { host: 127.0.0.1, port: 8080, token: s3cret, thresholdQuantile: 0.95, maxBatch: 1000,
 *          metricsAuth: false, rateLimit: { max: 1200, windowMs: 60000 } }
 *   startup: { barrierTimeoutMs: 60000 }
 *   log: { level: info }
 *   training: { model: { kind: ggm, hyper: { K: 4 } }, seed: 7, ... }   # src/learning TrainingConfig
 */
import { readFileSync } from 'node:fs'
import { dirname, extname, isAbsolute, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { TrainingConfig, formatZodIssues } from '../src/learning/config.js'
import { MissingPolicySchema } from '../src/data/missing.js'

/** Largest batch POST /v1/score accepts by default (rows): ~1000 x 100 features stays under 1 MiB of JSON. */
export const DEFAULT_MAX_BATCH = 1000
/**
 * Per-client limit on the scoring routes: 1200 requests per minute (20/s) lets
 * `collab score --url` (sequential batches of 500 rows) score 10,000 rows/s, while bounding
 * how fast one client can probe the private model. `rateLimit: false` turns it off.
 */
export const DEFAULT_RATE_LIMIT = { max: 1200, windowMs: 60_000 } as const
/** How long a starting node waits for its neighbours before giving up. */
export const DEFAULT_BARRIER_TIMEOUT_MS = 120_000

export class NodeConfigError extends Error {
  override name = 'NodeConfigError'
}

const path = (what: string) => z.string({ error: `${what} must be a file path (string)` }).min(1, { error: `${what} must not be empty` })

const multiaddrString = z
  .string({ error: 'must be a multiaddr string such as /ip4/0.0.0.0/tcp/4001' })
  .regex(/^\/ip[46]\/[^/]+\/tcp\/\d+(\/.*)?$/, { error: 'must be a TCP multiaddr such as /ip4/0.0.0.0/tcp/4001' })

export const NodeConfig = z
  .object({
    identity: path('identity'),
    listen: z.array(multiaddrString, { error: 'listen must be a list of multiaddrs' }).min(1, { error: 'listen needs at least one address' }),
    data: z
      .object({
        path: path('data.path'),
        /** 0/1 label column, excluded from the features. */
        labelCol: z.string().min(1).optional(),
        /** Train on every row, or only rows labelled 0 (needs labelCol). */
        trainOn: z.enum(['all', 'normal'], { error: 'must be "all" or "normal"' }).default('all'),
        dropCols: z.array(z.string()).default([]),
        /** Missing values (empty / NA cells and per-column sentinels) become NaN; the model needs hyper missing: true. */
        missing: MissingPolicySchema.optional(),
      })
      .strict(),
    topology: path('topology'),
    storage: path('storage'),
    api: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number({ error: 'api.port must be a number' }).int().min(0).max(65535, { error: 'api.port must be 0..65535' }),
        /** Bearer token required on /v1/* when set. */
        token: z.string().min(8, { error: 'api.token must be at least 8 characters' }).optional(),
        /** Quantile of the node's training scores used as threshold; default: training.thresholdQuantile. */
        thresholdQuantile: z.number().gt(0).lt(1, { error: 'api.thresholdQuantile must be in (0, 1)' }).optional(),
        maxBatch: z.number().int().min(1).max(100_000).default(DEFAULT_MAX_BATCH),
        /** Require the bearer token on /metrics too (needs api.token). */
        metricsAuth: z.boolean({ error: 'api.metricsAuth must be true or false' }).default(false),
        /** Per-client limit on POST /v1/score and /v1/public/score; false = none. */
        rateLimit: z
          .union([
            z.literal(false),
            z
              .object({
                max: z.number().int().min(1, { error: 'api.rateLimit.max must be a whole number >= 1' }),
                windowMs: z.number().int().min(1, { error: 'api.rateLimit.windowMs must be a whole number of milliseconds >= 1' }),
              })
              .strict(),
          ])
          .default({ ...DEFAULT_RATE_LIMIT })
          .transform((v) => (v === false ? null : v)),
      })
      .strict()
      .superRefine((a, ctx) => {
        if (a.metricsAuth && a.token === undefined) ctx.addIssue({ code: 'custom', path: ['metricsAuth'], message: 'metricsAuth needs api.token (the token /metrics will require)' })
      }),
    startup: z
      .object({ barrierTimeoutMs: z.number().int().positive().default(DEFAULT_BARRIER_TIMEOUT_MS) })
      .strict()
      .prefault({}),
    log: z
      .object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
      .strict()
      .prefault({}),
    training: TrainingConfig,
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.data.trainOn === 'normal' && c.data.labelCol === undefined) {
      ctx.addIssue({ code: 'custom', path: ['data', 'trainOn'], message: 'trainOn "normal" needs data.labelCol' })
    }
    if (c.training.model.kind === 'classifier') {
      if (c.data.labelCol === undefined) ctx.addIssue({ code: 'custom', path: ['data', 'labelCol'], message: 'a classifier needs data.labelCol: the column of class labels (0/1) it learns to predict' })
      if (c.data.trainOn !== 'all') ctx.addIssue({ code: 'custom', path: ['data', 'trainOn'], message: 'a classifier trains on every row (both classes): set trainOn "all"' })
    }
  })

export type NodeConfig = z.infer<typeof NodeConfig>

/** Validate a parsed config object; relative paths resolve against `baseDir`. */
export function parseNodeConfig(input: unknown, source: string, baseDir: string): NodeConfig {
  const r = NodeConfig.safeParse(input)
  if (!r.success) throw new NodeConfigError(formatZodIssues(r.error, source))
  const c = r.data
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p))
  return {
    ...c,
    identity: abs(c.identity),
    data: { ...c.data, path: abs(c.data.path) },
    topology: abs(c.topology),
    storage: abs(c.storage),
  }
}

/** Read a YAML (.yaml/.yml) or JSON config file and validate it. */
export function loadNodeConfig(file: string): NodeConfig {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new NodeConfigError(`${file}: cannot read config (${(err as Error).message})`)
  }
  let input: unknown
  try {
    input = extname(file) === '.json' ? JSON.parse(text) : parseYaml(text)
  } catch (err) {
    throw new NodeConfigError(`${file}: not valid ${extname(file) === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message}`)
  }
  return parseNodeConfig(input, file, dirname(resolve(file)))
}
