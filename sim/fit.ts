/**
 * `collab fit`'s core: S in-process nodes train one model on an IID split of a table, over
 * the in-memory transport on a virtual clock (or exact sums), with the scenario's consensus
 * settings. A run that cannot finish fails with ClockStalledError naming who waits for what,
 * never a silent hang (issue 14). Used by sim/cli.ts and the regression tests.
 */
import { splitIid } from '../src/data/index.js'
import { createConsensusNode, createMemoryNetwork, createVirtualClock, formatWaits } from '../src/consensus/index.js'
import { engineOptions, type TrainingConfig } from '../src/learning/config.js'
import { runNetwork, type NetworkResult } from '../src/learning/network.js'
import { createNodeModel, modelChargesLedger } from '../src/learning/models.js'
import { createLedger } from '../src/learning/privacy.js'
import { selectRows, type Mat } from '../src/numeric/matrix.js'
import { Rng } from '../src/numeric/rng.js'
import { scenarioTopology, simulationSecret } from './run.js'
import type { Scenario } from './scenario.js'

export interface FitInProcessOptions {
  /** The scenario (topology, node count, seed; its training config is `config`). */
  sc: Scenario
  config: TrainingConfig
  /** Training rows (all of them; split IID over sc.nodes by the seed). */
  X: Mat
  seed: number
  /** Exact sums instead of consensus (the reference). */
  exact?: boolean
}

export interface FitInProcessResult extends NetworkResult {
  /** Virtual ms the consensus run took (0 for exact sums). */
  virtualMs: number
}

export async function fitInProcess(o: FitInProcessOptions): Promise<FitInProcessResult> {
  const { sc, config, X } = o
  const S = sc.nodes
  const topology = scenarioTopology(sc)
  const rng = new Rng(o.seed)
  const parts = splitIid(X.rows, S, rng.fork('split')).map((idx) => selectRows(X, idx))
  const clock = createVirtualClock()
  const net = o.exact ? null : createMemoryNetwork(topology, { clock, seed: `${o.seed}/network` })
  const cns = net
    ? net.transports.map((t, s) =>
        createConsensusNode({
          topology,
          transport: t,
          clock,
          ...engineOptions(config),
          noise: simulationSecret(sc, s).fork('consensus'),
        }),
      )
    : null
  const run = runNetwork({
    config,
    parts,
    noise: (s) => simulationSecret(sc, s).fork('learning'),
    nodeParts: (s) => {
      // a model that charges its own privacy cost (a DP classifier) gets the node's ledger
      const ledger = modelChargesLedger(config) ? createLedger(config, `node-${s}`) : undefined
      return { model: createNodeModel(config, { noise: simulationSecret(sc, s).fork('model'), ledger }), ledger }
    },
    aggregation: cns ? { kind: 'custom', aggregateFor: (s) => (vec, label, opts) => cns[s].sum(vec, label, opts), fail: () => cns.forEach((n) => n.close()) } : { kind: 'exact' },
    clock,
  })
  try {
    if (net) await clock.run({ until: run, describe: () => formatWaits((cns ?? []).flatMap((n) => n.waiting())) })
    const res = await run
    return { ...res, virtualMs: clock.now() }
  } finally {
    net?.close()
    cns?.forEach((n) => n.close())
    run.catch(() => undefined)
  }
}
