/**
 * Data loading and splitting: `loadCsv` validates a node's private CSV at the edge
 * (errors name file, row and column); the split helpers spread rows over simulated
 * organisations from the injected seeded generator.
 */
export { DataError, loadCsv, parseCsv, assertNoConstantColumns } from './csv.js'
export type { LoadCsvOptions, LoadedCsv, MissingPolicy } from './csv.js'
export { MissingPolicySchema, parseMissingFlag, missingFromFlag, MISSING_FLAG_HELP } from './missing.js'
export {
  anomalySplit,
  dirichlet,
  gammaVariate,
  kmeans,
  splitIid,
  splitNonIid,
  splitUneven,
  unevenSizes,
  DEFAULT_PATTERNS,
  DEFAULT_PATTERN_CONCENTRATION,
  DEFAULT_SIZE_CONCENTRATION,
} from './split.js'
export type { AnomalyNodeSplit, AnomalySplit, AnomalySplitOptions, NonIidOptions } from './split.js'
