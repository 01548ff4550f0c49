/**
 * What the consensus engine needs from a network: deliver typed frames between
 * neighbours. Implemented in memory (src/consensus/memory.ts, used by sim/ and tests)
 * and over libp2p (node/). The engine never sees PeerIds or sockets, only topology
 * indices, and trusts `from` because the transport authenticated it (Noise in node/).
 *
 * Changes (owner: consensus, H2; all additive, old frames stay valid):
 * - `kind` (absent = 'data') and `attempt` (absent = 0) on ConsensusFrame, for reruns
 *   after a neighbour timed out: an 'exclude' frame is flooded so every survivor agrees
 *   on the member set of session `session`; its payload lists the excluded topology
 *   indices (integers stored as f64), and `attempt` names that member set (see
 *   `attemptId` in src/consensus/index.ts). Data frames carry the attempt they belong to.
 * - Peers are any topology indices, not only overlay neighbours: per-session relabelling
 *   (DESIGN.md, eq. 6) makes a node exchange frames with the nodes sitting next to its
 *   relabelled position, so a transport must be able to reach every node of the topology.
 * - Payload ownership: the engine hands the same Float64Array to every recipient of a
 *   round and may overwrite it once all of them have answered that round. A transport
 *   must serialise (or copy) the payload before `send` returns or resolves, and must
 *   never mutate a payload it delivers. Receivers treat payloads as read-only.
 * - `lent` (third handler argument, optional): the transport will reuse the payload's memory
 *   (the simulator's worker threads recycle their frame batches). It stays valid until the
 *   transport calls `settleLentPayloads()` (src/consensus/round.ts), which the transport
 *   must do before the reuse; the engine then copies whatever it still holds.
 * - Wire codec guidance: kind u8 (0 data, 1 exclude), session/chunk/round/attempt u32,
 *   payload length u32 then little-endian f64s. Reject frames whose payload length is
 *   not the session's vector length (the engine rejects them too, reason 'bad-length').
 */

/**
 * 'data': one round's vector; 'exclude': the sender's excluded set for a session (control);
 * 'share' / 'reveal': the two steps of a Shamir secure sum (src/consensus/secure-sum.ts).
 */
export type FrameKind = 'data' | 'exclude' | 'share' | 'reveal'

/** One consensus message. Payloads are f64 vectors; on the wire little-endian. */
export interface ConsensusFrame {
  /** Absent means 'data'. */
  kind?: FrameKind
  /** Member-set id of a session rerun: 0 (or absent) = every node; u32 otherwise. */
  attempt?: number
  /** Consensus session: one per aggregate() call and chunk, agreed by all nodes. */
  session: number
  /** Chunk index within the aggregate() call (random chunking, eq. 6). */
  chunk: number
  /** Round t of x(t+1) = W x(t) within the session (0-based). */
  round: number
  payload: Float64Array
}

/**
 * Inbound frame handler. `lent` true: the payload stays valid only until the transport calls
 * `settleLentPayloads()` (it reuses the memory after that), where the engine copies what it
 * still holds; absent or false: the payload stays valid as long as anyone holds it.
 */
export type FrameHandler = (from: number, frame: ConsensusFrame, lent?: boolean) => void

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

/** `f` to keep for later (a queue): itself, or with a copy of its payload when the transport lent it. */
export function keepFrame(f: ConsensusFrame, lent: boolean): ConsensusFrame {
  return lent ? { ...f, payload: f.payload.slice() } : f
}
