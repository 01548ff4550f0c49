/**
 * Trainings that finish (issue 15): wall time of every dataset in data/ at S = 10, both
 * models the product ships, as a network runs them: `collab sim` (in-memory transport,
 * random 3-regular overlay, Chebyshev consensus at 1e-9), the l-diversity monitor on and,
 * for the GGM, the DP release at the end (epsilon 4; public bounds: the table's min..max).
 *
 *   GGM   model defaults (K 'auto': the network chooses K and rho, then trains to convergence)
 *   VAE   model defaults (Adam, early stopping on the network's validation ELBO)
 *
 * One row per dataset x model: wall seconds (training, release and scoring; the local-only
 * and pooled baselines are off), iterations, converged (the model's own stopping rule, not
 * the cap), stop reason, ROC-AUC (mean over nodes of the CollabDict models).
 *
 *   npx tsx sim/experiments/timing.ts [--datasets breastw,shuttle] [--models ggm,vae] [--ggm '{"K":2,"rho":5}'] [--out reports/timing/timing.json]
 *
 * The three raw tables in data/ hold string labels, an Id column and missing cells, which the
 * data policy refuses (README "Data policy"); they are written once to reports/timing/ as
 * the organisations would prepare them (label 0/1, Id dropped, incomplete rows dropped).
 */
import '../../src/polyfills.js'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { pathToFileURL } from 'node:url'
import { loadCsv } from '../../src/data/csv.js'
import { parseScenario, type ScenarioInput } from '../scenario.js'
import { runScenario } from '../run.js'
import { tableRange } from '../run-common.js'

export interface TimingCase {
  name: string
  path: string
  labelCol: string
  positive?: 0 | 1
  dropCols?: string[]
}

const OUT_DIR = 'reports/timing'

/** The raw tables, prepared as an organisation would before joining (0/1 label, no Id, complete rows). */
function prepareRaw(): TimingCase[] {
  mkdirSync(OUT_DIR, { recursive: true })
  const write = (file: string, header: string[], rows: string[][]): string => {
    const path = `${OUT_DIR}/${file}`
    writeFileSync(path, [header.join(','), ...rows.map((r) => r.join(','))].join('\n') + '\n')
    return path
  }
  const read = (file: string): { header: string[]; rows: string[][] } => {
    const lines = readFileSync(file, 'utf8').trim().split('\n')
    const split = (l: string): string[] => l.split(',').map((c) => c.replace(/^"|"$/g, ''))
    return { header: split(lines[0]), rows: lines.slice(1).map(split) }
  }
  const bcw = read('data/breast_cancer_wisconsin_original.csv')
  const bcwRows = bcw.rows.filter((r) => !r.includes('NA') && !r.includes('')).map((r) => [...r.slice(1, -1), r.at(-1) === 'malignant' ? '1' : '0'])
  const pima = read('data/pima_indians_diabetes.csv')
  const pimaRows = pima.rows.map((r) => [...r.slice(0, -1), r.at(-1) === 'pos' ? '1' : '0'])
  return [
    { name: 'bcw-original', path: write('bcw_original.csv', [...bcw.header.slice(1, -1), 'anomaly'], bcwRows), labelCol: 'anomaly' },
    { name: 'pima-raw', path: write('pima_raw.csv', [...pima.header.slice(0, -1), 'anomaly'], pimaRows), labelCol: 'anomaly' },
    // WDBC: malignant (target 0) are the anomalies, as in sim/scenarios/imbalance-wdbc.yaml
    { name: 'wdbc', path: 'data/wdbc_sklearn.csv', labelCol: 'target', positive: 0, dropCols: ['diagnosis'] },
  ]
}

export const AD_SETS = ['breastw', 'newthyroid', 'pima', 'satellite', 'shuttle'] as const

function bounds(c: TimingCase): { lower: number[]; upper: number[] } {
  return tableRange(loadCsv(c.path, { labelCol: c.labelCol, dropCols: c.dropCols }).features)
}

/** The scenario of one timing row. */
export function timingScenario(c: TimingCase, model: 'ggm' | 'vae', nodes = 10, hyper: Record<string, unknown> = {}): ScenarioInput {
  return {
    name: `timing-${c.name}-${model}`,
    seed: 1,
    dataset: {
      path: c.path,
      labelCol: c.labelCol,
      positive: c.positive ?? 1,
      dropCols: c.dropCols ?? [],
      split: { kind: 'non-iid' },
      testFraction: 0.3,
    },
    nodes,
    topology: { kind: 'regular', degree: 3, seed: 1 },
    transport: 'memory',
    training: {
      model: { kind: model, hyper },
      seed: 7,
      consensus: { scheme: 'chebyshev', tol: 1e-9, chunks: 1 },
      privacy: {
        monitor: true,
        l0: 2,
        release: { enabled: model === 'ggm', epsilon: 4, bounds: bounds(c) },
        budget: 30,
      },
    },
    evaluate: { local: false, centralised: false },
  }
}

export interface TimingRow {
  dataset: string
  model: string
  seconds: number
  /** CPU time of this process (the machine is shared: wall time depends on the load). */
  cpuSeconds: number
  iterations: number
  converged: boolean
  stopReason: string | null
  roc: number
  K: number | null
  rho: number | null
}

async function main(argv: string[]): Promise<void> {
  const arg = (f: string): string | undefined => (argv.includes(f) ? argv[argv.indexOf(f) + 1] : undefined)
  const pick = arg('--datasets')?.split(',')
  const models = (arg('--models') ?? 'ggm,vae').split(',') as ('ggm' | 'vae')[]
  const out = arg('--out') ?? `${OUT_DIR}/timing.json`
  // --ggm '{"K":2,"rho":5}': GGM hyper-parameters instead of the defaults (e.g. the earlier fixed K 2, rho 5)
  const ggmHyper = JSON.parse(arg('--ggm') ?? '{}') as Record<string, unknown>
  const cases: TimingCase[] = [...AD_SETS.map((n) => ({ name: n, path: `data/ad_${n}.csv`, labelCol: 'anomaly' })), ...prepareRaw()]
  const rows: TimingRow[] = []
  for (const c of cases.filter((x) => pick === undefined || pick.includes(x.name))) {
    for (const model of models) {
      const sc = parseScenario(timingScenario(c, model, 10, model === 'ggm' ? ggmHyper : {}))
      const t0 = performance.now()
      const c0 = process.cpuUsage()
      const r = await runScenario(sc)
      const seconds = (performance.now() - t0) / 1000
      const c1 = process.cpuUsage(c0)
      const cpuSeconds = (c1.user + c1.system) / 1e6
      const o = r.report.outcome
      const m0 = r.models.find((m) => m !== null) as { K?: number; rho?: number; stopReason?: string | null } | undefined
      const row: TimingRow = {
        dataset: c.name,
        model,
        seconds,
        cpuSeconds,
        iterations: o.iterations,
        converged: o.converged && m0?.stopReason !== 'maxIter',
        stopReason: m0?.stopReason ?? o.stopReason,
        roc: r.report.auc.collab.rocAuc,
        K: model === 'ggm' ? (m0?.K ?? null) : null,
        rho: model === 'ggm' ? (m0?.rho ?? null) : null,
      }
      rows.push(row)
      console.error(JSON.stringify(row))
    }
  }
  const lines = ['| dataset | model | wall s | CPU s | iterations | converged (stop) | ROC-AUC |', '|---|---|---|---|---|---|---|']
  for (const r of rows) {
    const km = r.K === null ? '' : ` (K ${r.K}, rho ${r.rho})`
    lines.push(`| ${r.dataset} | ${r.model}${km} | ${r.seconds.toFixed(1)} | ${r.cpuSeconds.toFixed(1)} | ${r.iterations} | ${r.converged ? 'yes' : 'no'} (${r.stopReason ?? '-'}) | ${r.roc.toFixed(3)} |`)
  }
  console.log(lines.join('\n'))
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, JSON.stringify({ command: `npx tsx sim/experiments/timing.ts ${argv.join(' ')}`.trim(), rows, table: lines.join('\n') }, null, 2))
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2))
}
