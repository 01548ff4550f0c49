/**
 * Consensus-only mode (mode: consensus) on N worker threads: each worker's nodes sum their
 * random vectors; the report is built from facts gathered in node order, the same bytes as
 * sim/consensus-run.ts on one thread.
 */
import { performance } from 'node:perf_hooks'
import { sessionTol } from '../../src/consensus/index.js'
import { Rng } from '../../src/numeric/rng.js'
import { spectralReport, topologySpectrum } from '../../topologies/index.js'
import { consensusReport } from '../consensus-run.js'
import type { RunOutcome } from '../report-types.js'
import { RoundProbe, scenarioTopology } from '../run-common.js'
import type { Scenario } from '../scenario.js'
import { WorkerPool } from './coordinator.js'
import type { ConsensusWorkerResult } from './consensus-job.js'
import { sumNetworkCounts } from './protocol.js'

export async function runConsensusOnWorkers(sc: Scenario, workers: number): Promise<RunOutcome> {
  const wall0 = performance.now()
  const topology = scenarioTopology(sc)
  const config = sc.training
  const spec = spectralReport(topology, sessionTol(config.consensus.tol, config.consensus.chunks, config.consensus.chunkScale, sc.vectorLength))
  let failure: Error | null = null
  const pool = new WorkerPool(workers, {
    onFailed(m) {
      if (failure !== null) return
      failure = new Error(m.message)
      failure.name = m.name
    },
  })
  try {
    await pool.start((worker, peers) => ({ type: 'init', mode: 'consensus', worker, workers, peers, sc, topology, spectrum: topologySpectrum(topology) }))
    const end = await pool.drive(true)
    let stalled = false
    let stallReason: string | null = null
    if (end.kind === 'stall') {
      stallReason = await pool.stallReason(end)
      // as on one thread: stalled unless some node had failed by then; closing the rest fails them
      stalled = failure === null
    }
    const results = (await pool.finish()) as ConsensusWorkerResult[]
    const probe = new RoundProbe(sc.nodes, 1, new Rng(sc.seed).fork('probe'))
    for (const r of results) if (r.probe) probe.merge(0, r.probe)
    const errors = results.map((r) => r.error).filter((e): e is number => e !== null)
    const network = sumNetworkCounts(results)
    const report = consensusReport(sc, topology, spec, {
      first: results.map((r) => r.firstHistory).find((h) => h !== null) ?? null,
      error: errors.length ? Math.max(...errors) : null,
      finished: results.reduce((a, r) => a + r.finished, 0),
      bytes: results.flatMap((r) => r.bytes),
      frames: results.flatMap((r) => r.frames),
      network,
      errorPerRound: probe.errors(0),
      failure,
      stalled,
      stallReason,
      virtualMs: pool.now,
    })
    return { report, wallMs: performance.now() - wall0, models: [] }
  } finally {
    await pool.close()
  }
}
