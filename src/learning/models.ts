/**
 * The model a node trains, created from the agreed TrainingConfig: the kind, its
 * hyper-parameters and the network's shared seed.
 */
import { createModel, loadModel, type ModelOptions } from '../models/index.js'
import { ggmPayloadLength, parseGgmHyper } from '../models/ggm/index.js'
import { parseVaeHyper } from '../models/vae/index.js'
import { isPrivate, paramCount, parseClassifierHyper } from '../models/classifier/index.js'
import { packedSymLength } from '../numeric/matrix.js'
import { SHAMIR_WORDS } from '../consensus/index.js'
import { vaeParamLengths } from '../numeric/vae.js'
import type { CollabModel, SavedModel } from '../models/model.js'
import { TrainingConfigError, type TrainingConfig } from './config.js'

/**
 * Hyper-parameters the model of `config` is created with: the kind's own hyper-parameters
 * and the network's shared seed. The release's settings never reach the model: the node's
 * own model trains with its own prior and preprocessing whether or not a release follows.
 */
export function modelHyper(config: TrainingConfig): Record<string, unknown> {
  const hyper: Record<string, unknown> = { ...config.model.hyper }
  if (hyper.seed !== undefined && hyper.seed !== config.seed) {
    throw new TrainingConfigError(`model.hyper.seed (${JSON.stringify(hyper.seed)}) disagrees with seed (${config.seed}); set only the top-level seed`)
  }
  hyper.seed = config.seed
  return hyper
}

/** A new, unprepared model for one node of the network that agreed on `config`. */
export function createNodeModel(config: TrainingConfig, options: ModelOptions = {}): CollabModel {
  return createModel(config.model.kind, modelHyper(config), options)
}

/** A node's model from a checkpoint's saved model (kind checked against the config); `options` as for createNodeModel. */
export function loadNodeModel(config: TrainingConfig, saved: SavedModel, options: ModelOptions = {}): CollabModel {
  if (saved.kind !== config.model.kind) {
    throw new TrainingConfigError(`saved model is ${saved.kind} but the config says ${config.model.kind}; use the checkpoint of this network`)
  }
  return loadModel(saved, options)
}

/**
 * Whether the model of `config` charges its own training cost to the node's ledger (a
 * classifier with DP-SGD, mix-up noise or local DP; the VAE with DP-SGD): hosts then create a ledger and pass
 * it in ModelOptions even when neither the monitor nor the release needs one.
 */
export function modelChargesLedger(config: TrainingConfig): boolean {
  if (config.model.kind === 'vae') return parseVaeHyper(modelHyper(config)).dpSgd !== null
  return config.model.kind === 'classifier' && isPrivate(parseClassifierHyper(modelHyper(config)))
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
  let longest: number
  if (config.model.kind === 'ggm') longest = Math.max(ggmPayloadLength(parseGgmHyper(hyper), M) + 2, prepare)
  else if (config.model.kind === 'classifier') {
    // M features (a host that counts the label column too gets a slightly larger limit)
    const c = parseClassifierHyper(hyper)
    const sizes = c.architecture === 'mlp' ? [M, ...c.hidden, c.classes] : [M, 1]
    // parameters (gradient sum or weighted model), loss sum and row count, then the two votes
    longest = Math.max(paramCount({ sizes, head: 'softmax' }) + 4, prepare)
  } else {
    const h = parseVaeHyper(hyper)
    // decoder gradient, ELBO sum and row count, validation ELBO sum and row count, then the two votes
    longest = Math.max(vaeParamLengths({ features: M, hidden: h.hidden, latent: h.latent }).decoder + 6, prepare)
  }
  if (config.privacy.release.enabled) longest = Math.max(longest, releasePayloadLength(config, M))
  // Shamir frames carry four words per entry, and a reveal its absent set
  return config.consensus.protection === 'shamir' ? SHAMIR_WORDS * longest + S + 1 : longest
}

/** Longest vector of the network's release steps (src/privacy/ggm-release.ts). */
function releasePayloadLength(config: TrainingConfig, M: number): number {
  const K = typeof config.model.hyper.K === 'number' ? config.model.hyper.K : 2
  // moments: n, sum u, sum u^2 (and the observed counts with missing values)
  return Math.max(1 + 3 * M, M + packedSymLength(M), K * (1 + M + packedSymLength(M)))
}
