/**
 * Decentralised = centralised for the classifier. With exact network sums, S nodes that
 * each hold a slice of the rows train the same model as one node holding them all (full
 * batch gradient rounds are centralised gradient descent): to 1e-6, and the logistic
 * regression reaches the optimum Newton's method finds on the pooled rows. Through
 * dynamical consensus (Chebyshev, random chunks, tolerance 1e-9) the model matches the
 * exact-sum run to that tolerance.
 */
import { describe, expect, it } from 'vitest'
import { loadCsv, splitIid } from '../../../src/data/index.js'
import { parseTrainingConfig } from '../../../src/learning/config.js'
import { createNodeModel } from '../../../src/learning/models.js'
import { runNetwork } from '../../../src/learning/network.js'
import { withLabels, type ClassifierModel } from '../../../src/models/classifier/index.js'
import { selectRows, type Mat } from '../../../src/numeric/matrix.js'
import { Rng } from '../../../src/numeric/rng.js'
import { SecretRng } from '../../../src/numeric/secret-rng.js'
import { trainNetwork } from '../../../sim/experiments/classifier/common.js'
import { newtonLogistic } from './reference.js'

const csv = loadCsv(new URL('../../../data/ad_breastw.csv', import.meta.url).pathname, { labelCol: 'anomaly' })
const rows = withLabels(csv.features, csv.labels as Int8Array)
const slices = (S: number): Mat[] => splitIid(rows.rows, S, new Rng('equivalence-split')).map((idx) => selectRows(rows, idx))

async function train(hyper: Record<string, unknown>, parts: Mat[]): Promise<ClassifierModel[]> {
  const config = parseTrainingConfig({ model: { kind: 'classifier', hyper }, seed: 11, maxIterations: 100_000, privacy: { monitor: false } })
  const res = await runNetwork({
    config,
    parts,
    noise: (s) => SecretRng.forSimulation('equivalence', s),
    nodeParts: (s) => ({ model: createNodeModel(config, { noise: SecretRng.forSimulation('equivalence-model', s) }) }),
    aggregation: { kind: 'exact' },
  })
  return res.nodes.map((n) => n.model as ClassifierModel)
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0
  let n = 0
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]))
    n = Math.max(n, Math.abs(b[i]))
  }
  return d / Math.max(n, 1e-300)
}

describe('decentralised classifier equals the centralised one on the same rows', () => {
  it('logistic regression, exact sums: 5 nodes = 1 node = the Newton optimum on the pooled rows, to 1e-6', async () => {
    const hyper = { architecture: 'logistic', l2: 0.05, learningRate: 1, maxIter: 5000, tol: 1e-10 }
    const dec = await train(hyper, slices(5))
    const cen = await train(hyper, [rows])
    expect(dec[0].converged && cen[0].converged).toBe(true)
    expect(dec[0].iteration).toBeLessThan(5000)
    const wd = dec[0].parameters()
    for (const m of dec) expect(m.parameters()).toEqual(wd)
    expect(maxRelDiff(wd, cen[0].parameters())).toBeLessThan(1e-6)
    // independent reference: z-score the pooled rows (population sd), Newton's method
    const m = csv.features.cols
    const mean = new Float64Array(m)
    const sd = new Float64Array(m)
    for (let j = 0; j < m; j++) {
      for (let i = 0; i < csv.features.rows; i++) mean[j] += csv.features.data[i * m + j] / csv.features.rows
      for (let i = 0; i < csv.features.rows; i++) sd[j] += (csv.features.data[i * m + j] - mean[j]) ** 2 / csv.features.rows
      sd[j] = Math.sqrt(sd[j])
    }
    const z = Array.from({ length: csv.features.rows }, (_, i) => Array.from({ length: m }, (_, j) => (csv.features.data[i * m + j] - mean[j]) / sd[j]))
    const w = newtonLogistic(z, Array.from(csv.labels as Int8Array), 0.05)
    expect(maxRelDiff(wd, w)).toBeLessThan(1e-6)
  })

  it('MLP with Adam, exact sums: 4 nodes = 1 node after 40 rounds, to 1e-6', async () => {
    const hyper = { architecture: 'mlp', hidden: [12, 6], optimizer: 'adam', learningRate: 0.01, maxIter: 40, l2: 1e-3 }
    const dec = await train(hyper, slices(4))
    const cen = await train(hyper, [rows])
    expect(dec[0].iteration).toBe(40)
    expect(maxRelDiff(dec[0].parameters(), cen[0].parameters())).toBeLessThan(1e-6)
    // and the trained model is a real classifier (not a trivially equal untrained one)
    const pred = cen[0].predict(csv.features)
    let ok = 0
    for (let i = 0; i < pred.length; i++) if (pred[i] === (csv.labels as Int8Array)[i]) ok++
    expect(ok / pred.length).toBeGreaterThan(0.95)
  })

  it("federated averaging with one full-batch local step equals a gradient round (aggregation 'model' vs 'gradient')", async () => {
    const base = { architecture: 'mlp', hidden: [8], learningRate: 0.2, maxIter: 15 }
    const byModel = await train({ ...base, aggregation: 'model', localEpochs: 1 }, slices(3))
    const byGradient = await train(base, slices(3))
    expect(maxRelDiff(byModel[0].parameters(), byGradient[0].parameters())).toBeLessThan(1e-10)
  })

  it('through dynamical consensus (Chebyshev, 3 random chunks, tol 1e-9) the model matches exact sums to the tolerance', async () => {
    const hyper = { architecture: 'logistic', l2: 0.05, learningRate: 1, maxIter: 25 }
    const parts = slices(10)
    const exact = await trainNetwork({ hyper, parts, seed: 3, transport: 'exact' })
    const consensus = await trainNetwork({ hyper, parts, seed: 3, transport: 'memory' })
    expect(consensus.iterations).toBe(25)
    const diff = maxRelDiff(consensus.model.parameters(), exact.model.parameters())
    expect(diff).toBeGreaterThan(0) // the sums really went through consensus
    expect(diff).toBeLessThan(1e-6)
    expect(consensus.spread).toBeLessThan(1e-6) // every node holds the same model
  })
})
