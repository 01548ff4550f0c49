/**
 * The model registry: one place that maps a model kind to its factory and loader, so the
 * learning loop, the node, the simulator and the CLI create and reload models by kind.
 */
import { createGgm, loadGgm } from './ggm/index.js'
import { createVaeModel, loadVaeModel } from './vae/index.js'
import type { CollabModel, ModelKind } from './model.js'

export type { Aggregate, CollabModel, ModelKind, SavedModel, TraceEntry } from './model.js'
export { exactNetwork, runExact, sumVectors, ExactRunError } from './ggm/exact.js'

export class UnknownModelError extends Error {
  override name = 'UnknownModelError'
}

/** How one model kind is created from hyper-parameters (validated by the kind) and reloaded from `save()` output. */
export interface ModelEntry {
  create(hyper: unknown): CollabModel
  load(saved: unknown): CollabModel
}

const registry: Partial<Record<ModelKind, ModelEntry>> = {
  ggm: { create: (hyper) => createGgm(hyper), load: (saved) => loadGgm(saved) },
  vae: { create: (hyper) => createVaeModel(hyper as Record<string, unknown>), load: (saved) => loadVaeModel(saved) },
}

/** Model kinds this build can create. */
export function modelKinds(): ModelKind[] {
  return Object.keys(registry) as ModelKind[]
}

/** A new, unprepared model of `kind`; hyper-parameters are validated by the kind (defaults filled in). */
export function createModel(kind: ModelKind, hyper: unknown = {}): CollabModel {
  const entry = registry[kind]
  if (entry === undefined) throw new UnknownModelError(`no model of kind "${kind}" in this build; known: ${modelKinds().join(', ')}`)
  return entry.create(hyper)
}

/** Rebuild a model from `save()` output (any kind), validating it. */
export function loadModel(saved: unknown): CollabModel {
  const kind = typeof saved === 'object' && saved !== null ? (saved as { kind?: unknown }).kind : undefined
  if (typeof kind !== 'string') throw new UnknownModelError('not a saved model: missing "kind"; pass the JSON written by save()')
  const entry = registry[kind as ModelKind]
  if (entry === undefined) throw new UnknownModelError(`saved model has kind "${kind}", which this build cannot load; known: ${modelKinds().join(', ')}`)
  return entry.load(saved)
}
