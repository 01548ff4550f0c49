/**
 * The model a node trains, created from the agreed TrainingConfig: the kind and its
 * hyper-parameters, the network's shared seed, and, for the GGM with a DP release, the
 * release bounds Theorem 1 is computed for (prior strength lambda0, enforced distance
 * bound R through clipping, drop floor delta). The config is the single source of those
 * numbers: a model hyper-parameter that disagrees with privacy.release is refused.
 */
import { createModel, loadModel } from '../models/index.js'
import { parseGgmHyper, statsLength } from '../models/ggm/index.js'
import { parseVaeHyper } from '../models/vae/index.js'
import { packedSymLength } from '../numeric/matrix.js'
import { vaeParamLengths } from '../numeric/vae.js'
import type { CollabModel, SavedModel } from '../models/model.js'
import { TrainingConfigError, type TrainingConfig } from './config.js'

/** Hyper-parameters the model of `config` is created with. */
export function modelHyper(config: TrainingConfig): Record<string, unknown> {
  const hyper: Record<string, unknown> = { ...config.model.hyper }
  if (hyper.seed !== undefined && hyper.seed !== config.seed) {
    throw new TrainingConfigError(`model.hyper.seed (${JSON.stringify(hyper.seed)}) disagrees with seed (${config.seed}); set only the top-level seed`)
  }
  hyper.seed = config.seed
  const rel = config.privacy.release
  if (config.model.kind === 'ggm' && rel.enabled) {
    const pairs: [string, string, number][] = [
      ['lambda0', 'lambda0', rel.lambda0],
      ['radius', 'R', rel.R],
      ['delta', 'delta', rel.delta],
    ]
    for (const [h, r, v] of pairs) {
      if (hyper[h] !== undefined && hyper[h] !== v) {
        throw new TrainingConfigError(
          `model.hyper.${h} (${JSON.stringify(hyper[h])}) disagrees with privacy.release.${r} (${v}): the release guarantee holds for the model's own value; set it once, under privacy.release`,
        )
      }
      hyper[h] = v
    }
  }
  return hyper
}

/** A new, unprepared model for one node of the network that agreed on `config`. */
export function createNodeModel(config: TrainingConfig): CollabModel {
  return createModel(config.model.kind, modelHyper(config))
}

/** A node's model from a checkpoint's saved model (kind checked against the config). */
export function loadNodeModel(config: TrainingConfig, saved: SavedModel): CollabModel {
  if (saved.kind !== config.model.kind) {
    throw new TrainingConfigError(`saved model is ${saved.kind} but the config says ${config.model.kind}; use the checkpoint of this network`)
  }
  return loadModel(saved)
}

/**
 * Largest consensus payload (f64 values) a member of a network running `config` on M
 * features with S members can legitimately send: the statistics vector plus the loop's two
 * vote entries, or a preparation vector (moments 1 + 2M, mean and packed scatter
 * 1 + M + M(M+1)/2), or an S-long membership vector. Hosts size frame validation with it,
 * so a peer cannot make a node buffer more than the model needs.
 */
export function consensusPayloadLimit(config: TrainingConfig, M: number, S: number): number {
  const prepare = Math.max(1 + 2 * M, 1 + M + packedSymLength(M), S)
  const hyper = modelHyper(config)
  if (config.model.kind === 'ggm') return Math.max(statsLength(parseGgmHyper(hyper).K, M) + 2, prepare)
  const h = parseVaeHyper(hyper)
  // decoder gradient, ELBO sum and row count, then the two votes
  return Math.max(vaeParamLengths({ features: M, hidden: h.hidden, latent: h.latent }).decoder + 4, prepare)
}
