/**
 * Real peer processes (`collab node start`, TCP + Noise on 127.0.0.1) training the
 * classifier with DP-SGD on labelled slices of data/ad_breastw.csv: every node ends with the
 * same model, its ledger (GET /v1/privacy) holds the training's cost, and POST /v1/score
 * answers with class probabilities and the predicted class, equal to the saved model's.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { NodeConfigError, parseNodeConfig } from '../../node/config.js'
import { scaffoldNetwork } from '../../node/network.js'
import { loadCsv } from '../../src/data/index.js'
import { isClassifier } from '../../src/models/classifier/index.js'
import { loadModel } from '../../src/models/index.js'
import { toRows } from '../../src/numeric/matrix.js'
import { BACKSTOP_MS, exitOf, freePort, getJson, startNodeProcess, waitTrained, type ClusterNode } from './cluster.js'

const CSV = join(import.meta.dirname, '../../data/ad_breastw.csv')
const root = mkdtempSync(join(tmpdir(), 'collab-classifier-net-'))
const nodes: ClusterNode[] = []

afterAll(async () => {
  for (const n of nodes) {
    if (n.proc && n.proc.exitCode === null && n.proc.signalCode === null) {
      n.proc.kill('SIGKILL')
      await exitOf(n.proc)
    }
  }
  rmSync(root, { recursive: true, force: true })
})

describe('classifier node config', () => {
  const org = (data: Record<string, unknown>) => ({
    identity: './id',
    listen: ['/ip4/127.0.0.1/tcp/0'],
    data: { path: 'd.csv', ...data },
    topology: 't.json',
    storage: 's',
    api: { port: 0 },
    training: { model: { kind: 'classifier', hyper: { architecture: 'mlp' } }, seed: 1 },
  })
  it('needs the label column and every row, and says so', () => {
    expect(() => parseNodeConfig(org({}), 'org.yaml', '/')).toThrow(/org\.yaml: data\.labelCol: a classifier needs data\.labelCol/)
    expect(() => parseNodeConfig(org({ labelCol: 'y', trainOn: 'normal' }), 'org.yaml', '/')).toThrow(NodeConfigError)
    expect(() => parseNodeConfig(org({ labelCol: 'y', trainOn: 'normal' }), 'org.yaml', '/')).toThrow(/data\.trainOn: a classifier trains on every row/)
    expect(parseNodeConfig(org({ labelCol: 'y' }), 'org.yaml', '/').training.model.kind).toBe('classifier')
  })
})

describe('3 classifier peer processes on loopback', () => {
  it('train one DP-SGD model, charge every ledger, and serve class probabilities', { timeout: BACKSTOP_MS }, async () => {
    const S = 3
    const ports = await Promise.all(Array.from({ length: 2 * S }, () => freePort()))
    const net = await scaffoldNetwork({
      dir: join(root, 'net'),
      nodes: S,
      data: CSV,
      labelCol: 'anomaly',
      trainOn: 'all',
      kind: 'complete',
      p2pPort: (s) => ports[s],
      apiPort: (s) => ports[S + s],
      barrierTimeoutMs: 60_000,
      training: {
        model: { kind: 'classifier', hyper: { architecture: 'logistic', learningRate: 0.5, sampleRate: 0.3, maxIter: 15, dpSgd: { clip: 1, epsilon: 3, delta: 1e-5, nodes: S } } },
        seed: 3,
        maxIterations: 15,
        consensus: { scheme: 'metropolis', tol: 1e-10, chunks: 2, timeoutMs: 30_000, rerunOnTimeout: true },
        privacy: { monitor: false, budget: 5, ledgerDelta: 1e-5 },
      },
    })
    nodes.push(...net.nodes.map((n) => ({ ...n, proc: null, log: '' })))
    for (const n of nodes) startNodeProcess(n)
    await waitTrained(nodes, 120_000)

    // one model for the network (to the consensus tolerance)
    const models = nodes.map((n) => loadModel(JSON.parse(readFileSync(join(n.storage, 'model.json'), 'utf8'))))
    const p0 = models[0].exportGlobal().state
    for (const m of models) {
      expect(m.iteration).toBe(15)
      const p = m.exportGlobal().state
      for (let i = 0; i < p.length; i++) expect(Math.abs(p[i] - p0[i])).toBeLessThan(1e-6 * Math.max(1, Math.abs(p0[i])))
    }

    // every ledger holds the training's DP-SGD cost, within the (3, 1e-5) plan
    for (const n of nodes) {
      const ledger = await getJson(`${n.apiUrl}/v1/privacy`)
      const entries = ledger.entries as { kind: string; epsilon: number; details: Record<string, unknown> }[]
      expect(entries[0].kind).toBe('dp-sgd')
      expect(entries[0].details).toMatchObject({ steps: 15, q: 0.3, nodes: S, noise: 'os-entropy' })
      expect(entries[0].epsilon).toBeLessThanOrEqual(3 + 1e-9)
      expect(entries[0].epsilon).toBeGreaterThan(2.99)
      // a node its peers left out of a session (a slow machine) rejoins from its checkpoint
      // and pays for the round it may share twice: one step more, and its log says so
      const rejoins = (n.log.match(/rejoining after it/g) ?? []).length
      expect(entries.slice(1).map((e) => [e.kind, e.details.steps])).toEqual(Array.from({ length: rejoins }, () => ['dp-sgd', 1]))
    }

    // class probabilities from the node's own model, as the saved model gives them
    const n0 = nodes[0]
    const csv = loadCsv(n0.dataPath, { labelCol: 'anomaly' })
    const res = await fetch(`${n0.apiUrl}/v1/score`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ samples: toRows(csv.features) }) })
    expect(res.status).toBe(200)
    const api = (await res.json()) as { scores: number[]; threshold: number; anomalous: boolean[]; probabilities: number[][]; predicted: number[] }
    const saved = models[0]
    if (!isClassifier(saved)) throw new Error('model.json is not a classifier')
    const want = saved.probabilities(csv.features)
    expect(api.threshold).toBe(0.5)
    api.probabilities.forEach((p, i) => {
      expect(p).toHaveLength(2)
      expect(p[0]).toBeCloseTo(want.data[2 * i], 12)
      expect(p[0] + p[1]).toBeCloseTo(1, 12)
      expect(api.scores[i]).toBeCloseTo(1 - p[0], 12)
      expect(api.predicted[i]).toBe(p[1] > p[0] ? 1 : 0)
      expect(api.anomalous[i]).toBe(api.predicted[i] === 1)
    })
    const labels = csv.labels as Int8Array
    expect(api.predicted.filter((p, i) => p === labels[i]).length / labels.length).toBeGreaterThan(0.9)

    // the OpenAPI document says what the classifier adds
    const doc = await getJson(`${n0.apiUrl}/openapi.json`)
    const score = (doc.paths as Record<string, Record<string, { responses: Record<string, { content: Record<string, { schema: { properties: Record<string, { description: string }> } }> }> }>>)['/v1/score'].post
    const props = score.responses['200'].content['application/json'].schema.properties
    expect(props.probabilities.description).toMatch(/Classifier nodes only/)
    expect(props.predicted.description).toMatch(/most probable class/)

    for (const n of nodes) n.proc?.kill('SIGTERM')
    for (const n of nodes) if (n.proc) expect(await exitOf(n.proc)).toBe(0)
  })
})
