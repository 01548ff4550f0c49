/**
 * The privacy collaborators of the learning loop, built over src/privacy from the agreed
 * config: the ledger, the entropy l-diversity guard (monitor + perturbation of what a node
 * shares, eq. 47-48) and the Rényi-DP release of the trained pattern dictionary
 * (Theorem 1). node/ and sim/ both build them here, so they protect identically.
 *
 * Scope: both mechanisms are defined for the GGM mixture (its responsibilities; the
 * release refits the mixture by DP-EM). For the VAE the guard reports nothing to monitor
 * (there are no per-sample component weights; its shared gradients use DP-SGD) and the
 * release is refused with a named error that says to disable it.
 */
import type { CollabModel } from '../models/model.js'
import type { GgmModel } from '../models/ggm/index.js'
import { STATS_HEADER, statsVoteAt } from '../models/ggm/model.js'
import { PrivacyLedger, type LedgerSettings } from '../privacy/ledger.js'
import { protectContribution } from '../privacy/ldiversity.js'
import { loadReleasedGgm, planGgmRelease, type ReleasedGgmFile } from '../privacy/ggm-release.js'
import { releaseSettings, runGgmRelease } from './release.js'
import type { TrainingConfig } from './config.js'
import type { PrivacyGuard, ReleaseOutcome, Releaser } from './types.js'

/** The model kind has no release mechanism with a proven guarantee here. */
export class ReleaseUnsupportedError extends Error {
  override name = 'ReleaseUnsupportedError'
}

/** A per-node ledger from the config (budget and delta); in memory unless `path` is given (then persisted atomically). */
export function createLedger(config: TrainingConfig, nodeId: string, opts: { path?: string; now?: () => Date } = {}): PrivacyLedger {
  const settings: Partial<LedgerSettings> & { nodeId: string } = {
    nodeId,
    delta: config.privacy.ledgerDelta,
    budget: config.privacy.budget,
  }
  return opts.path === undefined ? PrivacyLedger.inMemory(settings, opts.now) : PrivacyLedger.open(opts.path, settings, opts.now)
}

function asGgm(model: CollabModel): GgmModel | null {
  return model.kind === 'ggm' && 'responsibilities' in model && 'release' in model ? (model as GgmModel) : null
}

/**
 * The l-diversity guard (eq. 47-48): monitor min_k H_k of the node's contribution and,
 * when below ln l0, perturb it with pseudo-samples from the current posterior and log the
 * perturbation to the ledger (audience 'peers').
 *
 * The loop hands the guard the same noise stream at every iteration, so a node's
 * pseudo-samples are fixed standard-normal draws mapped through the current posterior:
 * they behave like L extra samples per exposed component that follow the model, rather
 * than fresh noise each round, which would keep EM from converging. The perturbation is
 * an l-diversity measure, not a DP mechanism (its ledger entry claims no RDP cost).
 */
export function createPrivacyGuard(config: TrainingConfig, ledger: PrivacyLedger | null): PrivacyGuard {
  const l0 = config.privacy.l0
  return {
    protect({ iteration, model, stats, noise }) {
      const ggm = asGgm(model)
      if (ggm === null) return null
      const resp = ggm.responsibilities
      if (resp === null) return null
      const rel = ggm.release()
      const lambdas = Float64Array.from(rel.nbar, (n) => rel.lambda0 + n)
      // the guard sees the statistics blocks; the drop vote after them is passed through unchanged
      const head = statsVoteAt(rel.K, rel.dim)
      const out = protectContribution(
        stats.subarray(0, head),
        resp,
        { header: STATS_HEADER, K: rel.K, M: rel.dim },
        { means: rel.means, precisions: rel.precisions, lambdas },
        noise,
        ledger,
        { l0, label: `l-diversity perturbation, iteration ${iteration}` },
      )
      const r = out.report
      const shared = new Float64Array(stats.length)
      shared.set(out.stats)
      shared.set(stats.subarray(head), head)
      return {
        stats: shared,
        perturbed: out.perturbed.length > 0,
        report: {
          entropies: Array.from(r.entropies),
          minEntropy: r.min,
          maxEntropy: r.max,
          threshold: r.threshold,
          exposed: r.exposed,
          effectiveL: Math.exp(r.min),
        },
      }
    },
  }
}

/**
 * The network's DP release (src/privacy/ggm-release.ts through ./release.ts), charged to
 * `ledger` before anything is computed. `members` is the network size S (each member adds
 * 1/(S-1) of the noise variance).
 */
export function createReleaser(config: TrainingConfig, ledger: PrivacyLedger, opts: { members: number }): Releaser {
  if (!Number.isInteger(opts.members) || opts.members < 1) throw new RangeError(`createReleaser: members must be >= 1, got ${opts.members}`)
  return {
    async release({ model, data, aggregate, noise, releaseId }): Promise<ReleaseOutcome> {
      if (asGgm(model) === null) {
        throw new ReleaseUnsupportedError(
          `no DP release is defined for the ${model.kind} model (the release refits the GGM mixture by DP-EM); set privacy.release.enabled: false`,
        )
      }
      return runGgmRelease({ settings: releaseSettings(config, data.cols), data, aggregate, noise, members: opts.members, ledger, releaseId })
    },
    adopt(file: unknown): ReleaseOutcome | null {
      let released: ReleasedGgmFile
      try {
        released = loadReleasedGgm(file)
      } catch {
        return null
      }
      // a release of this network's settings: same target, same public bounds
      const want = planGgmRelease(releaseSettings(config, released.dim), released.dim, ledger.orders)
      if (Math.abs(released.privacy.epsilon - want.epsilon) > 1e-9 * want.epsilon || released.privacy.members !== opts.members) return null
      return { epsilon: want.epsilon, delta: want.delta, spent: ledger.spent('external'), released, adopted: true }
    },
  }
}
