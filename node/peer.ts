/**
 * The peer node's composition root: one typed place that wires identity, topology, data,
 * durable store, privacy ledger, libp2p host and consensus transport, the consensus
 * engine, the learning loop (src/learning runTraining, the same code the simulator runs)
 * and the HTTP API.
 *
 * Lifecycle: startNode() resolves once the API listens and the host is up; training runs
 * in the background (`training` promise) after the start barrier; the API keeps serving
 * after training until stop(). stop() is idempotent.
 *
 * Rejoining after a crash: the checkpoint gives the model at its last completed
 * iteration; the neighbours' current global part comes over /collabdict/sync/1.0.0
 * (runTraining's fetchGlobal hook); the consensus engine is created lazily at the first
 * sum() so that its session counter starts at the session of the iteration the node
 * rejoins at (preparedSessions + iteration, recorded in node-state.json). If the peers
 * already excluded this node from that session, it retries from the next iteration.
 */
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { pino, type Logger } from 'pino'
import { Counter, Gauge, Registry } from 'prom-client'
import type { Topology } from '../topologies/index.js'
import { loadTopology, neighbours as topologyNeighbours } from '../topologies/index.js'
import { ConsensusClosedError, createConsensusNode, DisconnectedGraphError, ExcludedError, NeighbourTimeoutError, type ConsensusNode } from '../src/consensus/index.js'
import { loadCsv } from '../src/data/index.js'
import { thresholdAt } from '../src/eval/metrics.js'
import { runTraining, TrainingStoppedError, TrainingAbortedError, type LearningContext } from '../src/learning/index.js'
import type { Checkpoint, GlobalState, TrainingResult } from '../src/learning/types.js'
import { consensusPayloadLimit, createNodeModel, loadNodeModel } from '../src/learning/models.js'
import { isClassifier, withLabels } from '../src/models/classifier/index.js'
import { createLedger, createPrivacyGuard, createReleaser } from '../src/learning/privacy.js'
import { LedgerMissingError, PrivacyLedger, writeFileAtomic } from '../src/privacy/ledger.js'
import type { CollabModel } from '../src/models/model.js'
import { selectRows, type Mat } from '../src/numeric/matrix.js'
import { SecretRng } from '../src/numeric/secret-rng.js'
import {
  addPeerAddresses,
  createHost,
  createLibp2pTransport,
  DEFAULT_MAX_MESSAGE_BYTES,
  fetchGlobal,
  fetchReleased,
  PeerBarrierTimeoutError,
  serveGlobal,
  serveReleased,
  waitForPeers,
  type CollabHost,
  type FrameLimits,
  type Libp2pTransport,
} from '../src/p2p/index.js'
import { peerIdFromString } from '@libp2p/peer-id'
import { createApi, type PublicScorer, type Scorer } from './api/server.js'
import { loadReleasedGgm, scoreReleasedGgm } from '../src/privacy/ggm-release.js'
import type { NodeConfig } from './config.js'
import { loadIdentity, lockIdentity } from './identity.js'
import { openStore, type NodeStore } from './store.js'

export class NodeSetupError extends Error {
  override name = 'NodeSetupError'
}

/** Rejoin attempts after the peers excluded this node from a session. */
export const MAX_REJOINS = 5
/** A consensus session running longer than this many neighbour timeouts is checked for staleness. */
export const STALE_CHECK_FACTOR = 2
/** Longest a rejoining node waits for its peers to finish the iteration it was left out of (ms). */
export const REJOIN_WAIT_MS = 60_000
/** Upper bound on consensus rounds per session accepted from the wire (spectral counts are in the hundreds). */
export const MAX_WIRE_ROUNDS = 1_000_000

export type NodeState = 'starting' | 'waiting-for-peers' | 'training' | 'trained' | 'failed' | 'stopped'

export interface RunningNode {
  readonly index: number
  readonly peerId: string
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:8080 */
  readonly apiUrl: string
  readonly host: CollabHost
  /** Settles when training ends (null when stopped before it finished). */
  readonly training: Promise<TrainingResult | null>
  state(): NodeState
  stop(): Promise<void>
}

function loadRows(config: NodeConfig): { data: Mat; columns: string[] } {
  const csv = loadCsv(config.data.path, { labelCol: config.data.labelCol, dropCols: config.data.dropCols })
  // a classifier trains on its features with the class label as the last column (the config requires labelCol)
  if (config.training.model.kind === 'classifier' && csv.labels !== undefined) return { data: withLabels(csv.features, csv.labels), columns: csv.columns }
  if (config.data.trainOn === 'normal' && csv.labels !== undefined) {
    const idx: number[] = []
    csv.labels.forEach((l, i) => {
      if (l === 0) idx.push(i)
    })
    return { data: selectRows(csv.features, idx), columns: csv.columns }
  }
  return { data: csv.features, columns: csv.columns }
}

function selfIndex(topology: Topology, peerId: string, source: string): number {
  const i = topology.nodes.findIndex((n) => n.peerId === peerId)
  if (i < 0) throw new NodeSetupError(`${source}: this node's PeerId ${peerId} is not in the topology; add it to nodes[].peerId`)
  const missing = topology.nodes.filter((n) => n.peerId === undefined).map((n) => n.name)
  if (missing.length > 0) throw new NodeSetupError(`${source}: nodes ${missing.join(', ')} have no peerId; every member needs one`)
  return i
}

/**
 * The node's ledger, checked against its training state: a checkpoint without a ledger
 * (deleted, lost) would restart the privacy spent at zero, so the node refuses to start
 * unless told to rebuild it from the checkpoint's copy; a ledger that does not contain the
 * checkpoint's copy (truncated, reset, an older backup) is refused as corrupt.
 */
function openNodeLedger(store: NodeStore, training: NodeConfig['training'], peerId: string, checkpoint: Checkpoint | null, restore: boolean, log: Logger): PrivacyLedger {
  const copy = checkpoint?.ledger ?? null
  if (checkpoint !== null && !existsSync(store.ledgerPath)) {
    if (!restore || copy === null) {
      throw new LedgerMissingError(
        `${store.ledgerPath} is missing but ${store.dir}/checkpoint.json exists (iteration ${checkpoint.iteration}): starting would reset the privacy spent to zero. ` +
          'Restore ledger.json from a backup, or start with --restore-ledger-from-checkpoint to rebuild it from the checkpoint\'s copy (charges made after that checkpoint would be lost)',
      )
    }
    writeFileAtomic(store.ledgerPath, JSON.stringify(copy, null, 1) + '\n')
    log.warn({ ledger: store.ledgerPath, iteration: checkpoint.iteration }, 'ledger rebuilt from the checkpoint copy')
  }
  const ledger = createLedger(training, peerId, { path: store.ledgerPath })
  if (copy !== null) ledger.assertContains(PrivacyLedger.fromJSON(copy).head(), `${store.dir}/checkpoint.json`)
  return ledger
}

export interface StartOptions {
  logger?: Logger
  /** Rebuild a missing ledger.json from the checkpoint's copy (the operator's explicit choice). */
  restoreLedgerFromCheckpoint?: boolean
}

export async function startNode(config: NodeConfig, opts: StartOptions = {}): Promise<RunningNode> {
  const identity = loadIdentity(config.identity)
  // one process per identity: a second node with this PeerId fails here, naming it (DuplicateIdentityError)
  const release = lockIdentity(config.identity, identity.peerId)
  try {
    return await startLockedNode(config, opts, identity, release)
  } catch (err) {
    release()
    throw err
  }
}

async function startLockedNode(config: NodeConfig, opts: StartOptions, identity: ReturnType<typeof loadIdentity>, releaseIdentity: () => void): Promise<RunningNode> {
  const log = opts.logger ?? pino({ level: config.log.level })
  let state: NodeState = 'starting'
  const { privateKey, peerId } = identity
  const topology = loadTopology(config.topology)
  const self = selfIndex(topology, peerId, config.topology)
  const peers = topology.nodes.map((n) => n.peerId as string)
  const nbrs = topologyNeighbours(topology)[self]
  const { data } = loadRows(config)
  const store: NodeStore = openStore(config.storage)
  const training = config.training
  let checkpoint: Checkpoint | null = store.loadCheckpoint()
  const ledger = openNodeLedger(store, training, peerId, checkpoint, opts.restoreLedgerFromCheckpoint === true, log)
  const guard = training.privacy.monitor ? createPrivacyGuard(training, ledger) : undefined
  const releaser = training.privacy.release.enabled ? createReleaser(training, ledger, { members: topology.nodes.length }) : undefined
  // this training run's id (kept in the checkpoint): keys the run's replayable secret streams,
  // so a new run in the same state folder never reuses an old run's noise
  const runId = checkpoint?.runId ?? randomUUID()
  const secret = SecretRng.fromKey(store.secretKey()).fork(`run/${runId}`)
  // the model's own noise (DP-SGD) is never replayed: fresh OS entropy in every process
  let model: CollabModel = checkpoint ? loadNodeModel(training, checkpoint.model, { ledger }) : createNodeModel(training, { ledger })
  let prepared = checkpoint !== null
  let result: TrainingResult | null = null
  let threshold: number | null = null
  const thresholdQuantile = config.api.thresholdQuantile ?? training.thresholdQuantile
  log.info({ index: self, peerId, rows: data.rows, features: data.cols, resumeFrom: checkpoint?.iteration ?? null }, 'node starting')

  // metrics
  const registry = new Registry()
  const rounds = new Counter({ name: 'collab_consensus_rounds_total', help: 'Consensus rounds run (all chunks)', registers: [registry] })
  let sessionsDone = 0
  /** Frames the retired consensus engines dropped without blaming a peer, by reason (collab_frame_rejects_total). */
  const engineRejects: Record<string, number> = {}
  let roundsDone = 0
  let rerunsDone = 0
  let consensus: ConsensusNode | null = null
  const sessionsGauge = new Gauge({
    name: 'collab_consensus_sessions_total',
    help: 'Completed consensus sessions (sum calls)',
    registers: [registry],
    collect() {
      this.set(sessionsDone + (consensus?.stats.sessions ?? 0))
    },
  })
  void sessionsGauge

  const maxPayload = consensusPayloadLimit(config.training, data.cols, topology.nodes.length)
  const limits: FrameLimits = { maxPayload, maxChunks: training.consensus.chunks, maxRounds: MAX_WIRE_ROUNDS }
  const host = await createHost({
    privateKey,
    listen: config.listen,
    allowedPeers: peers,
    maxMessageBytes: Math.max(DEFAULT_MAX_MESSAGE_BYTES, 8 * maxPayload + 64),
  })
  await addPeerAddresses(
    host,
    topology.nodes.map((n) => ({ peerId: n.peerId as string, multiaddrs: n.multiaddrs ?? [] })),
  )
  const transport: Libp2pTransport = createLibp2pTransport({
    host,
    peers,
    self,
    limits,
    log: { warn: (o, m) => log.warn(o, m), debug: (o, m) => log.debug(o, m) },
  })
  await transport.start()
  const tstats = transport.stats
  new Counter({
    name: 'collab_p2p_bytes_total',
    help: 'Consensus frame bytes on the wire',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      this.reset()
      this.inc({ direction: 'sent' }, tstats.bytesSent)
      this.inc({ direction: 'received' }, tstats.bytesReceived)
    },
  })
  new Counter({
    name: 'collab_p2p_frames_total',
    help: 'Consensus frames accepted',
    labelNames: ['direction'],
    registers: [registry],
    collect() {
      this.reset()
      this.inc({ direction: 'sent' }, tstats.framesSent)
      this.inc({ direction: 'received' }, tstats.framesReceived)
    },
  })
  new Counter({
    name: 'collab_frame_rejects_total',
    help: 'Frames dropped and peer misbehaviour reports, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [reason, n] of Object.entries(tstats.rejects)) this.inc({ reason }, n)
      // stale, replayed and early frames the engine dropped without blaming the peer (issue 14)
      const live = consensus?.stats.silentRejects ?? {}
      for (const reason of new Set([...Object.keys(engineRejects), ...Object.keys(live)])) this.inc({ reason }, (engineRejects[reason] ?? 0) + (live[reason] ?? 0))
    },
  })
  new Gauge({
    name: 'collab_epsilon_spent',
    help: 'Epsilon spent on external releases at the ledger delta',
    registers: [registry],
    collect() {
      this.set(ledger.spent('external').epsilon)
    },
  })
  new Gauge({
    name: 'collab_training_iteration',
    help: 'Completed training iterations',
    registers: [registry],
    collect() {
      this.set(model.iteration)
    },
  })
  new Gauge({
    name: 'collab_peers_connected',
    help: 'Topology members with an open connection',
    registers: [registry],
    collect() {
      this.set(peers.filter((p, i) => i !== self && host.getConnections(peerIdFromString(p)).length > 0).length)
    },
  })


  // what the status page plots: one row per completed iteration (bounded by maxIterations)
  const startedAt = new Date().toISOString()
  const history: { iteration: number; objective: number; time: number; rounds: number; bytesSent: number; bytesReceived: number; participants: number; iterationMs: number }[] = []
  const connectedSince = (p: string): number | null => {
    const open = host.getConnections(peerIdFromString(p)).map((c) => c.timeline.open)
    return open.length > 0 ? Math.min(...open) : null
  }
  // public scoring reads the released file as it is on disk; parsed once it exists
  let releasedCache: PublicScorer | null = null
  const releasedScorer = (): PublicScorer | null => {
    if (releasedCache !== null) return releasedCache
    const json = store.loadJson('released.json')
    if (json === null || json === undefined) return null
    const m = loadReleasedGgm(json)
    releasedCache = { dim: m.dim, score: (x) => scoreReleasedGgm(m, x) }
    return releasedCache
  }

  const scorer = (): Scorer | null => {
    if (threshold === null) return null
    const m = model
    const t = threshold
    // a classifier answers with its class probabilities too (its threshold is its decision threshold)
    if (isClassifier(m)) return { dim: m.dim, threshold: t, score: (x) => m.score(x), probabilities: (x) => m.probabilities(x) }
    return { dim: m.dim, threshold: t, score: (x) => m.score(x) }
  }
  const api = createApi({
    backend: {
      scorer,
      releasedScorer,
      releasedModel: () => store.loadJson('released.json'),
      ledger: () => {
        // the ledger, and the network-level guarantee of the network's one release (the same
        // (epsilon, delta) protects every member's rows; the ledger charges each member once)
        const rel = result?.release ?? checkpoint?.release ?? null
        const release = rel !== null && 'released' in rel ? { epsilon: rel.epsilon, delta: rel.delta, members: rel.released.privacy.members, adopted: rel.adopted === true } : null
        return { ...ledger.toJSON(), network: { release, spent: ledger.spent('external') } }
      },
      status: () => ({
        node: { index: self, name: topology.nodes[self].name, peerId },
        state,
        startedAt,
        iteration: model.iteration,
        converged: result?.converged ?? null,
        stopReason: result?.stopReason ?? null,
        threshold,
        peers: topology.nodes
          .filter((n) => n.index !== self)
          .map((n) => ({
            index: n.index,
            name: n.name,
            peerId: n.peerId,
            neighbour: nbrs.includes(n.index),
            connected: host.getConnections(peerIdFromString(n.peerId as string)).length > 0,
            connectedSince: connectedSince(n.peerId as string),
          })),
        consensus: {
          sessions: sessionsDone + (consensus?.stats.sessions ?? 0),
          reruns: rerunsDone + (consensus?.stats.reruns.length ?? 0),
          rounds: roundsDone,
        },
        transport: tstats,
        privacy: {
          epsilonSpent: ledger.spent('external').epsilon,
          budget: ledger.settings.budget,
          delta: ledger.settings.delta,
          lastRelease: ledger.entries.filter((e) => e.audience === 'external').map((e) => ({ time: e.time, label: e.label, kind: e.kind, epsilon: e.epsilon })).at(-1) ?? null,
        },
        history,
      }),
    },
    registry,
    token: config.api.token,
    metricsAuth: config.api.metricsAuth,
    rateLimit: config.api.rateLimit,
    maxBatch: config.api.maxBatch,
  })
  const apiUrl = await api.listen({ host: config.api.host, port: config.api.port })
  log.info({ apiUrl, listen: host.getMultiaddrs().map(String) }, 'node listening')

  const abort = new AbortController()
  const nodeState = store.loadState()
  const resumedAtStart = checkpoint !== null

  // consensus engine, created at the first sum() of each training attempt (see header)
  const makeConsensus = (firstSession: number): ConsensusNode =>
    createConsensusNode({
      topology,
      transport,
      scheme: training.consensus.scheme,
      tol: training.consensus.tol,
      chunks: training.consensus.chunks,
      chunkScale: training.consensus.chunkScale,
      seed: training.seed,
      // chunk noise: a fresh OS-entropy key per engine (never reused across incarnations)
      noise: SecretRng.fromOsEntropy(),
      timeoutMs: training.consensus.timeoutMs,
      rerunOnTimeout: training.consensus.rerunOnTimeout,
      protection: training.consensus.protection,
      shamirThreshold: training.consensus.shamirThreshold,
      firstSession,
      onRound: () => {
        roundsDone++
        rounds.inc()
      },
    })
  const retireConsensus = (): void => {
    if (consensus === null) return
    for (const [r, n] of Object.entries(consensus.stats.silentRejects ?? {})) engineRejects[r] = (engineRejects[r] ?? 0) + n
    sessionsDone += consensus.stats.sessions
    rerunsDone += consensus.stats.reruns.length
    consensus.close()
    consensus = null
  }
  const aggregate: LearningContext['aggregate'] = async (vec, label, opts) => {
    const m = /^iter:(\d+):stats$/.exec(label)
    const iteration = m === null ? null : Number(m[1])
    if (consensus === null) {
      let first = 0
      if (iteration !== null) {
        if (nodeState.preparedSessions === null) {
          if (resumedAtStart) {
            throw new NodeSetupError(
              `${store.dir}/node-state.json is missing: cannot tell which consensus session iteration ${iteration} uses; delete checkpoint.json to start afresh`,
            )
          }
          nodeState.preparedSessions = 0
          await store.saveState(nodeState)
        }
        first = nodeState.preparedSessions + iteration
      }
      consensus = makeConsensus(first)
    } else if (nodeState.preparedSessions === null && iteration !== null) {
      // first iteration of a fresh run: every session so far belonged to prepare()
      nodeState.preparedSessions = consensus.nextSession - iteration
      await store.saveState(nodeState)
    }
    const c = consensus
    if (iteration === null) return c.sum(vec, label, opts)
    // watchdog: a node that rejoined a session its peers already finished would wait on
    // frames that never come; when the neighbours are past this iteration, leave it
    let timer: ReturnType<typeof setTimeout> | null = null
    let settled = false
    const watch = (): void => {
      timer = setTimeout(() => {
        void askNeighbours().then((g) => {
          if (settled) return
          if (g !== null && g.iteration > iteration) {
            log.warn({ iteration, network: g.iteration }, 'peers are past this consensus session; leaving it to rejoin')
            staleAt = g.iteration
            retireConsensus()
          } else watch()
        })
      }, STALE_CHECK_FACTOR * training.consensus.timeoutMs)
    }
    watch()
    try {
      return await c.sum(vec, label, opts)
    } finally {
      settled = true
      if (timer !== null) clearTimeout(timer)
    }
  }

  // after an exclusion the node may only rejoin once the network has finished the
  // iteration it was excluded from (the peers' sessions for it run without this node)
  let rejoinAt = 0
  // set by the watchdog when it abandons a stale session: the iteration the peers were at
  let staleAt: number | null = null
  const askNeighbours = async (): Promise<GlobalState | null> => {
    let best: GlobalState | null = null
    for (const j of nbrs) {
      try {
        const g = await fetchGlobal(host, peers[j], { maxState: Math.floor(DEFAULT_MAX_MESSAGE_BYTES / 8) - 8, timeoutMs: 5000 })
        if (g !== null && (best === null || g.iteration > best.iteration)) best = g
      } catch (err) {
        log.warn({ peer: j, err: (err as Error).message }, 'state sync failed')
      }
    }
    return best
  }
  const fetchNetworkGlobal = async (): Promise<GlobalState | null> => {
    const deadline = Date.now() + Math.max(REJOIN_WAIT_MS, 20 * training.consensus.timeoutMs)
    if (rejoinAt === 0) {
      // the session of the iteration the peers are in now may already have given up on
      // this node: join from the next one, which they open right after
      const now = await askNeighbours()
      if (now !== null && !now.converged && now.iteration >= model.iteration) rejoinAt = now.iteration + 1
    }
    for (;;) {
      const best = await askNeighbours()
      const ready = best !== null && (best.iteration >= rejoinAt || best.converged)
      if (ready || rejoinAt === 0 || Date.now() > deadline || abort.signal.aborted) {
        log.info({ iteration: best?.iteration ?? null, rejoinAt }, 'fetched global state from neighbours')
        return best
      }
      await new Promise((r) => setTimeout(r, 250))
    }
  }

  /**
   * After a restart during the release: the network's released model from any member that
   * has finished it (asked in turn, for up to REJOIN_WAIT_MS or 20 timeouts), else null.
   */
  const fetchNetworkRelease = async (): Promise<unknown> => {
    const deadline = Date.now() + Math.max(REJOIN_WAIT_MS, 20 * training.consensus.timeoutMs)
    while (Date.now() < deadline && !abort.signal.aborted) {
      for (const [j, p] of peers.entries()) {
        if (j === self) continue
        try {
          const file = await fetchReleased(host, p, { timeoutMs: 5000 })
          if (file !== null) return file
        } catch (err) {
          log.debug({ peer: j, err: (err as Error).message }, 'released-model fetch failed')
        }
      }
      await new Promise((r) => setTimeout(r, 500))
    }
    return null
  }

  // the same stream the in-process runner gives node `self` (src/learning/network.ts)
  let syncing = false
  const startSync = async (): Promise<void> => {
    if (syncing) return
    syncing = true
    // the released model is public: peers that restarted during the release adopt it
    await serveReleased(host, () => store.loadJson('released.json'))
    await serveGlobal(host, () => {
      if (!prepared) return null
      try {
        return model.exportGlobal()
      } catch {
        return null
      }
    })
  }

  const waitReady = async (targets: string[]): Promise<void> => {
    const deadline = Date.now() + config.startup.barrierTimeoutMs
    await waitForPeers(host, targets, config.startup.barrierTimeoutMs)
    const pending = new Set(targets)
    while (pending.size > 0) {
      await Promise.all(
        [...pending].map(async (p) => {
          try {
            await fetchGlobal(host, p, { maxState: Math.floor(DEFAULT_MAX_MESSAGE_BYTES / 8) - 8, timeoutMs: 3000 })
            pending.delete(p)
          } catch {
            // not ready yet (no sync handler) or unreachable: ask again
          }
        }),
      )
      if (pending.size === 0) break
      if (Date.now() > deadline || abort.signal.aborted) {
        throw new PeerBarrierTimeoutError(
          `start barrier: peers not ready after ${config.startup.barrierTimeoutMs} ms: ${[...pending].join(', ')}; start them or raise startup.barrierTimeoutMs`,
        )
      }
      await new Promise((r) => setTimeout(r, 200))
    }
    log.info({ peers: targets.length }, 'start barrier passed')
  }

  // every noise that protects privacy: keyed by this node's own OS-entropy secret (never the shared seed)
  const noise = secret.fork('learning')
  const train = async (): Promise<TrainingResult | null> => {
    state = 'waiting-for-peers'
    // the sync handler doubles as the readiness signal of the start barrier: a peer that
    // answers it is about to open its first consensus session
    await startSync()
    // a fresh network starts together (every member ready, so no session opens while a
    // slow member is still starting); a restarting node only needs its neighbours
    const targets = resumedAtStart ? nbrs.map((j) => peers[j]) : peers.filter((_, i) => i !== self)
    await waitReady(targets)
    state = 'training'
    for (let attempt = 0; ; attempt++) {
      const ctx: LearningContext = {
        nodeIndex: self,
        data,
        model,
        aggregate,
        noise,
        ledger,
        guard,
        releaser,
        logger: log,
        fetchGlobal: fetchNetworkGlobal,
        fetchRelease: fetchNetworkRelease,
      }
      try {
        const r = await runTraining(ctx, {
          config: training,
          runId,
          resume: checkpoint ?? undefined,
          signal: abort.signal,
          checkpoint: async (cp) => {
            prepared = true
            checkpoint = cp
            await store.saveCheckpoint(cp)
          },
          onEvent: (e) => {
            if (e.type === 'iteration') {
              const r = e.record
              // a node that rejoins reruns iterations: keep the last run of each
              while (history.length > 0 && history[history.length - 1].iteration >= r.iteration) history.pop()
              history.push({ iteration: r.iteration, objective: r.objective, time: Date.now(), rounds: roundsDone, bytesSent: tstats.bytesSent, bytesReceived: tstats.bytesReceived, participants: r.participants, iterationMs: r.iterationMs })
              log.info({ iteration: r.iteration, objective: r.objective, participants: r.participants, aggregateMs: r.aggregateMs, iterationMs: r.iterationMs, rounds: roundsDone }, 'iteration')
            }
          },
        })
        retireConsensus()
        return r
      } catch (err) {
        retireConsensus()
        // excluded by the peers (they timed out on this node while it was down), or cut off
        // because they no longer talk to it in that session: rejoin after that iteration
        const cause = err instanceof TrainingStoppedError ? err.cause : null
        const rejoinable =
          cause instanceof ExcludedError ||
          cause instanceof DisconnectedGraphError ||
          cause instanceof NeighbourTimeoutError ||
          (cause instanceof ConsensusClosedError && staleAt !== null)
        if (err instanceof TrainingStoppedError && rejoinable && attempt < MAX_REJOINS && checkpoint !== null && !abort.signal.aborted) {
          rejoinAt = Math.max(err.iteration + 1, (staleAt ?? 0) + 1)
          staleAt = null
          log.warn({ iteration: err.iteration, reason: cause.name, attempt }, 'left out of a consensus session; rejoining after it')
          model = loadNodeModel(training, checkpoint.model, { ledger })
          continue
        }
        throw err
      }
    }
  }

  const trainingDone: Promise<TrainingResult | null> = (async () => {
    try {
      if (checkpoint?.finished) {
        log.info({ iteration: checkpoint.iteration }, 'training already finished; serving')
        await startSync()
      } else {
        result = await train()
      }
      if (isClassifier(model)) threshold = model.decisionThreshold
      else if (result !== null && thresholdQuantile === training.thresholdQuantile) threshold = result.threshold
      else threshold = thresholdAt(model.score(data), thresholdQuantile)
      await store.saveJson('model.json', model.save())
      const rel = result?.release ?? checkpoint?.release ?? null
      if (rel !== null && 'released' in rel) await store.saveJson('released.json', rel.released)
      state = 'trained'
      log.info({ iterations: model.iteration, threshold, converged: result?.converged ?? true }, 'training finished')
      return result
    } catch (err) {
      if (err instanceof TrainingAbortedError || abort.signal.aborted) {
        state = 'stopped'
        return null
      }
      state = 'failed'
      log.error({ err }, 'training failed')
      throw err
    }
  })()
  trainingDone.catch(() => {})

  let stopping: Promise<void> | null = null
  return {
    index: self,
    peerId,
    apiUrl,
    host,
    training: trainingDone,
    state: () => state,
    stop(): Promise<void> {
      if (stopping) return stopping
      stopping = (async () => {
        abort.abort()
        retireConsensus()
        await trainingDone.catch(() => null)
        await api.close()
        await transport.stop()
        await host.stop()
        if (state !== 'trained' && state !== 'failed') state = 'stopped'
        releaseIdentity()
        log.info('node stopped')
      })()
      return stopping
    },
  }
}
