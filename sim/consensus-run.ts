/**
 * The consensus-only scenario (mode: consensus): one network-wide sum of random vectors
 * over the in-memory transport, reported as rounds (measured and predicted), error against
 * the exact sum, and traffic.
 */
import { performance } from 'node:perf_hooks'
import { createConsensusNode, createMemoryNetwork, createVirtualClock, formatWaits, sessionTol, type SessionRecord } from '../src/consensus/index.js'
import { Rng } from '../src/numeric/rng.js'
import { spectralReport, type SpectralReport, type Topology } from '../topologies/index.js'
import { REPORT_FORMAT, REPORT_VERSION, type RunOutcome, type SimReport } from './report-types.js'
import { driveClock, emptySummary, latencyFn, relNorm, RoundProbe, scenarioTopology, simulationSecret, topologySummary } from './run-common.js'
import type { Scenario } from './scenario.js'
import { engineOptions } from '../src/learning/config.js'

/**
 * Consensus only: every node sums one random vector (length sc.vectorLength) over the
 * in-memory transport with the scenario's scheme, tolerance, chunks and faults; the report
 * gives rounds (measured and predicted), the error against the exact sum and traffic.
 */
export async function runConsensusScenario(sc: Scenario): Promise<RunOutcome> {
  const wall0 = performance.now()
  const topology = scenarioTopology(sc)
  const config = sc.training
  const S = sc.nodes
  const spec = spectralReport(topology, sessionTol(config.consensus.tol, config.consensus.chunks, config.consensus.chunkScale, sc.vectorLength))
  const root = new Rng(sc.seed)
  const clock = createVirtualClock()
  const net = createMemoryNetwork(topology, { clock, latencyMs: latencyFn(sc.faults.latency), loss: sc.faults.loss, seed: `${sc.seed}/network` })
  const probe = new RoundProbe(S, 1, root.fork('probe'))
  const cns = net.transports.map((t, s) =>
    createConsensusNode({
      topology,
      transport: t,
      clock,
      ...engineOptions(config),
      noise: simulationSecret(sc, s).fork('consensus'),
      onRound: (e) => probe.onRound(s, e),
    }),
  )
  const xs = Array.from({ length: S }, (_, s) => root.fork(`x:${s}`).fillNormal(new Float64Array(sc.vectorLength)))
  const exactSum = new Float64Array(sc.vectorLength)
  for (const x of xs) for (let i = 0; i < x.length; i++) exactSum[i] += x[i]
  let failure: Error | null = null
  const results: (Float64Array | null)[] = new Array<Float64Array | null>(S).fill(null)
  const all = Promise.all(
    cns.map((c, s) =>
      c.sum(xs[s], 'probe').then(
        (v) => {
          results[s] = v
        },
        (e: unknown) => {
          failure ??= e instanceof Error ? e : new Error(String(e))
        },
      ),
    ),
  )
  const stallReason = await driveClock(clock, all, () => formatWaits(cns.flatMap((c) => c.waiting())))
  const stalled = results.some((r) => r === null) && failure === null
  for (const c of cns) c.close()
  await all
  net.close()
  const got = results.filter((r): r is Float64Array => r !== null)
  const report = consensusReport(sc, topology, spec, {
    first: cns.map((c) => c.stats.history[0]).find((x) => x !== undefined) ?? null,
    error: got.length ? Math.max(...got.map((v) => relNorm(v, exactSum))) : null,
    finished: got.length,
    bytes: cns.map((c) => c.stats.bytesSent),
    frames: cns.map((c) => c.stats.framesSent),
    network: { sent: net.stats.sent, delivered: net.stats.delivered, lost: net.stats.lost, dropped: net.stats.dropped },
    errorPerRound: probe.errors(0),
    failure,
    stalled,
    stallReason,
    virtualMs: clock.now(),
  })
  return { report, wallMs: performance.now() - wall0, models: [] }
}

/** What the consensus-only report is made of, gathered on one thread or from workers (sim/workers/consensus.ts). */
export interface ConsensusFacts {
  /** The first node's (in node order) record of the session. */
  first: SessionRecord | null
  /** Largest relative error of a node's sum against the exact sum (null when none finished). */
  error: number | null
  finished: number
  /** Per node, in node order. */
  bytes: number[]
  frames: number[]
  network: { sent: number; delivered: number; lost: number; dropped: number }
  errorPerRound: number[] | null
  failure: Error | null
  stalled: boolean
  stallReason: string | null
  virtualMs: number
}

export function consensusReport(sc: Scenario, topology: Topology, spec: SpectralReport, f: ConsensusFacts): SimReport {
  const config = sc.training
  const S = sc.nodes
  const h = f.first ?? undefined
  const error = f.error
  const bytes = f.bytes
  const frames = f.frames
  const stalled = f.stalled
  const stallReason = f.stallReason
  const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length)
  const fail = f.failure
  const errs = f.errorPerRound
  return {
    format: REPORT_FORMAT,
    version: REPORT_VERSION,
    scenario: sc,
    data: { source: `random N(0, 1) vectors of length ${sc.vectorLength}`, columns: sc.vectorLength, rows: S, normal: S, anomalies: 0, trainRows: [], pinned: [] },
    topology: topologySummary(topology, spec, config),
    outcome: {
      status: fail === null && !stalled ? 'completed' : 'stopped',
      reason: fail ? `${fail.name}: ${fail.message}` : stalled ? `SimulationStalled: the sum did not complete (${stallReason ?? 'no stall report'})` : null,
      converged: f.finished === S,
      stopReason: null,
      iterations: 0,
      virtualMs: f.virtualMs,
    },
    iterations: [
      {
        iteration: 0,
        objective: Number.NaN,
        objectiveMin: Number.NaN,
        objectiveMax: Number.NaN,
        participants: h?.members ?? 0,
        rounds: h ? Math.max(...h.rounds) : 0,
        attempts: h?.attempts ?? 0,
        consensusError: error,
        exposedNodes: 0,
        perturbedNodes: 0,
        aggregateMs: h?.durationMs ?? 0,
      },
    ],
    consensus: {
      sessions: 1,
      roundsTotal: h ? Math.max(...h.rounds) : 0,
      bytesPerNode: { mean: mean(bytes), max: Math.max(0, ...bytes) },
      framesPerNode: { mean: mean(frames), max: Math.max(0, ...frames) },
      network: f.network,
      errorPerRound: errs ? { label: 'probe', chunk: 0, errors: errs } : null,
      reruns: [],
    },
    auc: { collab: emptySummary(), local: null, centralised: null, released: null },
    privacy: { noise: { source: 'simulation-secret', derivedFrom: sc.noiseSeed === undefined ? 'scenario seed' : 'noiseSeed' }, monitor: false, l0: config.privacy.l0, exposedNodes: 0, perturbations: 0, minEntropy: null, release: false, released: null, spent: null, ledgers: [] },
    faults: { loss: sc.faults.loss, latency: sc.faults.latency ?? null, crashes: [], rejoins: [] },
    nodes: [],
  }
}
