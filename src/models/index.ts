/**
 * The model registry: one place that maps a model kind to its factory and loader, so the
 * learning loop, the node, the simulator and the CLI create and reload models by kind.
 */
import { createGgm, loadGgm } from './ggm/index.js'
import { createVaeModel, loadVaeModel } from './vae/index.js'
import { createClassifier, loadClassifier } from './classifier/index.js'
import type { CollabModel, ModelKind } from './model.js'
import type { NoiseRng } from '../privacy/mechanisms.js'
import type { PrivacyLedger } from '../privacy/ledger.js'

export type { Aggregate, CollabModel, ModelKind, SavedModel, TraceEntry } from './model.js'
export { exactNetwork, runExact, sumVectors, ExactRunError } from './ggm/exact.js'

export class UnknownModelError extends Error {
  override name = 'UnknownModelError'
}

/** Construction options that are not agreed hyper-parameters (every kind may ignore them). */
export interface ModelOptions {
  /**
   * The node's secret generator for noise that protects privacy (DP-SGD noise and
   * sampling); default: a fresh OS-entropy generator. Never a stream peers can recompute.
   */
  noise?: NoiseRng
  /**
   * The node's privacy ledger, for a model that charges its own training cost before it
   * shares anything noised (the classifier's DP-SGD, mix-up noise and local DP); others ignore it.
   */
  ledger?: PrivacyLedger
}

/** How one model kind is created from hyper-parameters (validated by the kind) and reloaded from `save()` output. */
export interface ModelEntry {
  create(hyper: unknown, options?: ModelOptions): CollabModel
  load(saved: unknown, options?: ModelOptions): CollabModel
}

const registry: Partial<Record<ModelKind, ModelEntry>> = {
  ggm: { create: (hyper) => createGgm(hyper), load: (saved) => loadGgm(saved) },
  vae: {
    create: (hyper, options) => createVaeModel(hyper as Record<string, unknown>, { noise: options?.noise, ledger: options?.ledger }),
    load: (saved, options) => loadVaeModel(saved, { noise: options?.noise, ledger: options?.ledger }),
  },
  classifier: {
    create: (hyper, options) => createClassifier(hyper as Record<string, unknown>, { noise: options?.noise, ledger: options?.ledger }),
    load: (saved, options) => loadClassifier(saved, { noise: options?.noise, ledger: options?.ledger }),
  },
}

/** Model kinds this build can create. */
export function modelKinds(): ModelKind[] {
  return Object.keys(registry) as ModelKind[]
}

/** A new, unprepared model of `kind`; hyper-parameters are validated by the kind (defaults filled in). */
export function createModel(kind: ModelKind, hyper: unknown = {}, options: ModelOptions = {}): CollabModel {
  const entry = registry[kind]
  if (entry === undefined) throw new UnknownModelError(`no model of kind "${kind}" in this build; known: ${modelKinds().join(', ')}`)
  return entry.create(hyper, options)
}

/** Rebuild a model from `save()` output (any kind), validating it; `options` as for createModel (for a model that trains on). */
export function loadModel(saved: unknown, options: ModelOptions = {}): CollabModel {
  const kind = typeof saved === 'object' && saved !== null ? (saved as { kind?: unknown }).kind : undefined
  if (typeof kind !== 'string') throw new UnknownModelError('not a saved model: missing "kind"; pass the JSON written by save()')
  const entry = registry[kind as ModelKind]
  if (entry === undefined) throw new UnknownModelError(`saved model has kind "${kind}", which this build cannot load; known: ${modelKinds().join(', ')}`)
  return entry.load(saved, options)
}
