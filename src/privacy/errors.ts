/** Named errors of the privacy layer; messages say what to change. */

/** A privacy setting is invalid (lambda0 <= 0, delta outside (0, 1), negative budget, missing R or B, ...). */
export class PrivacySettingsError extends Error {
  override name = 'PrivacySettingsError'
}

/** Charging this cost would take the ledger past its configured (epsilon, delta) budget; nothing was released. */
export class PrivacyBudgetExceededError extends Error {
  override name = 'PrivacyBudgetExceededError'
}

/** A persisted ledger file is unreadable, malformed or inconsistent with its own entries. */
export class LedgerCorruptError extends Error {
  override name = 'LedgerCorruptError'
}

/** A node has training state (a checkpoint) but no ledger: its spent privacy would silently restart at zero. */
export class LedgerMissingError extends Error {
  override name = 'LedgerMissingError'
}
