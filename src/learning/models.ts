/**
 * The model a node trains, created from the agreed TrainingConfig: the kind and its
 * hyper-parameters, the network's shared seed, and, for the GGM with a DP release, the
 * release bounds Theorem 1 is computed for (prior strength lambda0, enforced distance
 * bound R through clipping, drop floor delta). The config is the single source of those
 * numbers: a model hyper-parameter that disagrees with privacy.release is refused.
 */
import { createModel, loadModel } from '../models/index.js'
import type { CollabModel, SavedModel } from '../models/model.js'
import { TrainingConfigError, type TrainingConfig } from './config.js'

/** Hyper-parameters the model of `config` is created with. */
export function modelHyper(config: TrainingConfig): Record<string, unknown> {
  const hyper: Record<string, unknown> = { ...config.model.hyper }
  if (hyper.seed !== undefined && hyper.seed !== config.seed) {
    throw new TrainingConfigError(`model.hyper.seed (${String(hyper.seed)}) disagrees with seed (${config.seed}); set only the top-level seed`)
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
          `model.hyper.${h} (${String(hyper[h])}) disagrees with privacy.release.${r} (${v}): the release guarantee holds for the model's own value; set it once, under privacy.release`,
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
