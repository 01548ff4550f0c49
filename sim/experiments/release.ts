/**
 * The network's DP release on the public anomaly datasets (the protocol of
 * sim/experiments/anomaly.ts: S organisations, non-iid split of the normal rows, 30 % held
 * out, every node scores the pooled test set):
 *
 * 1. release on vs off: the same network trained with the release enabled and disabled
 *    (same secret streams): ROC-AUC of the nodes' own models, both ways.
 * 2. the privacy-utility curve: ROC-AUC and PR-AUC of the one released model at network
 *    epsilon in {0.5, 1, 2, 4, 8} (delta 1e-5), mean over noise draws, next to the
 *    non-private CollabDict model. The release runs over the S members with their
 *    distributed noise shares (exact sums stand in for consensus: the sums are the same).
 *
 * Public bounds: the published table's min..max per feature (a stand-in for a data
 * dictionary; breastw's 1..10 is its documented range).
 *
 *   npx tsx sim/experiments/release.ts [--data breastw,pima] [--draws 3] [--out reports/privacy/release]
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Command } from 'commander'
import { numberFlag, parseOrExit } from '../../cli/errors.js'
import { parseTrainingConfig, type TrainingConfig } from '../../src/learning/config.js'
import { createExactAggregator } from '../../src/learning/exact.js'
import { createNodeModel } from '../../src/learning/models.js'
import { runNetwork } from '../../src/learning/network.js'
import { createLedger } from '../../src/learning/privacy.js'
import { releaseSettings, runGgmRelease } from '../../src/learning/release.js'
import type { Mat } from '../../src/numeric/matrix.js'
import { SecretRng } from '../../src/numeric/secret-rng.js'
import { scoreReleasedGgm } from '../../src/privacy/ggm-release.js'
import { PrivacyLedger } from '../../src/privacy/ledger.js'
import { createReleaser } from '../../src/learning/privacy.js'
import { lineChartSpec, renderSvg } from '../charts.js'
import { htmlReport, reportJson } from '../report.js'
import { DATASETS, EXPERIMENT_HYPER, evaluatePerNode, prepareAnomalyDataset, tableBounds, type AnomalyDataset } from './anomaly.js'

export const EPSILONS = [0.5, 1, 2, 4, 8]
const DELTA = 1e-5

export interface ReleaseRow {
  dataset: string
  S: number
  ownOff: number
  ownOn: number
  /** ROC-AUC / PR-AUC of the released model at each epsilon (mean over draws). */
  released: { epsilon: number; roc: number; pr: number; rocMin: number; rocMax: number }[]
}

/** Public per-feature range: the published table's min..max (breastw: its documented 1..10). */
function bounds(ds: AnomalyDataset): { lower: number[]; upper: number[] } {
  if (ds.name === 'breastw') return { lower: new Array<number>(ds.features.cols).fill(1), upper: new Array<number>(ds.features.cols).fill(10) }
  return tableBounds(ds)
}

function configFor(ds: AnomalyDataset, release: boolean, epsilon = 4): TrainingConfig {
  return parseTrainingConfig({
    model: { kind: 'ggm', hyper: { ...EXPERIMENT_HYPER } },
    seed: 11,
    maxIterations: 100,
    privacy: { monitor: false, budget: 1e6, release: release ? { enabled: true, epsilon, bounds: bounds(ds) } : { enabled: false } },
  })
}

async function train(ds: AnomalyDataset, release: boolean): Promise<number> {
  const config = configFor(ds, release)
  const net = await runNetwork({
    config,
    parts: ds.parts,
    noise: (s) => SecretRng.forSimulation(`release-exp/${ds.name}`, s).fork('learning'),
    aggregation: { kind: 'exact' },
    nodeParts: (s) => {
      const ledger = createLedger(config, `n${s}`)
      return { model: createNodeModel(config, { noise: SecretRng.forSimulation(`release-exp/${ds.name}`, s).fork('model') }), ledger, releaser: release ? createReleaser(config, ledger, { members: ds.S }) : undefined }
    },
  })
  return evaluatePerNode(ds, (s, X) => net.nodes[s].model.score(X)).roc
}

/** The network's release (S members, distributed noise, exact sums) at `epsilon`, noise draw `draw`. */
async function release(ds: AnomalyDataset, epsilon: number, draw: number): Promise<{ roc: number; pr: number }> {
  const config = configFor(ds, true, epsilon)
  const settings = releaseSettings(config, ds.features.cols)
  const agg = createExactAggregator(ds.S)
  const outs = await Promise.all(
    ds.parts.map((data: Mat, s) =>
      runGgmRelease({ settings, data, aggregate: agg.forNode(s), noise: SecretRng.forSimulation(`release-exp/${ds.name}/${epsilon}/${draw}`, s), members: ds.S, ledger: PrivacyLedger.inMemory({ nodeId: `n${s}`, delta: DELTA }), releaseId: 'exp' }),
    ),
  )
  const file = outs[0].released
  const r = evaluatePerNode(ds, (_s, X) => scoreReleasedGgm(file, X))
  return { roc: r.roc, pr: r.pr }
}

export async function runReleaseExperiment(datasets: readonly string[], draws: number, log: (s: string) => void = () => {}): Promise<ReleaseRow[]> {
  const rows: ReleaseRow[] = []
  for (const name of datasets) {
    const ds = prepareAnomalyDataset(name)
    log(`${name}: S = ${ds.S}, training with the release off and on`)
    const ownOff = await train(ds, false)
    const ownOn = await train(ds, true)
    const released: ReleaseRow['released'] = []
    for (const eps of EPSILONS) {
      const r = await Promise.all(Array.from({ length: draws }, (_, d) => release(ds, eps, d)))
      const rocs = r.map((x) => x.roc)
      released.push({ epsilon: eps, roc: rocs.reduce((a, b) => a + b, 0) / draws, pr: r.reduce((a, x) => a + x.pr, 0) / draws, rocMin: Math.min(...rocs), rocMax: Math.max(...rocs) })
      log(`${name}: epsilon ${eps}: release ROC-AUC ${released.at(-1)?.roc.toFixed(3)}`)
    }
    rows.push({ dataset: name, S: ds.S, ownOff, ownOn, released })
  }
  return rows
}

export function markdown(rows: readonly ReleaseRow[]): string {
  const f = (x: number): string => x.toFixed(3)
  const head = `| dataset | S | own model, release off | own model, release on | ${EPSILONS.map((e) => `release eps ${e}`).join(' | ')} |`
  const sep = `|${' --- |'.repeat(4 + EPSILONS.length)}`
  return [head, sep, ...rows.map((r) => `| ${r.dataset} | ${r.S} | ${f(r.ownOff)} | ${f(r.ownOn)} | ${r.released.map((x) => f(x.roc)).join(' | ')} |`)].join('\n')
}

async function main(): Promise<void> {
  const flags = parseOrExit<{ data: string; draws: number; out: string }>(
    new Command('release')
      .description('the network DP release on the public datasets: own models with the release on vs off, release ROC-AUC vs epsilon')
      .option('--data <names>', 'comma-separated ad_* datasets', DATASETS.join(','))
      .option('--draws <n>', 'noise draws per epsilon', numberFlag('--draws'), 3)
      .option('--out <dir>', 'report folder', 'reports/privacy/release'),
    process.argv.slice(2),
  )
  const rows = await runReleaseExperiment(flags.data.split(','), flags.draws, (s) => process.stderr.write(`${s}\n`))
  console.log(markdown(rows))
  mkdirSync(flags.out, { recursive: true })
  writeFileSync(join(flags.out, 'release.json'), reportJson({ delta: DELTA, epsilons: EPSILONS, draws: flags.draws, rows }))
  const chart = await renderSvg(
    lineChartSpec(
      rows.map((r) => ({ name: `${r.dataset} (non-private ${r.ownOff.toFixed(3)})`, points: r.released.map((x) => ({ x: x.epsilon, y: x.roc })) })),
      { title: 'ROC-AUC of the network release vs epsilon', subtitle: `delta 1e-5, mean of ${flags.draws} noise draws; S organisations, non-iid`, xTitle: 'network epsilon of the release', yTitle: 'ROC-AUC of the released model', logX: true },
    ),
  )
  writeFileSync(join(flags.out, 'release.html'), htmlReport('CollabDict: the network DP release on the public datasets', [{ heading: 'Privacy-utility curve', svg: chart }, { heading: 'Table', text: markdown(rows) }]))
  console.log(`\nwrote ${join(flags.out, 'release.json')} and release.html`)
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
