/**
 * The classifier's privacy options: DP-SGD accounting against the project's golden RDP
 * values (test/golden/rdp_gaussian.json), the calibration of the noise multiplier, every
 * node's ledger holding the training's cost before anything noised is shared (and a budget
 * that refuses training), the global-DP paper's mix-up noise (its sigma formula, the noise
 * actually in a contribution, its RDP cost in closed form), local DP on inputs, secret noise
 * (never the shared seed), and the extra charge of a resumed node.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { createExactAggregator } from '../../../src/learning/exact.js'
import { parseTrainingConfig } from '../../../src/learning/config.js'
import { createNodeModel } from '../../../src/learning/models.js'
import { runNetwork } from '../../../src/learning/network.js'
import { createLedger } from '../../../src/learning/privacy.js'
import {
  createClassifier,
  dpSgdNoiseFor,
  loadClassifier,
  mixupSigma,
  parseClassifierHyper,
  perturbInputs,
  withLabels,
  type ClassifierModel,
} from '../../../src/models/classifier/index.js'
import type { Aggregate } from '../../../src/models/model.js'
import type { Mat } from '../../../src/numeric/matrix.js'
import { Rng } from '../../../src/numeric/rng.js'
import { SecretRng } from '../../../src/numeric/secret-rng.js'
import { PrivacyBudgetExceededError, PrivacyLedger } from '../../../src/privacy/ledger.js'
import { gaussianC } from '../../../src/privacy/mechanisms.js'
import { DEFAULT_ORDERS, rdpToDp, subsampledGaussianRdp } from '../../../src/privacy/rdp.js'

interface GoldenCase { q: number; sigma: number; steps: number; delta: number; eps_classic: number; eps_improved: number }
const golden = JSON.parse(readFileSync(new URL('../../golden/rdp_gaussian.json', import.meta.url), 'utf8')) as { cases: GoldenCase[] }
/** The golden file's order grid: [1.1, ..., 10.9] + [12, ..., 63]. */
const GOLDEN_ORDERS = [...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10), ...Array.from({ length: 52 }, (_, x) => 12 + x)]

/** n labelled rows (label last) of M standard-normal features, labels from the first feature. */
function rows(n: number, M: number, seed: string): Mat {
  const rng = new Rng(seed)
  const x = { rows: n, cols: M, data: rng.fillNormal(new Float64Array(n * M)) }
  return withLabels(x, Int32Array.from({ length: n }, (_, i) => (x.data[i * M] + 0.5 * rng.normal() > 0 ? 1 : 0)))
}

const alone = (): Aggregate => createExactAggregator(1).forNode(0)

describe('DP-SGD accounting', () => {
  for (const c of golden.cases) {
    it(`the ledger after prepare holds the golden epsilon: q=${c.q.toFixed(5)} z=${c.sigma} T=${c.steps}`, async () => {
      for (const conversion of ['improved', 'classic'] as const) {
        const ledger = PrivacyLedger.inMemory({ nodeId: 'n0', delta: c.delta, budget: null, orders: GOLDEN_ORDERS, conversion })
        const model = createClassifier({ seed: 1, sampleRate: c.q, maxIter: c.steps, dpSgd: { clip: 1, noiseMultiplier: c.sigma, nodes: 4 } }, { ledger, noise: SecretRng.forSimulation('golden', 0) })
        await model.prepare(rows(20, 3, 'golden'), alone())
        expect(ledger.entries.map((e) => e.kind)).toEqual(['dp-sgd'])
        expect(ledger.entries[0].details).toMatchObject({ steps: c.steps, q: c.q, noiseMultiplier: c.sigma, nodes: 4, noise: 'injected' })
        const want = conversion === 'improved' ? c.eps_improved : c.eps_classic
        expect(Math.abs(ledger.spent('external').epsilon - want)).toBeLessThan(1e-6)
      }
    })
  }

  it('calibrates the noise multiplier to a target (epsilon, delta): the accountant gives the target at z and more just below it', () => {
    for (const [eps, q, T] of [[1, 64 / 614, 4797], [8, 64 / 455, 3555], [2, 0.3, 30]] as const) {
      const z = dpSgdNoiseFor(eps, 1e-4, q, T)
      const at = (s: number): number => rdpToDp(DEFAULT_ORDERS, subsampledGaussianRdp(q, s, T), 1e-4).epsilon
      expect(at(z)).toBeLessThanOrEqual(eps + 1e-9)
      expect(at(z)).toBeGreaterThan(eps - 1e-3)
      expect(at(z * 0.999)).toBeGreaterThan(eps)
    }
  })
})

describe("every node's ledger holds the training's cost", () => {
  const parts = [rows(40, 4, 'a'), rows(30, 4, 'b'), rows(50, 4, 'c')]
  const configOf = (budget: number) =>
    parseTrainingConfig({
      model: { kind: 'classifier', hyper: { architecture: 'mlp', hidden: [6], sampleRate: 0.3, maxIter: 30, dpSgd: { clip: 1, epsilon: 2, delta: 1e-5, nodes: 3 } } },
      seed: 5,
      maxIterations: 30,
      privacy: { monitor: false, budget, ledgerDelta: 1e-5 },
    })

  it('charged once per node, before the first round, at the planned (epsilon, delta)', async () => {
    const config = configOf(10)
    const ledgers = parts.map((_, s) => createLedger(config, `node-${s}`))
    const chargedBeforeRound: number[] = []
    const exact = createExactAggregator(3)
    const res = await runNetwork({
      config,
      parts,
      noise: (s) => SecretRng.forSimulation('ledger', s),
      nodeParts: (s) => ({ model: createNodeModel(config, { noise: SecretRng.forSimulation('ledger-model', s), ledger: ledgers[s] }), ledger: ledgers[s] }),
      aggregation: {
        kind: 'custom',
        aggregateFor: (s) => (vec, label, o) => {
          if (label === 'iter:0:stats') chargedBeforeRound[s] = ledgers[s].entries.length
          return exact.forNode(s)(vec, label, o)
        },
      },
    })
    expect(res.nodes.every((n) => n.iterations === 30)).toBe(true)
    expect(chargedBeforeRound).toEqual([1, 1, 1])
    const z = dpSgdNoiseFor(2, 1e-5, 0.3, 30)
    const want = rdpToDp(DEFAULT_ORDERS, subsampledGaussianRdp(0.3, z, 30), 1e-5).epsilon
    for (const l of ledgers) {
      expect(l.entries).toHaveLength(1)
      expect(l.entries[0]).toMatchObject({ kind: 'dp-sgd', audience: 'external' })
      expect(l.entries[0].details).toMatchObject({ steps: 30, q: 0.3, clip: 1, nodes: 3, noise: 'injected' })
      expect(l.spent('external').epsilon).toBeCloseTo(want, 9)
      expect(l.spent('external').epsilon).toBeLessThanOrEqual(2 + 1e-9)
      expect(l.spent('external').epsilon).toBeGreaterThan(1.99)
    }
    // the loss is not shared under DP-SGD (it would leak unprotected): no network objective
    expect(Number.isNaN(res.nodes[0].records[0].objective)).toBe(true)
  })

  it('a budget below the plan refuses training before any round is shared', async () => {
    const config = configOf(1)
    const ledgers = parts.map((_, s) => createLedger(config, `node-${s}`))
    const labels: string[] = []
    const exact = createExactAggregator(3)
    const run = runNetwork({
      config,
      parts,
      nodeParts: (s) => ({ model: createNodeModel(config, { ledger: ledgers[s] }), ledger: ledgers[s] }),
      aggregation: {
        kind: 'custom',
        aggregateFor: (s) => (vec, label, o) => {
          labels.push(label)
          return exact.forNode(s)(vec, label, o)
        },
        fail: (e) => exact.fail(e),
      },
    })
    await expect(run).rejects.toMatchObject({ name: 'PrivacyBudgetExceededError' })
    await expect(run).rejects.toBeInstanceOf(PrivacyBudgetExceededError)
    expect(labels.some((l) => l.startsWith('iter:'))).toBe(false)
    for (const l of ledgers) expect(l.entries).toHaveLength(0)
  })

  it('a node restored from its checkpoint charges one more round at its first round (it may re-share it)', async () => {
    const ledger = PrivacyLedger.inMemory({ nodeId: 'n0', delta: 1e-5, budget: null })
    const hyper = { seed: 2, sampleRate: 0.5, maxIter: 10, dpSgd: { clip: 1, noiseMultiplier: 1.5, nodes: 1 } }
    const data = rows(30, 3, 'resume')
    const first = createClassifier(hyper, { ledger, noise: SecretRng.forSimulation('resume', 0) })
    const agg = alone()
    await first.prepare(data, agg)
    first.optimize(await agg(first.localUpdate(data), 'r0'))
    const restored = loadClassifier(first.save(), { ledger })
    restored.localUpdate(data)
    restored.localUpdate(data)
    expect(ledger.entries.map((e) => e.details.steps)).toEqual([10, 1])
    expect(ledger.entries[1].details.plan).toBe('round 1 re-run after a restart')
  })
})

describe("the global-DP paper's mix-up noise", () => {
  const data = rows(25, 4, 'mixup')
  const P = 5 // linear model on 4 features: 4 weights and a bias

  it('sigma1 = c T S_sharing / epsilon with S_sharing = 2C/|D_i|, c = sqrt(2 ln(1.25/delta)); distributed: the sum needs c T 2C / epsilon', () => {
    const h = parseClassifierHyper({ seed: 1, aggregation: 'model', maxIter: 40, mixup: { epsilon: 25, delta: 1e-5, clip: 2 } })
    const c = Math.sqrt(2 * Math.log(1.25 / 1e-5))
    expect(mixupSigma(h, 25)).toBeCloseTo((c * 40 * ((2 * 2) / 25)) / 25, 12)
    const d = parseClassifierHyper({ seed: 1, aggregation: 'model', maxIter: 40, mixup: { epsilon: 25, delta: 1e-5, clip: 2, rounds: 10, noise: 'distributed', nodes: 16 } })
    expect(mixupSigma(d, 25)).toBeCloseTo((c * 10 * 2 * 2) / 25 / 4, 12)
  })

  for (const noise of ['per-node', 'distributed'] as const) {
    it(`${noise}: a contribution carries noise of that std, and the ledger the T-round Gaussian cost alpha eps^2 / (2 c^2 T)`, async () => {
      const ledger = PrivacyLedger.inMemory({ nodeId: 'n0', delta: 1e-5, budget: null })
      // a vanishing step keeps the local model at its zero start: the contribution is all noise
      const hyper = { seed: 1, aggregation: 'model', learningRate: 1e-300, maxIter: 20, mixup: { epsilon: 5, delta: 1e-5, clip: 1, noise, ...(noise === 'distributed' ? { nodes: 9 } : {}) } }
      const model = createClassifier(hyper, { ledger, noise: SecretRng.forSimulation(`mixup-${noise}`, 0) })
      await model.prepare(data, alone())
      const sigma = mixupSigma(parseClassifierHyper(hyper), data.rows)
      const scale = noise === 'per-node' ? data.rows * sigma : sigma
      let ss = 0
      let count = 0
      for (let k = 0; k < 800; k++) {
        const v = model.localUpdate(data)
        expect(v[P]).toBe(0) // no loss shared under mix-up noise
        expect(v[P + 1]).toBe(data.rows)
        for (let i = 0; i < P; i++) {
          ss += v[i] * v[i]
          count++
        }
      }
      // 4000 draws: the std estimate is within 5 % (its own std is about 1.1 %)
      expect(Math.abs(Math.sqrt(ss / count) / scale - 1)).toBeLessThan(0.05)
      expect(ledger.entries).toHaveLength(1)
      const cc = gaussianC(1e-5)
      const rdp = ledger.entries[0].rdp
      ledger.orders.forEach((a, i) => expect(rdp[i]).toBeCloseTo((a * 25) / (2 * cc * cc * 20), 10))
    })
  }
})

describe('local DP on inputs and the secret noise', () => {
  it('Laplace inputs: values clipped to [-B, B], noise of variance 2 beta^2; charged once with epsilon M 2B / beta', async () => {
    const x = { rows: 4000, cols: 2, data: new Rng('ldp').fillNormal(new Float64Array(8000)).map((v) => 2 * v) }
    const p = perturbInputs(x, { scale: 0.5, clip: 1 }, SecretRng.forSimulation('ldp', 0))
    let s1 = 0
    let s2 = 0
    for (let i = 0; i < x.data.length; i++) {
      const e = p.data[i] - Math.min(1, Math.max(-1, x.data[i]))
      s1 += e
      s2 += e * e
    }
    const n = x.data.length
    expect(Math.abs(s1 / n)).toBeLessThan(0.02)
    expect(Math.abs(s2 / n / (2 * 0.25) - 1)).toBeLessThan(0.05)
    const ledger = PrivacyLedger.inMemory({ nodeId: 'n0', delta: 1e-5, budget: null })
    const data = rows(50, 3, 'ldp-model')
    const model = createClassifier({ seed: 3, maxIter: 5, ldp: { scale: 2, clip: 3 } }, { ledger, noise: SecretRng.forSimulation('ldp-model', 0) })
    const agg = alone()
    await model.prepare(data, agg)
    for (let k = 0; k < 3; k++) model.optimize(await agg(model.localUpdate(data), `r${k}`))
    expect(ledger.entries).toHaveLength(1)
    expect(ledger.entries[0].kind).toBe('laplace-ldp')
    expect(ledger.entries[0].details).toMatchObject({ epsilonPerRow: (3 * 2 * 3) / 2, labels: 'not perturbed' })
    // under local DP alone the loss of the perturbed rows is shared (post-processing)
    expect(Number.isFinite(model.trace[0].objective)).toBe(true)
  })

  it("DP noise comes from the node's secret generator: the same secret replays, another secret or seed-mates differ", async () => {
    const data = rows(40, 3, 'secret')
    const hyper = { seed: 9, sampleRate: 0.5, maxIter: 3, dpSgd: { clip: 1, noiseMultiplier: 1, nodes: 2 } }
    const contribution = async (noise?: SecretRng): Promise<Float64Array> => {
      const m: ClassifierModel = createClassifier(hyper, { noise })
      await m.prepare(data, alone())
      return m.localUpdate(data)
    }
    const a = await contribution(SecretRng.forSimulation('k', 1))
    const b = await contribution(SecretRng.forSimulation('k', 1))
    const c = await contribution(SecretRng.forSimulation('k', 2))
    const d = await contribution()
    const e = await contribution()
    expect(b).toEqual(a)
    expect(c).not.toEqual(a)
    // without an injected generator each model keys its own from OS entropy
    expect(d).not.toEqual(e)
  })
})
