/**
 * Issue 14 regression: `collab fit` with 10 nodes on a random 3-regular topology, GGM K 4,
 * on 249 benign WDBC rows sat at 0 % CPU forever for some seeds. Cause: each node applied
 * the drop rule Nbar_k < delta to its own consensus estimate of Nbar_k; a component that
 * collapses on one row has Nbar_k -> 1 = delta, the estimates straddle the threshold by
 * the consensus error, so nodes kept different components, summed vectors of different
 * lengths and waited for each other forever. The drop is now a vote (a count every node
 * rounds to the same integer), so every node keeps the same components.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { loadCsv } from '../../src/data/index.js'
import { parseTrainingConfig } from '../../src/learning/config.js'
import { selectRows } from '../../src/numeric/matrix.js'
import type { GgmModel } from '../../src/models/ggm/index.js'
import { fitInProcess } from '../../sim/fit.js'
import { parseScenario } from '../../sim/scenario.js'

const fixture = JSON.parse(readFileSync('test/learning/fixtures/wdbc-benign-249.json', 'utf8')) as { rows: number[] }
const X = selectRows(loadCsv('data/wdbc_sklearn.csv', { dropCols: ['target', 'diagnosis'] }).features, fixture.rows)

async function fit(seed: number, exact: boolean) {
  const config = parseTrainingConfig({ model: { kind: 'ggm', hyper: { K: 4 } }, seed, privacy: { monitor: false, release: { enabled: false } } }, 'test')
  const sc = parseScenario({ dataset: { path: 'data/wdbc_sklearn.csv' }, nodes: 10, topology: { kind: 'regular', degree: 3, seed: 2 }, training: config })
  return fitInProcess({ sc, config, X, seed, exact })
}

describe('collab fit on the issue-14 table (10 nodes, random 3-regular, GGM K 4)', () => {
  // seed 4 hung before the fix on this machine (the issue saw seed 1 hang on its build); both must finish
  it.each([1, 4])('seed %i: every node finishes, keeping the same components and the same global part', async (seed) => {
    const res = await fit(seed, false)
    const rel = (m: unknown) => (m as GgmModel).release()
    const first = rel(res.nodes[0].model)
    expect(res.nodes).toHaveLength(10)
    for (const n of res.nodes) {
      expect(n.converged).toBe(true)
      expect(n.iterations).toBe(res.nodes[0].iterations)
      const r = rel(n.model)
      expect(Array.from(r.ids)).toEqual(Array.from(first.ids))
      // nodes differ only by the consensus error (tol 1e-9), not by a different path
      for (let i = 0; i < r.means.data.length; i++) expect(Math.abs(r.means.data[i] - first.means.data[i])).toBeLessThan(1e-5)
    }
    // every drop was recorded in the trace, identically on every node
    const dropped = (n: (typeof res.nodes)[number]): number[] => n.records.map((r) => (r.trace?.dropped as number | undefined) ?? 0)
    expect(dropped(res.nodes[0]).reduce((a, b) => a + b, 0)).toBe(4 - first.K)
    for (const n of res.nodes) expect(dropped(n)).toEqual(dropped(res.nodes[0]))
  })
})
