/**
 * Consensus-only mode (mode: consensus) on one worker thread: its nodes each sum one random
 * vector, set up exactly as sim/consensus-run.ts does on one thread.
 */
import { createConsensusNode, type ConsensusNode, type SessionRecord, type SessionWait } from '../../src/consensus/index.js'
import { Rng } from '../../src/numeric/rng.js'
import type { Topology } from '../../topologies/index.js'
import { relNorm, RoundProbe, simulationSecret } from '../run-common.js'
import type { Scenario } from '../scenario.js'
import type { PartitionNetwork } from './partition-network.js'
import type { Partition } from './partition.js'
import type { FromWorker } from './protocol.js'
import type { StepClock } from './step-clock.js'
import type { WorkerJob } from './worker-runtime.js'
import { engineOptions } from '../../src/learning/config.js'

export interface ConsensusWorkerResult {
  /** Largest relative error of a node's sum against the exact sum (null when no node finished). */
  error: number | null
  finished: number
  bytes: number[]
  frames: number[]
  /** The first session record of this worker's nodes, in node order. */
  firstHistory: SessionRecord | null
  probe: Float64Array[] | null
  network: { sent: number; delivered: number; lost: number; dropped: number }
}

export class ConsensusJob implements WorkerJob {
  private readonly cns: ConsensusNode[]
  private readonly probe: RoundProbe
  private readonly results: (Float64Array | null)[]
  private readonly settled: boolean[]
  private readonly xs: Float64Array[]
  private readonly exactSum: Float64Array
  private all: Promise<unknown> = Promise.resolve()

  constructor(
    sc: Scenario,
    topology: Topology,
    private readonly part: Partition,
    private readonly net: PartitionNetwork,
    clock: StepClock,
    private readonly post: (m: FromWorker) => void,
  ) {
    const config = sc.training
    const root = new Rng(sc.seed)
    this.probe = new RoundProbe(sc.nodes, 1, root.fork('probe'))
    this.cns = net.transports.map((t, i) => {
      const s = part.lo + i
      return createConsensusNode({
        topology,
        transport: t,
        clock,
        ...engineOptions(config),
        noise: simulationSecret(sc, s).fork('consensus'),
        onRound: (e) => this.probe.onRound(s, e),
      })
    })
    // every node's vector, for the exact sum in node order (as on one thread)
    this.exactSum = new Float64Array(sc.vectorLength)
    this.xs = []
    for (let s = 0; s < sc.nodes; s++) {
      const x = root.fork(`x:${s}`).fillNormal(new Float64Array(sc.vectorLength))
      for (let i = 0; i < x.length; i++) this.exactSum[i] += x[i]
      if (s >= part.lo && s < part.hi) this.xs.push(x)
    }
    this.results = new Array<Float64Array | null>(this.cns.length).fill(null)
    this.settled = new Array<boolean>(this.cns.length).fill(false)
  }

  start(): void {
    this.all = Promise.all(
      this.cns.map((c, i) =>
        c.sum(this.xs[i], 'probe').then(
          (v) => {
            this.results[i] = v
            this.settled[i] = true
          },
          (e: unknown) => {
            this.settled[i] = true
            const err = e instanceof Error ? e : new Error(String(e))
            this.post({ type: 'failed', node: this.part.lo + i, name: err.name, message: err.message })
          },
        ),
      ),
    )
  }

  running(): number {
    return this.settled.filter((x) => !x).length
  }

  abort(): void {
    for (const c of this.cns) c.close()
  }

  waits(): SessionWait[] {
    return this.cns.flatMap((c) => c.waiting())
  }

  async finish(): Promise<{ result: unknown; transfer: ArrayBuffer[] }> {
    for (const c of this.cns) c.close()
    await this.all
    this.net.close()
    const got = this.results.filter((r): r is Float64Array => r !== null)
    const st = this.net.stats
    const result: ConsensusWorkerResult = {
      error: got.length ? Math.max(...got.map((v) => relNorm(v, this.exactSum))) : null,
      finished: got.length,
      bytes: this.cns.map((c) => c.stats.bytesSent),
      frames: this.cns.map((c) => c.stats.framesSent),
      firstHistory: this.cns.map((c) => c.stats.history[0]).find((x) => x !== undefined) ?? null,
      probe: this.probe.roundsOf(0) ?? null,
      network: { sent: st.sent, delivered: st.delivered, lost: st.lost, dropped: st.dropped },
    }
    return { result, transfer: [] }
  }
}
