/**
 * What the consensus engine needs from a network: deliver typed frames between
 * neighbours. Implemented in memory (src/consensus/memory.ts, used by sim/ and tests)
 * and over libp2p (node/). The engine never sees PeerIds or sockets, only topology
 * indices, and trusts `from` because the transport authenticated it (Noise in node/).
 */

/** One consensus message. Payloads are f64 vectors; on the wire little-endian. */
export interface ConsensusFrame {
  /** Consensus session: one per aggregate() call and chunk, agreed by all nodes. */
  session: number
  /** Chunk index within the aggregate() call (random chunking, eq. 6). */
  chunk: number
  /** Round t of x(t+1) = W x(t) within the session (0-based). */
  round: number
  payload: Float64Array
}

export type FrameHandler = (from: number, frame: ConsensusFrame) => void

export interface Transport {
  /** This node's index in the topology (0..S-1). */
  readonly self: number
  /**
   * Send `frame` to neighbour `to`. May complete asynchronously; a failure to deliver
   * is reported by rejecting (the engine treats it like a silent neighbour).
   */
  send(to: number, frame: ConsensusFrame): void | Promise<void>
  /** Install the inbound handler (one per transport); `from` is the authenticated sender. */
  onFrame(handler: FrameHandler): void
  /** Tell the transport a peer misbehaved (invalid or duplicate frame); counted, may disconnect. */
  reportPeer?(peer: number, reason: string): void
}

/** Time source and timers: the wall clock in node/, a virtual clock in the simulator. */
export interface Clock {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
}
