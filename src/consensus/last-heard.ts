/**
 * When each peer was last heard from, for the consensus engine's timeouts: a sparse map
 * (peer -> clock ms) instead of one entry per topology node, so a node's memory grows with
 * the peers it talks to, not with S (a dense Float64Array(S) per node was 80 KB at
 * S = 10,000 and would be 80 GB over 100,000 nodes).
 *
 * The engine only compares max(lastHeard(p), roundStartedAt) with the timeout, and every
 * round of a session starts at or after the session's start, so an entry older than the
 * oldest open session's start (or than now, with none open) can never decide anything,
 * nor can one equal to it (the max is the round's start either way): prune() drops those,
 * which keeps the map to the peers of recent rounds, also on a virtual clock that stands
 * still while zero-latency sessions run. Entries in the
 * future (a back-off extends a peer's grace) are kept until they pass.
 */
export class LastHeard {
  private readonly at = new Map<number, number>()

  /** Clock ms at which `peer` was last heard from; -Infinity if never (or pruned as irrelevant). */
  get(peer: number): number {
    return this.at.get(peer) ?? Number.NEGATIVE_INFINITY
  }

  set(peer: number, ms: number): void {
    this.at.set(peer, ms)
  }

  /** Drop the entries at or before `ms` (no round still open or yet to come starts before it). */
  prune(ms: number): void {
    for (const [p, t] of this.at) if (t <= ms) this.at.delete(p)
  }

  /** Peers held (memory bound checks). */
  get size(): number {
    return this.at.size
  }
}
