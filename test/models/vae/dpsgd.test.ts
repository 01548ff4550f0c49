/**
 * DP-SGD on the VAE's shared decoder gradients (hyper.dpSgd): the per-sample kernel
 * against the plain-TypeScript reference (one row at a time) and the batch kernel, the
 * clipping bound, the variance of the network-wide noise (chi-square), per-step accounting
 * against the accountant, and utility on breastw normal rows.
 */
import { describe, expect, it } from 'vitest'
import { mat, type Mat } from '../../../src/numeric/matrix.js'
import { Rng } from '../../../src/numeric/rng.js'
import { SecretRng } from '../../../src/numeric/secret-rng.js'
import { vaeElboGrad, vaeElboGradPerSample, vaeParamLengths, type VaeShape } from '../../../src/numeric/vae.js'
import { exactNetwork, sumVectors } from '../../../src/models/ggm/exact.js'
import { chargeVaeStep, createVaeModel, parseVaeHyper, referenceElboGrad, VaeConfigError, type VaeHyperInput, type VaeModel } from '../../../src/models/vae/index.js'
import type { NoiseRng } from '../../../src/privacy/mechanisms.js'
import { dpSgdRdp } from '../../../src/privacy/mechanisms.js'
import { PrivacyLedger } from '../../../src/privacy/ledger.js'
import { PrivacyBudgetExceededError } from '../../../src/privacy/errors.js'
import { rdpToDp } from '../../../src/privacy/rdp.js'
import { rocAuc } from '../../../src/eval/metrics.js'
import { evaluatePerNode, prepareAnomalyDataset } from '../../../sim/experiments/anomaly.js'

const floors = { latentFloor: 1e-3, scaleFloor: 1e-3 }

function normals(rng: Rng, n: number, sd = 1): Float64Array {
  const v = new Float64Array(n)
  rng.fillNormal(v)
  for (let i = 0; i < n; i++) v[i] *= sd
  return v
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0
  let den = 0
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]))
    den = Math.max(den, Math.abs(a[i]), Math.abs(b[i]))
  }
  return num / den
}

function norm(v: ArrayLike<number>): number {
  let s = 0
  for (let i = 0; i < v.length; i++) s += v[i] * v[i]
  return Math.sqrt(s)
}

/** A NoiseRng that samples every row (uniform 0 < q) and adds no noise: exposes the clipped sum. */
const noiseless: NoiseRng = { uniform: () => 0, normal: () => 0 }

const small: Omit<VaeHyperInput, 'seed' | 'node'> = { hidden: 8, latent: 2, draws: 2, standardise: false, learningRate: 1e-2, optimizer: 'sgd', validation: 0 }

/** Prepared models (one per part) under exact aggregation, each with its own noise source. */
async function prepared(parts: Mat[], hyper: Omit<VaeHyperInput, 'node'>, noise: (s: number) => NoiseRng | undefined): Promise<VaeModel[]> {
  const models = parts.map((_, s) => {
    const n = noise(s)
    return createVaeModel({ ...hyper, node: s }, n === undefined ? {} : { noise: n })
  })
  const net = exactNetwork(parts.length)
  await Promise.all(models.map((m, s) => m.prepare(parts[s], net.aggregate(s))))
  return models
}

describe('per-sample decoder gradients (wasm/src/vae.rs elbo_grad_per_sample)', () => {
  it('row n equals the reference gradient of sample n alone, and the rows sum to the batch gradient', () => {
    const shape: VaeShape = { features: 5, hidden: 7, latent: 3 }
    const len = vaeParamLengths(shape)
    const rng = new Rng('per-sample')
    const enc = normals(rng, len.encoder, 0.4)
    const dec = normals(rng, len.decoder, 0.4)
    const B = 9
    const J = 3
    const x = mat(B, shape.features, normals(rng, B * shape.features))
    const draws = normals(rng, J * B * shape.latent)
    const per = vaeElboGradPerSample(shape, enc, dec, x, draws, floors)
    expect(per.gradDecoderRows.rows).toBe(B)
    expect(per.gradDecoderRows.cols).toBe(len.decoder)
    const d = shape.latent
    for (let n = 0; n < B; n++) {
      const xn = mat(1, shape.features, x.data.slice(n * shape.features, (n + 1) * shape.features))
      const vn = new Float64Array(J * d)
      for (let j = 0; j < J; j++) vn.set(draws.subarray((j * B + n) * d, (j * B + n + 1) * d), j * d)
      const ref = referenceElboGrad(shape, enc, dec, xn, vn, floors)
      const row = per.gradDecoderRows.data.subarray(n * len.decoder, (n + 1) * len.decoder)
      expect(relErr(row, ref.gradDecoder)).toBeLessThan(1e-12)
      const erow = per.gradEncoderRows.data.subarray(n * len.encoder, (n + 1) * len.encoder)
      expect(relErr(erow, ref.gradEncoder)).toBeLessThan(1e-12)
    }
    const batch = vaeElboGrad(shape, enc, dec, x, draws, floors)
    const sum = new Float64Array(len.decoder)
    for (let n = 0; n < B; n++) for (let i = 0; i < len.decoder; i++) sum[i] += per.gradDecoderRows.data[n * len.decoder + i]
    expect(relErr(sum, batch.gradDecoder)).toBeLessThanOrEqual(1e-12)
    expect(relErr(per.gradEncoder, batch.gradEncoder)).toBeLessThanOrEqual(1e-12)
    expect(relErr(per.klPerDim, batch.klPerDim)).toBeLessThanOrEqual(1e-12)
    expect(Math.abs(per.elbo - batch.elbo) / Math.abs(batch.elbo)).toBeLessThanOrEqual(1e-12)
  })
})

describe('DP-SGD hyper-parameters', () => {
  it('is off by default, and refuses batchSize together with dpSgd or invalid settings', () => {
    expect(parseVaeHyper({ seed: 1 }).dpSgd).toBeNull()
    const dp = { clip: 1, noiseMultiplier: 1, sampleRate: 0.5, nodes: 3 }
    expect(parseVaeHyper({ seed: 1, dpSgd: dp }).dpSgd?.encoder).toBe('dp')
    // the noise source is never a hyper-parameter (a shared seed would let peers subtract it)
    expect(() => parseVaeHyper({ seed: 1, dpSgd: { ...dp, noise: 'seeded' } })).toThrow(VaeConfigError)
    expect(() => parseVaeHyper({ seed: 1, dpSgd: dp, batchSize: 10 })).toThrow(/remove batchSize/)
    expect(() => parseVaeHyper({ seed: 1, dpSgd: { ...dp, sampleRate: 0 } })).toThrow(VaeConfigError)
    expect(() => parseVaeHyper({ seed: 1, dpSgd: { ...dp, clip: -1 } })).toThrow(VaeConfigError)
    expect(() => parseVaeHyper({ seed: 1, dpSgd: { ...dp, nodes: 0 } })).toThrow(VaeConfigError)
  })
})

describe('DP-SGD clipping', () => {
  it.each(['exact', 'dp'] as const)('bounds every sample (encoder %s): a sample with a huge gradient contributes exactly C, the others their clipped gradients', async (encoder) => {
    const rng = new Rng('clip-data')
    const M = 4
    const x = mat(6, M, normals(rng, 6 * M))
    x.data[5 * M + 2] = 1e4 // row 5: reconstruction error ~1e8, gradient norm far above C
    const C = 3
    const hyper = { ...small, seed: 'clip', dpSgd: { clip: C, noiseMultiplier: 1, sampleRate: 1, nodes: 1, encoder } }
    // 'exact': the decoder row is clipped to C; 'dp': decoder and encoder rows to C / sqrt(2) each
    const bound = encoder === 'exact' ? C : C / Math.SQRT2
    const [model] = await prepared([x], hyper, () => noiseless)
    const theta = model.decoder()
    const phi = model.encoder()
    const stats = model.localUpdate(x)
    const P = theta.length
    // independent recomputation: same draws (the model's fork), reference gradients per row
    const shape = model.shape
    const draws = new Rng('clip').fork('vae/node/0/round/0/step/0')
    const v = new Float64Array(small.draws! * x.rows * shape.latent)
    draws.fillNormal(v)
    const d = shape.latent
    const B = x.rows
    const J = small.draws!
    const Q = phi.length
    const expected = new Float64Array(P)
    const expectedEnc = new Float64Array(Q)
    let huge: Float64Array = new Float64Array(0)
    let hugeEnc: Float64Array = new Float64Array(0)
    for (let n = 0; n < B; n++) {
      const vn = new Float64Array(J * d)
      for (let j = 0; j < J; j++) vn.set(v.subarray((j * B + n) * d, (j * B + n + 1) * d), j * d)
      const ref = referenceElboGrad(shape, phi, theta, mat(1, M, x.data.slice(n * M, (n + 1) * M)), vn, floors)
      const g = ref.gradDecoder
      const ge = ref.gradEncoder
      const s = Math.min(1, bound / norm(g))
      const se = Math.min(1, bound / norm(ge))
      if (n === 5) {
        expect(norm(g)).toBeGreaterThan(1e4 * C)
        huge = Float64Array.from(g)
        hugeEnc = Float64Array.from(ge)
      }
      for (let i = 0; i < P; i++) expected[i] += g[i] * s
      for (let i = 0; i < Q; i++) expectedEnc[i] += ge[i] * se
    }
    const decoderPart = stats.subarray(0, P)
    expect(relErr(decoderPart, expected)).toBeLessThan(1e-10)
    // the huge sample's decoder contribution: the total minus the (independently computed) others
    const others = new Float64Array(P)
    for (let i = 0; i < P; i++) others[i] = expected[i] - (huge[i] * bound) / norm(huge)
    const contribution = decoderPart.map((g, i) => g - others[i])
    if (encoder === 'exact') {
      expect(Math.abs(norm(contribution) - C) / C).toBeLessThan(1e-9)
    } else {
      // plain SGD step with no noise: phi' - phi = lr * (clipped encoder sum) / (q n_s)
      const encSum = model.encoder().map((p, i) => ((p - phi[i]) * x.rows) / small.learningRate!)
      expect(relErr(encSum, expectedEnc)).toBeLessThan(1e-8)
      const encContribution = encSum.map((g, i) => g - (expectedEnc[i] - (hugeEnc[i] * bound) / norm(hugeEnc)))
      const pair = Math.hypot(norm(contribution), norm(encContribution))
      expect(Math.abs(pair - C) / C).toBeLessThan(1e-6)
    }
    // shared row count is the expected batch size q n_s (q = 1 here), not the sampled count
    expect(stats[P + 1]).toBe(x.rows)
    expect(model.privacyCost()?.details.clippedRows).toBeGreaterThanOrEqual(1)
  })
})

describe('DP-SGD noise', () => {
  it('the network sum over S nodes carries N(0, z^2 C^2) per coordinate (chi-square test, exact aggregation)', async () => {
    const S = 4
    const C = 0.5
    const z = 1.3
    const rng = new Rng('noise-data')
    const parts = Array.from({ length: S }, () => mat(12, 5, normals(rng, 60)))
    const hyper = { ...small, hidden: 24, seed: 'noise', dpSgd: { clip: C, noiseMultiplier: z, sampleRate: 1, nodes: S, encoder: 'exact' as const } }
    // (encoder 'exact': the noisy and the noiseless sets keep identical encoders across reps)
    const noisy = await prepared(parts, hyper, (s) => new Rng(`noise-source-${s}`))
    const clean = await prepared(parts, hyper, () => noiseless)
    const P = noisy[0].decoder().length
    const reps = 8
    let ss = 0
    let sum = 0
    let count = 0
    for (let r = 0; r < reps; r++) {
      const a = sumVectors(noisy.map((m, s) => m.localUpdate(parts[s])))
      const b = sumVectors(clean.map((m, s) => m.localUpdate(parts[s])))
      for (let i = 0; i < P; i++) {
        const e = a[i] - b[i]
        ss += e * e
        sum += e
        count++
      }
    }
    const variance = z * z * C * C
    // sum of squares / variance ~ chi-square(count): mean count, sd sqrt(2 count)
    const chi = ss / variance
    expect(Math.abs(chi - count)).toBeLessThan(5 * Math.sqrt(2 * count))
    // mean ~ N(0, variance / count)
    expect(Math.abs(sum / count)).toBeLessThan(5 * Math.sqrt(variance / count))
  })

  it('an injected simulation secret replays exactly; the default OS-entropy noise does not', async () => {
    const rng = new Rng('replay-data')
    const x = mat(10, 4, normals(rng, 40))
    const run = async (noise: NoiseRng | undefined): Promise<Float64Array> => {
      const [m] = await prepared([x], { ...small, seed: 'replay', dpSgd: { clip: 1, noiseMultiplier: 1, sampleRate: 0.5, nodes: 1 } }, () => noise)
      return m.localUpdate(x)
    }
    expect(Array.from(await run(SecretRng.forSimulation('replay', 0)))).toEqual(Array.from(await run(SecretRng.forSimulation('replay', 0))))
    expect(Array.from(await run(undefined))).not.toEqual(Array.from(await run(undefined)))
  })
})

describe('DP-SGD accounting', () => {
  it('charging every step composes to dpSgdRdp(q, z, T) converted by rdpToDp; the budget stops sharing', async () => {
    const rng = new Rng('acct-data')
    const parts = [mat(15, 4, normals(rng, 60)), mat(9, 4, normals(rng, 36))]
    const q = 0.3
    const z = 1.1
    const T = 6
    const localSteps = 2
    const hyper = { ...small, seed: 'acct', localSteps, maxIter: T, dpSgd: { clip: 1, noiseMultiplier: z, sampleRate: q, nodes: 2 } }
    const models = await prepared(parts, hyper, (s) => SecretRng.forSimulation('acct', s))
    const ledgers = models.map((_, s) => PrivacyLedger.inMemory({ nodeId: `n${s}`, delta: 1e-5 }))
    expect(models[0].privacyCost()).toBeNull()
    while (!models[0].converged) {
      const stats = models.map((m, s) => {
        const v = m.localUpdate(parts[s])
        chargeVaeStep(m, ledgers[s])
        return v
      })
      const sum = sumVectors(stats)
      for (const m of models) m.optimize(sum)
    }
    const orders = ledgers[0].orders
    const want = rdpToDp(orders, dpSgdRdp(q, z, T * localSteps, orders), 1e-5)
    for (const l of ledgers) {
      expect(l.entries).toHaveLength(T)
      expect(l.entries.every((e) => e.audience === 'external' && e.kind === 'dp-sgd')).toBe(true)
      const got = l.spent('external')
      expect(Math.abs(got.epsilon - want.epsilon)).toBeLessThan(1e-9 * want.epsilon)
    }
    // a budget below one step's cost: the charge throws, so the caller shares nothing
    const tight = PrivacyLedger.inMemory({ nodeId: 'tight', delta: 1e-5, budget: 1e-3 })
    models[0].localUpdate(parts[0])
    expect(() => chargeVaeStep(models[0], tight)).toThrow(PrivacyBudgetExceededError)
    expect(tight.entries).toHaveLength(0)
    // DP-SGD off: nothing to charge
    const [plain] = await prepared([parts[0]], { ...small, seed: 'acct' }, () => undefined)
    plain.localUpdate(parts[0])
    expect(plain.privacyCost()).toBeNull()
    expect(chargeVaeStep(plain, tight)).toBeNull()
  })
})

describe('DP-SGD utility on breastw normal rows', () => {
  it('the ELBO rises and anomaly ROC-AUC stays high at epsilon ~2.9 (delta 1e-5)', async () => {
    const ds = prepareAnomalyDataset('breastw')
    const q = 0.25
    const z = 3
    const T = 50
    const C = 50
    const base = { seed: 2024, hidden: 16, latent: 4, optimizer: 'adam' as const, learningRate: 3e-3, encoderLearningRate: 1e-4, maxIter: T, tol: 1e-12, validation: 0, scoreDraws: 16, scoreKlWeight: 1 }
    const train = async (dpSgd: VaeHyperInput['dpSgd'], over: Partial<VaeHyperInput> = {}): Promise<{ before: number; after: number; roc: number; models: VaeModel[] }> => {
      const models = await prepared(ds.parts, { ...base, ...over, dpSgd }, (s) => SecretRng.forSimulation('breastw-utility', s))
      const rows = ds.parts.reduce((a, p) => a + p.rows, 0)
      const elbo = (): number => models.reduce((a, m, s) => a + m.evaluate(ds.parts[s]).elbo * ds.parts[s].rows, 0) / rows
      const before = elbo()
      while (!models[0].converged) {
        const sum = sumVectors(models.map((m, s) => m.localUpdate(ds.parts[s])))
        for (const m of models) m.optimize(sum)
      }
      return { before, after: elbo(), roc: evaluatePerNode(ds, (s, X) => models[s].score(X)).roc, models }
    }
    const dpOpts = { clip: C, noiseMultiplier: z, sampleRate: q, nodes: ds.S }
    const plain = await train(null)
    const dp = await train({ ...dpOpts, encoder: 'dp' })
    // encoder 'exact' (bound conditional on the encoder), at the learning rates it tolerates
    const exactOver = { learningRate: 1e-2, encoderLearningRate: 1e-2 }
    const plainFast = await train(null, exactOver)
    const exact = await train({ ...dpOpts, encoder: 'exact' }, exactOver)
    const ledger = PrivacyLedger.inMemory({ nodeId: 'n0', delta: 1e-5 })
    const eps = rdpToDp(ledger.orders, dpSgdRdp(q, z, T, ledger.orders), 1e-5).epsilon
    const f = (x: number): string => x.toFixed(4)
    console.log(
      `breastw S=${ds.S}, DP-SGD C ${C}, z ${z}, q ${q}, T ${T}: epsilon ${eps.toFixed(3)} at delta 1e-5\n` +
        `  lr 3e-3/1e-4: ELBO ${plain.before.toFixed(2)} -> ${plain.after.toFixed(2)} no DP, -> ${dp.after.toFixed(2)} DP-SGD (encoder dp); ROC-AUC ${f(plain.roc)} no DP, ${f(dp.roc)} DP-SGD\n` +
        `  lr 1e-2/1e-2: ELBO -> ${plainFast.after.toFixed(2)} no DP, -> ${exact.after.toFixed(2)} DP-SGD (encoder exact); ROC-AUC ${f(plainFast.roc)} no DP, ${f(exact.roc)} DP-SGD`,
    )
    expect(eps).toBeLessThan(3)
    for (const r of [dp, exact]) {
      expect(r.after).toBeGreaterThan(r.before + 3)
      expect(r.roc).toBeGreaterThan(0.95)
    }
    expect(dp.roc).toBeGreaterThan(plain.roc - 0.03)
    expect(exact.roc).toBeGreaterThan(plainFast.roc - 0.03)
    // the evaluation path agrees with a direct ROC-AUC of one node
    const t = ds.tests[0]
    expect(rocAuc(dp.models[0].score(t.X), t.y)).toBeCloseTo(evaluatePerNode(ds, (s, X) => dp.models[s].score(X)).rocPerNode[0], 12)
  }, 30_000)
})
