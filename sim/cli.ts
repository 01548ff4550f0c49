/**
 * `collab sim`, `collab fit` and `collab demo`: the simulator's command line. The
 * composition root of the simulated network lives in sim/run.ts; this file only turns
 * flags and scenario files into a validated Scenario, shows progress and prints results.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Command, InvalidArgumentError, Option } from 'commander'
import cliProgress from 'cli-progress'
import { SCHEMES } from '../src/consensus/weights.js'
import { loadCsv, MISSING_FLAG_HELP, missingFromFlag } from '../src/data/index.js'
import { parseTrainingConfig } from '../src/learning/config.js'
import { withLabels } from '../src/models/classifier/index.js'
import { jsonObjectFlag } from '../cli/errors.js'
import { selectRows } from '../src/numeric/matrix.js'
import { compareReports, reportJson, writeRunReport, writeSweepReport } from './report.js'
import { runScenario, type Progress, type SimReport } from './run.js'
import { SCENARIO_DIR, parseScenario, resolveScenario, setPath, type Scenario } from './scenario.js'
import { runSweep } from './sweep.js'
import { fitInProcess } from './fit.js'
import { describeSummary } from './evaluate.js'

/**
 * Shows training progress: a bar on a terminal, plain lines otherwise (logs, CI). The start
 * and the release show the network sum the nodes are in (at S = 10,000 the start alone takes
 * minutes before iteration 1); as plain lines at most one per `stepEveryMs` of each phase.
 */
export class ProgressView {
  private bar: cliProgress.SingleBar | null = null
  private lastLine = -1
  private lastPhase: Progress['phase'] | null = null
  private lastStepAt = Number.NEGATIVE_INFINITY
  constructor(
    private readonly tty: boolean = Boolean(process.stderr.isTTY),
    private readonly write: (line: string) => void = (line) => process.stderr.write(line),
    private readonly now: () => number = () => performance.now(),
    private readonly stepEveryMs = 2000,
  ) {}
  update(p: Progress): void {
    const obj = p.objective === null ? '-' : p.objective.toFixed(5)
    const step = p.step === undefined ? '' : `network sum ${p.sessions ?? '?'} (${p.step.replace(/^(prepare|release):/, '')})`
    if (this.tty) {
      const phase = step === '' ? p.phase : `${p.phase}: ${step}`
      if (this.bar === null) {
        this.bar = new cliProgress.SingleBar(
          { format: 'training [{bar}] {value}/{total} iterations | objective {objective} | {phase}', stream: process.stderr, hideCursor: true },
          cliProgress.Presets.shades_classic,
        )
        this.bar.start(p.maxIterations, 0, { objective: obj, phase })
      }
      this.bar.update(Math.min(p.iteration, p.maxIterations), { objective: obj, phase })
      if (p.phase === 'done') this.stop()
      return
    }
    const samePhase = p.phase === this.lastPhase
    this.lastPhase = p.phase
    if (p.phase === 'prepare' || p.phase === 'release') {
      const t = this.now()
      if (samePhase && t - this.lastStepAt < this.stepEveryMs) return
      this.lastStepAt = t
      this.write(`${p.phase}: ${step}\n`)
    } else if (p.phase === 'train') {
      if (p.iteration === this.lastLine) return
      this.lastLine = p.iteration
      this.write(`iteration ${p.iteration}/${p.maxIterations} objective ${obj}\n`)
    } else {
      this.write(`${p.phase === 'evaluate' ? 'evaluating local, collaborative and centralised models' : 'done'}\n`)
    }
  }
  stop(): void {
    this.bar?.stop()
    this.bar = null
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}

function num(flag: string) {
  return (v: string): number => {
    const x = Number(v)
    if (v.trim() === '' || !Number.isFinite(x)) throw new InvalidArgumentError(`${flag} must be a number`)
    return x
  }
}

interface SimFlags {
  scenario?: string
  list?: boolean
  out?: string
  json?: boolean
  data?: string
  labelCol?: string
  nodes?: number
  split?: string
  topology?: string
  degree?: number
  model?: string
  k?: number
  rho?: number
  scheme?: string
  tol?: number
  chunks?: number
  protection?: string
  noiseSeed?: string
  timeoutMs?: number
  transport?: string
  loss?: number
  latencyMs?: number
  crash: string[]
  seed?: number
  maxIterations?: number
  monitor?: boolean
  release?: boolean
  l0?: number
  evalNodes?: number
  local?: boolean
  workers?: number
}

/** A scenario from --scenario (or defaults) with the flags applied on top. */
export function scenarioFromFlags(f: SimFlags): Scenario {
  const base: Record<string, unknown> = f.scenario
    ? (JSON.parse(JSON.stringify(resolveScenario(f.scenario))) as Record<string, unknown>)
    : { name: 'custom', dataset: { path: 'data/ad_breastw.csv' }, nodes: 31, training: { model: { kind: 'ggm' }, seed: 1 } }
  const set = (path: string, v: unknown): void => {
    if (v !== undefined) setPath(base, path, v)
  }
  set('dataset.path', f.data)
  set('dataset.labelCol', f.labelCol)
  set('nodes', f.nodes)
  set('dataset.split.kind', f.split)
  if (f.topology !== undefined) {
    base.topology = f.topology.endsWith('.json') ? { file: f.topology } : { kind: f.topology, ...(f.degree !== undefined ? { degree: f.degree } : {}) }
  }
  if (f.model !== undefined && f.model !== resolveModelKind(base)) {
    // Another model kind: the scenario's hyper-parameters belong to the old one.
    set('training.model', { kind: f.model, hyper: {} })
  }
  set('training.model.hyper.K', f.k)
  set('training.model.hyper.rho', f.rho)
  set('training.consensus.scheme', f.scheme)
  set('training.consensus.tol', f.tol)
  set('training.consensus.chunks', f.chunks)
  set('training.consensus.protection', f.protection)
  set('noiseSeed', f.noiseSeed)
  set('training.consensus.timeoutMs', f.timeoutMs)
  set('transport', f.transport)
  set('faults.loss', f.loss)
  if (f.latencyMs !== undefined) set('faults.latency', { kind: 'fixed', ms: f.latencyMs })
  if (f.crash.length > 0) {
    set(
      'faults.crashes',
      f.crash.map((c) => {
        const m = /^(\d+)@(\d+)(?::(\d+))?$/.exec(c)
        if (!m) throw new InvalidArgumentError(`--crash '${c}': expected NODE@ITERATION or NODE@ITERATION:RESTART_ITERATION, e.g. 3@2:5`)
        return { node: Number(m[1]), atIteration: Number(m[2]), ...(m[3] !== undefined ? { restartAtIteration: Number(m[3]) } : {}) }
      }),
    )
  }
  set('seed', f.seed)
  set('training.maxIterations', f.maxIterations)
  if (f.monitor === false) set('training.privacy.monitor', false)
  if (f.release === false) set('training.privacy.release.enabled', false)
  set('training.privacy.l0', f.l0)
  set('evaluate.maxNodes', f.evalNodes)
  if (f.local === false) set('evaluate.local', false)
  set('workers', f.workers)
  return parseScenario(base, f.scenario ?? 'command line')
}

function resolveModelKind(o: Record<string, unknown>): string | undefined {
  const t = o.training as { model?: { kind?: string } } | undefined
  return t?.model?.kind
}

export function namedScenarios(): string[] {
  try {
    return readdirSync(SCENARIO_DIR)
      .filter((f) => /\.(ya?ml|json)$/.test(f))
      .map((f) => f.replace(/\.(ya?ml|json)$/, ''))
      .sort()
  } catch {
    return []
  }
}

function outDir(sc: Scenario, out?: string): string {
  return resolve(out ?? sc.output ?? join('reports', 'sim', sc.name))
}

function f3(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(3)
}

/** The short summary `collab demo` and `collab sim` print. */
export function summaryText(r: SimReport, wallMs: number, reportPath: string): string {
  const o = r.outcome
  const topo = 'file' in r.scenario.topology ? r.scenario.topology.file : r.scenario.topology.kind
  const rounds = r.iterations.map((i) => i.rounds).filter((x) => x > 0)
  const lines = [
    `CollabDict: ${r.topology.nodes} organisations on '${topo}' (${r.topology.edges} edges), ${r.scenario.training.model.kind.toUpperCase()} on ${r.data.source} (${r.scenario.transport} transport)`,
    `  outcome    ${o.status}${o.reason ? ` (${o.reason})` : ''}; ${o.converged ? 'converged' : 'not converged'} after ${o.iterations} iterations`,
    r.scenario.training.consensus.protection === 'shamir'
      ? `  consensus  Shamir secure sums (threshold ${r.scenario.training.consensus.shamirThreshold ?? Math.floor(r.topology.nodes / 2) + 1} of ${r.topology.nodes}), ${r.consensus.sessions} sessions, ${(r.consensus.bytesPerNode.mean / 1e6).toFixed(2)} MB sent per node`
      : `  consensus  ${r.topology.scheme}, ${rounds.length ? Math.round(rounds.reduce((a, b) => a + b, 0) / rounds.length) : 0} rounds per session (predicted ${r.topology.predictedRounds}), ${r.scenario.training.consensus.chunks} chunks, ${r.consensus.roundsTotal} rounds in all, ${(r.consensus.bytesPerNode.mean / 1e6).toFixed(2)} MB sent per node`,
    `  time       ${(wallMs / 1000).toFixed(1)} s wall${o.virtualMs > 0 ? `, ${(o.virtualMs / 1000).toFixed(1)} s simulated network time` : ' (no network latency simulated)'}`,
    `  ROC-AUC    local ${f3(r.auc.local?.rocAuc)} | CollabDict ${f3(r.auc.collab.rocAuc)} | DP release ${f3(r.auc.released?.rocAuc)} | centralised ${f3(r.auc.centralised?.rocAuc)}`,
    `  PR-AUC     local ${f3(r.auc.local?.prAuc)} | CollabDict ${f3(r.auc.collab.prAuc)} | DP release ${f3(r.auc.released?.prAuc)} | centralised ${f3(r.auc.centralised?.prAuc)}`,
    // counts (and reasons) behind each mean: a baseline that failed on some nodes is never hidden
    `  evaluated  local ${describeSummary(r.auc.local)} | CollabDict ${describeSummary(r.auc.collab)}${r.auc.released ? ` | DP release ${describeSummary(r.auc.released)}` : ''}${r.auc.centralised ? ` | centralised ${describeSummary(r.auc.centralised)}` : ''}`,
    `  privacy    ${r.privacy.released ? `one release for the network at (${f3(r.privacy.released.epsilon)}, ${r.privacy.released.delta})-DP, ${r.privacy.released.identicalFiles ? 'the same file on' : 'DIFFERENT files on'} ${r.privacy.released.nodes} nodes, ledgers spent ${f3(r.privacy.spent?.epsilon)}` : r.privacy.release ? 'release refused' : 'no release'}; l-diversity ${r.privacy.monitor ? `min exp(H) ${f3(r.privacy.minEntropy === null ? null : Math.exp(r.privacy.minEntropy))} vs l0 ${r.privacy.l0}, ${r.privacy.exposedNodes} of ${r.topology.nodes} nodes exposed, ${r.privacy.perturbations} perturbed contributions` : 'monitor off'}`,
  ]
  if (r.data.pinned.length > 0) {
    lines.push(`  data       ${r.data.pinned.length} feature(s) constant on every node's training rows, pinned (scored as deviations from their value): ${r.data.pinned.join(', ')}`)
  }
  if (r.data.missing !== undefined) {
    const m = Object.entries(r.data.missing)
    lines.push(`  data       missing values (fitted on the observed entries): ${m.length === 0 ? 'none in the file' : m.map(([c, n]) => `${c} ${n}`).join(', ')} of ${r.data.rows} rows`)
  }
  if (r.consensus.reruns.length > 0) {
    lines.push(`  faults     ${r.consensus.reruns.length} sessions rerun: ${r.consensus.reruns.slice(0, 5).map((x) => `${x.label} without ${x.excluded.join(',')}`).join('; ')}${r.consensus.reruns.length > 5 ? '; ...' : ''}`)
  }
  lines.push(`  report     ${reportPath}`)
  return lines.join('\n')
}

async function runAndReport(sc: Scenario, opts: { out?: string; json?: boolean }): Promise<void> {
  const dir = outDir(sc, opts.out)
  const view = new ProgressView()
  try {
    if (sc.sweep !== undefined || sc.cases !== undefined) {
      const res = await runSweep(sc, {
        onVariant: (p) => {
          view.stop()
          process.stderr.write(`[${p.variant}/${p.variants}] ${p.label}\n`)
        },
        onProgress: (p) => view.update(p),
      })
      view.stop()
      const files = await writeSweepReport(dir, res.sweep, res.plots, res.columns)
      if (opts.json) process.stdout.write(reportJson(res.sweep))
      else process.stdout.write(`${readFileSync(files.markdown, 'utf8')}\nsweep of ${res.sweep.rows.length} runs in ${(res.wallMs / 1000).toFixed(1)} s; report ${files.html}\n`)
      return
    }
    const res = await runScenario(sc, { onProgress: (p) => view.update(p) })
    view.stop()
    const files = await writeRunReport(dir, res.report)
    writeFileSync(join(dir, 'timing.json'), JSON.stringify({ wallMs: Math.round(res.wallMs) }) + '\n')
    if (opts.json) process.stdout.write(reportJson(res.report))
    else process.stdout.write(summaryText(res.report, res.wallMs, files.html) + '\n')
    if (res.report.outcome.status !== 'completed') process.exitCode = 2
  } finally {
    view.stop()
  }
}


export function registerSimCommands(program: Command): void {
  program
    .command('sim')
    .description('simulate a CollabDict network in this process (scenario file or flags) and write a report (JSON + HTML/SVG)')
    .option('--scenario <name|file>', `named scenario (sim/scenarios/NAME.yaml) or a YAML/JSON file`)
    .option('--list', 'list the named scenarios')
    .option('--out <dir>', 'report folder (default reports/sim/NAME)')
    .option('--json', 'print the report JSON on stdout instead of the summary')
    .option('--data <file.csv>', 'dataset (CSV with a header row)')
    .option('--label-col <name>', 'anomaly label column (1 = anomaly)')
    .option('--nodes <S>', 'number of organisations', num('--nodes'))
    .addOption(new Option('--split <kind>', 'how rows are spread over nodes').choices(['iid', 'uneven', 'non-iid']))
    .option('--topology <kind|file.json>', 'cwic | regular | mgg | ring | torus | complete, or a topology file')
    .option('--degree <d>', 'degree of a random regular topology', num('--degree'))
    .addOption(new Option('--model <kind>', 'model').choices(['ggm', 'vae', 'classifier']))
    .option('--k <K>', 'GGM: initial number of components', num('--k'))
    .option('--rho <rho>', 'GGM: l1 penalty', num('--rho'))
    .addOption(new Option('--scheme <scheme>', 'consensus weights').choices([...SCHEMES]))
    .option('--tol <tol>', 'consensus relative tolerance', num('--tol'))
    .option('--chunks <C>', 'random chunks per consensus (eq. 6)', num('--chunks'))
    .addOption(new Option('--protection <p>', 'how contributions are hidden: random chunks over consensus, or Shamir secure sums').choices(['chunking', 'shamir']))
    .option('--noise-seed <s>', "seed of the simulator's per-node secret noise streams (replay a run; default derived from --seed)")
    .option('--timeout-ms <ms>', 'silence after which a neighbour is excluded (raise it for libp2p on a busy machine)', num('--timeout-ms'))
    .addOption(new Option('--transport <t>', 'exact sums, in-memory consensus, or libp2p on loopback').choices(['exact', 'memory', 'libp2p']))
    .option('--loss <p>', 'probability that a frame is lost', num('--loss'))
    .option('--latency-ms <ms>', 'fixed per-frame latency', num('--latency-ms'))
    .option('--crash <node@iter[:restart]>', 'crash a node at an iteration (repeatable), optionally restarting it', collect, [])
    .option('--seed <n>', 'seed of the split and the network', num('--seed'))
    .option('--max-iterations <n>', 'iteration cap', num('--max-iterations'))
    .option('--no-monitor', 'turn the l-diversity monitor off')
    .option('--no-release', 'do not release a DP model')
    .option('--l0 <l0>', 'l-diversity level', num('--l0'))
    .option('--eval-nodes <n>', 'evaluate at most n nodes (large networks)', num('--eval-nodes'))
    .option('--no-local', 'skip the local-only baseline')
    .option('--workers <n>', 'spread the nodes over n worker threads (in-memory transport, no faults; same report as 1)', num('--workers'))
    .action(async (f: SimFlags) => {
      if (f.list) {
        for (const n of namedScenarios()) {
          const sc = resolveScenario(n)
          process.stdout.write(`${n.padEnd(24)} ${sc.description.split('\n')[0]}\n`)
        }
        return
      }
      await runAndReport(scenarioFromFlags(f), { out: f.out, json: f.json })
    })

  program
    .command('sim-compare')
    .description('compare two reports of the same scenario (e.g. libp2p vs in-memory): iterations, objective, thresholds, AUC')
    .argument('<a>', 'report.json')
    .argument('<b>', 'report.json')
    .action((a: string, b: string) => {
      const load = (p: string): SimReport => JSON.parse(readFileSync(p, 'utf8')) as SimReport
      process.stdout.write(JSON.stringify(compareReports(load(a), load(b))) + '\n')
    })

  program
    .command('demo')
    .description('the main demo: 31 organisations on the cycle-with-inverse-chord overlay learn the GGM mixture on Breast Cancer Wisconsin')
    .option('--out <dir>', 'report folder (default reports/sim/demo)')
    .option('--json', 'print the report JSON instead of the summary')
    .action(async (o: { out?: string; json?: boolean }) => {
      await runAndReport(resolveScenario('demo'), o)
    })

  program
    .command('fit')
    .description('train a model on one CSV split over S in-process nodes (consensus on a virtual clock) and save it')
    .requiredOption('--data <file.csv>', 'training data (CSV with a header row)')
    .option('--label-col <name>', 'label column: rows labelled 1 (anomalies) are left out of training; a classifier learns it (required)')
    .option('--nodes <S>', 'number of nodes', num('--nodes'), 31)
    .option('--topology <kind|file.json>', 'topology kind or file', 'cwic')
    .option('--degree <d>', 'degree of a random regular topology', num('--degree'))
    .addOption(new Option('--model <kind>', 'model').choices(['ggm', 'vae', 'classifier']).default('ggm'))
    .option('--k <K>', 'GGM: initial number of components', num('--k'))
    .option('--rho <rho>', 'GGM: l1 penalty', num('--rho'))
    .option('--hyper <json>', 'model hyper-parameters as a JSON object, e.g. \'{"architecture": "mlp", "maxIter": 300}\'', jsonObjectFlag('--hyper'))
    .option('--seed <n>', 'shared seed', num('--seed'), 1)
    .addOption(new Option('--scheme <scheme>', 'consensus weights').choices([...SCHEMES]))
    .option('--tol <tol>', 'consensus relative tolerance', num('--tol'))
    .option('--exact', 'exact sums instead of consensus (reference)')
    .option('--missing [spec]', MISSING_FLAG_HELP)
    .requiredOption('--out <model.json>', 'where to write node 0\'s model')
    .action(async (o: { data: string; labelCol?: string; nodes: number; topology: string; degree?: number; model: 'ggm' | 'vae' | 'classifier'; k?: number; rho?: number; hyper?: Record<string, unknown>; seed: number; scheme?: string; tol?: number; exact?: boolean; out: string; missing?: string | true }) => {
      const missing = missingFromFlag(o.missing)
      const csv = loadCsv(o.data, { labelCol: o.labelCol, missing })
      const classifier = o.model === 'classifier'
      if (classifier && csv.labels === undefined) throw new InvalidArgumentError('--model classifier needs --label-col: the column of 0/1 classes it learns')
      // a classifier trains on every row, its label as the last column; the others on the normal rows
      const rows = csv.labels && !classifier ? Array.from(csv.labels, (y, i) => (y === 0 ? i : -1)).filter((i) => i >= 0) : Array.from({ length: csv.features.rows }, (_, i) => i)
      const X = classifier ? withLabels(csv.features, csv.labels as Int8Array) : selectRows(csv.features, rows)
      const hyper: Record<string, unknown> = { ...(o.hyper ?? {}) }
      if (o.k !== undefined) hyper.K = o.k
      if (o.rho !== undefined) hyper.rho = o.rho
      if (missing !== undefined) hyper.missing = true
      const config = parseTrainingConfig(
        {
          model: { kind: o.model, hyper },
          seed: o.seed,
          consensus: { ...(o.scheme ? { scheme: o.scheme } : {}), ...(o.tol ? { tol: o.tol } : {}) },
          privacy: { monitor: false, release: { enabled: false } },
          ...(typeof hyper.maxIter === 'number' ? { maxIterations: hyper.maxIter + 1 } : {}),
        },
        'command line',
      )
      const sc = parseScenario({ dataset: { path: o.data }, nodes: o.nodes, topology: o.topology.endsWith('.json') ? { file: o.topology } : { kind: o.topology, degree: o.degree }, training: config })
      const t0 = performance.now()
      const res = await fitInProcess({ sc, config, X, seed: o.seed, exact: o.exact })
      const r0 = res.nodes[0]
      writeFileSync(o.out, JSON.stringify(r0.model.save()) + '\n')
      process.stdout.write(
        `trained ${o.model} on ${X.rows} rows over ${o.nodes} nodes (${o.exact ? 'exact sums' : `consensus ${config.consensus.scheme}, tol ${config.consensus.tol}`}): ` +
          `${r0.iterations} iterations, ${r0.converged ? 'converged' : 'not converged'}, objective ${r0.records.at(-1)?.objective.toFixed(6) ?? '-'}, ${((performance.now() - t0) / 1000).toFixed(1)} s; wrote ${o.out}\n`,
      )
      // data policy: features constant on the training rows are pinned (saved in the model's preprocessing)
      const pinned = r0.model.preprocessing?.pinned ?? []
      if (pinned.length > 0) process.stdout.write(`pinned ${pinned.length} constant feature(s) (no variance on the training rows; scored as deviations from their value): ${pinned.map((j) => csv.columns[j] ?? `#${j + 1}`).join(', ')}\n`)
    })
}
