/**
 * Data policy (issue 14): a feature constant on the training rows is pinned (shift = its
 * mean, scale = 1, listed in preprocessing.pinned and saved), never refused: through
 * consensus its variance comes out as round-off of either sign. Checked on Pima's normal
 * rows with two constant columns appended (one 0, like ionosphere's second column, one
 * 1234.5 so sum x^2 and mean^2 cancel at 1.5e6), against the same fit without them.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadCsv } from '../../../src/data/csv.js'
import { rocAuc } from '../../../src/eval/metrics.js'
import { parseTrainingConfig } from '../../../src/learning/config.js'
import { fitExact, loadGgm, type GgmModel } from '../../../src/models/ggm/index.js'
import { networkPreprocessing, preprocessTraining } from '../../../src/models/preprocess.js'
import { exactNetwork } from '../../../src/models/ggm/exact.js'
import { mat, selectRows, type Mat } from '../../../src/numeric/matrix.js'
import { fitInProcess } from '../../../sim/fit.js'
import { parseScenario } from '../../../sim/scenario.js'
import { prepareAnomalyDataset, runGgm } from '../../../sim/experiments/anomaly.js'

const csv = loadCsv('data/ad_pima.csv', { labelCol: 'anomaly' })
const y = csv.labels!
const normal = Array.from(y, (v, i) => (v === 0 ? i : -1)).filter((i) => i >= 0)
const train = selectRows(csv.features, normal.filter((_, k) => k % 3 !== 0))
const testIdx = [...normal.filter((_, k) => k % 3 === 0), ...Array.from(y, (v, i) => (v === 1 ? i : -1)).filter((i) => i >= 0)]
const test = selectRows(csv.features, testIdx)
const testY = Int8Array.from(testIdx, (i) => y[i])
const CONST = [0, 1234.5]

/** x with the constant columns appended. */
function widen(x: Mat): Mat {
  const M = x.cols + CONST.length
  const out = mat(x.rows, M)
  for (let i = 0; i < x.rows; i++) {
    out.data.set(x.data.subarray(i * x.cols, (i + 1) * x.cols), i * M)
    out.data.set(CONST, i * M + x.cols)
  }
  return out
}

const hyper = { K: 2 }
const pinnedOf = (m: GgmModel): number[] => [...(m.preprocessing?.pinned ?? [])]

describe('constant features are pinned, not refused', () => {
  it('exact sums: the constant columns are pinned at their value with scale 1, training rows sit at 0 there', async () => {
    const x = widen(train)
    const pre = await networkPreprocessing(x, exactNetwork(1).aggregate(0))
    const M = train.cols
    expect(pre.pinned).toEqual([M, M + 1])
    expect(Array.from(pre.shift.subarray(M))).toEqual(CONST)
    expect(Array.from(pre.scale.subarray(M))).toEqual([1, 1])
    const z = preprocessTraining(x, pre).data
    for (let i = 0; i < z.rows; i++) for (let j = M; j < M + 2; j++) expect(z.data[i * z.cols + j]).toBe(0)
  })

  it('a node alone whose slice has a locally constant column trains (the local-only baseline)', async () => {
    const slice = selectRows(train, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])
    for (let i = 0; i < slice.rows; i++) slice.data[i * slice.cols + 3] = 42 // column 4 constant on this node only
    const [m] = await fitExact([slice], { ...hyper, K: 1, maxIter: 20, seed: 3 })
    expect(pinnedOf(m)).toEqual([3])
    expect(m.score(test).every(Number.isFinite)).toBe(true)
  })

  it('consensus (8 nodes): trains, records the pinned features in the saved model, and detects as well as without them', async () => {
    const config = parseTrainingConfig({ model: { kind: 'ggm', hyper }, seed: 5, privacy: { monitor: false, release: { enabled: false } } }, 'test')
    const sc = parseScenario({ dataset: { path: 'data/ad_pima.csv' }, nodes: 8, topology: { kind: 'regular', degree: 3, seed: 1 }, training: config })
    const wide = await fitInProcess({ sc, config, X: widen(train), seed: 5 })
    const plain = await fitInProcess({ sc, config, X: train, seed: 5 })
    for (const n of wide.nodes) expect(pinnedOf(n.model as GgmModel)).toEqual([train.cols, train.cols + 1])
    const m0 = wide.nodes[0].model as GgmModel
    const saved = JSON.parse(JSON.stringify(m0.save())) as unknown
    const loaded = loadGgm(saved)
    expect(pinnedOf(loaded)).toEqual([train.cols, train.cols + 1])
    const wideTest = widen(test)
    const scores = loaded.score(wideTest)
    expect(scores.every(Number.isFinite)).toBe(true)
    const aucWide = rocAuc(scores, testY)
    const aucPlain = rocAuc((plain.nodes[0].model as GgmModel).score(test), testY)
    expect(aucPlain).toBeGreaterThan(0.6)
    expect(Math.abs(aucWide - aucPlain)).toBeLessThan(0.02)
  })
})

describe('sim/experiments/anomaly.ts on an ionosphere-like table (a constant second column)', () => {
  it('runs local-only, CollabDict and centralised without crashing, each well above chance', async () => {
    const lines = readFileSync('data/ad_pima.csv', 'utf8').trim().split('\n')
    const text = lines.map((l, i) => {
      const c = l.split(',')
      return [c[0], i === 0 ? 'const0' : '0', ...c.slice(1)].join(',')
    })
    const file = join(mkdtempSync(join(tmpdir(), 'collab-iono-')), 'ionosphere-like.csv')
    writeFileSync(file, text.join('\n') + '\n')
    const row = await runGgm(prepareAnomalyDataset(file))
    expect(row.dims).toBe(9)
    for (const r of [row.localOnly, row.collabdict, row.centralised]) expect(r.roc).toBeGreaterThan(0.6)
  })
})
