/**
 * Two processes started with one node's key on different hosts (a copied identity
 * directory): the lock file (node/identity.ts) catches the second start on the same host
 * only. Across hosts, each peer sees the symptom: that node's frames arrive over two
 * live connections at once. A legitimate node keeps one long-lived stream per neighbour
 * and moves to another connection only when the stream breaks (a restart, a redial), so
 * its frames switch connection once and stay there. Two processes interleave: X, Y, X, Y.
 * The watch flags a peer whose frames come back to a connection they had left, twice
 * within `windowMs`: a legitimate node would need three broken streams in that time.
 */

/** Returns to an earlier connection within the window that make a duplicate. */
export const DUPLICATE_RETURNS = 2
export const DUPLICATE_WINDOW_MS = 10_000

interface PeerTrack {
  conn: string
  /** Connections this peer's frames used, with the last time each delivered. */
  used: Map<string, number>
  /** Times the frames came back to a connection used before. */
  returns: number[]
  flagged: boolean
}

export interface DuplicateSighting {
  peer: number
  connections: string[]
}

export class DuplicateIdentityWatch {
  private readonly peers = new Map<number, PeerTrack>()

  constructor(
    private readonly windowMs = DUPLICATE_WINDOW_MS,
    private readonly returnsNeeded = DUPLICATE_RETURNS,
  ) {}

  /**
   * One frame from `peer` over connection `conn` at time `now` (ms): a sighting the first
   * time this peer's frames are seen interleaving over two connections (reported once per
   * peer until `forget`), null otherwise.
   */
  observe(peer: number, conn: string, now: number): DuplicateSighting | null {
    let t = this.peers.get(peer)
    if (t === undefined) {
      t = { conn, used: new Map([[conn, now]]), returns: [], flagged: false }
      this.peers.set(peer, t)
      return null
    }
    if (t.conn !== conn) {
      const before = t.used.get(conn)
      if (before !== undefined && now - before <= this.windowMs) t.returns.push(now)
      t.conn = conn
    }
    t.used.set(conn, now)
    // connections silent for a window are gone (a restart's old stream): forget them
    for (const [c, at] of t.used) if (now - at > this.windowMs) t.used.delete(c)
    while (t.returns.length > 0 && now - t.returns[0] > this.windowMs) t.returns.shift()
    if (t.flagged || t.returns.length < this.returnsNeeded) return null
    t.flagged = true
    return { peer, connections: [...t.used.keys()] }
  }

  /** Forget a peer (e.g. after the operator resolved the duplicate); it can be flagged again. */
  forget(peer: number): void {
    this.peers.delete(peer)
  }
}
