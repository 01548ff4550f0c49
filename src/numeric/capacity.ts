/**
 * Capacity of a growing typed column (the compact ledger, session history and iteration
 * records): a quarter more plus a few slots, not double, so that spare room is at most
 * ~25 % of a store that 10,000 simulated nodes each hold (doubling left up to half of
 * every node's store empty). Copying on growth stays amortised O(1) per element.
 */
export function nextCapacity(current: number, needed: number): number {
  return Math.max(needed, Math.ceil(current * 1.25) + 8)
}
