/**
 * Messages between the coordinator (main thread) and the simulator's worker threads.
 *
 * Termination detection (Mattern's counting, with every batch routed through the
 * coordinator): a worker posts `out` each time its nodes have nothing left to do (after one
 * macrotask turn with no work, as the one-thread virtual clock settles), carrying the
 * batches it produced and how many batches it has received so far. The coordinator counts
 * the batches it forwarded to each worker; when every worker's latest report is of the
 * current epoch and acknowledges all of them, no frame is in flight and nobody can wake:
 * only then does virtual time advance (`advance` to the network's earliest timer).
 */
import type { SessionWait } from '../../src/consensus/index.js'
import type { Scenario } from '../scenario.js'
import type { SimData } from '../data.js'
import type { Topology } from '../../topologies/index.js'

export interface InitTrain {
  type: 'init'
  mode: 'train'
  worker: number
  workers: number
  sc: Scenario
  topology: Topology
  /** The scenario's data (trainAll left out: the centralised fit runs on the main thread). */
  data: SimData
}

export interface InitConsensus {
  type: 'init'
  mode: 'consensus'
  worker: number
  workers: number
  sc: Scenario
  topology: Topology
}

export type ToWorker =
  | InitTrain
  | InitConsensus
  | { type: 'start' }
  | { type: 'batch'; batch: Float64Array }
  | { type: 'advance'; epoch: number; at: number }
  /** The exact sum of a statistics session's inputs (node order), for the consensus error. */
  | { type: 'sum'; label: string; sum: Float64Array }
  /** Stop every running node (a node failed elsewhere, or the network stalled). */
  | { type: 'abort'; epoch: number }
  | { type: 'describe' }
  /** Training is over: close, evaluate, post the result. */
  | { type: 'finish' }

export interface OutReport {
  type: 'out'
  batches: Array<{ worker: number; frames: number; batch: Float64Array }>
  /** Batches received so far. */
  received: number
  /** Epoch (advance count) this report belongs to. */
  epoch: number
  /** Earliest timer of this worker (Infinity when none) and how many are pending. */
  nextAt: number
  pendingTimers: number
  /** Nodes still training (neither finished nor failed). */
  running: number
}

export type FromWorker =
  | { type: 'ready' }
  | OutReport
  /** A node's input to a statistics session (for the exact sum). */
  | { type: 'input'; label: string; node: number; vec: Float64Array }
  | { type: 'progress'; iteration: number; objective: number }
  | { type: 'failed'; node: number; name: string; message: string }
  | { type: 'waits'; waits: SessionWait[] }
  | { type: 'result'; result: unknown }
  | { type: 'fatal'; name: string; message: string; stack: string }
