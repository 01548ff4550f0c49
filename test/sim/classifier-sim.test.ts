/**
 * The simulator takes the classifier: labelled rows of both classes over 11 nodes, DP-SGD
 * over the in-memory consensus; every node's ledger holds the training's cost; per-class
 * metrics at the decision threshold; a node that crashes and restarts from its checkpoint
 * charges the round it may re-share, and the network finishes.
 */
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { runCommand } from '../../cli/errors.js'
import { createProgram } from '../../cli/program.js'
import { loadCsv } from '../../src/data/index.js'
import { loadModel } from '../../src/models/index.js'
import { isClassifier } from '../../src/models/classifier/index.js'
import { runScenario } from '../../sim/run.js'
import { parseScenario, type ScenarioInput } from '../../sim/scenario.js'
import { DEFAULT_ORDERS, rdpToDp, subsampledGaussianRdp } from '../../src/privacy/rdp.js'
import { dpSgdNoiseFor } from '../../src/models/classifier/index.js'

function scenario(over: Partial<ScenarioInput> = {}): ScenarioInput {
  return {
    name: 'classifier',
    seed: 2,
    dataset: { path: 'data/ad_breastw.csv', labelCol: 'anomaly', split: { kind: 'uneven', minRows: 20 }, testFraction: 0.2 },
    nodes: 11,
    topology: { kind: 'cwic' },
    transport: 'memory',
    training: {
      model: { kind: 'classifier', hyper: { architecture: 'logistic', learningRate: 0.5, sampleRate: 0.3, maxIter: 12, dpSgd: { clip: 1, epsilon: 3, delta: 1e-5, nodes: 11 } } },
      seed: 5,
      maxIterations: 12,
      consensus: { scheme: 'chebyshev', tol: 1e-9, chunks: 2, timeoutMs: 60_000 },
      privacy: { monitor: false, budget: 6, ledgerDelta: 1e-5 },
    },
    evaluate: { local: false, centralised: false, perClass: true },
    ...over,
  }
}

describe('collab sim with the classifier', () => {
  it('trains over consensus with DP-SGD; every ledger holds the (3, 1e-5) plan; per-class metrics at p = 0.5', async () => {
    const r = (await runScenario(parseScenario(scenario()))).report
    expect(r.outcome.status).toBe('completed')
    expect(r.outcome.iterations).toBe(12)
    expect(r.auc.collab.rocAuc).toBeGreaterThan(0.95)
    const [benign, malignant] = r.auc.collab.perClass ?? []
    expect(benign.recall).toBeGreaterThan(0.8)
    expect(malignant.recall).toBeGreaterThan(0.8)
    const want = rdpToDp(DEFAULT_ORDERS, subsampledGaussianRdp(0.3, dpSgdNoiseFor(3, 1e-5, 0.3, 12), 12), 1e-5).epsilon
    expect(r.privacy.ledgers).toHaveLength(11)
    for (const l of r.privacy.ledgers) {
      expect(l.entries).toHaveLength(1)
      expect(l.entries[0]).toMatchObject({ kind: 'dp-sgd', audience: 'external' })
      expect(l.entries[0].epsilon).toBeCloseTo(want, 9)
    }
    expect(r.nodes.every((n) => n.spentEpsilon !== null && n.spentEpsilon <= 3 + 1e-9)).toBe(true)
  })

  it('a node restarted from its checkpoint charges one more round and the network finishes', async () => {
    const r = (await runScenario(parseScenario(scenario({ faults: { crashes: [{ node: 4, atIteration: 3, restartAtIteration: 6 }] } })))).report
    expect(r.outcome.status).toBe('completed')
    expect(r.nodes[4].status).toBe('finished')
    const l4 = r.privacy.ledgers.find((l) => l.node === 4)?.entries ?? []
    expect(l4.map((e) => e.label)).toEqual(['classifier DP-SGD, 12 step(s)', 'classifier DP-SGD, 1 step(s)'])
    for (const l of r.privacy.ledgers.filter((x) => x.node !== 4)) expect(l.entries).toHaveLength(1)
  })
})

describe('collab fit --model classifier', () => {
  it('trains over S nodes on every labelled row and saves a classifier that scores offline', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'collab-fit-')), 'model.json')
    let text = ''
    const o = vi.spyOn(process.stdout, 'write').mockImplementation((t: string | Uint8Array) => ((text += String(t)), true))
    process.exitCode = undefined
    try {
      await runCommand(createProgram(), ['fit', '--data', 'data/ad_breastw.csv', '--label-col', 'anomaly', '--model', 'classifier', '--hyper', '{"architecture": "svm", "aggregation": "model", "batchSize": 8, "learningRate": 0.05, "l2": 0.01, "maxIter": 8}', '--nodes', '5', '--topology', 'complete', '--exact', '--out', out])
    } finally {
      o.mockRestore()
    }
    expect(process.exitCode ?? 0).toBe(0)
    expect(text).toMatch(/trained classifier on 683 rows over 5 nodes \(exact sums\): 8 iterations/)
    const model = loadModel(JSON.parse(readFileSync(out, 'utf8')))
    if (!isClassifier(model)) throw new Error('not a classifier')
    expect(model.hyper.architecture).toBe('svm')
    const csv = loadCsv('data/ad_breastw.csv', { labelCol: 'anomaly' })
    const pred = model.predict(csv.features)
    expect(pred.filter((p, i) => p === (csv.labels as Int8Array)[i]).length / pred.length).toBeGreaterThan(0.9)
  })
})
