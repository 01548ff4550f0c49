/**
 * The multi-task VAE as a CollabModel: decentralised training equals a single process
 * summing the same per-node gradients, the ELBO rises on real data, runs replay, state
 * round-trips, the collapse monitor and the input checks.
 */
import { describe, expect, it } from 'vitest'
import { loadCsv } from '../../../src/data/csv.js'
import { splitIid } from '../../../src/data/split.js'
import { mat, selectRows, type Mat } from '../../../src/numeric/matrix.js'
import { Rng } from '../../../src/numeric/rng.js'
import { vaeElboGrad } from '../../../src/numeric/vae.js'
import { buildId } from '../../../src/numeric/wasm.js'
import { DEFAULT_MAX_GRAD_NORM } from '../../../src/models/vae/hyper.js'
import { exactNetwork, runExact } from '../../../src/models/ggm/exact.js'
import { createModel, loadModel } from '../../../src/models/index.js'
import { createVaeModel, loadVaeModel, parseVaeHyper, referenceElboGrad, type VaeHyperInput, type VaeModel } from '../../../src/models/vae/index.js'

const wdbc = loadCsv('data/wdbc_sklearn.csv', { dropCols: ['target', 'diagnosis'] }).features
const shuttle = loadCsv('data/ad_shuttle.csv', { labelCol: 'anomaly' })

function rowsWhere(labels: Int8Array, value: number): number[] {
  const out: number[] = []
  labels.forEach((l, i) => {
    if (l === value) out.push(i)
  })
  return out
}
const shuttleNormal = rowsWhere(shuttle.labels!, 0)
const shuttleAnomalies = rowsWhere(shuttle.labels!, 1)

/** `n` random rows of `rows` (seeded), then split evenly over S nodes. */
function sample(X: Mat, rows: number[], n: number, seed: string): Mat {
  const perm = new Rng(seed).permutation(rows.length)
  return selectRows(X, Array.from(perm.slice(0, n), (i) => rows[i]))
}

function split(X: Mat, S: number, seed: string): Mat[] {
  return splitIid(X.rows, S, new Rng(seed)).map((p) => selectRows(X, p))
}

function nodes(S: number, hyper: VaeHyperInput): VaeModel[] {
  return Array.from({ length: S }, (_, s) => createVaeModel({ ...hyper, node: s }))
}

function maxAbsDiff(a: Float64Array, b: Float64Array): number {
  expect(a.length).toBe(b.length)
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]))
  return m
}

/** g rescaled to L2 norm DEFAULT_MAX_GRAD_NORM when longer. */
function clipped(g: Float64Array): Float64Array {
  const norm = Math.hypot(...g)
  return norm > DEFAULT_MAX_GRAD_NORM ? g.map((v) => (v * DEFAULT_MAX_GRAD_NORM) / norm) : g
}

const small = { seed: 11, hidden: 16, latent: 3, learningRate: 0.01, optimizer: 'sgd', validation: 0 } satisfies VaeHyperInput

describe('multi-task VAE: decentralised == centralised gradient sum', () => {
  /**
   * A single process: pooled standardisation, the same initial parameters, and per round
   * every node's gradient (same draws) summed in node order, theta <- theta + lr * clip(sum / N),
   * with clip the L2 rescaling to DEFAULT_MAX_GRAD_NORM (also on each encoder's mean gradient).
   */
  function singleProcess(parts: Mat[], T: number, hyper: typeof small, grad: typeof vaeElboGrad, init: { theta: Float64Array; phi: Float64Array[] }): Float64Array {
    const M = parts[0].cols
    const all = parts.flatMap((p) => Array.from({ length: p.rows }, (_, r) => p.data.subarray(r * M, (r + 1) * M)))
    const mean = new Float64Array(M)
    const sd = new Float64Array(M)
    for (const r of all) for (let j = 0; j < M; j++) mean[j] += r[j] / all.length
    for (const r of all) for (let j = 0; j < M; j++) sd[j] += (r[j] - mean[j]) ** 2 / all.length
    for (let j = 0; j < M; j++) sd[j] = Math.sqrt(sd[j])
    const z = parts.map((p) => mat(p.rows, M, p.data.map((v, i) => (v - mean[i % M]) / sd[i % M])))
    const shape = { features: M, hidden: hyper.hidden, latent: hyper.latent }
    const theta = init.theta.slice()
    const phi = init.phi.map((p) => p.slice())
    const fl = { latentFloor: 1e-3, scaleFloor: 1e-3 }
    for (let t = 0; t < T; t++) {
      const sum = new Float64Array(theta.length)
      let n = 0
      for (let s = 0; s < parts.length; s++) {
        const draws = new Float64Array(z[s].rows * shape.latent)
        new Rng(hyper.seed).fork(`vae/node/${s}/round/${t}/step/0`).fillNormal(draws)
        const r = grad(shape, phi[s], theta, z[s], draws, fl)
        const ge = clipped(r.gradEncoder.map((g) => g / z[s].rows))
        for (let i = 0; i < phi[s].length; i++) phi[s][i] += hyper.learningRate * ge[i]
        for (let i = 0; i < sum.length; i++) sum[i] += r.gradDecoder[i]
        n += z[s].rows
      }
      const gd = clipped(sum.map((g) => g / n))
      for (let i = 0; i < theta.length; i++) theta[i] += hyper.learningRate * gd[i]
    }
    return theta
  }

  it('S nodes with exact sums give the decoder of one process summing the same per-node gradients (<= 1e-12)', async () => {
    const parts = split(wdbc, 3, 'exact-split')
    const T = 12
    const fresh = nodes(3, { ...small, maxIter: T })
    const net = exactNetwork(3)
    await Promise.all(fresh.map((m, s) => m.prepare(parts[s], net.aggregate(s))))
    const init = { theta: fresh[0].decoder(), phi: fresh.map((m) => m.encoder()) }
    const trained = await runExact(nodes(3, { ...small, maxIter: T }), parts)
    for (const m of trained) expect(m.iteration).toBe(T)
    const central = singleProcess(parts, T, small, vaeElboGrad, init)
    for (const m of trained) expect(maxAbsDiff(m.decoder(), central)).toBeLessThanOrEqual(1e-12)
    // every node holds bitwise the same decoder
    for (const m of trained) expect(Array.from(m.decoder())).toEqual(Array.from(trained[0].decoder()))
    // and the plain-TypeScript gradients drive the single process to the same place
    const viaReference = singleProcess(parts, T, small, referenceElboGrad, init)
    expect(maxAbsDiff(viaReference, central)).toBeLessThan(1e-9)
    expect(maxAbsDiff(central, init.theta)).toBeGreaterThan(1e-3) // it did move
  })

  it('Adam, several local steps and minibatches keep every node on the same global state', async () => {
    const parts = split(wdbc, 3, 'adam-split')
    const models = await runExact(nodes(3, { ...small, optimizer: 'adam', learningRate: 3e-3, localSteps: 3, batchSize: 40, maxIter: 15 }), parts)
    const g0 = models[0].exportGlobal()
    for (const m of models) expect(Array.from(m.exportGlobal().state)).toEqual(Array.from(g0.state))
    // private parts differ
    expect(maxAbsDiff(models[0].encoder(), models[1].encoder())).toBeGreaterThan(1e-3)
  })
})

describe('multi-task VAE: training on real data', () => {
  it('the network ELBO rises on WDBC (30 features) and on shuttle normal rows', async () => {
    const cases: Array<[string, Mat[]]> = [
      ['wdbc', split(wdbc, 4, 'wdbc-rise')],
      ['shuttle', split(sample(shuttle.features, shuttleNormal, 2000, 'shuttle-normal'), 4, 'shuttle-rise')],
    ]
    for (const [, parts] of cases) {
      const models = nodes(4, { seed: 5, optimizer: 'adam', learningRate: 3e-3, maxIter: 120 })
      const net = exactNetwork(4)
      await Promise.all(models.map((m, s) => m.prepare(parts[s], net.aggregate(s))))
      const before = models.map((m, s) => m.evaluate(parts[s]).elbo)
      await runExact(models, parts)
      const after = models.map((m, s) => m.evaluate(parts[s]).elbo)
      for (let s = 0; s < 4; s++) expect(after[s]).toBeGreaterThan(before[s] + 5)
      const obj = models[0].trace.map((t) => t.objective)
      const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / a.length
      expect(mean(obj.slice(-10))).toBeGreaterThan(mean(obj.slice(0, 10)) + 5)
      expect(Number.isFinite(obj[obj.length - 1])).toBe(true)
    }
  })

  it('a run with the same seed replays exactly; another seed does not', async () => {
    const parts = split(wdbc, 2, 'replay')
    const run = async (seed: number): Promise<VaeModel[]> => runExact(nodes(2, { ...small, seed, maxIter: 8, optimizer: 'adam', learningRate: 3e-3 }), parts)
    const [a, b, c] = [await run(1), await run(1), await run(2)]
    expect(Array.from(a[1].decoder())).toEqual(Array.from(b[1].decoder()))
    expect(Array.from(a[1].encoder())).toEqual(Array.from(b[1].encoder()))
    expect(a[0].trace).toEqual(b[0].trace)
    expect(Array.from(a[1].score(parts[0]))).toEqual(Array.from(b[1].score(parts[0])))
    expect(maxAbsDiff(a[1].decoder(), c[1].decoder())).toBeGreaterThan(1e-3)
  })

  it('scores are deterministic and rank shuttle anomalies above held-out normal rows', async () => {
    const train = sample(shuttle.features, shuttleNormal, 1500, 'shuttle-train')
    const [m] = await runExact(nodes(1, { seed: 3, optimizer: 'adam', learningRate: 3e-3, maxIter: 150 }), [train])
    const normalTest = sample(shuttle.features, shuttleNormal.slice().reverse(), 300, 'shuttle-test')
    const anomalies = sample(shuttle.features, shuttleAnomalies, 300, 'shuttle-anom')
    const sn = m.score(normalTest)
    expect(Array.from(m.score(normalTest))).toEqual(Array.from(sn))
    const sa = m.score(anomalies)
    let wins = 0
    for (const a of sa) for (const n of sn) wins += a > n ? 1 : 0
    expect(wins / (sa.length * sn.length)).toBeGreaterThan(0.9) // ROC-AUC
  })
})

describe('multi-task VAE: state, monitor and misuse', () => {
  it('save -> JSON -> load scores identically and continues training identically', async () => {
    const [m] = await runExact(nodes(1, { ...small, maxIter: 6 }), [wdbc])
    const saved = JSON.parse(JSON.stringify(m.save())) as unknown
    const back = loadVaeModel(saved)
    expect(back.iteration).toBe(6)
    expect((saved as { numericBuild: string }).numericBuild).toBe(buildId())
    expect(Array.from(back.score(wdbc))).toEqual(Array.from(m.score(wdbc)))
    expect(back.trace).toEqual(m.trace)
    const s1 = m.localUpdate(wdbc)
    const s2 = back.localUpdate(wdbc)
    expect(Array.from(s2)).toEqual(Array.from(s1))
    m.optimize(s1)
    back.optimize(s2)
    expect(Array.from(back.decoder())).toEqual(Array.from(m.decoder()))
  })

  it('exportGlobal carries the decoder, optimiser state and preprocessing, no private part', async () => {
    const parts = split(wdbc, 2, 'export')
    const models = await runExact(nodes(2, { ...small, optimizer: 'adam', learningRate: 3e-3, maxIter: 5 }), parts)
    const g = models[0].exportGlobal()
    expect(g.iteration).toBe(5)
    const rejoined = createVaeModel({ ...small, optimizer: 'adam', learningRate: 3e-3, maxIter: 5, node: 1 })
    rejoined.importGlobal(g)
    expect(Array.from(rejoined.decoder())).toEqual(Array.from(models[1].decoder()))
    expect(Array.from(rejoined.exportGlobal().state)).toEqual(Array.from(g.state))
    expect(rejoined.iteration).toBe(5)
    expect(rejoined.converged).toBe(true)
    // the encoder is not in the state: a rejoined node has its seed-initialised encoder
    const enc = models[1].encoder()
    expect(g.state.length).toBeLessThan(models[0].decoder().length * 3 + 200)
    expect(maxAbsDiff(rejoined.encoder(), enc)).toBeGreaterThan(1e-6)
    expect(() => rejoined.importGlobal({ iteration: 0, converged: false, state: new Float64Array(3) })).toThrow(
      expect.objectContaining({ name: 'VaeStateError' }),
    )
  })

  it('the collapse monitor reports KL per latent dimension and flags collapse on structureless data only', async () => {
    // iid Gaussian noise: the best decoder ignores z, so every latent dimension's KL falls to ~0
    const rng = new Rng('noise')
    const noise = mat(3000, 4, new Float64Array(12000).map(() => rng.normal()))
    const monitor = { seed: 2, hidden: 16, latent: 3, optimizer: 'adam', learningRate: 3e-3, collapseThreshold: 0.05, validation: 0 } as const
    const [n] = await runExact(nodes(1, { ...monitor, maxIter: 400, tol: 1e-12 }), [noise])
    const first = n.trace[0].klPerDim as number[]
    expect(first.some((k) => k > 0.05)).toBe(true) // not collapsed at the start
    const last = n.trace[n.trace.length - 1]
    expect(last.collapsed).toBe(true)
    expect(n.collapse.collapsed).toBe(true)
    expect((last.klPerDim as number[]).length).toBe(3)
    // WDBC has structure: the latent code stays in use
    const [w] = await runExact(nodes(1, { ...monitor, maxIter: 100 }), [wdbc])
    expect(w.collapse.collapsed).toBe(false)
    expect(Math.max(...w.collapse.klPerDim)).toBeGreaterThan(0.1)
    // the per-dimension KL is the closed form over the node's rows (sums to the node KL)
    const t = w.trace[w.trace.length - 1]
    expect((t.klPerDim as number[]).reduce((a, b) => a + b, 0)).toBeCloseTo(t.nodeKl as number, 10)
  })

  it('misuse fails loudly with named errors', () => {
    expect(() => parseVaeHyper({ seed: 1, hidden: 0 })).toThrow(expect.objectContaining({ name: 'VaeConfigError' }))
    expect(() => createVaeModel({ seed: 1, optimizer: 'rmsprop' })).toThrow(/optimizer/)
    expect(() => createVaeModel({ seed: 1, bogus: 1 })).toThrow(expect.objectContaining({ name: 'VaeConfigError' }))
    const m = createVaeModel({ seed: 1 })
    expect(() => m.localUpdate(wdbc)).toThrow(expect.objectContaining({ name: 'VaeStateError' }))
    expect(() => m.score(wdbc)).toThrow(/prepare/)
    expect(() => loadVaeModel({ format: 'collabdict-model', version: 1, kind: 'ggm' })).toThrow(expect.objectContaining({ name: 'VaeConfigError' }))
  })

  it('is registered: createModel("vae") and loadModel(saved) build VAEs', async () => {
    const m = createModel('vae', { ...small, maxIter: 2 })
    expect(m.kind).toBe('vae')
    const [trained] = await runExact([m], [wdbc])
    const back = loadModel(JSON.parse(JSON.stringify(trained.save())))
    expect(back.kind).toBe('vae')
    expect(Array.from(back.score(wdbc))).toEqual(Array.from(trained.score(wdbc)))
  })

  it('optimize rejects a vector that is not a sum of localUpdate vectors', async () => {
    const [m] = await runExact(nodes(1, { ...small, maxIter: 1 }), [wdbc])
    expect(() => m.optimize(new Float64Array(5))).toThrow(expect.objectContaining({ name: 'VaeStateError' }))
  })
})
