/**
 * `collab experiment global-dp | imbalance-dp | ldp-vs-dpsgd --quick --json`: in-process
 * over the real command tree. Each prints the report JSON holding the tables and
 * writes report.json and a self-contained report.html with its charts; the privacy figures
 * in the tables are the ones the accountant gives for the settings (independent check).
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { runCommand } from '../../cli/errors.js'
import { createProgram } from '../../cli/program.js'
import { DEFAULT_ORDERS, rdpToDp, subsampledGaussianRdp } from '../../src/privacy/rdp.js'
import type { GlobalDpResult } from '../../sim/experiments/classifier/global-dp.js'
import type { ImbalanceResult } from '../../sim/experiments/classifier/imbalance-dp.js'
import type { LdpResult } from '../../sim/experiments/classifier/ldp-vs-dpsgd.js'
import { axisLabels } from '../helpers/svg.js'

const root = mkdtempSync(join(tmpdir(), 'collab-experiments-'))

async function experiment<T>(name: string): Promise<{ json: T; dir: string; err: string }> {
  const dir = join(root, name)
  let out = ''
  let err = ''
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true))
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true))
  process.exitCode = undefined
  try {
    await runCommand(createProgram(), ['experiment', name, '--quick', '--json', '--out', dir])
  } finally {
    o.mockRestore()
    e.mockRestore()
  }
  expect(process.exitCode ?? 0, err).toBe(0)
  return { json: JSON.parse(out) as T, dir, err }
}

function expectReport(dir: string, charts: number): void {
  expect(existsSync(join(dir, 'report.json'))).toBe(true)
  const html = readFileSync(join(dir, 'report.html'), 'utf8')
  const svgs = [...html.matchAll(/<svg[\s\S]*?<\/svg>/g)].map((m) => m[0])
  expect(svgs.length).toBe(charts)
  // every chart has two labelled axes; the page loads nothing from outside
  for (const svg of svgs) for (const labels of axisLabels(svg)) expect(labels.length).toBeGreaterThanOrEqual(2)
  expect(html).not.toMatch(/<script|<link|(src|href)="https?:/)
}

const spread = expect.objectContaining({ mean: expect.any(Number), sd: expect.any(Number), min: expect.any(Number), max: expect.any(Number), values: expect.any(Array) })

describe('collab experiment ... --quick --json', () => {
  it('global-dp: accuracy and loss vs epsilon for V in {5, 10, 20}, accuracy vs rounds at epsilon 25 against non-private and centralised', async () => {
    const { json, dir } = await experiment<GlobalDpResult>('global-dp')
    expect(json.experiment).toBe('global-dp')
    const V = [...new Set(json.accuracyVsEpsilon.map((r) => r.V))]
    expect(V).toEqual([5, 10, 20])
    for (const v of V) {
      const mine = json.accuracyVsEpsilon.filter((r) => r.V === v)
      expect(mine.filter((r) => r.noise === 'none')).toHaveLength(1)
      for (const noise of ['per-node', 'distributed']) expect(mine.filter((r) => r.noise === noise).map((r) => r.epsilon)).toEqual(json.settings.epsilons)
      for (const r of mine) expect(r).toMatchObject({ accuracy: spread, trainLoss: spread, testLoss: spread })
    }
    // the ledger holds the T-round Gaussian cost: alpha eps^2 / (2 c^2 T), converted at delta
    const s = json.settings
    const c2 = 2 * Math.log(1.25 / s.delta)
    for (const r of json.accuracyVsEpsilon.filter((x) => x.noise !== 'none')) {
      const e = r.epsilon as number
      const rdp = DEFAULT_ORDERS.map((a) => (a * e * e) / (2 * c2 * s.rounds))
      expect(r.ledgerEpsilon).toBeCloseTo(rdpToDp(DEFAULT_ORDERS, rdp, s.delta).epsilon, 9)
    }
    expect(new Set(json.accuracyVsEpochs.map((r) => r.method))).toEqual(new Set(['mix-up (per-node)', 'non-private', 'centralised']))
    expect(json.accuracyVsEpochs.map((r) => r.T)).toEqual(s.epochs.flatMap((t) => [t, t, t]))
    expect(json.tables.accuracyVsEpsilon).toMatch(/^\| V \| noise \| epsilon \(paper\) \| accuracy/)
    expect(json.tables.accuracyVsEpochs).toMatch(/centralised/)
    expectReport(dir, 3)
  })

  it('imbalance-dp: per-class precision, recall, specificity, F1, G-mean and IBA for Pima and WDBC, non-private and epsilon in {8, 2, 1}', async () => {
    const { json, dir } = await experiment<ImbalanceResult>('imbalance-dp')
    for (const name of ['pima', 'wdbc']) {
      const main = json.rows.filter((r) => r.dataset === name && r.inputs === 'range' && r.optimizer === 'sgd')
      expect(main.map((r) => r.epsilon)).toEqual([null, 8, 2, 1])
      // the ablations: z-scored inputs, and Adam
      expect(json.rows.filter((r) => r.dataset === name && r.inputs === 'standardised').map((r) => r.epsilon)).toEqual([null, 1])
      expect(json.rows.filter((r) => r.dataset === name && r.optimizer === 'adam').map((r) => r.epsilon)).toEqual([null, 8, 1])
      for (const r of main) {
        expect(r.classes.map((c) => c.label)).toEqual([0, 1])
        for (const c of r.classes) expect(c).toMatchObject({ precision: spread, recall: spread, specificity: spread, f1: spread, gMean: spread, iba: spread })
        if (r.epsilon !== null) {
          // every node's ledger holds the calibrated training: (epsilon, 1e-4) as targeted
          expect(r.ledgerEpsilon).toBeLessThanOrEqual(r.epsilon + 1e-9)
          expect(r.ledgerEpsilon).toBeGreaterThan(r.epsilon - 1e-3)
          const want = rdpToDp(DEFAULT_ORDERS, subsampledGaussianRdp(r.sampleRate, r.noiseMultiplier as number, r.steps), json.settings.delta).epsilon
          expect(r.ledgerEpsilon).toBeCloseTo(want, 9)
        }
      }
      expect(json.tables[name]).toMatch(/precision \| recall \| specificity \| F1 \| G-mean \| IBA/)
    }
    // one gap row per figure the paper prints for the non-private models (Pima 12, WDBC 8)
    expect(json.paperGap).toHaveLength(20)
    expectReport(dir, 4)
  })

  it('ldp-vs-dpsgd: Laplace inputs and DP-SGD at the same beta against non-private, with each mechanism\'s epsilon', async () => {
    const { json, dir } = await experiment<LdpResult>('ldp-vs-dpsgd')
    for (const name of json.settings.datasets) {
      const mine = json.rows.filter((r) => r.dataset === name)
      expect(mine.map((r) => [r.mechanism, r.beta])).toEqual([
        ['non-private', null],
        ...json.settings.betas.map((b) => ['local DP (Laplace inputs)', b]),
        ...json.settings.betas.map((b) => ['DP-SGD', b]),
      ])
      const M = name === 'bcw' ? 9 : name === 'pima' ? 8 : 30
      for (const r of mine.filter((x) => x.mechanism === 'local DP (Laplace inputs)')) expect(r.pureEpsilon).toBeCloseTo((M * 2 * json.settings.ldpClip) / (r.beta as number), 12)
      // the DP-SGD cost falls as beta grows; local DP's pure epsilon too
      const dp = mine.filter((x) => x.mechanism === 'DP-SGD').map((x) => x.ledgerEpsilon)
      expect(dp[0]).toBeGreaterThan(dp[dp.length - 1])
      expect(json.tables[name]).toMatch(/local DP \(Laplace inputs\)/)
    }
    expectReport(dir, json.settings.datasets.length)
  })
})
