/**
 * `collab evaluate --data FILE.csv --label-col anomaly [--nodes 10] [--seed N] [--test-fraction 0.3]
 *                  [--epsilon 4] [--no-vae] [--json]`:
 * the detection protocol on your own table (sim/experiments/detection.ts): 70/30 split of
 * the normal rows, S organisations on a non-iid split of the training rows, one table of
 * ROC-AUC and PR-AUC for local-only, CollabDict GGM and VAE, the pooled GGM and the DP release.
 */
import { existsSync } from 'node:fs'
import { InvalidArgumentError, type Command } from 'commander'
import { evaluateFile, formatDetection } from '../sim/experiments/detection.js'
import { MISSING_FLAG_HELP, missingFromFlag } from '../src/data/missing.js'

export class EvaluateCliError extends Error {
  override name = 'EvaluateCliError'
}

interface Flags {
  data: string
  labelCol: string
  nodes: number
  seed: number
  testFraction: number
  epsilon: number
  vae: boolean
  json?: boolean
  missing?: string | true
}

function numberIn(flag: string, lo: number, hi: number, integer: boolean) {
  return (v: string): number => {
    const x = Number(v)
    if (!Number.isFinite(x) || x < lo || x > hi || (integer && !Number.isInteger(x))) {
      throw new InvalidArgumentError(`${flag} must be ${integer ? 'a whole number' : 'a number'} in ${lo}..${hi}`)
    }
    return x
  }
}

export function registerEvaluateCommand(program: Command): void {
  program
    .command('evaluate')
    .description('hold CollabDict against local-only and pooled models on your own labelled table (ROC-AUC, PR-AUC)')
    .requiredOption('--data <file>', 'CSV with a header row, numeric columns and a 0/1 label column (1 = anomaly)')
    .requiredOption('--label-col <name>', 'the label column')
    .option('--nodes <S>', 'organisations the normal training rows are spread over (non-iid)', numberIn('--nodes', 2, 1000, true), 10)
    .option('--seed <n>', 'seed of the split and the shared seed', numberIn('--seed', 0, 2 ** 31, true), 2024)
    .option('--test-fraction <f>', 'share of each node\'s normal rows held out', numberIn('--test-fraction', 0.05, 0.9, false), 0.3)
    .option('--epsilon <e>', 'network-level epsilon of the DP release (delta 1e-5)', numberIn('--epsilon', 0.01, 100, false), 4)
    .option('--missing [spec]', MISSING_FLAG_HELP)
    .option('--no-vae', 'skip the VAE (faster)')
    .option('--json', 'print the result as JSON')
    .action(async (f: Flags) => {
      if (!existsSync(f.data)) throw new EvaluateCliError(`--data ${f.data}: no such file; give the path of a CSV with a header row`)
      const r = await evaluateFile(f.data, f.labelCol, {
        nodes: f.nodes,
        seed: f.seed,
        testFraction: f.testFraction,
        epsilon: f.epsilon,
        vae: f.vae ? undefined : false,
        missing: missingFromFlag(f.missing),
        log: (line) => process.stderr.write(`${line}\n`),
      })
      process.stdout.write(f.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatDetection(r)}\n`)
    })
}
