/**
 * Network sums by Shamir secret sharing (`consensus.protection: shamir`), the alternative
 * to dynamical consensus with random chunking: exact (fixed-point) sums, no node ever
 * holds fewer than `threshold` points of anyone's polynomial, and the sum survives members
 * dropping out after they shared. It is a drop-in ConsensusNode (sum / average / close)
 * over the same Transport, with session ids numbered like the consensus engine's.
 *
 * One session, members 0..S-1 at x = index + 1, threshold t (default a majority):
 *   1. share:  each member encodes its vector (fixed point, GF(2^127 - 1)), draws a random
 *              polynomial of degree t - 1 per entry from its SECRET generator, and sends
 *              f_i(x_j) to every member j (frame kind 'share', four u32 words per entry).
 *   2. reveal: once it holds a share from every member it has not declared absent (a
 *              member silent for timeoutMs is declared absent), member j sends everyone
 *              y_j = sum over present i of f_i(x_j) with its absent set A (kind 'reveal').
 *              Absent sets only grow: a member that sees a reveal naming someone it
 *              thought present adds it and reveals again over the smaller set (it kept
 *              the individual shares), so all members converge on one set.
 *   3. reconstruct: with t reveals of the same A (all present members', or t of them
 *              once timeoutMs passed since its own reveal), Lagrange interpolation at 0
 *              gives sum over present i of x_i, exactly the same on every member.
 * A member that dies after sharing is not absent: the others reconstruct from t of the
 * rest and its input is included. With fewer than t reveals after 3 timeouts the session
 * fails with ShamirQuorumError.
 *
 * Costs: per member and session, S - 1 share frames and S - 1 reveal frames of 4 L words
 * (about 64 L (S - 1) bytes), and S t L field multiplications: meant for networks of tens
 * of members; chunking scales to thousands.
 *
 * What a single honest-but-curious member sees: one point of each other member's
 * polynomials (uniform in the field whatever the secret, when t >= 2) and the reveals,
 * which determine only the sum. Any t colluding members can reconstruct every input.
 */
import type { RandomSource } from '../numeric/rng.js'
import { SecretRng } from '../numeric/secret-rng.js'
import type { Topology } from '../../topologies/index.js'
import { ConsensusClosedError, ConsensusInputError } from './errors.js'
import { SessionHistory } from './history.js'
import { emptyConsensusStats, HISTORY_LIMIT, type ConsensusNode, type ConsensusStats, type SessionRecord, type SessionWait, type SumOptions } from './node.js'
import { DEFAULT_FRACTION_BITS, fieldSum, fromWords, reconstructField, shamirDecode, shamirEncode, toWords, SHAMIR_PRIME } from './shamir.js'
import { keepFrame, systemClock, type Clock, type ConsensusFrame, type Transport } from './transport.js'

/** Words per field element on the wire. */
export const WORDS = 4
/** Finished sessions kept to answer members that are late. */
const LINGER_SESSIONS = 4
/** Sessions ahead of ours whose early frames are queued. */
const MAX_AHEAD = 8
/** Longest interval between resends of what a silent member may have missed (ms). */
export const SHAMIR_RETRANSMIT_MS = 250

/** Fewer than `threshold` members revealed the same absent set in time: the sum cannot be reconstructed. */
export class ShamirQuorumError extends Error {
  override name = 'ShamirQuorumError'
}

export interface ShamirNodeOptions {
  topology: Topology
  transport: Transport
  clock?: Clock
  /** This node's secret generator for the polynomial coefficients; default a fresh OS-entropy SecretRng. */
  noise?: RandomSource
  /** Reveals needed to reconstruct (and the collusion size that learns nothing below it); default floor(S/2) + 1. */
  threshold?: number
  fractionBits?: number
  /** A member silent this long is declared absent (and reveals wait this long); default 10 s. */
  timeoutMs?: number
  retransmitMs?: number
  firstSession?: number
}

interface Session {
  id: number
  label: string
  len: number
  mode: 'sum' | 'average'
  startedAt: number
  /** Payload of the share frame for member j (null for self). */
  shareOut: (Float64Array | null)[]
  /** Shares of the members' secrets this node holds (its own included), by member. */
  held: Map<number, bigint[]>
  absent: Set<number>
  reveals: Map<string, Map<number, bigint[]>>
  /** Key and payload of this node's latest reveal. */
  myKey: string | null
  myReveal: Float64Array | null
  revealedAt: number
  lastResend: number
  /** When a late member was last answered (finished sessions). */
  answeredAt: Map<number, number>
  result: Float64Array | null
  resolve: (v: Float64Array) => void
  reject: (e: Error) => void
}

const keyOf = (absent: Iterable<number>): string => [...absent].sort((a, b) => a - b).join(',')

class ShamirNodeImpl implements ConsensusNode {
  private readonly history = new SessionHistory(HISTORY_LIMIT)
  /** The counters, a plain object (fast properties: updated on every frame); see `stats`. */
  private readonly counters: ConsensusStats = emptyConsensusStats()

  get stats(): ConsensusStats {
    this.history.syncInto(this.counters)
    return this.counters
  }
  private readonly S: number
  private readonly self: number
  private readonly t: number
  private readonly f: number
  private readonly clock: Clock
  private readonly rng: RandomSource
  private readonly timeoutMs: number
  private readonly retransmitMs: number
  private session: number
  private readonly open = new Map<number, Session>()
  private readonly done = new Map<number, Session>()
  private readonly early = new Map<number, Array<[number, ConsensusFrame]>>()
  private readonly lastHeard: Float64Array
  private tickHandle: unknown = null
  private closed = false

  constructor(private readonly o: ShamirNodeOptions) {
    this.S = o.topology.nodes.length
    this.self = o.transport.self
    if (!Number.isInteger(this.self) || this.self < 0 || this.self >= this.S) throw new ConsensusInputError(`transport.self is ${this.self}, not a node of the ${this.S}-node topology`)
    this.t = o.threshold ?? Math.floor(this.S / 2) + 1
    if (!Number.isInteger(this.t) || this.t < 1 || this.t > this.S) throw new ConsensusInputError(`Shamir threshold must be an integer in 1..${this.S}, got ${this.t}`)
    this.f = o.fractionBits ?? DEFAULT_FRACTION_BITS
    this.clock = o.clock ?? systemClock
    this.rng = o.noise ?? SecretRng.fromOsEntropy()
    this.timeoutMs = o.timeoutMs ?? 10_000
    this.retransmitMs = o.retransmitMs ?? SHAMIR_RETRANSMIT_MS
    this.session = o.firstSession ?? 0
    this.lastHeard = new Float64Array(this.S).fill(Number.NEGATIVE_INFINITY)
    o.transport.onFrame((from, frame, lent) => this.onFrame(from, frame, lent === true))
  }

  get nextSession(): number {
    return this.session
  }

  sum(vec: Float64Array, label: string, _opts?: SumOptions): Promise<Float64Array> {
    return this.begin(vec, label, 'sum')
  }

  average(vec: Float64Array, label: string, _opts?: SumOptions): Promise<Float64Array> {
    return this.begin(vec, label, 'average')
  }

  waiting(): SessionWait[] {
    const now = this.clock.now()
    return [...this.open.values()].map((s) => {
      // phase 0 (shares): members whose share has not arrived; phase 1 (reveals): members whose reveal for our absent set has not
      const revealed = s.myKey === null ? null : s.reveals.get(s.myKey)
      const missing: number[] = []
      for (let j = 0; j < this.S; j++) {
        if (j === this.self || s.absent.has(j)) continue
        if (revealed === null ? !s.held.has(j) : revealed === undefined || !revealed.has(j)) missing.push(j)
      }
      return { node: this.self, session: s.id, label: s.label, attempt: 0, chunks: [{ chunk: 0, round: revealed === null ? 0 : 1, missing }], openMs: now - s.startedAt }
    })
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.tickHandle !== null) this.clock.clearTimeout(this.tickHandle)
    for (const s of this.open.values()) s.reject(new ConsensusClosedError('consensus node closed while a sum was running'))
    this.open.clear()
    this.done.clear()
    this.early.clear()
  }

  private begin(vec: Float64Array, label: string, mode: 'sum' | 'average'): Promise<Float64Array> {
    if (this.closed) return Promise.reject(new ConsensusClosedError('consensus node is closed; create a new one'))
    for (let i = 0; i < vec.length; i++) {
      if (!Number.isFinite(vec[i])) return Promise.reject(new ConsensusInputError(`entry ${i} of the '${label}' vector is ${vec[i]}; only finite values can be summed`))
    }
    const id = this.session++
    return new Promise<Float64Array>((resolve, reject) => {
      const secret = shamirEncode(vec, { fractionBits: this.f })
      const shareOut: (Float64Array | null)[] = new Array<Float64Array | null>(this.S).fill(null)
      const held = new Map<number, bigint[]>()
      // f(x_j) for every member j: one random polynomial of degree t - 1 per entry (Horner)
      const coef = new Array<bigint>(this.t)
      const pts: bigint[][] = Array.from({ length: this.S }, () => new Array<bigint>(vec.length))
      for (let i = 0; i < vec.length; i++) {
        coef[0] = secret[i]
        for (let m = 1; m < this.t; m++) coef[m] = this.fieldElement()
        for (let j = 0; j < this.S; j++) {
          const x = BigInt(j + 1)
          let acc = 0n
          for (let m = this.t - 1; m >= 0; m--) acc = (acc * x + coef[m]) % SHAMIR_PRIME
          pts[j][i] = acc
        }
      }
      for (let j = 0; j < this.S; j++) {
        if (j === this.self) {
          held.set(j, pts[j])
          continue
        }
        const payload = new Float64Array(WORDS * vec.length)
        for (let i = 0; i < vec.length; i++) toWords(pts[j][i], payload, WORDS * i)
        shareOut[j] = payload
      }
      const s: Session = {
        id,
        label,
        len: vec.length,
        mode,
        startedAt: this.clock.now(),
        shareOut,
        held,
        absent: new Set(),
        reveals: new Map(),
        myKey: null,
        myReveal: null,
        revealedAt: 0,
        lastResend: this.clock.now(),
        answeredAt: new Map(),
        result: null,
        resolve,
        reject,
      }
      this.open.set(id, s)
      for (let j = 0; j < this.S; j++) if (shareOut[j] !== null) this.send(j, { kind: 'share', session: id, chunk: 0, round: 0, attempt: 0, payload: shareOut[j] as Float64Array })
      const queued = this.early.get(id)
      this.early.delete(id)
      for (const k of [...this.early.keys()]) if (k < id) this.early.delete(k)
      this.maybeReveal(s)
      if (queued !== undefined) for (const [from, fr] of queued) this.onFrame(from, fr)
      this.armTick()
    })
  }

  private fieldElement(): bigint {
    for (;;) {
      let v = BigInt(this.rng.nextU32() >>> 1)
      for (let k = 0; k < 3; k++) v = (v << 32n) | BigInt(this.rng.nextU32())
      if (v < SHAMIR_PRIME) return v
    }
  }

  // ------------------------------------------------------------------ frames

  private reject(from: number, reason: string, report: boolean): void {
    this.counters.rejected[reason] = (this.counters.rejected[reason] ?? 0) + 1
    if (report) this.o.transport.reportPeer?.(from, reason)
  }

  private decodeVector(p: Float64Array, at: number, len: number): bigint[] | null {
    const out = new Array<bigint>(len)
    for (let i = 0; i < len; i++) {
      const v = fromWords(p, at + WORDS * i)
      if (v === null) return null
      out[i] = v
    }
    return out
  }

  /** `lent`: the transport will reuse the payload (FrameHandler): early frames are copied when queued; shares are decoded at once. */
  private onFrame(from: number, f: ConsensusFrame, lent = false): void {
    if (this.closed) return
    if (!Number.isInteger(from) || from < 0 || from >= this.S || from === this.self) {
      this.reject(from, 'bad-frame', false)
      return
    }
    this.counters.framesReceived++
    this.counters.bytesReceived += 21 + 8 * (f.payload?.length ?? 0)
    if (f.kind !== 'share' && f.kind !== 'reveal') {
      this.reject(from, 'bad-kind', true)
      return
    }
    const s = this.open.get(f.session)
    if (s === undefined) {
      const fin = this.done.get(f.session)
      if (fin !== undefined) {
        // a member still collecting (it resends its share until it has our reveal): give it
        // our share and reveal. Reveals are never answered, so finished members do not echo.
        const now = this.clock.now()
        this.lastHeard[from] = now
        const share = fin.shareOut[from]
        // only a member whose reveal we did not use can still be collecting; at most once per resend interval
        const needs = f.kind === 'share' && !(fin.myKey !== null && fin.reveals.get(fin.myKey)?.has(from)) && now - (fin.answeredAt.get(from) ?? -Infinity) >= this.retransmitMs
        if (needs) {
          fin.answeredAt.set(from, now)
          if (share !== null) this.send(from, { kind: 'share', session: fin.id, chunk: 0, round: 0, attempt: 0, payload: share })
          if (fin.myReveal !== null) this.send(from, { kind: 'reveal', session: fin.id, chunk: 0, round: 1, attempt: 0, payload: fin.myReveal })
        }
        this.reject(from, 'old', false)
        return
      }
      if (f.session >= this.session && f.session < this.session + MAX_AHEAD) {
        let q = this.early.get(f.session)
        if (q === undefined) this.early.set(f.session, (q = []))
        if (q.length < 4 * this.S) q.push([from, keepFrame(f, lent)])
        else this.reject(from, 'too-early', false)
        return
      }
      this.reject(from, f.session < this.session ? 'stale' : 'too-early', f.session >= this.session)
      return
    }
    this.lastHeard[from] = this.clock.now()
    if (f.kind === 'share') this.onShare(s, from, f)
    else this.onReveal(s, from, f)
  }

  private onShare(s: Session, from: number, f: ConsensusFrame): void {
    if (f.payload.length !== WORDS * s.len) {
      this.reject(from, 'bad-length', true)
      return
    }
    if (s.absent.has(from) || s.held.has(from)) {
      this.reject(from, s.held.has(from) ? 'duplicate' : 'stale', false)
      return
    }
    const y = this.decodeVector(f.payload, 0, s.len)
    if (y === null) {
      this.reject(from, 'bad-frame', true)
      return
    }
    s.held.set(from, y)
    this.maybeReveal(s)
  }

  private onReveal(s: Session, from: number, f: ConsensusFrame): void {
    const p = f.payload
    const c = p[0]
    if (!Number.isInteger(c) || c < 0 || c >= this.S || p.length !== 1 + c + WORDS * s.len) {
      this.reject(from, 'bad-length', true)
      return
    }
    const theirs: number[] = []
    for (let k = 0; k < c; k++) {
      const v = p[1 + k]
      if (!Number.isInteger(v) || v < 0 || v >= this.S || v === from) {
        this.reject(from, 'bad-frame', true)
        return
      }
      theirs.push(v)
    }
    const y = this.decodeVector(p, 1 + c, s.len)
    if (y === null) {
      this.reject(from, 'bad-frame', true)
      return
    }
    const key = keyOf(theirs)
    let byKey = s.reveals.get(key)
    if (byKey === undefined) s.reveals.set(key, (byKey = new Map<number, bigint[]>()))
    byKey.set(from, y)
    // absent sets only grow: adopt what the sender gave up on, and reveal again over it
    const grew = theirs.filter((v) => !s.absent.has(v) && v !== this.self)
    if (grew.length > 0) {
      for (const v of grew) s.absent.add(v)
      this.counters.reruns.push({ session: s.id, attempt: 0, excluded: [...s.absent].sort((a, b) => a - b) })
    }
    this.maybeReveal(s)
    this.tryFinish(s, false)
  }

  /** Reveal (again) once every present member's share is in. */
  private maybeReveal(s: Session): void {
    if (s.result !== null) return
    for (let j = 0; j < this.S; j++) if (!s.absent.has(j) && !s.held.has(j)) return
    const key = keyOf(s.absent)
    if (s.myKey === key) return
    const present = [...s.held.entries()].filter(([j]) => !s.absent.has(j)).map(([, y]) => y)
    const y = fieldSum(present, s.len)
    const absent = [...s.absent].sort((a, b) => a - b)
    const payload = new Float64Array(1 + absent.length + WORDS * s.len)
    payload[0] = absent.length
    absent.forEach((v, k) => (payload[1 + k] = v))
    for (let i = 0; i < s.len; i++) toWords(y[i], payload, 1 + absent.length + WORDS * i)
    s.myKey = key
    s.myReveal = payload
    s.revealedAt = this.clock.now()
    let byKey = s.reveals.get(key)
    if (byKey === undefined) s.reveals.set(key, (byKey = new Map<number, bigint[]>()))
    byKey.set(this.self, y)
    for (let j = 0; j < this.S; j++) if (j !== this.self && !s.absent.has(j)) this.send(j, { kind: 'reveal', session: s.id, chunk: 0, round: 1, attempt: 0, payload })
    this.tryFinish(s, false)
  }

  /** Reconstruct from the reveals over this node's absent set: all present members', or `threshold` of them after a timeout. */
  private tryFinish(s: Session, timedOut: boolean): void {
    if (s.result !== null || s.myKey === null) return
    const byKey = s.reveals.get(s.myKey)
    if (byKey === undefined) return
    const present = this.S - s.absent.size
    if (byKey.size < this.t || (byKey.size < present && !timedOut)) return
    const pts = [...byKey.entries()].sort((a, b) => a[0] - b[0]).slice(0, this.t).map(([j, y]) => ({ x: j + 1, y }))
    let out: Float64Array
    try {
      out = shamirDecode(reconstructField(pts), { fractionBits: this.f })
    } catch (e) {
      this.fail(s, e instanceof Error ? e : new Error(String(e)))
      return
    }
    if (s.mode === 'average') for (let i = 0; i < out.length; i++) out[i] /= present
    s.result = out
    this.open.delete(s.id)
    this.done.set(s.id, s)
    if (this.done.size > LINGER_SESSIONS) this.done.delete(this.done.keys().next().value as number)
    this.counters.sessions++
    this.record({
      session: s.id,
      label: s.label,
      rounds: [2],
      attempts: 1 + (s.absent.size > 0 ? 1 : 0),
      members: present,
      scheme: 'chebyshev',
      errorBound: 2 ** -(this.f + 1) * present,
      durationMs: this.clock.now() - s.startedAt,
    })
    s.resolve(Float64Array.from(out))
  }

  private record(r: SessionRecord): void {
    this.history.push(r)
  }

  private fail(s: Session, e: Error): void {
    if (this.open.get(s.id) !== s) return
    this.open.delete(s.id)
    this.counters.failed++
    s.reject(e)
  }

  // ------------------------------------------------------------------ timers

  private send(to: number, frame: ConsensusFrame): void {
    this.counters.framesSent++
    this.counters.bytesSent += 21 + 8 * frame.payload.length
    try {
      const r = this.o.transport.send(to, frame)
      if (r !== undefined) r.then(undefined, () => undefined)
    } catch {
      // an undeliverable frame is a silent member: the timeout handles it
    }
  }

  private armTick(): void {
    if (this.tickHandle !== null || this.closed) return
    this.tickHandle = this.clock.setTimeout(() => this.tick(), Math.max(1, Math.min(this.retransmitMs, this.timeoutMs / 4)))
  }

  private tick(): void {
    this.tickHandle = null
    if (this.closed) return
    const now = this.clock.now()
    for (const s of [...this.open.values()]) {
      // silent past the timeout without sharing: absent
      if (now - s.startedAt >= this.timeoutMs) {
        const silent: number[] = []
        for (let j = 0; j < this.S; j++) if (!s.held.has(j) && !s.absent.has(j)) silent.push(j)
        if (silent.length > 0) {
          for (const j of silent) s.absent.add(j)
          this.counters.reruns.push({ session: s.id, attempt: 0, excluded: [...s.absent].sort((a, b) => a - b) })
          this.maybeReveal(s)
        }
      }
      if (s.myKey !== null && now - s.revealedAt >= this.timeoutMs) this.tryFinish(s, true)
      if (this.open.get(s.id) !== s) continue
      if (s.myKey !== null && now - s.revealedAt >= 3 * this.timeoutMs) {
        const n = s.reveals.get(s.myKey)?.size ?? 0
        this.fail(s, new ShamirQuorumError(`session ${s.id} ('${s.label}'): ${n} of the ${this.t} reveals needed arrived for absent set {${s.myKey}} after ${3 * this.timeoutMs} ms; too many members dropped out (raise consensus.timeoutMs or lower the threshold)`))
        continue
      }
      // resend what members that have not revealed yet may be missing
      if (now - s.lastResend >= this.retransmitMs) {
        s.lastResend = now
        const revealed = s.myKey !== null ? s.reveals.get(s.myKey) : undefined
        for (let j = 0; j < this.S; j++) {
          if (j === this.self || s.absent.has(j) || revealed?.has(j)) continue
          const share = s.shareOut[j]
          if (share !== null) this.send(j, { kind: 'share', session: s.id, chunk: 0, round: 0, attempt: 0, payload: share })
          if (s.myReveal !== null) this.send(j, { kind: 'reveal', session: s.id, chunk: 0, round: 1, attempt: 0, payload: s.myReveal })
          this.counters.retransmits++
        }
      }
    }
    if (this.open.size > 0) this.armTick()
  }
}

/** A Shamir secure-sum node on `opts.transport` (see the module comment). */
export function createShamirNode(opts: ShamirNodeOptions): ConsensusNode {
  return new ShamirNodeImpl(opts)
}
