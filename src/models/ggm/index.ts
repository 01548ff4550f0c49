/**
 * Sparse GGM mixture of CollabDict (eq. 7-20): factory, loading, and the reference fits
 * with exact sums (centralised: one node holding every row; S nodes summed exactly).
 */
import { z } from 'zod'
import type { Mat } from '../../numeric/matrix.js'
import { runExact } from './exact.js'
import { parseGgmHyper, type GgmHyper, type GgmHyperInput } from './hyper.js'
import { selectionPayloadLength } from './select.js'
import { createGgm, GGM_SAVE_VERSION, GgmError, restoreGgm, statsLength, type GgmModel } from './model.js'
import { formatIssues } from '../model.js'
import { PreprocessingJsonSchema } from '../preprocess.js'

export {
  createGgm,
  GgmError,
  GGM_GLOBAL_VERSION,
  GGM_SAVE_VERSION,
  LOG_WEIGHT_FLOOR,
  STATS_HEADER,
  statsBlock,
  statsLength,
  statsVoteAt,
} from './model.js'
export type { GgmModel, GgmRelease, GgmSavedParams, GgmStart, StopReason } from './model.js'
export {
  DEFAULT_DELTA,
  DEFAULT_GLASSO_MAX_ITER,
  DEFAULT_GLASSO_TOL,
  DEFAULT_K,
  DEFAULT_LAMBDA0,
  DEFAULT_MAX_ITER,
  DEFAULT_RHO,
  DEFAULT_RIDGE,
  DEFAULT_TOL,
  GgmHyperError,
  ggmHyperSchema,
  parseGgmHyper,
} from './hyper.js'
export type { GgmHyper, GgmHyperInput } from './hyper.js'
export { unseenComponents, unseenLine, UNSEEN_MIN_SHARE, UNSEEN_RATIO, type UnseenComponent } from './weights.js'
export { GgmSelectionError, selectionPayloadLength, type GgmSelection, type SelectionRow } from './select.js'
export { exactNetwork, ExactRunError, runExact, sumVectors, EXACT_MAX_ROUNDS } from './exact.js'

/** Longest statistics vector a GGM of these hyper-parameters sends on M features (training, or the model selection of K 'auto'). */
export function ggmPayloadLength(h: GgmHyper, M: number): number {
  return h.K === 'auto' ? Math.max(selectionPayloadLength(h, M), statsLength(h.select.kMax, M)) : statsLength(h.K, M)
}

const finite = z.number().finite()
const traceSchema = z.array(
  z.object({ iteration: z.number().int(), objective: z.number() }).catchall(z.union([z.number(), z.array(z.number()), z.string(), z.boolean()])),
)
const paramsSchema = z.object({
  dim: z.number().int().min(1),
  iteration: z.number().int().min(0),
  converged: z.boolean(),
  stopReason: z.enum(['tol', 'maxIter']).nullable(),
  prevObjective: finite.nullable(),
  clipped: z.number().int().min(0),
  /** rho in use (the network's choice for K 'auto'); absent in files of earlier builds: hyper.rho. */
  rho: z.number().min(0).finite().optional(),
  selection: z.unknown().optional(),
  preprocessing: PreprocessingJsonSchema,
  components: z
    .array(
      z.object({
        id: z.number().int().min(0),
        nbar: finite.min(0),
        logWeight: finite,
        mean: z.array(finite),
        precision: z.array(finite),
        covariance: z.array(finite),
      }),
    )
    .min(1),
})
const savedSchema = z.object({
  format: z.literal('collabdict-model'),
  version: z.number().int(),
  kind: z.literal('ggm'),
  hyper: z.record(z.string(), z.unknown()),
  numericBuild: z.string(),
  params: paramsSchema,
  trace: traceSchema,
})

/** Rebuild a GGM model from `save()` output (validated; GgmError says what is wrong). */
export function loadGgm(saved: unknown): GgmModel {
  const r = savedSchema.safeParse(saved)
  if (!r.success) {
    const issues = formatIssues(r.error)
    throw new GgmError(`not a saved GGM model: ${issues}`)
  }
  const s = r.data
  if (s.version !== GGM_SAVE_VERSION) {
    throw new GgmError(`saved GGM model has version ${s.version}; this release reads version ${GGM_SAVE_VERSION}`)
  }
  const hyper = parseGgmHyper(s.hyper)
  return restoreGgm(hyper, s.params, s.trace)
}

/**
 * The centralised reference: the same model code, one node holding every row, exact
 * sums. Returns the fitted (converged) model.
 */
export async function fitCentralised(data: Mat, hyper: GgmHyperInput = {}): Promise<GgmModel> {
  const [m] = await runExact([createGgm(hyper)], [data])
  return m
}

/**
 * S nodes (one per part) with an exact synchronous network sum: every node prepares,
 * then localUpdate on every node, the sum, optimize on every node, until converged.
 * Returns the S models (model s holds part s; the global parts are identical).
 */
export async function fitExact(parts: Mat[], hyper: GgmHyperInput = {}): Promise<GgmModel[]> {
  parseGgmHyper(hyper)
  return runExact(
    parts.map(() => createGgm(hyper)),
    parts,
  )
}
