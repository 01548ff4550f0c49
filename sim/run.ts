/**
 * One simulated network: S nodes in this process, each running runTraining (the code a
 * peer node runs) on its own slice, over exact sums, the in-memory transport (virtual
 * clock, seeded latency/loss/crashes) or real libp2p on loopback. Produces the report's
 * figures: per-iteration objective, consensus rounds, bytes and error, AUCs of local /
 * CollabDict / centralised models, privacy ledger and l-diversity per node, faults.
 *
 * The phases live beside it: sim/network-run.ts (training the network), sim/run-evaluate.ts
 * (scoring the models), sim/run-report.ts (the report), sim/consensus-run.ts (mode:
 * consensus), sim/run-common.ts (shared pieces), sim/report-types.ts (the report's shape).
 *
 * Determinism: on the exact and in-memory transports everything (split, chunks,
 * relabelling, latency, loss, crashes, noise) comes from seeded generators and the virtual
 * clock, and the report holds no wall-clock figure, so the same scenario and seed give
 * the same report bytes. Wall time is returned beside the report, not inside it.
 */
import { performance } from 'node:perf_hooks'
import { sessionTol } from '../src/consensus/index.js'
import { consensusPayloadLimit } from '../src/learning/models.js'
import { Rng } from '../src/numeric/rng.js'
import { spectralReport } from '../topologies/index.js'
import { runConsensusScenario } from './consensus-run.js'
import { loadSimData, type SimData } from './data.js'
import { NetworkRun } from './network-run.js'
import { SimulationError, type RunHooks, type RunOutcome } from './report-types.js'
import { evaluateRun } from './run-evaluate.js'
import { buildRunReport } from './run-report.js'
import { scenarioTopology } from './run-common.js'
import type { Scenario } from './scenario.js'
import { checkWorkers, withoutWorkers } from './workers/limits.js'
import { runConsensusOnWorkers } from './workers/consensus.js'
import { trainOnWorkers } from './workers/train.js'

export * from './report-types.js'
export { runConsensusScenario } from './consensus-run.js'
export { MAX_REJOINS } from './network-run.js'
export { scenarioTopology, simulationSecret, trainAlone } from './run-common.js'

/** Run one scenario (no sweep) and build its report. */
export async function runScenario(scenario: Scenario, hooks: RunHooks = {}): Promise<RunOutcome> {
  if (scenario.sweep !== undefined || scenario.cases !== undefined) throw new SimulationError('runScenario runs one variant; use runSweep for a scenario with a sweep or cases')
  // worker threads (sim/workers/): how the run executes, not part of the report
  const workers = scenario.workers ?? 1
  const sc = withoutWorkers(scenario)
  checkWorkers(sc, workers)
  if (sc.mode === 'consensus') return workers > 1 ? runConsensusOnWorkers(sc, workers) : runConsensusScenario(sc)
  const wall0 = performance.now()
  const root = new Rng(sc.seed)
  const data: SimData = loadSimData(sc, root.fork('data'))
  const topology = scenarioTopology(sc)
  const config = sc.training
  // Chunked sessions run to a tighter tolerance that covers the chunk noise (sessionTol); the
  // prediction is for the statistics vector (its largest length).
  const statsLength = consensusPayloadLimit(config, data.columns.length, sc.nodes)
  const spec = spectralReport(topology, sessionTol(config.consensus.tol, config.consensus.chunks, config.consensus.chunkScale, statsLength))
  if (workers > 1) {
    const par = await trainOnWorkers({ sc, data, topology, root, workers, hooks })
    const report = buildRunReport(sc, data, topology, spec, par.run, par.evaluation)
    hooks.onProgress?.({ iteration: report.outcome.iterations, maxIterations: config.maxIterations, objective: report.iterations.at(-1)?.objective ?? null, phase: 'done' })
    return { report, wallMs: performance.now() - wall0, models: par.models }
  }
  const run = new NetworkRun({ sc, data, topology, predictedRounds: spec.schemes[config.consensus.scheme].rounds, root, hooks })
  await run.train()

  hooks.onProgress?.({ iteration: run.shownIteration + 1, maxIterations: config.maxIterations, objective: null, phase: 'evaluate' })
  const ev = await evaluateRun(sc, data, root, run.nodes)
  const report = buildRunReport(sc, data, topology, spec, run, ev)
  hooks.onProgress?.({ iteration: report.outcome.iterations, maxIterations: config.maxIterations, objective: report.iterations.at(-1)?.objective ?? null, phase: 'done' })
  return { report, wallMs: performance.now() - wall0, models: run.nodes.map((x) => (x.status === 'finished' && x.result ? x.result.model : null)) }
}
