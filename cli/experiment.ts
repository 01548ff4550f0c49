/**
 * `collab experiment ...`: the companion papers' experiments regenerated on collabdict's
 * network with the decentralised classifier (sim/experiments/classifier/):
 *
 *   collab experiment global-dp     [--quick] [--json] [--out DIR] [--seeds N] [--transport exact|memory]
 *   collab experiment imbalance-dp  (same options)
 *   collab experiment ldp-vs-dpsgd  (same options)
 *
 * Each writes DIR/report.json and DIR/report.html (default reports/experiments/NAME) and
 * prints its tables (markdown), or with --json the report JSON. --quick runs a reduced
 * grid (one seed, short training) for tests.
 */
import { InvalidArgumentError, Option, type Command } from 'commander'
import { join } from 'node:path'
import { reportJson } from '../sim/report.js'
import type { ExperimentOptions, Transport } from '../sim/experiments/classifier/common.js'
import { globalDpReport, runGlobalDp } from '../sim/experiments/classifier/global-dp.js'
import { imbalanceReport, runImbalanceDp } from '../sim/experiments/classifier/imbalance-dp.js'
import { ldpReport, runLdpVsDpSgd } from '../sim/experiments/classifier/ldp-vs-dpsgd.js'

interface Flags {
  quick?: boolean
  json?: boolean
  out?: string
  seeds?: number
  transport: Transport
}

function positiveInt(flag: string) {
  return (v: string): number => {
    const x = Number(v)
    if (!Number.isInteger(x) || x < 1) throw new InvalidArgumentError(`${flag} must be a whole number >= 1`)
    return x
  }
}

interface Experiment<R extends { tables: Record<string, string>; wallSeconds: number }> {
  name: string
  description: string
  run: (o: ExperimentOptions) => Promise<R>
  report: (r: R, dir: string) => Promise<{ json: string; html: string }>
}

function register<R extends { tables: Record<string, string>; wallSeconds: number }>(group: Command, e: Experiment<R>): void {
  group
    .command(e.name)
    .description(e.description)
    .option('--quick', 'reduced grid: one seed, short training (under a minute; for tests)')
    .option('--json', 'print the report JSON on stdout instead of the tables')
    .option('--out <dir>', `report folder (default reports/experiments/${e.name})`)
    .option('--seeds <n>', 'number of seeded splits (default: the experiment\'s)', positiveInt('--seeds'))
    .addOption(new Option('--transport <t>', 'network sums: exact, or dynamical consensus on an in-memory network (slower)').choices(['exact', 'memory']).default('exact'))
    .action(async (f: Flags) => {
      const log = (line: string): void => {
        process.stderr.write(`${line}\n`)
      }
      const r = await e.run({ quick: f.quick === true, seeds: f.seeds, transport: f.transport, log })
      const files = await e.report(r, f.out ?? join('reports', 'experiments', e.name))
      if (f.json) {
        process.stdout.write(reportJson(r))
        return
      }
      for (const [name, md] of Object.entries(r.tables)) process.stdout.write(`\n### ${name}\n\n${md}\n`)
      process.stdout.write(`\n${e.name}: ${r.wallSeconds.toFixed(1)} s; report ${files.html} (JSON ${files.json})\n`)
    })
}

export function registerExperimentCommands(program: Command): void {
  const group = program.command('experiment').description("the companion papers' experiments on collabdict's network (decentralised classifier): JSON + HTML report")
  register(group, {
    name: 'global-dp',
    description: 'global-DP paper (Letafati & Otoum): linear SVM on Breast Cancer Wisconsin, mix-up noise; accuracy and loss vs epsilon for V in {5, 10, 20}, accuracy vs rounds at epsilon 25',
    run: runGlobalDp,
    report: globalDpReport,
  })
  register(group, {
    name: 'imbalance-dp',
    description: 'imbalanced-DP paper: DP-SGD MLPs on Pima and WDBC; per-class precision, recall, specificity, F1, G-mean, IBA, non-private and epsilon in {8, 2, 1}',
    run: runImbalanceDp,
    report: imbalanceReport,
  })
  register(group, {
    name: 'ldp-vs-dpsgd',
    description: 'local-DP benchmark: Laplace perturbation of the inputs vs DP-SGD at the same beta, on the medical tables',
    run: runLdpVsDpSgd,
    report: ldpReport,
  })
}
