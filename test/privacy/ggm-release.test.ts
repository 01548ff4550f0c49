/**
 * The whole-model DP release (src/privacy/ggm-release.ts) against independent checks:
 * the declared L2 sensitivities hold for worst-case row replacements, the RDP curve
 * converts to the target epsilon, S members' noise shares add up to the calibrated
 * variance, a network of S members releases what one party holding the pooled rows would,
 * and nodes whose sums differ by consensus error publish the same file.
 */
import { describe, expect, it } from 'vitest'
import { loadCsv } from '../../src/data/csv.js'
import { runGgmRelease } from '../../src/learning/release.js'
import { createExactAggregator } from '../../src/learning/exact.js'
import { mat, selectRows, type Mat } from '../../src/numeric/matrix.js'
import { Rng } from '../../src/numeric/rng.js'
import { SecretRng } from '../../src/numeric/secret-rng.js'
import {
  applyStep,
  loadReleasedGgm,
  noiseShare,
  planGgmRelease,
  releasedFile,
  roundToGrid,
  stepContribution,
  type GgmReleaseSettings,
  type ReleaseState,
} from '../../src/privacy/ggm-release.js'
import { PrivacyLedger } from '../../src/privacy/ledger.js'
import { DEFAULT_ORDERS, rdpToDp } from '../../src/privacy/rdp.js'

const bcw = loadCsv('data/ad_breastw.csv', { labelCol: 'anomaly' })
const normal = Array.from(bcw.labels as Int8Array, (y, i) => (y === 0 ? i : -1)).filter((i) => i >= 0)
const X = selectRows(bcw.features, normal)
const M = X.cols

function settings(over: Partial<GgmReleaseSettings> = {}): GgmReleaseSettings {
  return {
    epsilon: 4,
    delta: 1e-5,
    bounds: { lower: new Float64Array(M).fill(1), upper: new Float64Array(M).fill(10) },
    iterations: 3,
    K: 2,
    minCount: 1,
    rho: 5,
    thresholdQuantile: 0.95,
    seed: 7,
    ...over,
  }
}

function norm(v: ArrayLike<number>): number {
  let s = 0
  for (let i = 0; i < v.length; i++) s += v[i] * v[i]
  return Math.sqrt(s)
}

/** The public state after running the steps before `upTo` without noise on `data`. */
function stateBefore(data: Mat, s: GgmReleaseSettings, upTo: number): ReleaseState {
  const plan = planGgmRelease(s, M, DEFAULT_ORDERS)
  let state: ReleaseState = { transform: null, rows: 0, mixture: null }
  for (const step of plan.steps.slice(0, upTo)) state = applyStep(plan, step, stepContribution(plan, step, data, s.bounds, state), state, s)
  return state
}

/**
 * Replace each of the first `rows` rows of `base` by each candidate, in every step of the
 * plan: the exact entries (the row count) never move and no block moves by more than its
 * declared L2 sensitivity. Returns the largest move / sensitivity seen.
 */
function worstSensitivityRatio(s: GgmReleaseSettings, base: Mat, candidates: number[][], rows: number): number {
  const plan = planGgmRelease(s, M, DEFAULT_ORDERS)
  let worstRatio = 0
  plan.steps.forEach((step, k) => {
    const state = stateBefore(base, s, k)
    const ref = stepContribution(plan, step, base, s.bounds, state)
    for (let row = 0; row < rows; row++) {
      for (const cand of candidates) {
        const D2 = mat(base.rows, M, Float64Array.from(base.data))
        D2.data.set(cand, row * M)
        const v = stepContribution(plan, step, D2, s.bounds, state)
        expect(v.subarray(0, step.exact)).toEqual(ref.subarray(0, step.exact))
        let at = step.exact
        for (const b of step.blocks) {
          const d = norm(v.subarray(at, at + b.length).map((x, i) => x - ref[at + i]))
          worstRatio = Math.max(worstRatio, d / b.sensitivity)
          expect(d).toBeLessThanOrEqual(b.sensitivity * (1 + 1e-9))
          at += b.length
        }
      }
    }
  })
  return worstRatio
}

describe('whole-model release: accounting', () => {
  it('the RDP curve of all steps converts to the target (epsilon, delta), not more', () => {
    for (const eps of [0.5, 1, 4, 8]) {
      const plan = planGgmRelease(settings({ epsilon: eps }), M, DEFAULT_ORDERS)
      const g = rdpToDp(DEFAULT_ORDERS, plan.rdp, 1e-5)
      expect(g.epsilon).toBeLessThanOrEqual(eps)
      expect(g.epsilon).toBeGreaterThan(0.995 * eps)
      expect(plan.epsilon).toBe(g.epsilon)
      // each of the B blocks costs alpha / (2 z^2): the curve is alpha B / (2 z^2)
      const B = plan.steps.reduce((n, st) => n + st.blocks.length, 0)
      expect(B).toBe(2 + 2 + 3 * 3)
      plan.rdp.forEach((r, i) => expect(r).toBeCloseTo((DEFAULT_ORDERS[i] * B) / (2 * plan.z * plan.z), 12))
    }
    // more budget, less noise
    expect(planGgmRelease(settings({ epsilon: 8 }), M, DEFAULT_ORDERS).z).toBeLessThan(planGgmRelease(settings({ epsilon: 1 }), M, DEFAULT_ORDERS).z)
  })

  it('refuses settings it cannot give a guarantee for, naming them', () => {
    expect(() => planGgmRelease(settings({ bounds: { lower: new Float64Array(M), upper: new Float64Array(M - 1) } }), M, DEFAULT_ORDERS)).toThrow(/bounds/)
    expect(() => planGgmRelease(settings({ bounds: { lower: new Float64Array(M).fill(2), upper: new Float64Array(M).fill(2) } }), M, DEFAULT_ORDERS)).toThrow(/must be below upper/)
    expect(() => planGgmRelease(settings({ iterations: 0 }), M, DEFAULT_ORDERS)).toThrow(/iterations/)
  })
})

describe('whole-model release: sensitivities (replace one row by a worst case)', () => {
  it('no replacement moves any block of any step by more than its declared L2 sensitivity', () => {
    const s = settings()
    const rng = new Rng('sensitivity')
    const base = selectRows(X, Array.from({ length: 60 }, (_, i) => i))
    // candidates: the box corners (extreme raw values), rows far outside the box, real rows
    const candidates: number[][] = []
    for (let c = 0; c < 12; c++) candidates.push(Array.from({ length: M }, () => (rng.uniform() < 0.5 ? 1 : 10)))
    candidates.push(Array.from({ length: M }, () => 1e6), Array.from({ length: M }, () => -1e6))
    for (let r = 0; r < 6; r++) candidates.push(Array.from(X.data.subarray((100 + r) * M, (101 + r) * M)))
    // and the bounds are not vacuous: some replacement comes within 2x of one
    expect(worstSensitivityRatio(s, base, candidates, 10)).toBeGreaterThan(0.5)
  })
})

describe('whole-model release with missing values (settings.missing)', () => {
  // a third of the entries of the first 60 normal rows missing, never a whole row
  const rng = new Rng('missing-release')
  const base = selectRows(X, Array.from({ length: 60 }, (_, i) => i))
  for (let i = 0; i < base.rows; i++) for (let j = 1; j < M; j++) if (rng.uniform() < 0.33) base.data[i * M + j] = NaN

  it('adds one observed-count block (sensitivity sqrt(M)) and still converts to the target epsilon', () => {
    const plan = planGgmRelease(settings({ missing: true }), M, DEFAULT_ORDERS)
    expect(plan.steps[0].blocks.map((b) => b.name)).toEqual(['sum u', 'sum u^2', 'observed'])
    expect(plan.steps[0].blocks[2].sensitivity).toBeCloseTo(Math.sqrt(M), 12)
    const B = plan.steps.reduce((n, st) => n + st.blocks.length, 0)
    expect(B).toBe(3 + 2 + 3 * 3)
    const g = rdpToDp(DEFAULT_ORDERS, plan.rdp, 1e-5)
    expect(g.epsilon).toBeLessThanOrEqual(4)
    expect(g.epsilon).toBeGreaterThan(0.995 * 4)
  })

  it('no replacement (rows with and without missing entries, all missing) moves a block by more than its sensitivity', () => {
    const s = settings({ missing: true })
    const candidates: number[][] = [
      Array.from({ length: M }, () => NaN),
      Array.from({ length: M }, (_, j) => (j % 2 === 0 ? NaN : 10)),
      Array.from({ length: M }, (_, j) => (j % 2 === 0 ? 1 : NaN)),
      Array.from({ length: M }, () => 10),
      Array.from({ length: M }, () => 1),
      Array.from({ length: M }, () => -1e6),
    ]
    expect(worstSensitivityRatio(s, base, candidates, 8)).toBeGreaterThan(0.5)
  })

  it('the released standardisation (noise aside) is the mean and spread of the observed values', () => {
    // a huge epsilon: the noise floor of the variance estimate (z / n) is negligible
    const s = settings({ missing: true, epsilon: 1e5 })
    const state = stateBefore(base, s, 1)
    for (let j = 0; j < M; j++) {
      const seen: number[] = []
      for (let i = 0; i < base.rows; i++) if (!Number.isNaN(base.data[i * M + j])) seen.push(Math.min(10, Math.max(1, base.data[i * M + j])))
      const mean = seen.reduce((a, v) => a + v, 0) / seen.length
      expect(state.transform!.shift[j]).toBeCloseTo(mean, 10)
      const sd = Math.sqrt(seen.reduce((a, v) => a + (v - mean) ** 2, 0) / seen.length)
      if (sd > 0.05) expect(state.transform!.scale[j]).toBeCloseTo(sd, 6)
    }
    // planned without missing values, the same rows are refused with a message saying what to set
    expect(() => stateBefore(base, settings(), 1)).toThrow(/missing: true/)
  })
})

describe('whole-model release: distributed noise and agreement', () => {
  it("S members' shares add up to S/(S-1) times the calibrated variance (so any S-1 carry all of it)", () => {
    const plan = planGgmRelease(settings(), M, DEFAULT_ORDERS)
    const step = plan.steps[1]
    const S = 5
    const draws = 400
    const b = step.blocks[0]
    let ss = 0
    let n = 0
    for (let t = 0; t < draws; t++) {
      const total = new Float64Array(b.length)
      for (let s = 0; s < S; s++) {
        const share = noiseShare(plan, step, S, SecretRng.forSimulation('shares', `${t}/${s}`))
        for (let i = 0; i < b.length; i++) total[i] += share[step.exact + i]
      }
      for (const v of total) {
        ss += v * v
        n++
      }
    }
    const want = (plan.z * b.sensitivity) ** 2 * (S / (S - 1))
    // the sample variance of n normals is within 5 sd (sqrt(2/n)) of the truth
    expect(Math.abs(ss / n / want - 1)).toBeLessThan(5 * Math.sqrt(2 / n))
  })

  it('a network of 5 members (exact sums) releases what one party holding the pooled rows releases, up to the noise', async () => {
    const s = settings({ epsilon: 1e7 })
    const parts = Array.from({ length: 5 }, (_, p) => selectRows(X, Array.from({ length: Math.ceil((X.rows - p) / 5) }, (_, j) => p + 5 * j)))
    const agg = createExactAggregator(5)
    const outs = await Promise.all(
      parts.map((data, p) =>
        runGgmRelease({ settings: s, data, aggregate: agg.forNode(p), noise: SecretRng.forSimulation('net', p), members: 5, ledger: PrivacyLedger.inMemory({ nodeId: `n${p}` }), releaseId: 'r' }),
      ),
    )
    const files = outs.map((o) => JSON.stringify(o.released))
    expect(new Set(files).size).toBe(1) // one release for the network
    const central = await runGgmRelease({ settings: s, data: X, aggregate: async (v) => v, noise: SecretRng.forSimulation('central', 0), members: 1, ledger: PrivacyLedger.inMemory({ nodeId: 'c' }), releaseId: 'r' })
    const a = outs[0].released
    const b = central.released
    expect(a.K).toBe(b.K)
    const diff = (x: number[], y: number[]): number => Math.max(...x.map((v, i) => Math.abs(v - y[i]) / Math.max(1, Math.abs(y[i]))))
    // the two releases differ by their noise only: the shift's std is half * z * 2 sqrt(M) / n
    // per release (the 5 members' shares carry 5/4 of it); 6 sd of the difference of two
    const z = planGgmRelease(s, M, DEFAULT_ORDERS).z
    const sdShift = (4.5 * z * 2 * Math.sqrt(M)) / X.rows
    for (let j = 0; j < M; j++) expect(Math.abs(a.transform.shift[j] - b.transform.shift[j])).toBeLessThan(6 * sdShift * Math.sqrt(1 + 5 / 4))
    expect(diff(a.means.flat(), b.means.flat())).toBeLessThan(1e-2)
    expect(diff(a.weights, b.weights)).toBeLessThan(1e-2)
  })

  it('members run in one process share the post-processing only when their sums are equal', async () => {
    // runGgmRelease reuses the previous member's post-processing (src/learning/release.ts);
    // a member whose sums differ must get its own, equal to applying the steps directly.
    const s = settings()
    const plan = planGgmRelease(s, M, DEFAULT_ORDERS)
    const bump = (label: string, v: Float64Array): Float64Array => {
      if (label !== 'release:em:1') return v
      const out = Float64Array.from(v)
      out[0] += 25 // a component's noisy count, many grid points away
      return out
    }
    const direct = (bumped: boolean): string => {
      let state: ReleaseState = { transform: null, rows: 0, mixture: null }
      for (const step of plan.steps) {
        const v = stepContribution(plan, step, X, s.bounds, state)
        const n = noiseShare(plan, step, 1, SecretRng.forSimulation('memo', 0).fork(step.label))
        for (let i = 0; i < v.length; i++) v[i] += n[i]
        state = applyStep(plan, step, roundToGrid(plan, step, bumped ? bump(step.label, v) : v), state, s)
      }
      return JSON.stringify(releasedFile(plan, state, s, 1))
    }
    // the members meet at every step (as a network's sessions do), so their post-processing
    // runs step by step in member order: 0, 1 (equal sums), 2 (bumped), 3 (equal again)
    const waiting = new Map<string, Array<() => void>>()
    const barrier = (label: string): Promise<void> =>
      new Promise((res) => {
        const w = waiting.get(label) ?? []
        w.push(res)
        waiting.set(label, w)
        if (w.length === 4) for (const f of w) f()
      })
    const member = async (p: number, bumped: boolean): Promise<string> => {
      const out = await runGgmRelease({
        settings: s,
        data: X,
        aggregate: async (v, label) => {
          await barrier(label)
          return bumped ? bump(label, v) : v
        },
        noise: SecretRng.forSimulation('memo', 0),
        members: 1,
        ledger: PrivacyLedger.inMemory({ nodeId: `m${p}` }),
        releaseId: 'r',
      })
      return JSON.stringify(out.released)
    }
    const same = direct(false)
    const other = direct(true)
    expect(other).not.toBe(same)
    expect(await Promise.all([member(0, false), member(1, false), member(2, true), member(3, false)])).toEqual([same, same, other, same])
  })

  it('sums that differ by consensus error (1e-9 relative) give the same released file', () => {
    const s = settings()
    const plan = planGgmRelease(s, M, DEFAULT_ORDERS)
    const run = (jitter: number): string => {
      const rng = new Rng('jitter')
      let state: ReleaseState = { transform: null, rows: 0, mixture: null }
      for (const step of plan.steps) {
        const v = stepContribution(plan, step, X, s.bounds, state)
        const n = noiseShare(plan, step, 1, SecretRng.forSimulation('agree', step.label))
        for (let i = 0; i < v.length; i++) v[i] = (v[i] + n[i]) * (1 + jitter * rng.normal())
        state = applyStep(plan, step, roundToGrid(plan, step, v), state, s)
      }
      return JSON.stringify(releasedFile(plan, state, s, 3))
    }
    const ref = run(0)
    expect(run(1e-9)).toBe(ref)
    expect(loadReleasedGgm(JSON.parse(ref)).privacy.members).toBe(3)
  })
})
