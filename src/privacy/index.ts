/**
 * The privacy layer: Rényi-DP accountant, per-node ledger, Theorem 1 posterior release and
 * the released-model format, entropy l-diversity monitor, and the noise mechanisms of the
 * reference papers (Gaussian with clipping, distributed Gaussian, Laplace LDP, DP-SGD).
 */
export * from './errors.js'
export * from './rdp.js'
export {
  DEFAULT_LEDGER_DELTA,
  LEDGER_FORMAT,
  LEDGER_VERSION,
  ledgerSettings,
  PrivacyLedger,
  writeFileAtomic,
  type Audience,
  type Charge,
  type LedgerDetails,
  type LedgerEntry,
  type LedgerFile,
  type LedgerSettings,
} from './ledger.js'
export * from './mechanisms.js'
export * from './theorem1.js'
export * from './mixture-score.js'
export * from './ggm-release.js'
export * from './neighbour-attack.js'
export * from './ldiversity.js'
export * from './attack.js'
export * from './montecarlo.js'
export * from './audit.js'
