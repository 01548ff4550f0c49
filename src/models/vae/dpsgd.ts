/**
 * Per-step privacy accounting of the VAE's DP-SGD (hyper.dpSgd; DESIGN.md "Privacy").
 *
 * What the guarantee covers: the decoder part of every statistics vector a node shares.
 * Each localUpdate step is the Poisson-subsampled Gaussian mechanism on one node's rows
 * (per-sample gradients clipped to C, rate q, noise z C on the network sum when
 * all S nodes add their share), so the sequence of network-wide decoder sums, and every
 * decoder released from them, is (alpha, sum_t eps_t(alpha))-RDP per example: with respect
 * to adding or removing one row of one node's data. It is charged with audience
 * 'external' because the decoder leaves the node in every consensus round and may be
 * released.
 *
 * What it does not cover:
 * - the ELBO sum entry of the statistics vector (a training read-out, shared without
 *   noise) and the row count (the expected batch size q n_s; n_s is shared in prepare);
 * - a single node's contribution seen alone: it carries only noise z C / sqrt(S), so the
 *   guarantee assumes peers see sums only (random chunking or Shamir) and all S nodes add
 *   their share (a member who knows its own share faces (S-1)/S of the variance);
 * - with dpSgd.encoder = 'exact', the private encoder phi^s steps on the batch's exact
 *   gradient, and later decoder gradients are computed through it, so the bound then holds
 *   only for the decoder updates given the encoder. The default 'dp' clips each sample's
 *   encoder and decoder gradients to C / sqrt(2) each (the pair to C) and noises the
 *   encoder sum with this node's own N(0, z^2 C^2): phi^s is then a post-processing of
 *   DP outputs and the bound holds end to end at the same cost;
 * - the network standardisation statistics summed in prepare() (no noise).
 * The noise and the Poisson sampling come from the node's secret generator (never from
 * the shared seed), so peers cannot recompute and subtract them.
 */
import type { LedgerEntry, PrivacyLedger } from '../../privacy/ledger.js'
import type { VaePrivacyCost } from './model.js'

/**
 * Charge the last localUpdate()'s DP-SGD cost to `ledger` (audience 'external', kind
 * 'dp-sgd'), over the ledger's orders. Call it after localUpdate() and before the vector
 * is shared; it throws PrivacyBudgetExceededError (nothing charged) when the budget would
 * be exceeded, so the caller must not share. Returns null when DP-SGD is off.
 */
export function chargeVaeStep(model: { privacyCost(orders?: ArrayLike<number>): VaePrivacyCost | null }, ledger: PrivacyLedger): LedgerEntry | null {
  const cost = model.privacyCost(ledger.orders)
  if (cost === null) return null
  return ledger.charge({ kind: 'dp-sgd', label: cost.label, audience: 'external', rdp: cost.rdp, details: { ...cost.details } })
}
