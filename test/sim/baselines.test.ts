/**
 * Honest baselines (issue 14): the demo's "local 0.962" was the mean of 4 of 31 organisations,
 * the other 27 failing unseen (a column constant on their few rows stopped their local fit).
 * Now a locally constant column is pinned, so every local fit trains, and the summary says
 * over how many nodes each mean was taken and why any failed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runScenario } from '../../sim/run.js'
import { summaryText } from '../../sim/cli.js'
import { describeSummary, summarise } from '../../sim/evaluate.js'
import { parseScenario } from '../../sim/scenario.js'
import { loadSimData } from '../../sim/data.js'
import { Rng } from '../../src/numeric/rng.js'

describe('local-only baseline on the demo split (BCW, non-iid, 31 small nodes)', () => {
  it('every node fits, including those whose slice has a constant column; the summary line gives the counts', async () => {
    const sc = parseScenario({
      name: 'baselines',
      seed: 1,
      dataset: { path: 'data/ad_breastw.csv', labelCol: 'anomaly', split: { kind: 'non-iid', minRows: 6 }, testFraction: 0.3 },
      nodes: 31,
      topology: { kind: 'cwic' },
      transport: 'exact',
      training: { model: { kind: 'ggm', hyper: { K: 2, rho: 1, lambda0: 60, radius: 4, maxIter: 3 } }, seed: 7, privacy: { monitor: false, release: { enabled: false } } },
      evaluate: { local: true, centralised: false },
    })
    const out = await runScenario(sc)
    const local = out.report.auc.local!
    // the precondition the old code failed on: most nodes' training slices have a constant column
    const data = loadSimData(sc, new Rng(sc.seed).fork('data'))
    const hasConstant = data.nodes.filter(({ train: t }) => Array.from({ length: t.cols }, (_, j) => j).some((j) => Array.from({ length: t.rows }, (_, i) => t.data[i * t.cols + j]).every((v) => v === t.data[j])))
    expect(hasConstant.length).toBeGreaterThan(20)
    expect(out.report.nodes.filter((n) => n.localRocAuc !== null)).toHaveLength(31)
    expect(local.failed).toBe(0)
    expect(local.nodes).toBe(31)
    expect(local.rocAuc).toBeGreaterThan(0.9)
    expect(summaryText(out.report, 0, 'r.html')).toContain(`local ${local.rocAuc.toFixed(3)} over 31 of 31`)
  })

  it('a failed node is counted with its reason, never averaged in or dropped', () => {
    const ok = { node: 0, rocAuc: 0.9, prAuc: 0.8 }
    const s = summarise([ok, { ...ok, node: 1, rocAuc: 0.7 }], [
      { node: 2, reason: 'PreprocessError: x' },
      { node: 3, reason: 'PreprocessError: x' },
      { node: 4, reason: 'GgmError: y' },
    ])
    expect([s.nodes, s.failed, s.rocAuc]).toEqual([2, 3, 0.8])
    expect(describeSummary(s)).toBe('0.800 over 2 of 5; 3 failed: PreprocessError: x (2); GgmError: y (1)')
  })

  it('a feature constant across the whole network is pinned, listed by name in the report and the summary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pinned-'))
    try {
      const lines = readFileSync('data/ad_breastw.csv', 'utf8').trim().split('\n')
      const file = join(dir, 'breastw-site.csv')
      writeFileSync(file, [`site_code,${lines[0]}`, ...lines.slice(1).map((l) => `7,${l}`)].join('\n') + '\n')
      const sc = parseScenario({
        name: 'pinned',
        seed: 1,
        dataset: { path: file, labelCol: 'anomaly', split: { kind: 'iid' }, testFraction: 0.3 },
        nodes: 5,
        topology: { kind: 'ring' },
        transport: 'exact',
        training: { model: { kind: 'ggm', hyper: { K: 2, rho: 1, lambda0: 60, radius: 4, maxIter: 2 } }, seed: 7, privacy: { monitor: false, release: { enabled: false } } },
        evaluate: { local: false, centralised: false },
      })
      const out = await runScenario(sc)
      expect(out.report.data.pinned).toEqual(['site_code'])
      expect(summaryText(out.report, 0, 'r.html')).toContain('pinned (scored as deviations from their value): site_code')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
