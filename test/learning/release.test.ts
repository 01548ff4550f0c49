/**
 * The release does not touch training: with the same secret streams, a network trains
 * bit-for-bit the same models with the release on or off (so the nodes' own ROC-AUC is
 * equal), and the release that follows is one file for the whole network.
 */
import { describe, expect, it } from 'vitest'
import { loadCsv } from '../../src/data/csv.js'
import { rocAuc } from '../../src/eval/metrics.js'
import { parseTrainingConfig } from '../../src/learning/index.js'
import { runNetwork } from '../../src/learning/network.js'
import { createNodeModel } from '../../src/learning/models.js'
import { createLedger, createPrivacyGuard, createReleaser } from '../../src/learning/privacy.js'
import { selectRows, type Mat } from '../../src/numeric/matrix.js'
import { SecretRng } from '../../src/numeric/secret-rng.js'
import { scoreReleasedGgm } from '../../src/privacy/ggm-release.js'

const csv = loadCsv('data/ad_breastw.csv', { labelCol: 'anomaly' })
const labels = csv.labels as Int8Array
const normal = Array.from(labels, (y, i) => (y === 0 ? i : -1)).filter((i) => i >= 0)
const S = 4
const trainIdx = normal.filter((_, j) => j % 10 < 7)
const parts: Mat[] = Array.from({ length: S }, (_, s) => selectRows(csv.features, trainIdx.filter((_, j) => j % S === s)))
const testIdx = Array.from(labels, (_, i) => i).filter((i) => !trainIdx.includes(i))
const Xtest = selectRows(csv.features, testIdx)
const ytest = Float64Array.from(testIdx, (i) => labels[i])

async function train(release: boolean) {
  const config = parseTrainingConfig({
    model: { kind: 'ggm', hyper: { K: 2 } },
    seed: 9,
    privacy: { monitor: true, l0: 2, budget: 10, release: release ? { enabled: true, epsilon: 4, bounds: { lower: 1, upper: 10 } } : { enabled: false } },
  })
  return runNetwork({
    config,
    parts,
    noise: (s) => SecretRng.forSimulation('release-off-on', s).fork('learning'),
    aggregation: { kind: 'exact' },
    nodeParts: (s) => {
      const ledger = createLedger(config, `n${s}`)
      return {
        model: createNodeModel(config, { noise: SecretRng.forSimulation('release-off-on', s).fork('model') }),
        ledger,
        guard: createPrivacyGuard(config, ledger),
        releaser: release ? createReleaser(config, ledger, { members: S }) : undefined,
      }
    },
  })
}

describe('release on vs off', () => {
  it("the nodes' own models are identical, so their ROC-AUC is equal; the release is one file", async () => {
    const off = await train(false)
    const on = await train(true)
    for (let s = 0; s < S; s++) {
      expect(Array.from(on.nodes[s].model.exportGlobal().state)).toEqual(Array.from(off.nodes[s].model.exportGlobal().state))
      const a = rocAuc(on.nodes[s].model.score(Xtest), ytest)
      const b = rocAuc(off.nodes[s].model.score(Xtest), ytest)
      expect(a).toBe(b)
      expect(off.nodes[s].release).toBeNull()
    }
    const files = on.nodes.map((r) => (r.release !== null && 'released' in r.release ? r.release.released : null))
    expect(files.every((f) => f !== null && JSON.stringify(f) === JSON.stringify(files[0]))).toBe(true)
    const released = files[0]
    if (released === null) throw new Error('no release')
    // a usable model: it ranks malignant rows above held-out benign ones
    expect(rocAuc(scoreReleasedGgm(released, Xtest), ytest)).toBeGreaterThan(0.9)
  })
})
