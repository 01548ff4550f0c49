/**
 * The async driver that hosts the round state machines (round.ts) on a Transport and a
 * Clock: one sum() call is one session, split into C chunk runs (eq. 6) on relabelled
 * graphs, with timeouts, retransmission, and reruns without silent nodes.
 *
 * Session ids are the sequence numbers of sum() calls (from `firstSession`), so nodes that
 * call sum() in the same order agree without a coordinator.
 *
 * Exclusion protocol (reruns): a node whose neighbour stays silent for timeoutMs adds it
 * to the session's excluded set E and floods an 'exclude' frame carrying E. Every node
 * merges what it receives (E only grows), forwards a changed E, answers a peer whose E
 * lacks something with its own, and restarts the session's chunks on the member graph
 * without E; the attempt id on data frames names E, so frames of different attempts
 * never mix (frames for an attempt not reached yet are queued). A data frame of an unknown
 * attempt makes the receiver send its E to the sender, so lost control frames heal. The
 * sum of a rerun is |members| times the members' average: the excluded shares are gone.
 * Known limit: a node that crashes in the last rounds of a session (fewer rounds from the
 * end than the graph's diameter) can leave nodes that already returned the full sum.
 */
import type { RandomSource } from '../numeric/rng.js'
import { SecretRng } from '../numeric/secret-rng.js'
import { adjacency } from '../../topologies/generators.js'
import type { Topology } from '../../topologies/index.js'
import { ConsensusClosedError, ConsensusInputError, ExcludedError, NeighbourTimeoutError, OutOfStepError, SessionMismatchError } from './errors.js'
import { SessionHistory } from './history.js'
import { LastHeard } from './last-heard.js'
import { memberGraph, relabelling, splitChunks } from './membership.js'
import { createShamirNode } from './secure-sum.js'
import { ChunkRun, type RoundEvent } from './round.js'
import { keepFrame, systemClock, type Clock, type ConsensusFrame, type Transport } from './transport.js'
import { DEFAULT_TOL, SCHEMES, planBase, planErrorBound, rowWeights, type SchemeName, type SchemePlan } from './weights.js'

/** Default scheme: the accelerated one (fewest rounds; see spectralReport). */
export const DEFAULT_SCHEME: SchemeName = 'chebyshev'
/** Default number of chunks C (eq. 6; the CollabDict papers use a handful). */
export const DEFAULT_CHUNKS = 3
/**
 * Default std of the random chunks relative to max_i |x_i| of the vector (splitChunks): a
 * neighbour missing one chunk of a session then faces noise of at least twice the largest
 * entry in every coordinate, so its estimate has relative error >= 1 (SNR <= 0 dB) even on
 * a vector whose entries are all of the same size.
 */
export const DEFAULT_CHUNK_SCALE = 2
/**
 * Longest retransmission interval: a round stalled this long always resends its frame (also
 * a heartbeat). Stalls are judged against the node's own recent round times: a round that
 * takes RETRANSMIT_FACTOR x the smoothed round time (at least MIN_RETRANSMIT_MS) resends, so
 * a lost frame costs a few round times, not this constant.
 */
export const DEFAULT_RETRANSMIT_MS = 250
export const MIN_RETRANSMIT_MS = 1
const RETRANSMIT_FACTOR = 3
/** Weights of the newest round in the smoothed round time, when faster / slower than it. */
const ROUND_EWMA_DOWN = 0.2
const ROUND_EWMA_UP = 0.01
/**
 * A session whose silent peers cannot be excluded without disconnecting the members waits
 * again for them, each time twice as long (timeout x 2, x 4, ...), this many times (in all
 * 2^(MAX_BACKOFFS+1) - 1 timeouts), before it excludes them and fails with
 * DisconnectedGraphError: a slow pair of peers on a loaded machine must not stop a node's
 * training for good, and a dead one must still end the wait.
 */
export const MAX_BACKOFFS = 4
/** Sessions ahead of our own whose early frames we keep (peers may run ahead by a few calls). */
export const MAX_SESSIONS_AHEAD = 8
/** Finished sessions whose last frames are kept for late neighbours. */
const LINGER_SESSIONS = 3
/** Header bytes per frame on the wire (kind u8 + five u32), for byte counters. */
export const FRAME_HEADER_BYTES = 21
/** Session records kept per engine (the oldest are dropped). */
export const HISTORY_LIMIT = 1000

export interface ConsensusOptions {
  topology: Topology
  transport: Transport
  clock?: Clock
  /** Weighting scheme; default 'chebyshev'. */
  scheme?: SchemeName
  /** Relative tolerance ||x(R) - xbar|| <= tol ||x(0) - xbar|| (per chunk); default 1e-9. */
  tol?: number
  /** Number of chunks C (eq. 6); 1 disables chunking. Default 3. */
  chunks?: number
  /**
   * Std of the random chunks relative to the vector's largest magnitude (sigma = chunkScale
   * * max_i |x_i|, see splitChunks); default 1.
   */
  chunkScale?: number
  /** Relabel nodes per session by the shared permutation; default true. */
  relabel?: boolean
  /** Seed every node shares (relabelling). */
  seed: number | string
  /**
   * This node's secret generator for the random chunks (and Shamir coefficients): never
   * a stream peers can recompute. Default: a fresh OS-entropy SecretRng. The simulator
   * passes per-node secret streams derived from its own noise seed, so runs replay.
   */
  noise?: RandomSource
  /** A neighbour silent this long while we wait on it fails or reruns the session; default none. */
  timeoutMs?: number
  /** Rerun the session without silent nodes instead of failing; default false. */
  rerunOnTimeout?: boolean
  /** Resend a stalled round's frame after at most this long (heartbeat, loss repair; sooner when rounds are fast); 0 = never. Default 250. */
  retransmitMs?: number
  /** Session id of the first sum() call (a restarted node resumes the sequence); default 0. */
  firstSession?: number
  /** Called after every round of every chunk (analysis, tests); see onRoundFor. */
  onRound?: (e: RoundEvent) => void
  /**
   * The sessions whose rounds `onRound` sees, asked when a session (or a rerun of it) starts;
   * default every session. A host tracing one session in thousands of nodes spares the
   * others a call and an event per node, chunk and round.
   */
  onRoundFor?: (session: number, label: string) => boolean
  /**
   * How contributions are protected: 'chunking' (dynamical consensus with random chunks,
   * the default) or 'shamir' (exact secure sums by Shamir sharing, src/consensus/secure-sum.ts).
   */
  protection?: 'chunking' | 'shamir'
  /** Shamir: reveals needed to reconstruct (default a majority of the members). */
  shamirThreshold?: number
}

/**
 * The relative tolerance a session's chunks are run to, so that the *sum* reaches `tol`
 * relative to the vector despite the chunk noise: each chunk's error is tol times its own
 * spread, and the noise chunks (std up to 2 chunkScale max|x_i| in each of `length`
 * coordinates) are up to 2 chunkScale sqrt(chunks * length) times the vector's norm; the
 * factor 4 leaves a margin of 2 on that bound. Depends only on agreed numbers (config and
 * vector length), so every node runs the same rounds. Chebyshev rounds grow with
 * ln(1/tol): the margin costs about 20-30 % more rounds (53 -> 68 on cwic-31 at 1e-9, L 112).
 */
export function sessionTol(tol: number, chunks: number, chunkScale: number, length: number): number {
  if (chunks <= 1 || chunkScale === 0) return tol
  return tol / (1 + 4 * chunkScale * Math.sqrt(chunks * Math.max(1, length)))
}

/** Per-call options of sum() / average() (the AggregateOptions of src/models/model.ts). */
export interface SumOptions {
  /** Chunk-noise groups (see splitChunks): coordinates with one id share a noise scale. */
  noiseGroups?: Int32Array
}

export interface SessionRecord {
  session: number
  label: string
  /** Rounds run per chunk (of the final attempt). */
  rounds: number[]
  /** Attempts (1 = no rerun). */
  attempts: number
  members: number
  scheme: SchemeName
  /** Spectral bound on the relative error of each chunk (rho^R, Chebyshev 1/T_R). */
  errorBound: number
  durationMs: number
}

export interface ConsensusStats {
  /** Completed sum()/average() calls. */
  sessions: number
  failed: number
  history: SessionRecord[]
  framesSent: number
  bytesSent: number
  framesReceived: number
  bytesReceived: number
  retransmits: number
  /**
   * Times a session waited longer (doubling) for silent peers instead of excluding them,
   * because excluding them would disconnect the members (see MAX_BACKOFFS).
   */
  backoffs?: number
  /** Frames dropped by reason (duplicate, old, not-neighbour, round-ahead, bad-length, bad-frame, stale, too-early). */
  rejected: Record<string, number>
  reruns: Array<{ session: number; attempt: number; excluded: number[] }>
  /**
   * The part of `rejected` not reported to the transport (stale, replayed or early frames:
   * ordinary on a real network, so no peer is blamed): a host adds these to its reject
   * counter (collab_frame_rejects_total), whose transport part has the reported ones.
   */
  silentRejects?: Record<string, number>
  /**
   * Sessions in which some peer of this node was its neighbour in every chunk, and so saw
   * every chunk of its vector (chunking hides nothing from it); 0 unless the topology
   * leaves no choice (see sessionRelabelling).
   */
  exposedSessions: number
}

/** Counters of an engine that has run nothing yet. */
export function emptyConsensusStats(): ConsensusStats {
  return { sessions: 0, failed: 0, history: [], framesSent: 0, bytesSent: 0, framesReceived: 0, bytesReceived: 0, retransmits: 0, rejected: {}, reruns: [], exposedSessions: 0 }
}

export interface ConsensusNode {
  /** Network-wide sum of `vec` over the session's members (the `Aggregate` of src/models/model.ts). */
  sum(vec: Float64Array, label: string, opts?: SumOptions): Promise<Float64Array>
  /** Network-wide average of `vec` over the session's members. */
  average(vec: Float64Array, label: string, opts?: SumOptions): Promise<Float64Array>
  /** Id the next sum() call will use. */
  readonly nextSession: number
  /**
   * Counters and the kept session records. `history` is rebuilt from the compact store
   * (./history.ts) on the first read after a session ended, so do not read `stats` per
   * frame; the object itself stays the same and its counters live.
   */
  readonly stats: ConsensusStats
  /** Stop timers, reject pending calls with ConsensusClosedError; idempotent. */
  close(): void
  /**
   * Open sessions and what each waits for (node, session, label, attempt, chunk, round, the
   * peers whose frame of that round is missing): for stall reports and health pages.
   */
  waiting(): SessionWait[]
}

/** One open session of a node and the peers it waits for. */
export interface SessionWait {
  node: number
  session: number
  label: string
  attempt: number
  /** Per unfinished chunk: its round and the peers whose frame of that round has not arrived. */
  chunks: Array<{ chunk: number; round: number; missing: number[] }>
  /** Clock ms since the session began. */
  openMs: number
}

/** One line per open session: `node 3 session 12 ('iter:4:stats') chunk 0 round 17 waits for 5, 8`. */
export function formatWaits(waits: readonly SessionWait[]): string {
  if (waits.length === 0) return 'no open consensus session'
  return waits
    .map((w) => {
      const chunks = w.chunks.map((c) => `chunk ${c.chunk} round ${c.round} waits for ${c.missing.length ? c.missing.join(', ') : 'nobody (done)'}`).join('; ')
      return `node ${w.node} session ${w.session} ('${w.label}', attempt ${w.attempt}, open ${Math.round(w.openMs)} ms): ${chunks || 'no chunk running'}`
    })
    .join(' | ')
}

const adjacencyCache = new WeakMap<Topology, number[][]>()

/** Adjacency lists of a topology, shared by every node hosted in this process (read-only). */
function sharedAdjacency(t: Topology): number[][] {
  let a = adjacencyCache.get(t)
  if (a === undefined) {
    a = adjacency(t.nodes.length, t.edges)
    adjacencyCache.set(t, a)
  }
  return a
}

/** Id of a member set: 0 for nobody excluded, else FNV-1a of the sorted indices (never 0). */
export function attemptId(excluded: ReadonlyArray<number>): number {
  if (excluded.length === 0) return 0
  let h = 0x811c9dc5
  for (const v of excluded) {
    for (let s = 0; s < 32; s += 8) {
      h ^= (v >>> s) & 0xff
      h = Math.imul(h, 0x01000193) >>> 0
    }
  }
  return h === 0 ? 1 : h
}

interface SessionRun {
  session: number
  label: string
  len: number
  mode: 'sum' | 'average'
  x0: Float64Array[]
  excluded: number[]
  attempt: number
  attempts: number
  pastAttempts: Set<number>
  chunkRuns: ChunkRun[]
  members: number
  plan: SchemePlan | null
  done: number
  pending: Map<number, Array<[number, ConsensusFrame]>>
  nudged: Set<string>
  /** Peers that sent frames two or more rounds ahead of ours in this attempt. */
  aheadFrom: Set<number>
  /** Peers whose frames of this session had another vector length, with the first such frame. */
  mismatch: Map<number, { length: number; at: number }>
  /** Peers that sent at least one well-formed frame of this session. */
  inStep: Set<number>
  resendAt: Float64Array
  /** Times this session waited longer instead of excluding peers whose exclusion would disconnect the members. */
  backoffs: number
  startedAt: number
  resolve: (v: Float64Array) => void
  reject: (e: Error) => void
}

class ConsensusNodeImpl implements ConsensusNode {
  private readonly history = new SessionHistory(HISTORY_LIMIT)
  /** The counters, a plain object (fast properties: updated on every frame); see `stats`. */
  private readonly counters: ConsensusStats = emptyConsensusStats()

  get stats(): ConsensusStats {
    this.history.syncInto(this.counters)
    return this.counters
  }
  private readonly S: number
  private readonly self: number
  private readonly topology: Topology
  private readonly baseAdj: number[][]
  private readonly transport: Transport
  private readonly clock: Clock
  private readonly scheme: SchemeName
  private readonly tol: number
  private readonly chunks: number
  private readonly chunkScale: number
  private readonly relabel: boolean
  private readonly seed: number | string
  private readonly rng: RandomSource
  private readonly timeoutMs: number
  private readonly rerun: boolean
  private readonly retransmitMs: number
  private readonly maxTickMs: number
  /** Smoothed duration of a round (clock ms), for stall detection. */
  private roundEwma = Number.NaN
  private readonly onRound: ConsensusOptions['onRound']
  private readonly onRoundFor: ConsensusOptions['onRoundFor']
  private session: number
  private readonly runs = new Map<number, SessionRun>()
  /** The open session the last data frame was for (most frames are; saves the map lookup). */
  private hot: SessionRun | null = null
  private readonly finished = new Map<number, SessionRun>()
  private readonly early = new Map<number, Array<[number, ConsensusFrame]>>()
  private readonly earlyExcluded = new Map<number, Set<number>>()
  /** Peers' last frames in step (sparse: a node's memory must not grow with S). */
  private readonly lastHeard = new LastHeard()
  private tickHandle: unknown = null
  private closed = false

  constructor(o: ConsensusOptions) {
    this.topology = o.topology
    this.S = o.topology.nodes.length
    this.self = o.transport.self
    if (!Number.isInteger(this.self) || this.self < 0 || this.self >= this.S) {
      throw new ConsensusInputError(`transport.self is ${this.self}, not a node of the ${this.S}-node topology`)
    }
    this.baseAdj = sharedAdjacency(o.topology)
    this.transport = o.transport
    this.clock = o.clock ?? systemClock
    this.scheme = o.scheme ?? DEFAULT_SCHEME
    if (!SCHEMES.includes(this.scheme)) throw new ConsensusInputError(`unknown scheme '${this.scheme}'; use one of ${SCHEMES.join(', ')}`)
    this.tol = o.tol ?? DEFAULT_TOL
    if (!(this.tol > 0 && this.tol < 1)) throw new ConsensusInputError(`tol must be in (0, 1), got ${this.tol}`)
    this.chunks = o.chunks ?? DEFAULT_CHUNKS
    if (!Number.isInteger(this.chunks) || this.chunks < 1) throw new ConsensusInputError(`chunks must be a positive integer, got ${this.chunks}`)
    this.chunkScale = o.chunkScale ?? DEFAULT_CHUNK_SCALE
    if (!(this.chunkScale >= 0 && Number.isFinite(this.chunkScale))) throw new ConsensusInputError(`chunkScale must be finite and >= 0, got ${this.chunkScale}`)
    this.relabel = o.relabel ?? true
    this.seed = o.seed
    this.rng = o.noise ?? SecretRng.fromOsEntropy()
    this.timeoutMs = o.timeoutMs ?? Number.POSITIVE_INFINITY
    if (!(this.timeoutMs > 0)) throw new ConsensusInputError(`timeoutMs must be > 0, got ${this.timeoutMs}`)
    this.rerun = o.rerunOnTimeout ?? false
    this.retransmitMs = o.retransmitMs ?? DEFAULT_RETRANSMIT_MS
    if (!(this.retransmitMs >= 0)) throw new ConsensusInputError(`retransmitMs must be >= 0, got ${this.retransmitMs}`)
    const fromTimeout = Number.isFinite(this.timeoutMs) ? this.timeoutMs / 4 : Number.POSITIVE_INFINITY
    this.maxTickMs = Math.min(this.retransmitMs > 0 ? this.retransmitMs : Number.POSITIVE_INFINITY, fromTimeout)
    this.onRound = o.onRound
    this.onRoundFor = o.onRoundFor
    this.session = o.firstSession ?? 0
    this.transport.onFrame((from, frame, lent) => this.onFrame(from, frame, lent === true))
  }

  get nextSession(): number {
    return this.session
  }

  waiting(): SessionWait[] {
    const now = this.clock.now()
    return [...this.runs.values()].map((run) => ({
      node: this.self,
      session: run.session,
      label: run.label,
      attempt: run.attempt,
      chunks: run.chunkRuns.filter((cr) => !cr.done).map((cr) => ({ chunk: cr.chunk, round: cr.t, missing: cr.missing() })),
      openMs: now - run.startedAt,
    }))
  }

  sum(vec: Float64Array, label: string, opts?: SumOptions): Promise<Float64Array> {
    return this.begin(vec, label, 'sum', opts)
  }

  average(vec: Float64Array, label: string, opts?: SumOptions): Promise<Float64Array> {
    return this.begin(vec, label, 'average', opts)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.tickHandle !== null) this.clock.clearTimeout(this.tickHandle)
    this.tickHandle = null
    for (const run of [...this.runs.values()]) this.fail(run, new ConsensusClosedError('consensus node closed while a sum was running'))
    this.early.clear()
    this.finished.clear()
  }

  private begin(vec: Float64Array, label: string, mode: 'sum' | 'average', opts: SumOptions = {}): Promise<Float64Array> {
    if (this.closed) return Promise.reject(new ConsensusClosedError('consensus node is closed; create a new one'))
    if (!(vec instanceof Float64Array)) return Promise.reject(new ConsensusInputError('sum() takes a Float64Array'))
    for (let i = 0; i < vec.length; i++) {
      if (!Number.isFinite(vec[i])) {
        return Promise.reject(new ConsensusInputError(`entry ${i} of the '${label}' vector is ${vec[i]}; only finite values can be summed`))
      }
    }
    const session = this.session++
    // Liveness older than every open (and this new) session cannot matter any more.
    let since = this.clock.now()
    for (const r of this.runs.values()) since = Math.min(since, r.startedAt)
    this.lastHeard.prune(since)
    return new Promise<Float64Array>((resolve, reject) => {
      const excluded = [...(this.earlyExcluded.get(session) ?? [])].sort((a, b) => a - b)
      this.earlyExcluded.delete(session)
      const run: SessionRun = {
        session,
        label,
        len: vec.length,
        mode,
        // a lone member has nobody to hide from: its chunks are exact (zeros and the value)
        x0: splitChunks(vec, this.chunks, this.S === 1 ? 0 : this.chunkScale, this.rng, opts.noiseGroups),
        excluded,
        attempt: attemptId(excluded),
        attempts: 0,
        pastAttempts: new Set(),
        chunkRuns: [],
        members: this.S - excluded.length,
        plan: null,
        done: 0,
        pending: new Map(),
        nudged: new Set(),
        aheadFrom: new Set(),
        mismatch: new Map(),
        inStep: new Set(),
        resendAt: new Float64Array(this.chunks),
        backoffs: 0,
        startedAt: this.clock.now(),
        resolve,
        reject,
      }
      this.runs.set(session, run)
      // Attempt 0 (nobody excluded) is behind us when peers already excluded someone.
      if (excluded.length > 0) run.pastAttempts.add(0)
      for (const k of this.early.keys()) if (k < session) this.early.delete(k)
      for (const k of this.earlyExcluded.keys()) if (k < session) this.earlyExcluded.delete(k)
      if (excluded.includes(this.self)) {
        this.fail(run, new ExcludedError(session, excluded))
        return
      }
      if (excluded.length > 0 && !this.rerun) {
        this.fail(run, new NeighbourTimeoutError(excluded[0], session, 0, excluded, ` (reported by another node), waited for by node ${this.self} in '${label}'`))
        return
      }
      this.startAttempt(run)
      const queued = this.early.get(session)
      this.early.delete(session)
      if (queued !== undefined) for (const [from, f] of queued) this.onData(from, f)
      this.armTick()
    })
  }

  /** (Re)build the chunk runs of `run` for its current member set and announce x(0). */
  private startAttempt(run: SessionRun): void {
    run.attempts++
    run.done = 0
    const g = memberGraph(this.topology, run.excluded, this.baseAdj)
    let plan: SchemePlan
    try {
      plan = g.plan(this.scheme, sessionTol(this.tol, this.chunks, this.S === 1 ? 0 : this.chunkScale, run.len))
    } catch (e) {
      this.fail(run, e as Error)
      return
    }
    run.plan = plan
    run.members = g.members
    const now = this.clock.now()
    const runs: ChunkRun[] = []
    const onRound = this.onRound !== undefined && (this.onRoundFor === undefined || this.onRoundFor(run.session, run.label)) ? this.onRound : undefined
    let everyChunk: Set<number> | null = null
    for (let c = 0; c < this.chunks; c++) {
      const lab = relabelling(this.seed, this.topology, run.session, c, this.chunks, run.excluded, this.relabel)
      const u = g.compactOf[lab.pos[this.self]]
      const nbCompact = g.adj[u]
      const peers = new Int32Array(nbCompact.length)
      for (let k = 0; k < nbCompact.length; k++) peers[k] = lab.node[g.positionOf[nbCompact[k]]]
      everyChunk = everyChunk === null ? new Set(peers) : new Set([...peers].filter((p) => (everyChunk as Set<number>).has(p)))
      const w = rowWeights(planBase(plan), g.adj, u)
      const cr: ChunkRun = new ChunkRun({
        session: run.session,
        chunk: c,
        attempt: run.attempt,
        peers,
        selfWeight: w.self,
        peerWeights: w.neighbours,
        plan,
        x0: run.x0[c],
        emit: (to, frame) => {
          const t = this.clock.now()
          if (frame.round > 0) {
            // Asymmetric smoothing (quick down, slow up) tracks a low quantile of round
            // times: stalled rounds, and the waits they cause downstream, barely move it.
            const d = t - cr.roundStartedAt
            const e = this.roundEwma
            this.roundEwma = Number.isNaN(e) ? d : e + (d < e ? ROUND_EWMA_DOWN : ROUND_EWMA_UP) * (d - e)
          }
          cr.roundStartedAt = t
          for (let k = 0; k < to.length; k++) this.send(to[k], frame)
        },
        onDone: () => this.chunkDone(run),
        onRound,
      })
      cr.roundStartedAt = now
      runs.push(cr)
    }
    run.chunkRuns = runs
    if (this.chunks > 1 && run.attempts === 1 && everyChunk !== null && (everyChunk).size > 0) this.counters.exposedSessions++
    run.aheadFrom.clear()
    run.resendAt.fill(now)
    for (const cr of runs) {
      if (this.runs.get(run.session) !== run || run.chunkRuns !== runs) return
      cr.start()
    }
    const queued = run.pending.get(run.attempt)
    run.pending.delete(run.attempt)
    if (queued !== undefined) for (const [from, f] of queued) this.onData(from, f)
  }

  private chunkDone(run: SessionRun): void {
    run.done++
    if (run.done < this.chunks || this.runs.get(run.session) !== run) return
    const avg = new Float64Array(run.len)
    for (const cr of run.chunkRuns) {
      const v = cr.value
      for (let i = 0; i < avg.length; i++) avg[i] += v[i]
    }
    if (run.mode === 'sum') for (let i = 0; i < avg.length; i++) avg[i] *= run.members
    this.forget(run)
    this.finished.set(run.session, run)
    if (this.finished.size > LINGER_SESSIONS) this.finished.delete(this.finished.keys().next().value as number)
    run.x0 = []
    run.pending.clear()
    this.counters.sessions++
    const plan = run.plan as SchemePlan
    this.record({
      session: run.session,
      label: run.label,
      rounds: run.chunkRuns.map((c) => c.rounds),
      attempts: run.attempts,
      members: run.members,
      scheme: this.scheme,
      errorBound: planErrorBound(plan),
      durationMs: this.clock.now() - run.startedAt,
    })
    run.resolve(avg)
  }

  /** `run` is no longer open. */
  private forget(run: SessionRun): void {
    this.runs.delete(run.session)
    if (this.hot === run) this.hot = null
  }

  private record(r: SessionRecord): void {
    this.history.push(r)
  }

  private fail(run: SessionRun, e: Error): void {
    if (this.runs.get(run.session) !== run) return
    this.forget(run)
    run.chunkRuns = []
    run.pending.clear()
    this.counters.failed++
    run.reject(e)
  }

  // ---------------------------------------------------------------- frames in

  private reject(from: number, reason: string, report: boolean): void {
    this.counters.rejected[reason] = (this.counters.rejected[reason] ?? 0) + 1
    if (report) this.transport.reportPeer?.(from, reason)
    else {
      // not the peer's fault (stale, replayed, early): counted here, for the host's metrics
      const q = (this.counters.silentRejects ??= {})
      q[reason] = (q[reason] ?? 0) + 1
    }
  }

  /**
   * Liveness: a peer counts as heard only when its frame shows it in step (this or an
   * adjacent round, another attempt or a later session, a control frame). Frames of rounds
   * long past do not count: a peer restarted mid-session must not look alive forever.
   */
  private heard(from: number): void {
    this.lastHeard.set(from, this.clock.now())
  }

  /** `lent`: the transport will reuse the payload (FrameHandler): the chunk run copies it at settle if still held, queues copy it now. */
  private onFrame(from: number, f: ConsensusFrame, lent: boolean): void {
    if (this.closed) return
    if (!Number.isInteger(from) || from < 0 || from >= this.S || from === this.self) {
      this.reject(from, 'bad-frame', false)
      return
    }
    this.counters.framesReceived++
    this.counters.bytesReceived += FRAME_HEADER_BYTES + 8 * (f.payload?.length ?? 0)
    if (
      !(f.payload instanceof Float64Array) ||
      !Number.isInteger(f.session) ||
      f.session < 0 ||
      !Number.isInteger(f.chunk) ||
      !Number.isInteger(f.round) ||
      f.round < 0
    ) {
      this.reject(from, 'bad-frame', true)
      return
    }
    if (f.kind === 'exclude') this.onExclude(from, f)
    else if (f.kind === undefined || f.kind === 'data') this.onData(from, f, lent)
    else this.reject(from, 'bad-frame', true)
  }

  private onData(from: number, f: ConsensusFrame, lent = false): void {
    const hot = this.hot
    const run = hot !== null && hot.session === f.session ? hot : this.runs.get(f.session)
    if (run !== undefined) this.hot = run
    if (run === undefined) {
      const fin = this.finished.get(f.session)
      if (fin !== undefined) {
        this.lateNeighbour(fin, from, f)
        return
      }
      if (f.session >= this.session && f.session < this.session + MAX_SESSIONS_AHEAD) {
        let q = this.early.get(f.session)
        if (q === undefined) {
          q = []
          this.early.set(f.session, q)
        }
        this.heard(from)
        if (q.length < 4 * this.chunks * this.S) q.push([from, keepFrame(f, lent)])
        else this.reject(from, 'too-early', false)
        return
      }
      this.reject(from, f.session < this.session ? 'stale' : 'too-early', f.session >= this.session)
      return
    }
    const attempt = f.attempt ?? 0
    if (attempt !== run.attempt) {
      if (run.pastAttempts.has(attempt)) {
        // An excluded node still in an old attempt (e.g. just restarted): tell it, once per tick.
        const key = `${from}/${attempt}`
        if (run.excluded.includes(from) && !run.nudged.has(key)) {
          run.nudged.add(key)
          this.sendExclude(run, from, f.round)
        }
        this.reject(from, 'stale', false)
        return
      }
      let q = run.pending.get(attempt)
      if (q === undefined) {
        if (run.pending.size >= 8) {
          this.reject(from, 'too-early', false)
          return
        }
        q = []
        run.pending.set(attempt, q)
      }
      this.heard(from)
      if (q.length < 4 * this.chunks * this.S) q.push([from, keepFrame(f, lent)])
      // The sender is in another attempt: tell it our excluded set so the two merge.
      const key = `${from}/${attempt}`
      if (!run.nudged.has(key)) {
        run.nudged.add(key)
        this.sendExclude(run, from, f.round)
      }
      return
    }
    const cr = run.chunkRuns[f.chunk]
    if (cr === undefined) {
      this.reject(from, 'bad-frame', true)
      return
    }
    const r = cr.receive(from, f, lent)
    switch (r) {
      case 'ok':
        this.heard(from)
        run.inStep.add(from)
        return
      case 'duplicate':
      case 'old':
        this.heard(from)
        // A peer resending an earlier round misses a frame, maybe ours: resend it.
        if (r === 'old' && this.retransmitMs > 0) {
          const mine = cr.frameOf(f.round)
          if (mine !== null) this.send(from, mine)
        }
        this.reject(from, r, this.retransmitMs === 0 && r === 'duplicate')
        return
      case 'stale':
        this.reject(from, r, false)
        return
      case 'round-ahead':
        // Peers two or more rounds ahead: either they misbehave or we are the one out of step.
        run.aheadFrom.add(from)
        this.reject(from, r, true)
        return
      case 'bad-length':
        // Same session and attempt, a vector of another length: either garbage (a fuzzing
        // or broken peer whose real frames are fine) or a peer summing something else (it
        // took a different path); the tick fails the session if the peer never sends a
        // frame of the right length within the grace (see mismatchGraceMs).
        this.reject(from, r, true)
        if (!run.mismatch.has(from)) run.mismatch.set(from, { length: f.payload.length, at: this.clock.now() })
        return
      case 'conflict': {
        // Same round, different values: the peer restarted mid-session (or equivocates).
        this.reject(from, r, true)
        const merged = [...new Set([...run.excluded, from])].sort((a, b) => a - b)
        this.exclude(run, merged, f.round, [from], ' but sent conflicting values for it (restarted mid-session?)')
        return
      }
      default:
        this.reject(from, r, true)
    }
  }

  /** A neighbour still in a session we finished: give it our last frame if it asks for it. */
  private lateNeighbour(fin: SessionRun, from: number, f: ConsensusFrame): void {
    const cr = fin.chunkRuns[f.chunk]
    if ((f.attempt ?? 0) !== fin.attempt || cr === undefined) {
      this.reject(from, 'stale', false)
      return
    }
    const r = cr.receive(from, f)
    if (r === 'old') {
      this.heard(from)
      if (this.retransmitMs > 0) {
        const mine = cr.frameOf(f.round)
        if (mine !== null) this.send(from, mine)
      }
    }
    this.reject(from, r === 'ok' ? 'old' : r, r === 'conflict' || r === 'not-neighbour' || r === 'bad-length')
  }

  private onExclude(from: number, f: ConsensusFrame): void {
    this.heard(from)
    const ids: number[] = []
    for (const v of f.payload) {
      if (!Number.isInteger(v) || v < 0 || v >= this.S) {
        this.reject(from, 'bad-frame', true)
        return
      }
      ids.push(v)
    }
    const run = this.runs.get(f.session)
    if (run === undefined) {
      if (f.session >= this.session && f.session < this.session + MAX_SESSIONS_AHEAD) {
        let set = this.earlyExcluded.get(f.session)
        if (set === undefined) {
          set = new Set()
          this.earlyExcluded.set(f.session, set)
        }
        for (const v of ids) set.add(v)
      } else {
        this.reject(from, 'stale', false)
      }
      return
    }
    if (run.excluded.includes(from)) {
      // An excluded node has no say in this session's member set; tell it where it stands.
      this.sendExclude(run, from, f.round)
      return
    }
    const merged = new Set(run.excluded)
    for (const v of ids) merged.add(v)
    const theirs = new Set(ids)
    const grew = merged.size > run.excluded.length
    if (grew) this.exclude(run, [...merged].sort((a, b) => a - b), f.round, null)
    else if (run.excluded.some((v) => !theirs.has(v))) this.sendExclude(run, from, f.round)
  }

  // ---------------------------------------------------------------- exclusion

  /** Adopt the larger excluded set E: flood it, then rerun (or fail). `silent` = peers we detected. */
  private exclude(run: SessionRun, excluded: number[], round: number, silent: number[] | null, why = ''): void {
    const old = new Set(run.excluded)
    const added = excluded.filter((v) => !old.has(v))
    const targets = new Set<number>(this.baseAdj[this.self])
    for (const cr of run.chunkRuns) for (const p of cr.peers) targets.add(p)
    for (const v of added) targets.add(v)
    run.excluded = excluded
    run.pastAttempts.add(run.attempt)
    run.attempt = attemptId(excluded)
    run.nudged.clear()
    for (const p of targets) if (p !== this.self) this.sendExclude(run, p, round)
    if (excluded.includes(this.self)) {
      this.fail(run, new ExcludedError(run.session, excluded))
      return
    }
    if (!this.rerun) {
      const who = silent ?? added
      this.fail(run, new NeighbourTimeoutError(Math.min(...who), run.session, round, who, `${silent === null ? ' (reported by another node)' : why}, waited for by node ${this.self} in '${run.label}'`))
      return
    }
    this.counters.reruns.push({ session: run.session, attempt: run.attempt, excluded: [...excluded] })
    this.startAttempt(run)
  }

  private sendExclude(run: SessionRun, to: number, round: number): void {
    this.send(to, { kind: 'exclude', session: run.session, chunk: 0, round, attempt: run.attempt, payload: Float64Array.from(run.excluded) })
  }

  // ---------------------------------------------------------------- frames out, timers

  private send(to: number, frame: ConsensusFrame): void {
    this.counters.framesSent++
    this.counters.bytesSent += FRAME_HEADER_BYTES + 8 * frame.payload.length
    let r: void | Promise<void>
    try {
      r = this.transport.send(to, frame)
    } catch {
      return // an undeliverable frame is a silent peer: the timeout handles it
    }
    if (r !== undefined) r.then(undefined, () => undefined)
  }

  /**
   * How long a peer that sends only frames of another length for a session may do so
   * before the session fails with SessionMismatchError: the timeout, or 8 resend intervals
   * when there is none. A peer that also sends well-formed frames (garbage on the side) is
   * never blamed for it.
   */
  private mismatchGraceMs(): number {
    return Math.min(this.timeoutMs, 8 * Math.max(MIN_RETRANSMIT_MS, this.retransmitMs))
  }

  /** How long a round may stall before we resend its frame. */
  private stallMs(): number {
    if (this.retransmitMs === 0) return Number.POSITIVE_INFINITY
    const guess = Number.isNaN(this.roundEwma) ? this.retransmitMs : RETRANSMIT_FACTOR * this.roundEwma
    return Math.min(this.retransmitMs, Math.max(MIN_RETRANSMIT_MS, guess))
  }

  private armTick(): void {
    if (this.tickHandle !== null || this.closed) return
    const ms = Math.min(this.maxTickMs, this.stallMs())
    if (!Number.isFinite(ms)) return
    this.tickHandle = this.clock.setTimeout(() => this.tick(), ms)
  }

  private tick(): void {
    this.tickHandle = null
    if (this.closed) return
    const now = this.clock.now()
    const stall = this.stallMs()
    for (const run of [...this.runs.values()]) {
      if (this.runs.get(run.session) !== run) continue
      const diverged = [...run.mismatch.entries()].find(([p, m]) => !run.inStep.has(p) && now - m.at >= this.mismatchGraceMs())
      if (diverged !== undefined) {
        this.fail(run, new SessionMismatchError(this.self, run.session, run.label, diverged[0], diverged[1].length, run.len))
        continue
      }
      const silent = new Set<number>()
      let round = 0
      run.nudged.clear()
      for (let c = 0; c < run.chunkRuns.length; c++) {
        const cr = run.chunkRuns[c]
        if (cr.done) continue
        const frame = cr.currentFrame()
        if (frame !== null && now - Math.max(cr.roundStartedAt, run.resendAt[c]) >= stall) {
          run.resendAt[c] = now
          this.counters.retransmits++
          for (const p of cr.peers) this.send(p, frame)
        }
        if (Number.isFinite(this.timeoutMs)) {
          for (const p of cr.missing()) {
            if (now - Math.max(this.lastHeard.get(p), cr.roundStartedAt) >= this.timeoutMs) {
              silent.add(p)
              round = cr.t
            }
          }
        }
      }
      if (silent.size > 0 && run.aheadFrom.size > 0) {
        // Our peers are rounds ahead of us: we are the one out of step (restarted mid-session).
        this.fail(run, new OutOfStepError(run.session, [...run.aheadFrom].sort((a, b) => a - b)))
        continue
      }
      if (silent.size > 0) {
        const s = [...silent].sort((a, b) => a - b)
        const merged = [...new Set([...run.excluded, ...s])].sort((a, b) => a - b)
        if (this.rerun && !memberGraph(this.topology, merged, this.baseAdj).connected && run.backoffs < MAX_BACKOFFS) {
          // Excluding them would disconnect the members: slow, not gone, is the likelier
          // story (a loaded machine). Back off: wait another (doubled) timeout for them,
          // resending meanwhile; after MAX_BACKOFFS the wait ends with a named error.
          run.backoffs++
          this.counters.backoffs = (this.counters.backoffs ?? 0) + 1
          const extra = this.timeoutMs * (2 ** run.backoffs - 1)
          for (const p of s) this.lastHeard.set(p, now + extra)
          continue
        }
        this.exclude(run, merged, round, s)
      }
    }
    if (this.runs.size > 0) this.armTick()
  }
}

/** A consensus node on `opts.transport` (see ConsensusOptions for defaults); Shamir secure sums when opts.protection is 'shamir'. */
export function createConsensusNode(opts: ConsensusOptions): ConsensusNode {
  if (opts.protection === 'shamir') {
    return createShamirNode({
      topology: opts.topology,
      transport: opts.transport,
      clock: opts.clock,
      noise: opts.noise,
      threshold: opts.shamirThreshold,
      timeoutMs: Number.isFinite(opts.timeoutMs ?? Infinity) ? opts.timeoutMs : undefined,
      retransmitMs: opts.retransmitMs,
      firstSession: opts.firstSession,
    })
  }
  return new ConsensusNodeImpl(opts)
}
