/**
 * Entry of a simulator worker thread (started by sim/workers/coordinator.ts): build the
 * partition's network, clock and job from the `init` message, then serve the coordinator.
 */
import { parentPort } from 'node:worker_threads'
import { rememberTopologySpectrum } from '../../topologies/index.js'
import { ConsensusJob } from './consensus-job.js'
import { PartitionNetwork } from './partition-network.js'
import { partition } from './partition.js'
import type { FromWorker, ToWorker } from './protocol.js'
import { StepClock } from './step-clock.js'
import { TrainJob } from './train-job.js'
import { WorkerRuntime, type WorkerJob } from './worker-runtime.js'

const port = parentPort
if (port === null) throw new Error('sim/workers/worker-entry.ts runs as a worker thread; start it with sim/workers/coordinator.ts')

const post = (m: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer)
let runtime: WorkerRuntime | null = null

function fatal(e: unknown): void {
  const err = e instanceof Error ? e : new Error(String(e))
  post({ type: 'fatal', name: err.name, message: err.message, stack: err.stack ?? '' })
}

port.on('message', (m: ToWorker) => {
  try {
    if (m.type !== 'init') {
      runtime?.handle(m)
      return
    }
    rememberTopologySpectrum(m.topology, m.spectrum)
    const part = partition(m.sc.nodes, m.workers, m.worker)
    const clock = new StepClock()
    const net = new PartitionNetwork(part, m.worker, () => runtime?.queueFlush())
    const job: WorkerJob = m.mode === 'train' ? new TrainJob(m.sc, m.data, m.topology, part, net, clock, post) : new ConsensusJob(m.sc, m.topology, part, net, clock, post)
    runtime = new WorkerRuntime(port, m.peers, net, clock, job)
    post({ type: 'ready' })
  } catch (e) {
    fatal(e)
  }
})
process.on('unhandledRejection', fatal)
