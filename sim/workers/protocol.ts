/**
 * Messages between the coordinator (main thread) and the simulator's worker threads.
 *
 * Frame batches go straight from worker to worker over a MessagePort per pair (one hop per
 * round, the main thread is not on the critical path). Termination detection is Mattern's
 * counting: each time a worker's nodes have nothing left to do (after one macrotask turn
 * with no work, as the one-thread virtual clock settles) it posts its batches to its peers
 * and then an idle report (`out`) to the coordinator with how many batches it has sent to
 * and received from each peer. When every worker's latest report is of the current epoch
 * and, for every pair, the batches one reports sent equal those the other reports received,
 * no frame is in flight and nobody can wake (the first batch sent after a stale report
 * would show as sent and not received); only then does virtual time advance (`advance`, to
 * the network's earliest timer, for every worker at once).
 */
import type { MessagePort } from 'node:worker_threads'
import type { SessionWait } from '../../src/consensus/index.js'
import type { Scenario } from '../scenario.js'
import type { SimData } from '../data.js'
import type { GraphSpectrum } from '../../src/consensus/index.js'
import type { Topology } from '../../topologies/index.js'

/** What every worker is started with, whatever it runs. */
interface InitBase {
  type: 'init'
  worker: number
  workers: number
  /** Port to each other worker (null at this worker's own index). */
  peers: (MessagePort | null)[]
  sc: Scenario
  topology: Topology
  /** The topology's spectrum, computed once on the main thread. */
  spectrum: GraphSpectrum
}

export interface InitTrain extends InitBase {
  mode: 'train'
  /** The scenario's data (trainAll left out: the centralised fit runs on the main thread). */
  data: SimData
}

export interface InitConsensus extends InitBase {
  mode: 'consensus'
}

export type ToWorker =
  | InitTrain
  | InitConsensus
  | { type: 'start' }
  | { type: 'advance'; epoch: number; at: number }
  /** The exact sum of a statistics session's inputs (node order), for the consensus error. */
  | { type: 'sum'; label: string; sum: Float64Array }
  /** Stop every running node (a node failed elsewhere, or the network stalled). */
  | { type: 'abort'; epoch: number }
  | { type: 'describe' }
  /** Training is over: close, evaluate, post the result. */
  | { type: 'finish' }

/** What a worker posts to a peer: every frame its nodes sent to the peer's nodes since the last one. */
export interface PeerBatch {
  batch: Float64Array
  /** Buffers of the recipient's earlier batches to this worker, delivered and handed back for reuse. */
  back: ArrayBuffer[]
}

export interface OutReport {
  type: 'out'
  /** Batches sent to / received from each worker so far. */
  sentTo: number[]
  recvFrom: number[]
  /** Epoch (advance count) this report belongs to. */
  epoch: number
  /** Earliest timer of this worker (Infinity when none) and how many are pending. */
  nextAt: number
  pendingTimers: number
  /** Nodes still training (neither finished nor failed). */
  running: number
}

/** A node's input to a statistics session (for the exact sum). */
export interface NodeInput {
  label: string
  node: number
  vec: Float64Array
}

export type FromWorker =
  | { type: 'ready' }
  | OutReport
  /** Nodes' inputs to statistics sessions (for the exact sums), posted together once per event-loop turn. */
  | { type: 'inputs'; inputs: NodeInput[] }
  | { type: 'progress'; iteration: number; objective: number }
  /** Node 0 opened a network sum of the start or the release (the coordinator shows their progress). */
  | { type: 'session'; label: string }
  | { type: 'failed'; node: number; name: string; message: string }
  | { type: 'waits'; waits: SessionWait[] }
  | { type: 'result'; result: unknown }
  | { type: 'fatal'; name: string; message: string; stack: string }

/** Network counts as each worker reports them. */
export interface NetworkCounts {
  sent: number
  delivered: number
  lost: number
  dropped: number
}

/** The network's counts: the workers' counts added up. */
export function sumNetworkCounts(parts: Iterable<{ network: NetworkCounts }>): NetworkCounts {
  const net = { sent: 0, delivered: 0, lost: 0, dropped: 0 }
  for (const p of parts) {
    net.sent += p.network.sent
    net.delivered += p.network.delivered
    net.lost += p.network.lost
    net.dropped += p.network.dropped
  }
  return net
}
