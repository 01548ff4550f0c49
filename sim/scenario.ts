/**
 * A simulator scenario: which data, how it is spread over S organisations, on which
 * overlay, with which agreed training config, over which transport, under which faults,
 * and optionally a grid of variants (a sweep) whose results go into one report.
 * Declared once (zod) and validated at the edge; errors name the file and the field.
 */
import { readFileSync, existsSync } from 'node:fs'
import { basename, dirname, extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { TrainingConfig, formatZodIssues } from '../src/learning/config.js'
import { MissingPolicySchema } from '../src/data/missing.js'
import { TOPOLOGY_KINDS, type TopologyKind } from '../topologies/index.js'

export class ScenarioError extends Error {
  override name = 'ScenarioError'
}

/** The repository root: the nearest folder above this module holding sim/scenarios (works from sim/ and dist/sim/). */
export function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(d, 'sim', 'scenarios'))) return d
    d = dirname(d)
  }
  return process.cwd()
}

/** Folder of the named scenarios shipped with the simulator. */
export const SCENARIO_DIR = join(repoRoot(), 'sim', 'scenarios')

const Split = z
  .object({
    /** iid: equal random shares; uneven: random shares of Dirichlet sizes; non-iid: nodes see different mixtures of k-means patterns (and uneven sizes). */
    kind: z.enum(['iid', 'uneven', 'non-iid'], { error: 'must be iid, uneven or non-iid' }).default('non-iid'),
    /** non-iid: number of k-means patterns. */
    patterns: z.number().int().min(1).optional(),
    /** non-iid: Dirichlet concentration of each node's pattern mixture (smaller = more skewed). */
    concentration: z.number().positive().optional(),
    /** uneven / non-iid: Dirichlet concentration of node sizes. */
    sizeConcentration: z.number().positive().optional(),
    /** Minimum training+test rows per node. */
    minRows: z.number().int().min(2).default(4),
  })
  .strict()

const Dataset = z
  .object({
    /** CSV with a header row (a relative path is looked up in the working directory, then in the repository). */
    path: z.string().min(1),
    /** 0/1 label column; rows labelled `positive` are the anomalies (never trained on). */
    labelCol: z.string().min(1).default('anomaly'),
    positive: z.union([z.literal(0), z.literal(1)]).default(1),
    dropCols: z.array(z.string()).default([]),
    /** Missing values (empty / NA cells and per-column sentinels) become NaN; the model needs hyper missing: true. */
    missing: MissingPolicySchema.optional(),
    split: Split.prefault({}),
    /** Fraction of each node's normal rows held out for scoring. */
    testFraction: z.number().gt(0).lt(1).default(0.3),
  })
  .strict()

const Topo = z.union([
  z.object({ file: z.string().min(1) }).strict(),
  z
    .object({
      kind: z.enum(TOPOLOGY_KINDS as unknown as [TopologyKind, ...TopologyKind[]], { error: `must be one of ${TOPOLOGY_KINDS.join(', ')}` }),
      degree: z.number().int().min(2).optional(),
      seed: z.number().int().min(0).optional(),
    })
    .strict(),
])

const Latency = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('fixed'), ms: z.number().min(0) }).strict(),
  z.object({ kind: z.literal('uniform'), minMs: z.number().min(0), maxMs: z.number().min(0) }).strict(),
  z.object({ kind: z.literal('exponential'), meanMs: z.number().positive() }).strict(),
  z.object({ kind: z.literal('lognormal'), medianMs: z.number().positive(), sigma: z.number().min(0) }).strict(),
])
export type Latency = z.infer<typeof Latency>

const Crash = z
  .object({
    node: z.number().int().min(0),
    /** Crash halfway through the rounds of this iteration's statistics session. */
    atIteration: z.number().int().min(0),
    /** Restart from its checkpoint at this iteration (omitted: stays down). */
    restartAtIteration: z.number().int().min(1).optional(),
  })
  .strict()

const Faults = z
  .object({
    latency: Latency.optional(),
    /** Probability that any one frame is lost. */
    loss: z.number().min(0).max(0.9).default(0),
    crashes: z.array(Crash).default([]),
  })
  .strict()

const Evaluate = z
  .object({
    /** Each node trains alone on its rows (local-only baseline). */
    local: z.boolean().default(true),
    /** One model on the pooled training rows (centralised reference). */
    centralised: z.boolean().default(true),
    /** Per-class precision/recall/specificity/F1/G-mean/IBA at the agreed threshold. */
    perClass: z.boolean().default(false),
    /**
     * Anomalous test rows per node: 'all' (every node scores every anomaly, the anomaly
     * benchmark's protocol) or 'natural' (a seeded sample keeping the dataset's class
     * ratio, for per-class metrics under the real imbalance).
     */
    anomalies: z.enum(['all', 'natural']).default('all'),
    /** Evaluate at most this many nodes (evenly spaced), to bound scoring time on large networks. */
    maxNodes: z.number().int().min(1).default(100_000),
  })
  .strict()

const PlotSpec = z
  .object({
    title: z.string(),
    /** A swept parameter path or a metric name (e.g. epsilon) for the x axis. */
    x: z.string(),
    y: z.array(z.string()).min(1),
    /** One line per value of this parameter. */
    series: z.string().optional(),
    logX: z.boolean().optional(),
    logY: z.boolean().optional(),
  })
  .strict()

const ReportSpec = z
  .object({
    /** Sweep plots (metrics: see sim/report.ts flatMetrics). */
    plots: z.array(PlotSpec).default([]),
    /** Sweep table columns (swept paths and metric names); default: swept paths + main metrics. */
    table: z.array(z.string()).default([]),
  })
  .strict()

export const Scenario = z
  .object({
    name: z.string().min(1).default('scenario'),
    description: z.string().default(''),
    /** Seed of the data split and of every node's generator (the training seed is training.seed). */
    seed: z.number().int().min(0).default(1),
    /**
     * Seed of the simulator's per-node *secret* streams (chunk noise, l-diversity
     * pseudo-samples, release and DP-SGD noise), so a simulated run replays exactly.
     * Default: derived from `seed` above (domain-separated), never from training.seed,
     * the seed the members share. A real node draws these from OS entropy instead.
     */
    noiseSeed: z.union([z.number().int().min(0), z.string().min(1)]).optional(),
    /** train: Algorithm 1 end to end; consensus: one network sum of random vectors (rounds, error, traffic). */
    mode: z.enum(['train', 'consensus'], { error: 'must be train or consensus' }).default('train'),
    /** Required in train mode. */
    dataset: Dataset.optional(),
    /** consensus mode: length of the random vectors summed. */
    vectorLength: z.number().int().min(1).max(1_000_000).default(16),
    nodes: z.number().int().min(1).max(100_000),
    topology: Topo.default({ kind: 'cwic' }),
    transport: z.enum(['memory', 'libp2p', 'exact'], { error: 'must be memory, libp2p or exact' }).default('memory'),
    training: TrainingConfig,
    faults: Faults.prefault({}),
    evaluate: Evaluate.prefault({}),
    /**
     * A grid of variants: dotted scenario paths -> values (every combination is run), e.g.
     * { "training.privacy.release.lambda0": [0.5, 1, 4], "nodes": [5, 10, 20] }.
     */
    sweep: z.record(z.string(), z.array(z.union([z.number(), z.string(), z.boolean()])).min(1)).optional(),
    /**
     * Explicit variants (dotted path -> value), each combined with every sweep
     * combination; for grids that are not products (e.g. each topology at its own sizes).
     */
    cases: z.array(z.record(z.string(), z.union([z.number(), z.string(), z.boolean()]))).min(1).optional(),
    report: ReportSpec.prefault({}),
    /** Report folder (default reports/sim/NAME). */
    output: z.string().optional(),
    /**
     * Worker threads the nodes are spread over (default 1: every node on the main thread).
     * How the run executes, not what it simulates: left out of report.json, which is the
     * same bytes for any count (sim/workers/, limits in sim/README.md).
     */
    workers: z.number().int().min(1).max(64).optional(),
  })
  .strict()

export type Scenario = z.infer<typeof Scenario>
export type ScenarioInput = z.input<typeof Scenario>

/** Validate a scenario object; `where` names its source in errors. */
export function parseScenario(input: unknown, where = 'scenario'): Scenario {
  const r = Scenario.safeParse(input)
  if (!r.success) throw new ScenarioError(formatZodIssues(r.error, where))
  const s = r.data
  if (s.mode === 'train' && s.dataset === undefined) throw new ScenarioError(`${where}: dataset: required in train mode (a CSV path with a label column)`)
  for (const c of s.faults.crashes) {
    if (c.node >= s.nodes) throw new ScenarioError(`${where}: faults.crashes: node ${c.node} does not exist (nodes: ${s.nodes})`)
    if (c.restartAtIteration !== undefined && c.restartAtIteration <= c.atIteration) {
      throw new ScenarioError(`${where}: faults.crashes: node ${c.node} restarts at iteration ${c.restartAtIteration}, which is not after its crash at ${c.atIteration}`)
    }
  }
  if (s.faults.latency?.kind === 'uniform' && s.faults.latency.maxMs < s.faults.latency.minMs) {
    throw new ScenarioError(`${where}: faults.latency: maxMs must be >= minMs`)
  }
  return s
}

/** Read a scenario file (YAML or JSON). */
export function loadScenarioFile(path: string): Scenario {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new ScenarioError(`${path}: cannot read scenario file (${(e as Error).message})`)
  }
  let raw: unknown
  try {
    raw = extname(path) === '.json' ? JSON.parse(text) : parseYaml(text)
  } catch (e) {
    throw new ScenarioError(`${path}: not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'} (${(e as Error).message})`)
  }
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw) && !('name' in raw)) {
    ;(raw as Record<string, unknown>).name = basename(path, extname(path))
  }
  return parseScenario(raw, path)
}

/** A named scenario from sim/scenarios/ (NAME.yaml), or a path to a scenario file. */
export function resolveScenario(nameOrPath: string): Scenario {
  if (existsSync(nameOrPath)) return loadScenarioFile(nameOrPath)
  for (const ext of ['.yaml', '.yml', '.json']) {
    const p = join(SCENARIO_DIR, nameOrPath + ext)
    if (existsSync(p)) return loadScenarioFile(p)
  }
  throw new ScenarioError(`no scenario named '${nameOrPath}' in ${SCENARIO_DIR} and no such file; run 'collab sim --list' to see the named ones`)
}

/** Set a dotted path inside a plain object copy (for sweeps). */
export function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.')
  let o: Record<string, unknown> = obj
  for (let i = 0; i < keys.length - 1; i++) {
    const k = keys[i]
    const next = o[k]
    if (next === null || typeof next !== 'object' || Array.isArray(next)) o[k] = {}
    o = o[k] as Record<string, unknown>
  }
  o[keys[keys.length - 1]] = value
}

/** Every combination of a sweep grid, in a fixed order (first key varies slowest). */
export function sweepVariants(sweep: Record<string, readonly (number | string | boolean)[]>): Record<string, number | string | boolean>[] {
  let out: Record<string, number | string | boolean>[] = [{}]
  for (const [key, values] of Object.entries(sweep)) {
    const next: Record<string, number | string | boolean>[] = []
    for (const o of out) for (const v of values) next.push({ ...o, [key]: v })
    out = next
  }
  return out
}

/** Every variant of a scenario: each case (or none) times each sweep combination. */
export function scenarioVariants(sc: Pick<Scenario, 'sweep' | 'cases'>): Record<string, number | string | boolean>[] {
  const grid = sweepVariants(sc.sweep ?? {})
  const cases = sc.cases ?? [{}]
  return cases.flatMap((c) => grid.map((g) => ({ ...c, ...g })))
}

/** The scenario with one sweep variant applied (re-validated). */
export function applyVariant(base: Scenario, variant: Record<string, number | string | boolean>, where: string): Scenario {
  const copy = JSON.parse(JSON.stringify({ ...base, sweep: undefined, cases: undefined })) as Record<string, unknown>
  for (const [k, v] of Object.entries(variant)) setPath(copy, k, v)
  return parseScenario(copy, `${where} [${Object.entries(variant).map(([k, v]) => `${k}=${v}`).join(', ')}]`)
}
