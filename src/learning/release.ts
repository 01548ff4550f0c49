/**
 * The network's DP release, run by every member at the end of training through the same
 * `aggregate` (consensus) as training: the steps of src/privacy/ggm-release.ts, each a
 * network sum of this node's contribution plus its secret share of the noise, labelled
 * `release:<step>` so every member opens the same sessions in the same order.
 *
 * Order of effects: the ledger is charged first (idempotent key `releaseId`), then the
 * steps run; nothing is released if the charge is refused. The node's noise share of each
 * step is forked from its secret by the step's label, so a step re-run after a crash adds
 * the same share (no second draw of the same statistics).
 *
 * The release is independent of training: the node's own model keeps its own prior and
 * preprocessing; the release re-standardises from noised moments and refits by DP-EM.
 */
import type { Aggregate } from '../models/model.js'
import type { Mat } from '../numeric/matrix.js'
import type { RandomSource } from '../numeric/rng.js'
import type { PrivacyLedger } from '../privacy/ledger.js'
import {
  applyStep,
  noiseShare,
  planGgmRelease,
  releasedFile,
  roundToGrid,
  stepContribution,
  type GgmReleasePlan,
  type GgmReleaseSettings,
  type ReleaseBounds,
  type ReleaseState,
} from '../privacy/ggm-release.js'
import type { TrainingConfig } from './config.js'
import type { ReleaseOutcome } from './types.js'

/** The release settings of `config` for data with M features (bounds expanded per feature). */
export function releaseSettings(config: TrainingConfig, M: number): GgmReleaseSettings {
  const r = config.privacy.release
  const b = r.bounds
  if (b === undefined) throw new RangeError('privacy.release.bounds is required for a release (the config parser enforces it)')
  const expand = (v: number | number[]): Float64Array => (Array.isArray(v) ? Float64Array.from(v) : new Float64Array(M).fill(v))
  const bounds: ReleaseBounds = { lower: expand(b.lower), upper: expand(b.upper) }
  const hyper = config.model.hyper as { K?: number; rho?: number; missing?: boolean }
  return {
    epsilon: r.epsilon,
    delta: config.privacy.ledgerDelta,
    bounds,
    radius: r.R,
    iterations: r.iterations,
    K: typeof hyper.K === 'number' ? hyper.K : 2,
    minCount: r.minCount,
    rho: typeof hyper.rho === 'number' ? hyper.rho : 5,
    thresholdQuantile: config.thresholdQuantile,
    seed: config.seed,
    ...(hyper.missing === true ? { missing: true } : {}),
  }
}

export interface ReleasePassInput {
  settings: GgmReleaseSettings
  /** This node's raw training rows. */
  data: Mat
  aggregate: Aggregate
  /** The node's secret generator for the release. */
  noise: RandomSource
  /** Network size S (each member adds 1/(S-1) of the noise variance). */
  members: number
  ledger: PrivacyLedger
  releaseId: string
}

/** Charge, then run every step of the release over `aggregate`; returns the released model. */
export async function runGgmRelease(input: ReleasePassInput): Promise<ReleaseOutcome> {
  const { settings, data, ledger } = input
  const plan: GgmReleasePlan = planGgmRelease(settings, data.cols, ledger.orders)
  ledger.charge({
    id: input.releaseId,
    kind: 'release',
    audience: 'external',
    label: 'network DP release (DP-EM)',
    rdp: plan.rdp,
    details: { epsilon: plan.epsilon, delta: plan.delta, noiseMultiplier: plan.z, steps: plan.steps.length, members: input.members, K: plan.K, radius: plan.radius },
  })
  const key = postProcessingKey(plan, settings, input.members)
  let state: ReleaseState = INITIAL_STATE
  for (const step of plan.steps) {
    const v = stepContribution(plan, step, data, settings.bounds, state)
    const n = noiseShare(plan, step, input.members, input.noise.fork(step.label))
    for (let i = 0; i < v.length; i++) v[i] += n[i]
    // one chunk-noise group: every entry of a release step is a sum of bounded per-row terms
    const sums = await input.aggregate(v, step.label, { noiseGroups: new Int32Array(v.length) })
    state = sharedApplyStep(key, plan, step, roundToGrid(plan, step, sums), state, settings)
  }
  const released = releasedFile(plan, state, settings, input.members)
  return { epsilon: plan.epsilon, delta: plan.delta, spent: ledger.spent('external'), released }
}

/** The public state before the first step: one frozen object, so the memo below can key on it. */
const INITIAL_STATE: ReleaseState = Object.freeze({ transform: null, rows: 0, mixture: null })

/**
 * The last post-processing step computed in this process. Every member applies the same
 * rounded sums (the agreement grid makes them bit-identical) to the same public state with
 * the same plan, so the result is the same; in a process that runs many members (the
 * simulator: ~7 ms per member per release at S = 10,000, mostly the glasso and eigenvalue
 * floors of applyStep) the first member's result is handed to the others. A hit needs the
 * same plan and settings (`key`), the same step, the previous state object this entry
 * started from (members that took the memo share it from the first step on) and equal sums
 * entry by entry, so a member whose sums differ (a crash left it out, a grid boundary fell
 * between its value and the others') computes its own. The states are read-only
 * post-processing results: nothing downstream writes to them.
 */
let lastStep: { key: string; label: string; prev: ReleaseState; sums: Float64Array; out: ReleaseState } | null = null

function postProcessingKey(plan: GgmReleasePlan, settings: GgmReleaseSettings, members: number): string {
  const { M, K, radius, z, epsilon, delta } = plan
  const { bounds, iterations, minCount, rho, thresholdQuantile, missing } = settings
  return JSON.stringify({ M, K, radius, z, epsilon, delta, lower: Array.from(bounds.lower), upper: Array.from(bounds.upper), iterations, minCount, rho, thresholdQuantile, missing, members })
}

function sharedApplyStep(key: string, plan: GgmReleasePlan, step: GgmReleasePlan['steps'][number], sums: Float64Array, prev: ReleaseState, settings: GgmReleaseSettings): ReleaseState {
  const m = lastStep
  if (m !== null && m.key === key && m.label === step.label && m.prev === prev && sameValues(m.sums, sums)) return m.out
  const out = applyStep(plan, step, sums, prev, settings)
  lastStep = { key, label: step.label, prev, sums, out }
  return out
}

function sameValues(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false
  return true
}
