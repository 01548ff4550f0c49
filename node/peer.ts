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
 * The pieces: node/training.ts (the training run, rejoining after a crash or exclusion),
 * node/consensus-host.ts (the consensus engine's sessions across attempts), node/sync.ts
 * (state sync and the start barrier), node/metrics.ts, node/status.ts, node/api/.
 */
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { pino, type Logger } from 'pino'
import type { Topology } from '../topologies/index.js'
import { loadTopology, neighbours as topologyNeighbours } from '../topologies/index.js'
import { loadCsv } from '../src/data/index.js'
import type { Checkpoint, TrainingResult } from '../src/learning/types.js'
import { consensusPayloadLimit } from '../src/learning/models.js'
import { isClassifier, withLabels } from '../src/models/classifier/index.js'
import { createLedger } from '../src/learning/privacy.js'
import { LedgerMissingError, PrivacyLedger, writeFileAtomic } from '../src/privacy/ledger.js'
import type { CollabModel } from '../src/models/model.js'
import { selectRows, type Mat } from '../src/numeric/matrix.js'
import { SecretRng } from '../src/numeric/secret-rng.js'
import {
  addPeerAddresses,
  createHost,
  createLibp2pTransport,
  DEFAULT_MAX_MESSAGE_BYTES,
  type CollabHost,
  type FrameLimits,
  type Libp2pTransport,
} from '../src/p2p/index.js'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { assertApiAddressFree, createApi, type PublicScorer, type Scorer } from './api/server.js'
import { loadReleasedGgm, scoreReleasedGgm } from '../src/privacy/ggm-release.js'
import type { NodeConfig } from './config.js'
import { loadIdentity, lockIdentity } from './identity.js'
import type { Registry } from 'prom-client'
import { openStore, type NodeStore } from './store.js'
import { ConsensusHost, NodeSetupError } from './consensus-host.js'
import { createNodeMetrics } from './metrics.js'
import { nodeStatus, type NodeState, type StatusSources } from './status.js'
import { MAX_REJOINS, NodeTraining } from './training.js'
import { NetworkSync } from './sync.js'

export { MAX_REJOINS, NodeSetupError }
export type { NodeState }

/** Upper bound on consensus rounds per session accepted from the wire (spectral counts are in the hundreds). */
export const MAX_WIRE_ROUNDS = 1_000_000

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

/** Was the model trained with missing values (hyper missing: true)? Then the API takes null as a missing value. */
function trainedWithMissing(m: object): boolean {
  const hyper = (m as { hyper?: unknown }).hyper
  return typeof hyper === 'object' && hyper !== null && (hyper as { missing?: unknown }).missing === true
}

function loadRows(config: NodeConfig): { data: Mat; columns: string[] } {
  const csv = loadCsv(config.data.path, { labelCol: config.data.labelCol, dropCols: config.data.dropCols, missing: config.data.missing })
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
  const { privateKey, peerId } = identity
  const topology = loadTopology(config.topology)
  const self = selfIndex(topology, peerId, config.topology)
  const peers = topology.nodes.map((n) => n.peerId as string)
  const nbrs = topologyNeighbours(topology)[self]
  const { data } = loadRows(config)
  const store: NodeStore = openStore(config.storage)
  const training = config.training
  const checkpoint: Checkpoint | null = store.loadCheckpoint()
  const ledger = openNodeLedger(store, training, peerId, checkpoint, opts.restoreLedgerFromCheckpoint === true, log)
  // this training run's id (kept in the checkpoint): keys the run's replayable secret streams,
  // so a new run in the same state folder never reuses an old run's noise
  const runId = checkpoint?.runId ?? randomUUID()
  // every noise that protects privacy: keyed by this node's own OS-entropy secret (never the shared seed)
  const noise = SecretRng.fromKey(store.secretKey()).fork(`run/${runId}`).fork('learning')
  const abort = new AbortController()
  const t = new NodeTraining({ config, self, peers, neighbours: nbrs, data, store, ledger, log, signal: abort.signal, runId, noise }, checkpoint)
  log.info({ index: self, peerId, rows: data.rows, features: data.cols, resumeFrom: checkpoint?.iteration ?? null }, 'node starting')

  await assertApiAddressFree(config.api.host, config.api.port)
  const { host, transport } = await openNetwork(config, privateKey, topology, self, data.cols, log)
  const sync = new NetworkSync({
    host,
    peers,
    self,
    neighbours: nbrs,
    timeoutMs: training.consensus.timeoutMs,
    store,
    log,
    signal: abort.signal,
    model: () => t.model,
    prepared: () => t.prepared,
  })
  let rounds = 0
  const consensus = new ConsensusHost({
    topology,
    transport,
    training,
    store,
    nodeState: store.loadState(),
    resumedAtStart: checkpoint !== null,
    log,
    askNeighbours: () => sync.askNeighbours(),
    onRound: () => {
      rounds++
      metrics.round()
    },
  })
  const metrics = createNodeMetrics({
    transport: transport.stats,
    ledger,
    sessions: () => consensus.sessions,
    engineRejects: () => consensus.silentRejects(),
    iteration: () => t.model.iteration,
    connectedPeers: () => peers.filter((p, i) => i !== self && host.getConnections(peerIdFromString(p)).length > 0).length,
  })
  const status: StatusSources = {
    topology,
    self,
    peerId,
    neighbours: nbrs,
    host,
    ledger,
    transport: transport.stats,
    history: t.history,
    startedAt: new Date().toISOString(),
    state: () => t.state,
    iteration: () => t.model.iteration,
    result: () => t.result,
    threshold: () => t.threshold,
    consensus: () => ({ sessions: consensus.sessions, reruns: consensus.reruns, rounds }),
  }
  const api = createNodeApi(config, store, metrics.registry, {
    model: () => (t.threshold === null ? null : { model: t.model, threshold: t.threshold }),
    release: () => t.result?.release ?? t.checkpoint?.release ?? null,
    ledger,
    status: () => nodeStatus(status),
  })
  const apiUrl = await api.listen({ host: config.api.host, port: config.api.port })
  log.info({ apiUrl, listen: host.getMultiaddrs().map(String) }, 'node listening')

  const trainingDone = t.run({ sync, consensus, transport: transport.stats, rounds: () => rounds })
  trainingDone.catch(() => {})
  let stopping: Promise<void> | null = null
  return {
    index: self,
    peerId,
    apiUrl,
    host,
    training: trainingDone,
    state: () => t.state,
    stop(): Promise<void> {
      if (stopping) return stopping
      stopping = (async () => {
        abort.abort()
        consensus.retire()
        await trainingDone.catch(() => null)
        await api.close()
        await transport.stop()
        await host.stop()
        if (t.state !== 'trained' && t.state !== 'failed') t.state = 'stopped'
        releaseIdentity()
        log.info('node stopped')
      })()
      return stopping
    },
  }
}

interface NodeApiSources {
  /** The trained model and its threshold, or null before training ends. */
  model: () => { model: CollabModel; threshold: number } | null
  /** The network release this node took part in, if any. */
  release: () => TrainingResult['release'] | null
  ledger: PrivacyLedger
  status: () => Record<string, unknown>
}

/** The node's HTTP API over its model, released file, ledger and status. */
function createNodeApi(config: NodeConfig, store: NodeStore, registry: Registry, src: NodeApiSources): ReturnType<typeof createApi> {
  const scorer = (): Scorer | null => {
    const cur = src.model()
    if (cur === null) return null
    const { model: m, threshold: t } = cur
    // a classifier answers with its class probabilities too (its threshold is its decision threshold)
    if (isClassifier(m)) return { dim: m.dim, threshold: t, score: (x) => m.score(x), probabilities: (x) => m.probabilities(x) }
    return { dim: m.dim, threshold: t, score: (x) => m.score(x), missing: trainedWithMissing(m) }
  }
  return createApi({
    backend: {
      scorer,
      releasedScorer: releasedScorerFrom(store),
      releasedModel: () => store.loadJson('released.json'),
      ledger: () => {
        // the ledger, and the network-level guarantee of the network's one release (the same
        // (epsilon, delta) protects every member's rows; the ledger charges each member once)
        const rel = src.release()
        const release = rel != null && 'released' in rel ? { epsilon: rel.epsilon, delta: rel.delta, members: rel.released.privacy.members, adopted: rel.adopted === true } : null
        return { ...src.ledger.toJSON(), network: { release, spent: src.ledger.spent('external') } }
      },
      status: src.status,
    },
    registry,
    token: config.api.token,
    metricsAuth: config.api.metricsAuth,
    rateLimit: config.api.rateLimit,
    maxBatch: config.api.maxBatch,
  })
}

/** The libp2p host (allow-listed to the topology) and the consensus transport over it, started. */
async function openNetwork(config: NodeConfig, privateKey: PrivateKey, topology: Topology, self: number, features: number, log: Logger): Promise<{ host: CollabHost; transport: Libp2pTransport }> {
  const peers = topology.nodes.map((n) => n.peerId as string)
  const maxPayload = consensusPayloadLimit(config.training, features, topology.nodes.length)
  const limits: FrameLimits = { maxPayload, maxChunks: config.training.consensus.chunks, maxRounds: MAX_WIRE_ROUNDS }
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
  const transport = createLibp2pTransport({
    host,
    peers,
    self,
    limits,
    log: { warn: (o, m) => log.warn(o, m), debug: (o, m) => log.debug(o, m) },
  })
  await transport.start()
  return { host, transport }
}

/** Public scoring reads the released file as it is on disk; parsed once it exists. */
function releasedScorerFrom(store: NodeStore): () => PublicScorer | null {
  let cache: PublicScorer | null = null
  return () => {
    if (cache !== null) return cache
    const json = store.loadJson('released.json')
    if (json === null || json === undefined) return null
    const m = loadReleasedGgm(json)
    cache = { dim: m.dim, score: (x) => scoreReleasedGgm(m, x), missing: true }
    return cache
  }
}
