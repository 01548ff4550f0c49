/**
 * The detection protocol (issue 16), on any CSV with a 0/1 anomaly column: the normal rows
 * split 70/30 per node, the training part spread unevenly and non-iid over S organisations
 * (S = 10), every node scoring the same pooled test set (all held-out normal rows and all
 * anomalies). One table, ROC-AUC and PR-AUC (mean over nodes where each node has its own model):
 *
 *   local-only        each organisation alone (GGM, defaults, its own z-scoring)
 *   CollabDict GGM    S nodes, defaults (K 'auto': the network chooses K and rho), own pi^s
 *   CollabDict VAE    S nodes, private encoders, one decoder (Adam, early stopping on the
 *                     network's validation ELBO)
 *   pooled GGM        one GGM on the pooled training rows (defaults; nobody could build it)
 *   DP release        the network's one released model at (epsilon, 1e-5)-DP (public bounds:
 *                     the file's min..max per feature, a stand-in for a data dictionary)
 *
 * Network sums are exact (the consensus engine reproduces them to 1e-6: test/models/ggm).
 * `collab evaluate` (cli/evaluate.ts) prints it; `npx tsx sim/experiments/detection.ts`
 * runs it on every data/ad_*.csv and prints the README table beside the offline
 * scikit-learn references (test/golden/detection_sklearn.json).
 */
import '../../src/polyfills.js'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseTrainingConfig } from '../../src/learning/config.js'
import { createExactAggregator } from '../../src/learning/exact.js'
import { releaseSettings, runGgmRelease } from '../../src/learning/release.js'
import { fitCentralised, fitExact, unseenComponents, unseenLine, type GgmHyperInput, type GgmModel } from '../../src/models/ggm/index.js'
import { runExact } from '../../src/models/ggm/exact.js'
import { createVaeModel, type VaeHyperInput, type VaeModel } from '../../src/models/vae/index.js'
import type { Mat } from '../../src/numeric/matrix.js'
import { SecretRng } from '../../src/numeric/secret-rng.js'
import { scoreReleasedGgm } from '../../src/privacy/ggm-release.js'
import { PrivacyLedger } from '../../src/privacy/ledger.js'
import { rocAuc } from '../../src/eval/metrics.js'
import type { MissingPolicy } from '../../src/data/csv.js'
import { DATASETS, DEFAULT_SEED, KNOWN_MISSING, evaluatePerNode, fitLocalOnly, prepareAnomalyFile, tableBounds, type AnomalyDataset, type MethodResult } from './anomaly.js'

/** S of the protocol. */
export const DETECTION_NODES = 10
export const DETECTION_EPSILON = 4
const DELTA = 1e-5

export interface DetectionOptions {
  nodes?: number
  seed?: number
  testFraction?: number
  epsilon?: number
  /** Missing-value policy of the file (sentinels; missing cells allowed): the models fit with hyper `missing: true`. */
  missing?: MissingPolicy
  /** GGM hyper-parameters (default: the model's defaults). */
  ggm?: GgmHyperInput
  /** VAE hyper-parameters (default: the model's defaults); false skips the VAE. */
  vae?: Omit<VaeHyperInput, 'seed' | 'node'> | false
  log?: (line: string) => void
}

export interface DetectionRow {
  method: string
  roc: number
  pr: number
  note: string
}

export interface DetectionResult {
  dataset: string
  file: string
  S: number
  rows: number
  dims: number
  trainRows: number
  testNormal: number
  anomalies: number
  table: DetectionRow[]
  /** One line per node whose own weights pi^s leave out a pattern of the network. */
  weightNotes: string[]
  /** Per node: ROC-AUC with its own pi^s minus with the network's weights. */
  ownMinusShared: number[]
  K: number
  rho: number
  localOnlyPerNode: number[]
  seconds: number
}

async function dpRelease(ds: AnomalyDataset, epsilon: number, seed: number): Promise<MethodResult> {
  const config = parseTrainingConfig({
    model: { kind: 'ggm', hyper: ds.missing ? { missing: true } : {} },
    seed,
    privacy: { monitor: false, budget: 1e6, release: { enabled: true, epsilon, bounds: tableBounds(ds) } },
  })
  const settings = releaseSettings(config, ds.features.cols)
  const agg = createExactAggregator(ds.S)
  const outs = await Promise.all(
    ds.parts.map((data: Mat, s) =>
      runGgmRelease({
        settings,
        data,
        aggregate: agg.forNode(s),
        noise: SecretRng.forSimulation(`detection/${ds.name}/${seed}`, s),
        members: ds.S,
        ledger: PrivacyLedger.inMemory({ nodeId: `n${s}`, delta: DELTA }),
        releaseId: 'detection',
      }),
    ),
  )
  const file = outs[0].released
  return evaluatePerNode(ds, (_s, X) => scoreReleasedGgm(file, X))
}

async function vaeNodes(ds: AnomalyDataset, hyper: Omit<VaeHyperInput, 'seed' | 'node'>, seed: number): Promise<VaeModel[]> {
  return runExact(
    ds.parts.map((_, s) => createVaeModel({ ...hyper, seed, node: s, ...(ds.missing ? { missing: true } : {}) })),
    ds.parts,
  )
}

/** ROC-AUC a node's own weights must lose against the network's before it is reported. */
export const HURT = 0.005

/** Per node, ROC-AUC with its own pi^s and with the network's weights; a line for each node that never saw a pattern. */
function weightsEffect(ds: AnomalyDataset, nodes: GgmModel[]): { diff: number[]; lines: string[] } {
  const diff: number[] = []
  const lines: string[] = []
  nodes.forEach((m, s) => {
    const t = ds.tests[s]
    const own = rocAuc(m.score(t.X), t.y)
    const shared = rocAuc(m.scoreWithWeights(t.X, m.networkWeights), t.y)
    diff.push(own - shared)
    if (own >= shared - HURT) return
    const line = unseenLine(s, unseenComponents(m))
    const cost = `its own weights pi^s cost it ROC-AUC ${(shared - own).toFixed(3)} (${own.toFixed(3)} vs ${shared.toFixed(3)} with the network's weights)`
    lines.push(line === null ? `node ${s}: ${cost}` : `${line}; ${cost}`)
  })
  return { diff, lines }
}

/** Run the protocol on a prepared dataset. */
export async function runDetection(ds: AnomalyDataset, o: DetectionOptions = {}): Promise<DetectionResult> {
  const t0 = performance.now()
  const log = o.log ?? ((): void => {})
  const seed = o.seed ?? DEFAULT_SEED
  const ggm: GgmHyperInput = { ...(o.ggm ?? {}), seed, ...(ds.missing ? { missing: true } : {}) }
  const table: DetectionRow[] = []
  const add = (method: string, r: MethodResult, note: string): void => {
    table.push({ method, roc: r.roc, pr: r.pr, note })
    log(`${ds.name}: ${method} ROC-AUC ${r.roc.toFixed(3)} PR-AUC ${r.pr.toFixed(3)} ${note}`)
  }
  const locals: { model: GgmModel; transform: (X: Mat) => Mat }[] = []
  for (const part of ds.parts) locals.push(await fitLocalOnly(part, ggm))
  const local = evaluatePerNode(ds, (s, X) => locals[s].model.score(locals[s].transform(X)))
  add('local-only (GGM)', local, 'mean over nodes')
  const nodes = await fitExact(ds.parts, ggm)
  add('CollabDict GGM', evaluatePerNode(ds, (s, X) => nodes[s].score(X)), `K ${nodes[0].K}, rho ${nodes[0].rho}, ${nodes[0].iteration} iterations`)
  if (o.vae !== false) {
    const vae = await vaeNodes(ds, o.vae ?? {}, seed)
    const v = vae[0]
    add('CollabDict VAE', evaluatePerNode(ds, (s, X) => vae[s].score(X)), `${v.iteration} iterations, stopped by ${v.stopReason ?? 'none'}`)
  }
  const pooled = await fitCentralised(ds.pooled, ggm)
  add('pooled GGM', evaluatePerNode(ds, (_s, X) => pooled.score(X)), `K ${pooled.K}, rho ${pooled.rho}`)
  const epsilon = o.epsilon ?? DETECTION_EPSILON
  add(`DP release (eps ${epsilon})`, await dpRelease(ds, epsilon, seed), `delta ${DELTA}`)
  const effect = weightsEffect(ds, nodes)
  return {
    dataset: ds.name,
    file: ds.file,
    S: ds.S,
    rows: ds.features.rows,
    dims: ds.features.cols,
    trainRows: ds.pooled.rows,
    testNormal: ds.split.testNormalAll.length,
    anomalies: ds.split.anomalies.length,
    table,
    weightNotes: effect.lines,
    ownMinusShared: effect.diff,
    K: nodes[0].K,
    rho: nodes[0].rho,
    localOnlyPerNode: local.rocPerNode,
    seconds: (performance.now() - t0) / 1000,
  }
}

/** Load a CSV and run the protocol. */
export async function evaluateFile(file: string, labelCol: string, o: DetectionOptions = {}): Promise<DetectionResult> {
  const ds = prepareAnomalyFile(file, labelCol, { seed: o.seed, nodes: o.nodes ?? DETECTION_NODES, testFraction: o.testFraction, missing: o.missing })
  return runDetection(ds, o)
}

/** The printed table. */
export function formatDetection(r: DetectionResult): string {
  const w = Math.max(...r.table.map((t) => t.method.length), 6)
  const lines = [
    `${r.file}: ${r.rows} rows x ${r.dims} features; S = ${r.S} organisations (non-iid), ${r.trainRows} training rows; test: ${r.testNormal} normal + ${r.anomalies} anomalies`,
    `${'method'.padEnd(w)}  ROC-AUC  PR-AUC`,
    ...r.table.map((t) => `${t.method.padEnd(w)}  ${t.roc.toFixed(3).padStart(7)}  ${t.pr.toFixed(3).padStart(6)}  ${t.note}`),
  ]
  const hurt = r.ownMinusShared.filter((d) => d < -HURT).length
  lines.push(`own weights pi^s: ${hurt} of ${r.S} nodes score better with the network's weights (by > 0.005 ROC-AUC)`)
  lines.push(...r.weightNotes)
  return lines.join('\n')
}

interface SklearnGolden {
  sets: Record<string, { gmm: { roc: number; pr: number; K: number }; iforest: { roc: number; pr: number }; lof: { roc: number; pr: number } }>
}

/** README table: CollabDict GGM (defaults) vs scikit-learn GMM / IsolationForest (pooled) vs mean local-only. */
export function readmeTable(results: readonly DetectionResult[], golden: SklearnGolden): string {
  const get = (r: DetectionResult, m: string): DetectionRow => r.table.find((t) => t.method.startsWith(m))!
  const lines = [
    '| dataset | S | local-only (mean) | CollabDict GGM (K, rho) | CollabDict VAE | pooled GGM | DP release eps 4 | sklearn GMM (K by BIC) | sklearn IForest | GGM >= GMM - 0.01 | GGM > local |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  for (const r of results) {
    const g = golden.sets[r.dataset]
    const ggm = get(r, 'CollabDict GGM')
    const vae = r.table.find((t) => t.method === 'CollabDict VAE')
    const local = get(r, 'local-only')
    lines.push(
      `| ${r.dataset} | ${r.S} | ${local.roc.toFixed(3)} | ${ggm.roc.toFixed(3)} (${r.K}, ${r.rho}) | ${vae ? vae.roc.toFixed(3) : '-'} | ${get(r, 'pooled').roc.toFixed(3)} | ${get(r, 'DP release').roc.toFixed(3)} | ` +
        `${g ? `${g.gmm.roc.toFixed(3)} (${g.gmm.K})` : '-'} | ${g ? g.iforest.roc.toFixed(3) : '-'} | ${g ? (ggm.roc >= g.gmm.roc - 0.01 ? 'yes' : 'no') : '-'} | ${ggm.roc > local.roc ? 'yes' : 'no'} |`,
    )
  }
  return lines.join('\n')
}

async function main(argv: string[]): Promise<void> {
  const at = argv.indexOf('--datasets')
  const names = at >= 0 ? argv[at + 1].split(',') : [...DATASETS]
  const noVae = argv.includes('--no-vae')
  const out = 'reports/detection/detection.json'
  const results: DetectionResult[] = []
  for (const name of names) {
    const r = await evaluateFile(`data/ad_${name}.csv`, 'anomaly', { vae: noVae ? false : undefined, missing: KNOWN_MISSING[name], log: (l) => console.error(l) })
    console.log(formatDetection(r))
    console.log(`(${r.seconds.toFixed(0)} s)\n`)
    results.push(r)
  }
  const goldenPath = 'test/golden/detection_sklearn.json'
  const golden = existsSync(goldenPath) ? (JSON.parse(readFileSync(goldenPath, 'utf8')) as SklearnGolden) : { sets: {} }
  const table = readmeTable(results, golden)
  console.log(table)
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, JSON.stringify({ command: `npx tsx sim/experiments/detection.ts ${argv.join(' ')}`.trim(), results, table }, null, 2))
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2))
}
