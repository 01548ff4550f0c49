/**
 * The round state machine of one node in one consensus session chunk (sans-IO: frames in,
 * frames out through `emit`, no transport, no clock). Rounds are strict: round t completes
 * when every current neighbour's round-t frame is in; a neighbour can be at most one round
 * ahead (it needs our frame to go further), so round t+1 frames are kept, anything later is
 * a protocol violation. Linear schemes compute x(t+1) = w_self x(t) + sum_j w_j x_j(t)
 * (eq. 3-4); Chebyshev adds a - beta_t y(t-1) term (semi-iteration on the same W); finite-time
 * scales the self weight and the neighbour weights per round (one factor of its polynomial).
 *
 * Buffers: two per run. x(t+1) is written over x(t-1): by the time every neighbour's x(t)
 * is in, every neighbour has consumed our x(t-1), so no recipient still reads it (see the
 * payload ownership note in transport.ts).
 */
import type { ConsensusFrame } from './transport.js'
import type { SchemePlan } from './weights.js'

/**
 * Outcome of one data frame: 'ok' (new, kept), 'duplicate' (same round again, same content),
 * 'old' (an earlier round: a peer repairing a loss), 'stale' (older than the previous
 * round: the peer is out of step), 'conflict' (same round, different content: the peer
 * restarted mid-session or equivocates), 'not-neighbour', 'round-ahead', 'bad-length'.
 */
export type Receive = 'ok' | 'duplicate' | 'old' | 'stale' | 'conflict' | 'not-neighbour' | 'round-ahead' | 'bad-length'

/**
 * Three sampled entries identify a payload well enough to catch a restarted peer's new
 * values. The sender records them on the frame object when it sends: an in-memory
 * transport shares payload buffers, which the sender reuses rounds later, so a late
 * duplicate must be judged by what was sent, not by what the buffer holds now. Frames
 * decoded from a wire have no record and fresh buffers, so their payload is sampled
 * directly. The record lives on the frame (a symbol key no codec reads), so it goes with
 * the frame: a WeakMap keyed by frames kept a hash table sized for every frame of a
 * session (4 KB per node at S = 2,000) after the frames were gone.
 */
const SENT_SIG = Symbol('collabdict/sent-signature')
type SignedFrame = ConsensusFrame & { [SENT_SIG]?: readonly [number, number, number] }

function sample(x: Float64Array): readonly [number, number, number] {
  const n = x.length
  return n === 0 ? [0, 0, 0] : [x[0], x[n >> 1], x[n - 1]]
}

function frameSig(f: ConsensusFrame): readonly [number, number, number] {
  return (f as SignedFrame)[SENT_SIG] ?? sample(f.payload)
}

function sign(sig: Float64Array, slot: number, f: ConsensusFrame): void {
  const g = frameSig(f)
  sig[3 * slot] = g[0]
  sig[3 * slot + 1] = g[1]
  sig[3 * slot + 2] = g[2]
}

function sameSign(sig: Float64Array, slot: number, f: ConsensusFrame): boolean {
  const g = frameSig(f)
  return sig[3 * slot] === g[0] && sig[3 * slot + 1] === g[1] && sig[3 * slot + 2] === g[2]
}

/**
 * Copy stores of finished runs (see ChunkRun.copy), by length, for the next runs of this
 * thread, up to STORE_POOL_BYTES. A store is private to its run and unused once the run is
 * done, so reuse is safe; without it a worker thread of the simulator allocated one per
 * node and chunk in every session (2 x 3 x 229 values: 110 MB per worker and session at
 * S = 10,000 on two workers), external memory that starts garbage collections.
 */
const storePool = new Map<number, Float64Array[]>()
let pooledBytes = 0
const STORE_POOL_BYTES = 256 * 1024 * 1024

function takeStore(n: number): Float64Array {
  const s = storePool.get(n)?.pop()
  if (s === undefined) return new Float64Array(n)
  pooledBytes -= s.byteLength
  return s
}

function giveStore(s: Float64Array): void {
  if (pooledBytes + s.byteLength > STORE_POOL_BYTES) return
  let list = storePool.get(s.length)
  if (list === undefined) storePool.set(s.length, (list = []))
  list.push(s)
  pooledBytes += s.byteLength
}

/** Runs of this thread holding lent payloads not yet copied (see settleLentPayloads). */
const lentHolders: ChunkRun[] = []

/**
 * Copy every lent payload a run of this thread still holds into the run's own buffers. A
 * transport that lends payloads (FrameHandler's `lent`) calls this before it reuses their
 * memory. Until then runs use lent payloads in place: a round completed within the same
 * delivery (the usual case for a batch from another worker) never copies them.
 */
export function settleLentPayloads(): void {
  for (let i = 0; i < lentHolders.length; i++) lentHolders[i].settleLent()
  lentHolders.length = 0
}

/** Degrees up to this find a peer's slot by scanning the peer list instead of a Map. */
const SCAN_DEGREE = 16

export interface RoundEvent {
  session: number
  chunk: number
  attempt: number
  round: number
  /** This node's estimate after `round` rounds (read-only; valid during the callback). */
  value: Float64Array
}

export interface ChunkRunInit {
  session: number
  chunk: number
  attempt: number
  /** Node indices of this node's neighbours in the session's (relabelled, member) graph. */
  peers: Int32Array
  /** Base W row: self weight and one weight per peer. */
  selfWeight: number
  peerWeights: Float64Array
  plan: SchemePlan
  /** Initial value x(0); copied. */
  x0: Float64Array
  /** Send one frame to several peers (the same object to all). */
  emit: (to: Int32Array, frame: ConsensusFrame) => void
  /** Called once when the last round is done. */
  onDone: (run: ChunkRun) => void
  onRound?: (e: RoundEvent) => void
}

export class ChunkRun {
  readonly session: number
  readonly chunk: number
  readonly attempt: number
  readonly peers: Int32Array
  readonly rounds: number
  readonly len: number
  /** Current round: we hold x(t), have sent it, and wait for the neighbours' x(t). */
  t = 0
  done = false
  private started = false
  /** Time (any unit the host uses) at which round t started waiting; set by the host. */
  roundStartedAt = 0
  private cur: Float64Array
  private prev: Float64Array | null = null
  /** Peer -> slot for large degrees; small ones scan `peers` (no hash, no extra load). */
  private readonly slotOf: Map<number, number> | null
  private recv: Array<Float64Array | null>
  private recvNext: Array<Float64Array | null>
  /**
   * This run's copies of lent neighbour values (receive's `lent`), per slot, for rounds t
   * and t+1; allocated on the first lent frame.
   */
  private copyCur: Float64Array[] | null = null
  private copyNext: Float64Array[] | null = null
  /** The buffer behind copyCur and copyNext (back to the pool when the run is done). */
  private copyStore: Float64Array | null = null
  /** Slots of rounds t and t+1 that hold a lent payload in place (1), allocated on the first. */
  private lentCur: Uint8Array | null = null
  private lentNext: Uint8Array | null = null
  /** In lentHolders. */
  private holdsLent = false
  /** Payload signatures per peer for rounds t-1, t, t+1. */
  private sigPrev: Float64Array
  private sigCur: Float64Array
  private sigNext: Float64Array
  private count = 0
  private countNext = 0
  private readonly selfWeight: number
  private readonly peerWeights: Float64Array
  private readonly cheb: { a: number; b: number; z0: number } | null
  /** Finite-time roots, one per round (x(t+1) = (W x(t) - r_t x(t)) / (1 - r_t)). */
  private readonly roots: Float64Array | null
  /** Chebyshev ratio c_{t-1} / c_t. */
  private ratio = 0
  private readonly emit: ChunkRunInit['emit']
  private readonly onDone: ChunkRunInit['onDone']
  private readonly onRound: ChunkRunInit['onRound']
  private lastFrame: ConsensusFrame | null = null
  private prevFrame: ConsensusFrame | null = null

  constructor(init: ChunkRunInit) {
    this.session = init.session
    this.chunk = init.chunk
    this.attempt = init.attempt
    this.peers = init.peers
    this.rounds = init.plan.rounds
    this.len = init.x0.length
    this.selfWeight = init.selfWeight
    this.peerWeights = init.peerWeights
    this.emit = init.emit
    this.onDone = init.onDone
    this.onRound = init.onRound
    if (init.peers.length > SCAN_DEGREE) {
      this.slotOf = new Map()
      for (let k = 0; k < init.peers.length; k++) this.slotOf.set(init.peers[k], k)
    } else this.slotOf = null
    this.recv = new Array<Float64Array | null>(init.peers.length).fill(null)
    this.recvNext = new Array<Float64Array | null>(init.peers.length).fill(null)
    // one buffer for the three rounds' signatures (one allocation per run, not three)
    const d3 = 3 * init.peers.length
    const sigs = new Float64Array(3 * d3)
    this.sigPrev = sigs.subarray(0, d3)
    this.sigCur = sigs.subarray(d3, 2 * d3)
    this.sigNext = sigs.subarray(2 * d3)
    this.cheb =
      init.plan.kind === 'chebyshev' ? { a: init.plan.a, b: init.plan.b, z0: (2 - init.plan.a - init.plan.b) / (init.plan.b - init.plan.a) } : null
    this.roots = init.plan.kind === 'finite' ? init.plan.roots : null
    this.cur = Float64Array.from(init.x0)
  }

  /** Announce x(0) (or finish at once when there are no rounds to run). */
  start(): void {
    if (this.started) return
    this.started = true
    this.onRound?.({ session: this.session, chunk: this.chunk, attempt: this.attempt, round: 0, value: this.cur })
    if (this.rounds === 0 || this.peers.length === 0) {
      this.finish()
      return
    }
    this.send()
    // Frames that arrived before we started may already complete round 0.
    if (!this.done && this.count === this.peers.length) this.advance()
  }

  /** The estimate x(R) once done (the chunk's network average). */
  get value(): Float64Array {
    return this.cur
  }

  isPeer(node: number): boolean {
    return this.slot(node) >= 0
  }

  /** Slot of peer `node`, -1 if it is not a peer. */
  private slot(node: number): number {
    if (this.slotOf !== null) return this.slotOf.get(node) ?? -1
    const p = this.peers
    for (let k = 0; k < p.length; k++) if (p[k] === node) return k
    return -1
  }

  /** Peers whose frame for the current round is still missing. */
  missing(): number[] {
    const out: number[] = []
    if (this.done) return out
    for (let k = 0; k < this.peers.length; k++) if (this.recv[k] === null) out.push(this.peers[k])
    return out
  }

  /** The frame we last sent (for retransmission), or null. */
  currentFrame(): ConsensusFrame | null {
    return this.done ? null : this.lastFrame
  }

  /** Our frame of round `round` if we still hold it (the current or the previous round). */
  frameOf(round: number): ConsensusFrame | null {
    if (this.lastFrame !== null && this.lastFrame.round === round) return this.lastFrame
    if (this.prevFrame !== null && this.prevFrame.round === round) return this.prevFrame
    return null
  }

  /** `lent`: the payload is valid until the transport calls settleLentPayloads, which copies it if still held. */
  receive(from: number, frame: ConsensusFrame, lent = false): Receive {
    const round = frame.round
    const payload = frame.payload
    const slot = this.slot(from)
    if (slot < 0) return 'not-neighbour'
    if (payload.length !== this.len) return 'bad-length'
    if (round >= this.rounds) return 'round-ahead'
    if (this.done) {
      // Finished at t = R: only the last round can still be asked for.
      if (round !== this.t - 1) return 'stale'
      return sameSign(this.sigPrev, slot, frame) ? 'old' : 'conflict'
    }
    if (round < this.t) {
      if (round !== this.t - 1) return 'stale'
      return sameSign(this.sigPrev, slot, frame) ? 'old' : 'conflict'
    }
    if (round === this.t) {
      if (this.recv[slot] !== null) return sameSign(this.sigCur, slot, frame) ? 'duplicate' : 'conflict'
      this.recv[slot] = payload
      if (lent) this.markLent(false, slot)
      sign(this.sigCur, slot, frame)
      this.count++
      if (this.started && this.count === this.peers.length) this.advance()
      return 'ok'
    }
    if (round === this.t + 1) {
      if (this.recvNext[slot] !== null) return sameSign(this.sigNext, slot, frame) ? 'duplicate' : 'conflict'
      this.recvNext[slot] = payload
      if (lent) this.markLent(true, slot)
      sign(this.sigNext, slot, frame)
      this.countNext++
      return 'ok'
    }
    return 'round-ahead'
  }

  private markLent(next: boolean, slot: number): void {
    if (this.lentCur === null || this.lentNext === null) {
      this.lentCur = new Uint8Array(this.peers.length)
      this.lentNext = new Uint8Array(this.peers.length)
    }
    ;(next ? this.lentNext : this.lentCur)[slot] = 1
    if (!this.holdsLent) {
      this.holdsLent = true
      lentHolders.push(this)
    }
  }

  /** Copy the lent payloads this run still holds (settleLentPayloads). */
  settleLent(): void {
    this.holdsLent = false
    const lc = this.lentCur
    const ln = this.lentNext
    if (this.done || lc === null || ln === null) return
    for (let k = 0; k < lc.length; k++) {
      const x = this.recv[k]
      if (lc[k] === 1 && x !== null) this.recv[k] = this.copy(false, k, x)
      const y = this.recvNext[k]
      if (ln[k] === 1 && y !== null) this.recvNext[k] = this.copy(true, k, y)
    }
    lc.fill(0)
    ln.fill(0)
  }

  /** A lent payload copied into this run's buffer for `slot` of round t (or t+1 when `next`). */
  private copy(next: boolean, slot: number, payload: Float64Array): Float64Array {
    if (this.copyCur === null || this.copyNext === null) {
      // one buffer for both rounds' copies (two rows of degree x len values)
      const d = this.peers.length
      const n = this.len
      const store = takeStore(2 * d * n)
      this.copyStore = store
      this.copyCur = Array.from({ length: d }, (_, k) => store.subarray(k * n, (k + 1) * n))
      this.copyNext = Array.from({ length: d }, (_, k) => store.subarray((d + k) * n, (d + k + 1) * n))
    }
    const c = (next ? this.copyNext : this.copyCur)[slot]
    c.set(payload)
    return c
  }

  private advance(): void {
    while (!this.done && this.count === this.peers.length) {
      this.step()
      // Rotate the receive slots: round t+1 frames become current.
      const r = this.recv
      r.fill(null)
      this.recv = this.recvNext
      this.recvNext = r
      const c = this.copyCur
      this.copyCur = this.copyNext
      this.copyNext = c
      const l = this.lentCur
      if (l !== null) {
        l.fill(0)
        this.lentCur = this.lentNext
        this.lentNext = l
      }
      const g = this.sigPrev
      this.sigPrev = this.sigCur
      this.sigCur = this.sigNext
      this.sigNext = g
      this.count = this.countNext
      this.countNext = 0
      this.t++
      this.onRound?.({ session: this.session, chunk: this.chunk, attempt: this.attempt, round: this.t, value: this.cur })
      if (this.t >= this.rounds) {
        this.finish()
        return
      }
      this.send()
    }
  }

  /** x(t+1) from x(t), the neighbours' x(t) and (Chebyshev) x(t-1). */
  private step(): void {
    const n = this.len
    let cSelf: number
    let cPeer: number // multiplier applied to every peer weight
    let beta = 0
    if (this.roots !== null) {
      const r = this.roots[this.t]
      cSelf = (this.selfWeight - r) / (1 - r)
      cPeer = 1 / (1 - r)
    } else if (this.cheb === null) {
      cSelf = this.selfWeight
      cPeer = 1
    } else {
      const { a, b, z0 } = this.cheb
      // y(t+1) = alpha_t M y(t) - beta_t y(t-1), M = (2W - (a+b)I)/(b-a); alpha_0 = 1/z0, beta_0 = 0.
      let alpha: number
      if (this.t === 0) {
        alpha = 1 / z0
        this.ratio = 1 / z0
      } else {
        const d = 2 * z0 - this.ratio
        alpha = 2 / d
        beta = this.ratio / d
        this.ratio = 1 / d
      }
      cSelf = (alpha * (2 * this.selfWeight - (a + b))) / (b - a)
      cPeer = (2 * alpha) / (b - a)
    }
    const cur = this.cur
    const prev = this.prev
    const out = prev ?? new Float64Array(n)
    const b = prev !== null ? beta : 0
    const x = this.recv as Float64Array[]
    const w = this.peerWeights
    const d = this.peers.length
    // One pass over memory for the usual sparse degrees; a generic pass otherwise.
    if (d === 3) {
      const x0 = x[0], x1 = x[1], x2 = x[2]
      const w0 = cPeer * w[0], w1 = cPeer * w[1], w2 = cPeer * w[2]
      if (b !== 0) for (let i = 0; i < n; i++) out[i] = cSelf * cur[i] - b * out[i] + w0 * x0[i] + w1 * x1[i] + w2 * x2[i]
      else for (let i = 0; i < n; i++) out[i] = cSelf * cur[i] + w0 * x0[i] + w1 * x1[i] + w2 * x2[i]
    } else if (d === 2) {
      const x0 = x[0], x1 = x[1]
      const w0 = cPeer * w[0], w1 = cPeer * w[1]
      if (b !== 0) for (let i = 0; i < n; i++) out[i] = cSelf * cur[i] - b * out[i] + w0 * x0[i] + w1 * x1[i]
      else for (let i = 0; i < n; i++) out[i] = cSelf * cur[i] + w0 * x0[i] + w1 * x1[i]
    } else {
      // Other degrees: self (and y(t-1)) in the first pass, then neighbours two at a time.
      if (b !== 0) for (let i = 0; i < n; i++) out[i] = cSelf * cur[i] - b * out[i]
      else for (let i = 0; i < n; i++) out[i] = cSelf * cur[i]
      let k = 0
      for (; k + 1 < d; k += 2) {
        const xa = x[k], xb = x[k + 1]
        const wa = cPeer * w[k], wb = cPeer * w[k + 1]
        for (let i = 0; i < n; i++) out[i] += wa * xa[i] + wb * xb[i]
      }
      if (k < d) {
        const xa = x[k]
        const wa = cPeer * w[k]
        for (let i = 0; i < n; i++) out[i] += wa * xa[i]
      }
    }
    this.prev = cur
    this.cur = out
  }

  private send(): void {
    const frame: SignedFrame = { session: this.session, chunk: this.chunk, round: this.t, attempt: this.attempt, payload: this.cur, [SENT_SIG]: sample(this.cur) }
    this.prevFrame = this.lastFrame
    this.lastFrame = frame
    this.emit(this.peers, frame)
  }

  private finish(): void {
    this.done = true
    // x(R) was written over x(R-2): that frame is gone; x(R-1) stays for late neighbours.
    this.prevFrame = null
    this.recv = []
    this.recvNext = []
    this.copyCur = null
    this.copyNext = null
    this.lentCur = null
    this.lentNext = null
    if (this.copyStore !== null) giveStore(this.copyStore)
    this.copyStore = null
    this.onDone(this)
  }
}
