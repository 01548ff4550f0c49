/**
 * `collab privacy ...`: privacy accounting from the command line.
 *   collab privacy epsilon --sigma 1.1 --q 0.01 --steps 1000 --delta 1e-5 --json
 * prints {"epsilon", "order", "conversion": "improved", "classic": {"epsilon", "order"}}.
 *   collab privacy score --model released.json --data rows.csv [--label-col anomaly] [--out scores.json] [--json]
 * scores rows with a released model (what a third party does; eq. 20).
 *   collab privacy release --data rows.csv --bounds 1:10 --ledger ledger.json --node-id ID --out released.json [--epsilon 4]
 * one organisation alone: the network's whole-model DP release run on its own rows.
 *   collab privacy ledger --path ledger.json [--json]
 * validates a node's ledger and prints its entries and running (epsilon, delta).
 */
import { randomUUID } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { InvalidArgumentError, type Command } from 'commander'
import { z } from 'zod'
import { loadCsv, MISSING_FLAG_HELP, missingFromFlag } from '../src/data/index.js'
import { selectRows } from '../src/numeric/matrix.js'
import { SecretRng } from '../src/numeric/secret-rng.js'
import { prAuc, rocAuc } from '../src/eval/metrics.js'
import { PrivacyLedger } from '../src/privacy/ledger.js'
import { DEFAULT_ORDERS, rdpToDp, subsampledGaussianRdp } from '../src/privacy/rdp.js'
import { loadReleasedGgm, scoreReleasedGgm, type GgmReleaseSettings } from '../src/privacy/ggm-release.js'
import { join } from 'node:path'
import { runGgmRelease } from '../src/learning/release.js'
import { runPrivacyAudit, writeAuditReport } from '../sim/audit.js'
import { resolveScenario } from '../sim/scenario.js'

const EpsilonArgs = z.object({
  sigma: z.coerce.number().positive().finite(),
  q: z.coerce.number().min(0).max(1),
  steps: z.coerce.number().int().nonnegative(),
  delta: z.coerce.number().gt(0).lt(1),
  json: z.boolean().optional(),
})

export class PrivacyCliError extends Error {
  override name = 'PrivacyCliError'
}

export interface EpsilonReport {
  epsilon: number
  order: number
  conversion: 'improved'
  classic: { epsilon: number; order: number }
  sigma: number
  q: number
  steps: number
  delta: number
}

/** (epsilon, delta) of `steps` Poisson-subsampled Gaussian steps over DEFAULT_ORDERS. */
export function epsilonReport(raw: Record<string, unknown>): EpsilonReport {
  const parsed = EpsilonArgs.safeParse(raw)
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; ')
    throw new PrivacyCliError(`invalid arguments (${msg}); e.g. --sigma 1.1 --q 0.01 --steps 1000 --delta 1e-5`)
  }
  const { sigma, q, steps, delta } = parsed.data
  const rdp = subsampledGaussianRdp(q, sigma, steps, DEFAULT_ORDERS)
  const imp = rdpToDp(DEFAULT_ORDERS, rdp, delta, 'improved')
  const cla = rdpToDp(DEFAULT_ORDERS, rdp, delta, 'classic')
  return {
    epsilon: imp.epsilon,
    order: imp.order,
    conversion: 'improved',
    classic: { epsilon: cla.epsilon, order: cla.order },
    sigma,
    q,
    steps,
    delta,
  }
}

export function registerPrivacyCommands(program: Command): void {
  const privacy = program.command('privacy').description('differential-privacy accounting (Rényi DP)')
  privacy
    .command('epsilon')
    .description('(epsilon, delta)-DP of T steps of the Poisson-subsampled Gaussian mechanism (DP-SGD)')
    .requiredOption('--sigma <s>', 'noise multiplier (noise std / clipping norm)')
    .requiredOption('--q <q>', 'sampling rate per step (batch size / dataset size); 1 = plain Gaussian')
    .requiredOption('--steps <t>', 'number of steps composed')
    .requiredOption('--delta <d>', 'target delta, in (0, 1)')
    .option('--json', 'print JSON')
    .action(function (this: Command, opts: Record<string, unknown>) {
      let r: EpsilonReport
      try {
        r = epsilonReport(opts)
      } catch (e) {
        // bad flag values are usage errors (exit 2)
        if (e instanceof PrivacyCliError) throw new InvalidArgumentError(e.message)
        throw e
      }
      if (opts.json === true) {
        process.stdout.write(JSON.stringify(r) + '\n')
      } else {
        process.stdout.write(
          `epsilon = ${r.epsilon.toFixed(4)} at order ${r.order} (improved conversion, Balle et al. 2020)\n` +
            `epsilon = ${r.classic.epsilon.toFixed(4)} at order ${r.classic.order} (classic conversion, Mironov 2017)\n` +
            `for sigma = ${r.sigma}, q = ${r.q}, steps = ${r.steps}, delta = ${r.delta}\n`,
        )
      }
    })

  privacy
    .command('score')
    .description('score rows with a released (DP) model file, as a third party would (eq. 20)')
    .requiredOption('--model <file>', 'released model JSON (format collabdict-released-model)')
    .requiredOption('--data <file>', 'CSV of rows with the model\'s feature columns (header row)')
    .option('--label-col <name>', '0/1 label column to exclude (and report ROC-AUC / PR-AUC against)')
    .option('--out <file>', 'write the scores as a JSON array')
    .option('--missing [spec]', MISSING_FLAG_HELP)
    .option('--json', 'print JSON')
    .action(function (this: Command, opts: { model: string; data: string; labelCol?: string; out?: string; json?: boolean; missing?: string | true }) {
      let model
      try {
        model = loadReleasedGgm(JSON.parse(readFileSync(opts.model, 'utf8')))
      } catch (e) {
        throw new PrivacyCliError(`cannot load ${opts.model}: ${(e as Error).name}: ${(e as Error).message}`)
      }
      const csv = loadCsv(opts.data, { ...(opts.labelCol ? { labelCol: opts.labelCol } : {}), missing: missingFromFlag(opts.missing) })
      const scores = scoreReleasedGgm(model, csv.features)
      const summary: Record<string, unknown> = { rows: scores.length, K: model.K, epsilon: model.privacy.epsilon, delta: model.privacy.delta, threshold: model.threshold.value }
      if (csv.labels) {
        summary.rocAuc = rocAuc(scores, csv.labels)
        summary.prAuc = prAuc(scores, csv.labels)
      }
      if (opts.out) writeFileSync(opts.out, JSON.stringify(Array.from(scores)) + '\n')
      if (opts.json) process.stdout.write(JSON.stringify({ ...summary, scores: opts.out ? undefined : Array.from(scores) }) + '\n')
      else process.stdout.write(Object.entries(summary).map(([k, v]) => `${k}: ${String(v)}`).join('\n') + '\n')
    })
  privacy
    .command('ledger')
    .description('validate a node\'s privacy ledger and print its entries and running (epsilon, delta)')
    .requiredOption('--path <file>', 'ledger JSON')
    .option('--json', 'print JSON')
    .action(function (this: Command, opts: { path: string; json?: boolean }) {
      const ledger = PrivacyLedger.load(opts.path)
      const ext = ledger.spent('external')
      const peers = ledger.spent('peers')
      if (opts.json) {
        process.stdout.write(JSON.stringify({ nodeId: ledger.settings.nodeId, external: ext, peers, remaining: ledger.remaining(), entries: ledger.entries.map((e) => ({ ...e, rdp: undefined })) }) + '\n')
        return
      }
      process.stdout.write(`node ${ledger.settings.nodeId}: external (epsilon, delta) = (${ext.epsilon.toFixed(4)}, ${ext.delta}) at order ${ext.order}; budget ${ledger.settings.budget ?? 'none'}\n`)
      process.stdout.write(`peers (epsilon, delta) = (${peers.epsilon.toFixed(4)}, ${peers.delta})\n`)
      for (const e of ledger.entries) process.stdout.write(`#${e.seq} ${e.time} ${e.kind} [${e.audience}] ${e.label}: running epsilon ${e.epsilon.toFixed(4)}\n`)
    })

  privacy
    .command('release')
    .description('one organisation alone: a whole-model DP release of a GGM mixture fitted to its own CSV (the mechanism a network runs), charged to the ledger first')
    .requiredOption('--data <file>', 'CSV with a header row (the rows to release a model of)')
    .requiredOption('--bounds <lo:hi>', 'public range of every feature, e.g. 1:10 (from the data dictionary, not the data)')
    .requiredOption('--ledger <file>', "this organisation's ledger JSON (created if missing)")
    .requiredOption('--node-id <id>', 'whose ledger it is')
    .requiredOption('--out <file>', 'where to write the released model')
    .option('--label-col <name>', '0/1 label column: release a model of the rows labelled 0 only')
    .option('--epsilon <e>', '(epsilon, delta) of the release', '4')
    .option('--delta <d>', 'delta of the ledger and the release', '1e-5')
    .option('--k <K>', 'mixture components', '2')
    .option('--iterations <T>', 'DP-EM steps', '4')
    .option('--budget <eps>', 'external epsilon budget of a new ledger (default none)')
    .option('--json', 'print JSON')
    .action(async function (this: Command, opts: { data: string; bounds: string; ledger: string; nodeId: string; out: string; labelCol?: string; epsilon: string; delta: string; k: string; iterations: string; budget?: string; json?: boolean }) {
      const m = /^(-?[0-9.eE+-]+):(-?[0-9.eE+-]+)$/.exec(opts.bounds)
      if (m === null) throw new InvalidArgumentError(`--bounds must be lo:hi (e.g. 1:10), got '${opts.bounds}'`)
      for (const [flag, v] of [['--epsilon', opts.epsilon], ['--delta', opts.delta], ['--k', opts.k], ['--iterations', opts.iterations], ['--budget', opts.budget ?? '0']] as const) {
        if (v.trim() === '' || !Number.isFinite(Number(v))) throw new InvalidArgumentError(`${flag} must be a number, got '${v}'`)
      }
      const csv = loadCsv(opts.data, opts.labelCol ? { labelCol: opts.labelCol } : {})
      const rows = csv.labels ? Array.from(csv.labels, (y, i) => (y === 0 ? i : -1)).filter((i) => i >= 0) : Array.from({ length: csv.features.rows }, (_, i) => i)
      const X = selectRows(csv.features, rows)
      const delta = Number(opts.delta)
      const ledger = PrivacyLedger.open(opts.ledger, { nodeId: opts.nodeId, delta, budget: opts.budget === undefined ? null : Number(opts.budget) })
      const M = X.cols
      const settings: GgmReleaseSettings = {
        epsilon: Number(opts.epsilon),
        delta,
        bounds: { lower: new Float64Array(M).fill(Number(m[1])), upper: new Float64Array(M).fill(Number(m[2])) },
        iterations: Number(opts.iterations),
        K: Number(opts.k),
        minCount: 1,
        rho: 5,
        thresholdQuantile: 0.95,
        seed: 0,
      }
      // one member: its own noise (OS entropy), charged to its ledger before anything is computed
      const out = await runGgmRelease({ settings, data: X, aggregate: async (v) => v, noise: SecretRng.fromOsEntropy(), members: 1, ledger, releaseId: `release/cli/${randomUUID()}` })
      writeFileSync(opts.out, JSON.stringify(out.released) + '\n')
      const summary = { out: opts.out, K: out.released.K, epsilon: out.epsilon, delta: out.delta, spent: out.spent }
      process.stdout.write(opts.json ? JSON.stringify(summary) + '\n' : `released ${out.released.K} components to ${opts.out} at (${out.epsilon.toFixed(4)}, ${out.delta})-DP; ledger now (${out.spent.epsilon.toFixed(4)}, ${out.spent.delta})\n`)
    })

  privacy
    .command('audit')
    .description('attack a scenario: the curious neighbour (chunking), the curious member (Shamir), membership inference and empirical epsilon against the release; writes audit.json and audit.html')
    .requiredOption('--scenario <name|file>', 'named scenario (sim/scenarios) or a scenario file')
    .option('--out <dir>', 'report folder (default reports/audit/NAME)')
    .option('--epsilons <list>', 'release epsilons to attack', '0.5,1,2,4,8')
    .option('--trials <n>', 'releases per side and epsilon', '40')
    .option('--sessions <n>', 'sums the neighbour watches', '12')
    .option('--json', 'print the report JSON')
    .action(async (opts: { scenario: string; out?: string; epsilons: string; trials: string; sessions: string; json?: boolean }) => {
      const epsilons = opts.epsilons.split(',').map(Number)
      if (epsilons.some((e) => !(e > 0))) throw new InvalidArgumentError(`--epsilons must be positive numbers separated by commas, got '${opts.epsilons}'`)
      for (const [flag, v] of [['--trials', opts.trials], ['--sessions', opts.sessions]] as const) {
        if (!Number.isInteger(Number(v)) || Number(v) < 2) throw new InvalidArgumentError(`${flag} must be a whole number >= 2, got '${v}'`)
      }
      const sc = resolveScenario(opts.scenario)
      const r = await runPrivacyAudit(sc, { epsilons, trials: Number(opts.trials), sessions: Number(opts.sessions), onProgress: (w) => process.stderr.write(`audit: ${w}\n`) })
      const files = await writeAuditReport(opts.out ?? join('reports', 'audit', sc.name), r)
      if (opts.json) {
        process.stdout.write(JSON.stringify(r) + '\n')
        return
      }
      const c = r.chunking
      process.stdout.write(
        `chunking (${c.chunks} chunks, scale ${c.chunkScale}): neighbour's relative error min ${c.minRelativeError.toFixed(2)}, median ${c.medianRelativeError.toFixed(2)} over ${c.views} views; pooled over ${c.pooled.sessions} sums min ${c.pooled.minRelativeError.toFixed(2)}\n` +
          `shamir (threshold ${r.shamir.threshold}): member's relative error min ${r.shamir.minRelativeError.toExponential(2)}, share/value correlation ${r.shamir.correlation.toFixed(3)}\n` +
          r.release.table.map((x) => `release at (${x.ledgerEpsilon.toFixed(3)}, ${x.delta}): membership AUC ${x.membershipAuc.toFixed(3)} (DP allows <= ${x.aucBound.toFixed(3)}), empirical epsilon >= ${x.empiricalEpsilon.toFixed(3)}`).join('\n') +
          `\nwrote ${files.json} and ${files.html}\n`,
      )
    })
}

