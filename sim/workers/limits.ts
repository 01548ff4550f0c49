/**
 * What a multi-worker run supports, checked before any thread starts. With more than one
 * worker the network must be the fault-free in-memory one: the memory transport draws loss
 * and latency from one generator in global send order, and crashes strike by a schedule
 * shared by every node, neither of which a split over threads can replay bit for bit.
 */
import type { Scenario } from '../scenario.js'

/** A scenario asks for worker threads with something they cannot reproduce; the message says what to change. */
export class WorkersUnsupportedError extends Error {
  override name = 'WorkersUnsupportedError'
}

/** Threads beyond this help nobody on a workstation and cost a runtime each. */
export const MAX_WORKERS = 64

/** Throw WorkersUnsupportedError unless `sc` can run on `workers` threads (1 always can). */
export function checkWorkers(sc: Scenario, workers: number): void {
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
    throw new WorkersUnsupportedError(`workers must be an integer from 1 to ${MAX_WORKERS}, got ${workers}`)
  }
  if (workers === 1) return
  if (workers > sc.nodes) throw new WorkersUnsupportedError(`workers: ${workers} exceeds nodes: ${sc.nodes}; use at most one worker per node`)
  if (sc.transport !== 'memory') {
    throw new WorkersUnsupportedError(`workers: ${workers} runs the in-memory transport only, and this scenario has transport: ${sc.transport}; use transport: memory, or workers: 1`)
  }
  const f = sc.faults
  const faults = [f.loss > 0 ? `loss ${f.loss}` : null, f.latency !== undefined ? `latency (${f.latency.kind})` : null, f.crashes.length > 0 ? `${f.crashes.length} crash(es)` : null].filter((x) => x !== null)
  if (faults.length > 0) {
    throw new WorkersUnsupportedError(
      `workers: ${workers} needs a fault-free network, and this scenario injects ${faults.join(', ')}: loss and latency are drawn from one generator in the order frames are sent ` +
        'and crashes follow one shared schedule, which threads cannot replay bit for bit; run fault scenarios with workers: 1',
    )
  }
}

/** The scenario as the report shows it: `workers` says how the run was executed, not what it simulates, so it is left out (reports compare byte for byte). */
export function withoutWorkers(sc: Scenario): Scenario {
  const { workers: _workers, ...rest } = sc
  return rest
}
