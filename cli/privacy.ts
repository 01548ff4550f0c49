/**
 * `collab privacy ...`: privacy accounting from the command line.
 *   collab privacy epsilon --sigma 1.1 --q 0.01 --steps 1000 --delta 1e-5 --json
 * prints {"epsilon", "order", "conversion": "improved", "classic": {"epsilon", "order"}}.
 */
import type { Command } from 'commander'
import { z } from 'zod'
import { DEFAULT_ORDERS, rdpToDp, subsampledGaussianRdp } from '../src/privacy/rdp.js'

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
        if (e instanceof PrivacyCliError) this.error(`${e.name}: ${e.message}`, { exitCode: 2 })
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
}
