/**
 * Real peer nodes as separate OS processes (`collab node start`), real TCP + Noise on
 * 127.0.0.1, each with its own slice of data/ad_breastw.csv:
 *  - 5 nodes train the GGM to convergence and hold the same global parameters, equal to
 *    the in-process run of the same code with exact sums (src/learning runNetwork);
 *    the API scores equal `collab score --model` on the node's saved model;
 *  - a node killed with SIGKILL mid-training and restarted resumes from its checkpoint,
 *    rejoins, and the network finishes; its checkpoint and ledger are intact.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadCsv } from '../../src/data/index.js'
import { parseTrainingConfig, type TrainingConfigInput } from '../../src/learning/config.js'
import { createNodeModel } from '../../src/learning/models.js'
import { runNetwork } from '../../src/learning/network.js'
import { createLedger, createPrivacyGuard, createReleaser } from '../../src/learning/privacy.js'
import { loadModel } from '../../src/models/index.js'
import { globalStateDifference } from '../../src/models/model.js'
import { fromRows, selectRows, toRows, type Mat } from '../../src/numeric/matrix.js'
import { loadReleasedGgm, scoreReleasedGgm } from '../../src/privacy/ggm-release.js'
import { PrivacyLedger } from '../../src/privacy/ledger.js'
import { scoreOffline, scoreRemote } from '../../node/cli.js'
import { BACKSTOP_MS, exitOf, getJson, logProgress, makeCluster, spawnCollab, startNodeProcess, until, waitTrained, type Cluster } from './cluster.js'

const CSV = join(import.meta.dirname, '../../data/ad_breastw.csv')
const training: TrainingConfigInput = {
  model: { kind: 'ggm', hyper: { K: 3 } },
  seed: 7,
  maxIterations: 60,
  consensus: { scheme: 'metropolis', tol: 1e-10, chunks: 3, timeoutMs: 4000, rerunOnTimeout: true },
  // one network DP release at (4, 1e-5); BCW's features are integers 1..10 by definition
  privacy: { budget: 10, release: { enabled: true, epsilon: 4, bounds: { lower: 1, upper: 10 } } },
}
const clusters: Cluster[] = []
const root = mkdtempSync(join(tmpdir(), 'collab-net-'))

afterAll(async () => {
  for (const c of clusters) {
    for (const n of c.nodes) {
      if (n.proc && n.proc.exitCode === null && n.proc.signalCode === null) {
        n.proc.kill('SIGKILL')
        await exitOf(n.proc)
      }
    }
  }
  rmSync(root, { recursive: true, force: true })
})

function normalRows(path: string): Mat {
  const csv = loadCsv(path, { labelCol: 'anomaly' })
  const idx: number[] = []
  csv.labels?.forEach((l, i) => {
    if (l === 0) idx.push(i)
  })
  return selectRows(csv.features, idx)
}

function globalOf(storage: string): { iteration: number; state: Float64Array } {
  const model = loadModel(JSON.parse(readFileSync(join(storage, 'model.json'), 'utf8')))
  return model.exportGlobal()
}

function maxRelDiff(a: Float64Array, b: Float64Array): number {
  expect(a.length).toBe(b.length)
  return globalStateDifference(a, b)
}

async function stopAll(c: Cluster): Promise<void> {
  await Promise.all(
    c.nodes.map(async (n) => {
      if (n.proc === null) return
      n.proc.kill('SIGTERM')
      expect(await exitOf(n.proc)).toBe(0)
    }),
  )
}

describe('5 peer processes on loopback', () => {
  it('train to the same global model as the in-process run, and serve it', { timeout: BACKSTOP_MS }, async () => {
    const S = 5
    const c = await makeCluster({ root: join(root, 'five'), S, kind: 'cwic', csv: CSV, labelCol: 'anomaly', training, token: 'test-token-1' })
    clusters.push(c)
    const t0 = Date.now()
    for (const n of c.nodes) startNodeProcess(n)

    // meanwhile, the reference: the same nodes in one process with exact sums
    const config = parseTrainingConfig(training)
    const parts = c.nodes.map((n) => normalRows(n.dataPath))
    const reference = await runNetwork({
      config,
      parts,
      nodeParts: (s) => {
        const ledger = createLedger(config, `ref-${s}`)
        return { model: createNodeModel(config), ledger, guard: createPrivacyGuard(config, ledger), releaser: createReleaser(config, ledger, { members: S }) }
      },
      aggregation: { kind: 'exact' },
    })

    const statuses = await waitTrained(c.nodes, 120_000, 'test-token-1')
    const elapsed = (Date.now() - t0) / 1000
    console.log(`5-node training on loopback: ${elapsed.toFixed(1)} s, ${String(statuses[0].iteration)} iterations`)

    const ref = reference.nodes.map((r) => r.model.exportGlobal())
    const got = c.nodes.map((n) => globalOf(n.storage))
    for (let s = 0; s < S; s++) {
      expect(statuses[s].converged).toBe(true)
      expect(got[s].iteration).toBe(ref[s].iteration)
      // consensus reaches each sum to a relative 1e-10 per chunk; EM and the graphical
      // lasso carry that through ~20 iterations well inside 1e-6
      const d = maxRelDiff(got[s].state, ref[s].state)
      if (s === 0) console.log(`node 0 global state vs in-process exact run: max relative difference ${d.toExponential(2)}`)
      expect(d).toBeLessThan(1e-8)
      expect(maxRelDiff(got[s].state, got[0].state)).toBeLessThan(1e-6)
    }

    // the API scores with the node's own model: equal to `collab score --model` on model.json
    const n0 = c.nodes[0]
    const rows = toRows(loadCsv(n0.dataPath, { labelCol: 'anomaly' }).features)
    const res = await fetch(`${n0.apiUrl}/v1/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer test-token-1' },
      body: JSON.stringify({ samples: rows }),
    })
    expect(res.status).toBe(200)
    const api = (await res.json()) as { scores: number[]; threshold: number; anomalous: boolean[] }
    let cliOut = ''
    const cli = spawnCollab(['score', '--model', join(n0.storage, 'model.json'), '--data', n0.dataPath, '--label-col', 'anomaly', '--json'], (t) => {
      cliOut += t
    })
    expect(await exitOf(cli)).toBe(0)
    const offline = (JSON.parse(cliOut) as { scores: number[] }).scores
    expect(api.scores).toEqual(offline)
    expect(offline).toEqual(scoreOffline(join(n0.storage, 'model.json'), n0.dataPath, 'anomaly'))
    // the client (`collab score --url`) in small batches gives the same
    const remote = await scoreRemote(n0.apiUrl, n0.dataPath, { token: 'test-token-1', labelCol: 'anomaly', batch: 50 })
    expect(remote.scores).toEqual(api.scores)
    expect(remote.anomalous).toEqual(api.anomalous)
    expect(api.threshold).toBe(statuses[0].threshold)
    expect(api.anomalous).toEqual(api.scores.map((s) => s > api.threshold))
    // the labelled anomalies of the slice score above the threshold more often than normal rows
    const labels = loadCsv(n0.dataPath, { labelCol: 'anomaly' }).labels as Int8Array
    const rate = (l: number): number => {
      const idx = api.scores.map((_, i) => i).filter((i) => labels[i] === l)
      return idx.filter((i) => api.anomalous[i]).length / idx.length
    }
    expect(rate(1)).toBeGreaterThan(rate(0))

    // released DP model, ledger, metrics
    const released = await getJson(`${n0.apiUrl}/v1/model`, 'test-token-1')
    expect(released.format).toBe('collabdict-released-model')
    // one release for the network: every member serves the same file
    for (const n of c.nodes.slice(1)) expect(await getJson(`${n.apiUrl}/v1/model`, 'test-token-1')).toEqual(released)
    // public scoring (no token) answers with the released model only: what a third party
    // computes from the file (scoreReleased), not the node's own scores
    const pub = await fetch(`${n0.apiUrl}/v1/public/score`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ samples: rows }) })
    expect(pub.status).toBe(200)
    const pubScores = ((await pub.json()) as { scores: number[] }).scores
    expect(pubScores).toEqual(Array.from(scoreReleasedGgm(loadReleasedGgm(released), fromRows(rows))))
    expect(pubScores).not.toEqual(api.scores)
    const ledger = await getJson(`${n0.apiUrl}/v1/privacy`, 'test-token-1')
    expect((ledger.entries as unknown[]).length).toBeGreaterThanOrEqual(1)
    const metrics = await (await fetch(`${n0.apiUrl}/metrics`)).text()
    const rounds = Number(/collab_consensus_rounds_total (\d+)/.exec(metrics)?.[1])
    expect(rounds).toBeGreaterThan(0)
    expect(metrics).toMatch(/collab_p2p_bytes_total\{direction="sent"\} [1-9]/)
    expect(metrics).toMatch(/collab_epsilon_spent [1-9]/)
    await stopAll(c)
  })
})

describe('crash and rejoin', () => {
  it('a node killed with SIGKILL mid-training resumes from its checkpoint; the network finishes', { timeout: BACKSTOP_MS }, async () => {
    const c = await makeCluster({
      root: join(root, 'kill'),
      S: 5,
      kind: 'cwic',
      csv: CSV,
      labelCol: 'anomaly',
      training: { ...training, consensus: { ...training.consensus, timeoutMs: 2500 } },
    })
    clusters.push(c)
    for (const n of c.nodes) startNodeProcess(n)
    const victim = c.nodes[2]
    // kill once iteration 3 is durable (the status can run ahead of the checkpoint write)
    const cpPath = join(victim.storage, 'checkpoint.json')
    await until(
      async () => {
        if (!existsSync(cpPath)) return null
        const cp = JSON.parse(readFileSync(cpPath, 'utf8')) as { iteration: number }
        return cp.iteration >= 3 ? cp : null
      },
      100_000,
      () => `victim at iteration 3\n${victim.log.slice(-3000)}`,
      100,
      logProgress(c.nodes),
    )
    victim.proc?.kill('SIGKILL')
    await exitOf(victim.proc as NonNullable<typeof victim.proc>)
    const cp = JSON.parse(readFileSync(cpPath, 'utf8')) as { iteration: number; finished: boolean }
    expect(cp.iteration).toBeGreaterThanOrEqual(3)
    expect(cp.finished).toBe(false)
    const logBefore = victim.log.length
    startNodeProcess(victim)

    const statuses = await waitTrained(c.nodes, 120_000)
    expect(victim.log.slice(logBefore)).toMatch(/resumed from checkpoint/)
    // every node finished with a converged model; the survivors agree exactly as before
    for (const s of statuses) expect(s.converged).toBe(true)
    const got = c.nodes.map((n) => globalOf(n.storage))
    for (const g of got) expect(maxRelDiff(g.state, got[0].state)).toBeLessThan(1e-6)
    // durable state is intact: a finished checkpoint and a ledger that validates on load
    const after = JSON.parse(readFileSync(join(victim.storage, 'checkpoint.json'), 'utf8')) as { iteration: number; finished: boolean }
    expect(after.finished).toBe(true)
    expect(after.iteration).toBe(got[2].iteration)
    expect(existsSync(join(victim.storage, 'ledger.json'))).toBe(true)
    expect(PrivacyLedger.load(join(victim.storage, 'ledger.json')).entries.length).toBeGreaterThanOrEqual(1)
    await stopAll(c)
  })
})
