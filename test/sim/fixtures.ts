/** Scenarios shared by the report tests. */
import { parseScenario } from '../../sim/scenario.js'

/** A 7-node BCW network with every chart present: local and centralised baselines, monitor, release. */
export function chartScenario(): ReturnType<typeof parseScenario> {
  return parseScenario({
    name: 'charts',
    seed: 3,
    dataset: { path: 'data/ad_breastw.csv', labelCol: 'anomaly', split: { kind: 'non-iid', minRows: 8 }, testFraction: 0.3 },
    nodes: 7,
    topology: { kind: 'cwic' },
    transport: 'memory',
    training: {
      model: { kind: 'ggm', hyper: { K: 2, rho: 5 } },
      seed: 5,
      maxIterations: 6,
      consensus: { scheme: 'chebyshev', tol: 1e-9, chunks: 2 },
      privacy: { monitor: true, l0: 2, release: { enabled: true, bounds: { lower: 1, upper: 10 } } },
    },
  })
}
