/**
 * `collab evaluate`: the detection protocol on a labelled CSV, checked against references
 * computed here independently on the same split: the pooled GGM row is the centralised fit
 * on the pooled training rows, the CollabDict row S exact-sum nodes, local-only each node alone.
 */
import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { runCommand } from '../../cli/errors.js'
import { createProgram } from '../../cli/program.js'
import { prepareAnomalyFile, evaluatePerNode, fitLocalOnly } from '../../sim/experiments/anomaly.js'
import type { DetectionResult } from '../../sim/experiments/detection.js'
import { fitCentralised, fitExact } from '../../src/models/ggm/index.js'

async function collab(args: string[]): Promise<{ out: string; code: number }> {
  let out = ''
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true))
  const e = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
  process.exitCode = undefined
  try {
    await runCommand(createProgram(), args)
  } finally {
    o.mockRestore()
    e.mockRestore()
  }
  const code = Number(process.exitCode ?? 0)
  process.exitCode = undefined
  return { out, code }
}

afterEach(() => vi.restoreAllMocks())

describe('collab evaluate', () => {
  it('prints local-only, CollabDict GGM, pooled and DP rows equal to independent fits on the same split', async () => {
    const { out, code } = await collab(['evaluate', '--data', 'data/ad_newthyroid.csv', '--label-col', 'anomaly', '--no-vae', '--json', '--seed', '7'])
    expect(code).toBe(0)
    const r = JSON.parse(out) as DetectionResult
    expect(r.table.map((t) => t.method)).toEqual(['local-only (GGM)', 'CollabDict GGM', 'pooled GGM', 'DP release (eps 4)'])
    const ds = prepareAnomalyFile('data/ad_newthyroid.csv', 'anomaly', { seed: 7, nodes: 10 })
    expect(r.S).toBe(10)
    expect(r.testNormal + r.anomalies).toBe(ds.tests[0].y.length)
    const pooled = await fitCentralised(ds.pooled, { seed: 7 })
    expect(r.table[2].roc).toBeCloseTo(evaluatePerNode(ds, (_s, X) => pooled.score(X)).roc, 12)
    const nodes = await fitExact(ds.parts, { seed: 7 })
    expect(r.table[1].roc).toBeCloseTo(evaluatePerNode(ds, (s, X) => nodes[s].score(X)).roc, 12)
    const local = await fitLocalOnly(ds.parts[0], { seed: 7 })
    expect(r.localOnlyPerNode[0]).toBeCloseTo(evaluatePerNode(ds, (_s, X) => local.model.score(local.transform(X))).rocPerNode[0], 12)
    for (const t of r.table) {
      expect(t.roc).toBeGreaterThan(0.5)
      expect(t.pr).toBeGreaterThan(0.5)
    }
  })

  it('names a missing file and a missing label column', async () => {
    expect((await collab(['evaluate', '--data', 'data/none.csv', '--label-col', 'anomaly'])).code).toBe(1)
    expect((await collab(['evaluate', '--data', 'data/ad_newthyroid.csv', '--label-col', 'nope', '--no-vae'])).code).toBe(1)
    expect((await collab(['evaluate', '--data', 'data/ad_newthyroid.csv'])).code).toBe(2)
  })

  it('--missing: Pima with its data dictionary beats the mean local-only model and the pooled scikit-learn GMM (issue 16)', async () => {
    const spec = 'glucose=0,pressure=0,triceps=0,insulin=0,mass=0'
    const { out, code } = await collab(['evaluate', '--data', 'data/ad_pima.csv', '--label-col', 'anomaly', '--no-vae', '--json', '--missing', spec])
    expect(code).toBe(0)
    const r = JSON.parse(out) as DetectionResult
    const roc = (m: string): number => r.table.find((t) => t.method.startsWith(m))!.roc
    // the same fit computed here: exact sums over the same split with the zeros as missing values
    const ds = prepareAnomalyFile('data/ad_pima.csv', 'anomaly', { nodes: 10, missing: { sentinels: { glucose: [0], pressure: [0], triceps: [0], insulin: [0], mass: [0] } } })
    expect(ds.missing).toBe(true)
    const nodes = await fitExact(ds.parts, { seed: 2024, missing: true })
    expect(roc('CollabDict GGM')).toBeCloseTo(evaluatePerNode(ds, (s, X) => nodes[s].score(X)).roc, 12)
    const golden = JSON.parse(readFileSync('test/golden/detection_sklearn.json', 'utf8')) as { sets: { pima: { gmm: { roc: number } } } }
    expect(roc('CollabDict GGM')).toBeGreaterThan(roc('local-only'))
    expect(roc('CollabDict GGM')).toBeGreaterThanOrEqual(golden.sets.pima.gmm.roc - 0.01)
  })
})
