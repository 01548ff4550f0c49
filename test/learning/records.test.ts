/**
 * A node's iteration records are kept compactly (src/learning/records.ts) and built on
 * read. Every record read back must equal the one the loop built (emitted in its
 * 'iteration' event), key order included, with the model's own trace entry; records of
 * other forms (a checkpoint read from JSON) are kept as given.
 */
import { describe, expect, it } from 'vitest'
import { loadCsv } from '../../src/data/index.js'
import { selectRows, type Mat } from '../../src/numeric/matrix.js'
import { SecretRng } from '../../src/numeric/secret-rng.js'
import { parseTrainingConfig, type IterationRecord, type TrainingEvent } from '../../src/learning/index.js'
import { createLedger, createPrivacyGuard } from '../../src/learning/privacy.js'
import { runNetwork } from '../../src/learning/network.js'
import { createNodeModel } from '../../src/learning/models.js'
import { RecordStore } from '../../src/learning/records.js'
import type { TraceEntry } from '../../src/models/model.js'

const bcw = loadCsv('data/ad_breastw.csv', { labelCol: 'anomaly' })
const normalRows = Array.from(bcw.labels as Int8Array, (y, i) => (y === 0 ? i : -1)).filter((i) => i >= 0)
const X = selectRows(bcw.features, normalRows)

function slices(data: Mat, S: number): Mat[] {
  return Array.from({ length: S }, (_, s) => selectRows(data, Array.from({ length: Math.ceil((data.rows - s) / S) }, (_, j) => s + j * S)))
}

function rec(i: number, exposure: IterationRecord['exposure'], trace: TraceEntry): IterationRecord {
  return { iteration: i, objective: i === 2 ? Number.NaN : -1.5 + i / 3, participants: 31, convergedVotes: i === 3 ? -0 : i / 31, exposure, aggregateMs: i * 0.25, iterationMs: 1e12 + i / 7, trace }
}

describe('compact iteration records', () => {
  it('reads back every record equal to the one stored, exposure flags and trace identity included', () => {
    const store = new RecordStore()
    const want: IterationRecord[] = []
    const flags: [boolean, boolean][] = [
      [false, false],
      [true, false],
      [true, true],
      [false, true],
    ]
    for (let i = 0; i < 40; i++) {
      const trace: TraceEntry = { iteration: i + 1, objective: -i, K: 3, glassoConverged: i % 2 === 0 }
      const [exposed, perturbed] = flags[i % 4]
      const r = rec(i, i % 5 === 0 ? null : { minEntropy: i / 10, maxEntropy: 1 + i / 9, exposed, perturbed }, trace)
      want.push(r)
      store.push(r)
    }
    const got = store.all()
    expect(got).toStrictEqual(want)
    for (let i = 0; i < want.length; i++) {
      expect(Object.keys(got[i])).toEqual(Object.keys(want[i]))
      expect(got[i].trace).toBe(want[i].trace)
      expect(store.at(i)).not.toBe(want[i]) // a copy: changing it changes nothing stored
    }
    expect(store.length).toBe(40)
  })

  it('keeps records of another form as given (a checkpoint read from JSON: NaN is null there)', () => {
    const store = new RecordStore()
    const trace: TraceEntry = { iteration: 1, objective: 0 }
    const fromJson = JSON.parse(JSON.stringify(rec(2, null, trace))) as IterationRecord
    expect(fromJson.objective).toBeNull()
    store.push(rec(1, null, trace))
    store.push(fromJson)
    expect(store.at(1)).toBe(fromJson)
    expect(store.all()).toStrictEqual([rec(1, null, trace), fromJson])
  })

  it('a trained network\'s results hold the records the loop built, exposures and perturbations included', async () => {
    const cfg = parseTrainingConfig({
      model: { kind: 'ggm', hyper: { K: 3, maxIter: 12 } },
      seed: 4,
      privacy: { monitor: true, l0: 40, release: { enabled: false } },
    })
    const S = 4
    const emitted = new Map<number, IterationRecord[]>()
    const net = await runNetwork({
      config: cfg,
      parts: slices(X, S),
      noise: (s) => SecretRng.forSimulation('records', s),
      aggregation: { kind: 'exact' },
      nodeParts: (s) => {
        const ledger = createLedger(cfg, `n${s}`, { now: () => new Date(0) })
        return { model: createNodeModel(cfg), ledger, guard: createPrivacyGuard(cfg, ledger) }
      },
      onEvent: (e: TrainingEvent) => {
        if (e.type !== 'iteration') return
        const list = emitted.get(e.nodeIndex) ?? []
        list.push(e.record)
        emitted.set(e.nodeIndex, list)
      },
    })
    let perturbed = 0
    for (const r of net.nodes) {
      const records = r.records
      expect(records.length).toBeGreaterThan(3)
      expect(records).toStrictEqual(emitted.get(r.nodeIndex))
      for (const [i, x] of records.entries()) expect(x.trace).toBe(r.model.trace[i])
      perturbed += records.filter((x) => x.exposure?.perturbed).length
      // the result's records are part of it wherever it is copied
      const { model: _model, ...rest } = r
      expect(structuredClone(rest).records).toStrictEqual(records.map((x) => structuredClone(x)))
    }
    expect(perturbed).toBeGreaterThan(0)
  })
})
