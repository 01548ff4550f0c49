/** Named errors of the consensus engine; messages say what to do next. */

/** A neighbour stayed silent past the timeout (and no rerun was allowed or possible). */
export class NeighbourTimeoutError extends Error {
  override name = 'NeighbourTimeoutError'
  constructor(
    readonly peer: number,
    readonly session: number,
    readonly round: number,
    /** Every peer found silent at the same time (peer is the lowest). */
    readonly silent: number[] = [peer],
    detail = '',
  ) {
    super(
      `neighbour ${peer} sent nothing for session ${session} round ${round}${detail}; ` +
        'check that the node is running and reachable, raise timeoutMs, or set rerunOnTimeout to continue without it',
    )
  }
}

/** The other nodes excluded this node from a session (they timed out on it). */
export class ExcludedError extends Error {
  override name = 'ExcludedError'
  constructor(
    readonly session: number,
    readonly excluded: number[],
  ) {
    super(
      `this node was excluded from consensus session ${session} by its peers (excluded: ${excluded.join(', ')}); ` +
        'its share is not in that sum; call sum() again for the next label to rejoin',
    )
  }
}

/**
 * This node fell out of step with its peers in a session (they are rounds ahead: it was
 * restarted mid-session with fresh state). A kind of exclusion: its share is not in that
 * sum, and it rejoins at a later call. Resume restarted nodes at a session they never began.
 */
export class OutOfStepError extends ExcludedError {
  override name = 'OutOfStepError'
  constructor(session: number, ahead: number[]) {
    super(session, [])
    this.message =
      `this node is out of step in consensus session ${session}: peers ${ahead.join(', ')} are rounds ahead ` +
      '(restarted mid-session?); its share is not in that sum; call sum() again for the next label to rejoin, ' +
      'and resume restarted nodes at a session they never began'
  }
}

/** sum()/average() after close(), or pending when close() was called. */
export class ConsensusClosedError extends Error {
  override name = 'ConsensusClosedError'
}

/** Invalid input vector or option. */
export class ConsensusInputError extends Error {
  override name = 'ConsensusInputError'
}

/**
 * A neighbour sent frames of this node's session and attempt with a vector of another
 * length: the two are not summing the same thing (they disagree on what the session is,
 * e.g. a model took different paths on the two nodes). No wait can end it, so the session
 * fails at once, naming both sides.
 */
export class SessionMismatchError extends Error {
  override name = 'SessionMismatchError'
  constructor(
    readonly node: number,
    readonly session: number,
    readonly label: string,
    readonly peer: number,
    readonly peerLength: number,
    readonly ownLength: number,
  ) {
    super(
      `node ${node}, session ${session} ('${label}'): peer ${peer} sends vectors of length ${peerLength}, this node sums length ${ownLength}; ` +
        'the nodes disagree on what they are summing (different data shapes, configs or code versions): check that every node runs the same release and config',
    )
  }
}
