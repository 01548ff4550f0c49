/**
 * The classifier as a registered model kind: hyper-parameters checked by the factory and by
 * the training config (full field paths), the consensus payload limit, save / load and the
 * shared-part export, the training-row layout (label last), public-range scaling.
 */
import { describe, expect, it } from 'vitest'
import { createExactAggregator } from '../../../src/learning/exact.js'
import { parseTrainingConfig, TrainingConfigError } from '../../../src/learning/config.js'
import { consensusPayloadLimit, createNodeModel, modelChargesLedger } from '../../../src/learning/models.js'
import {
  ClassifierConfigError,
  ClassifierStateError,
  createClassifier,
  isClassifier,
  loadClassifier,
  withLabels,
  type ClassifierModel,
} from '../../../src/models/classifier/index.js'
import { createModel, loadModel, modelKinds } from '../../../src/models/index.js'
import { Rng } from '../../../src/numeric/rng.js'

function labelled(n: number, M: number, seed: string) {
  const rng = new Rng(seed)
  const x = { rows: n, cols: M, data: rng.fillNormal(new Float64Array(n * M)) }
  const y = Int32Array.from({ length: n }, (_, i) => (x.data[i * M] - x.data[i * M + 1] > 0 ? 1 : 0))
  return { x, y, rows: withLabels(x, y) }
}

async function trained(hyper: Record<string, unknown>, rounds: number): Promise<{ model: ClassifierModel; data: ReturnType<typeof labelled> }> {
  const data = labelled(120, 4, 'model-test')
  const model = createClassifier({ seed: 4, ...hyper })
  const agg = createExactAggregator(1).forNode(0)
  await model.prepare(data.rows, agg)
  for (let r = 0; r < rounds; r++) model.optimize(await agg(model.localUpdate(data.rows), `r${r}`))
  return { model, data }
}

describe('classifier hyper-parameters', () => {
  it('the registry creates it; the factory names every problem', () => {
    expect(modelKinds()).toContain('classifier')
    expect(createModel('classifier', { seed: 1 }).kind).toBe('classifier')
    expect(() => createClassifier({ seed: 1, architecture: 'svm', classes: 3 })).toThrow(/classes: svm is a binary classifier/)
    expect(() => createClassifier({ seed: 1, dpSgd: { clip: 1, nodes: 2 } })).toThrow(/exactly one of noiseMultiplier and epsilon/)
    expect(() => createClassifier({ seed: 1, mixup: { epsilon: 1, delta: 1e-5, clip: 1 } })).toThrow(/aggregation: mixup noises the clipped local model/)
    expect(() => createClassifier({ seed: 1, architecure: 'mlp' })).toThrow(ClassifierConfigError)
  })

  it('the training config checks them with the full field path, and the DP plan against maxIterations', () => {
    const parse = (hyper: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      parseTrainingConfig({ model: { kind: 'classifier', hyper }, seed: 1, ...extra }, 'org.yaml', ['training'])
    expect(() => parse({ architecure: 'mlp' })).toThrow(/org.yaml: training.model.hyper.architecure: unknown CLASSIFIER hyper-parameter/)
    expect(() => parse({ learningRate: -1 })).toThrow(/training.model.hyper.learningRate/)
    expect(() => parse({ maxIter: 500, dpSgd: { clip: 1, noiseMultiplier: 1, nodes: 3 } }, { maxIterations: 100 })).toThrow(/training.maxIterations: the classifier's DP plan is 500 rounds/)
    // without maxIterations the loop's cap follows the model's own (+ 1 round for the stop vote)
    expect(parse({ maxIter: 500, dpSgd: { clip: 1, noiseMultiplier: 1, nodes: 3 } }).maxIterations).toBe(501)
    expect(() => parse({ maxIter: 500, dpSgd: { clip: 1, noiseMultiplier: 1, nodes: 3 } }, { maxIterations: 500 })).not.toThrow()
    expect(() => parse({ maxIter: 500 })).not.toThrow()
    expect(() => parseTrainingConfig({ model: { kind: 'forest' }, seed: 1 })).toThrow(TrainingConfigError)
    expect(modelChargesLedger(parse({ ldp: { scale: 1 } }))).toBe(true)
    expect(modelChargesLedger(parse({}))).toBe(false)
  })

  it('the consensus payload limit covers the statistics vector and the two votes', async () => {
    for (const hyper of [{ architecture: 'logistic' }, { architecture: 'mlp', hidden: [20, 10, 10], classes: 3 }]) {
      const config = parseTrainingConfig({ model: { kind: 'classifier', hyper }, seed: 2 })
      const data = labelled(40, 30, 'limit')
      const model = createNodeModel(config)
      await model.prepare(data.rows, createExactAggregator(1).forNode(0))
      expect(consensusPayloadLimit(config, 30, 5)).toBeGreaterThanOrEqual(model.localUpdate(data.rows).length + 2)
    }
  })
})

describe('classifier state', () => {
  it('save / load and exportGlobal / importGlobal give the same probabilities and scores', async () => {
    const { model, data } = await trained({ architecture: 'mlp', hidden: [5], optimizer: 'adam', learningRate: 0.05 }, 10)
    const p = model.probabilities(data.x)
    const again = loadModel(JSON.parse(JSON.stringify(model.save())))
    expect(isClassifier(again)).toBe(true)
    expect((again as ClassifierModel).probabilities(data.x)).toEqual(p)
    const peer = createClassifier({ seed: 4, architecture: 'mlp', hidden: [5], optimizer: 'adam', learningRate: 0.05 })
    peer.importGlobal(model.exportGlobal())
    expect(peer.iteration).toBe(10)
    expect(peer.probabilities(data.x)).toEqual(p)
    expect(() => loadClassifier({ ...model.save(), kind: 'vae' })).toThrow(ClassifierConfigError)
  })

  it('scores rows of features, or training rows with their label last (ignored); score = 1 - p(class 0)', async () => {
    const { model, data } = await trained({ learningRate: 0.5 }, 30)
    const p = model.probabilities(data.x)
    const s = model.score(data.x)
    for (let i = 0; i < data.x.rows; i++) expect(s[i]).toBeCloseTo(1 - p.data[2 * i], 15)
    expect(model.score(data.rows)).toEqual(s)
    expect(model.decisionThreshold).toBe(0.5)
    const pred = model.predict(data.x)
    let ok = 0
    for (let i = 0; i < pred.length; i++) if (pred[i] === data.y[i]) ok++
    expect(ok / pred.length).toBeGreaterThan(0.9)
    expect(() => model.score({ rows: 1, cols: 7, data: new Float64Array(7) })).toThrow(ClassifierStateError)
    // a label outside 0..classes-1 is refused with the row named
    const bad = withLabels(data.x, Int32Array.from(data.y, (v, i) => (i === 3 ? 2 : v)))
    await expect(createClassifier({ seed: 1 }).prepare(bad, createExactAggregator(1).forNode(0))).rejects.toThrow(/row 3: label 2 is not a class in 0..1/)
  })

  it('public bounds scale features to [0, 1] with no data-dependent statistic summed', async () => {
    const data = labelled(30, 2, 'bounds')
    const sums: string[] = []
    const exact = createExactAggregator(1).forNode(0)
    const model = createClassifier({ seed: 1, bounds: { lower: [-4, -8], upper: 4 } })
    await model.prepare(data.rows, (v, label, o) => {
      sums.push(`${label}:${v.length}`)
      return exact(v, label, o)
    })
    expect(sums).toEqual(['classifier/preprocess/count:1'])
    expect(Array.from(model.preprocessing?.shift ?? [])).toEqual([-4, -8])
    expect(Array.from(model.preprocessing?.scale ?? [])).toEqual([8, 12])
    await expect(createClassifier({ seed: 1, bounds: { lower: [0, 0, 0], upper: 1 } }).prepare(data.rows, exact)).rejects.toThrow(/bounds.lower has 3 values but the data have 2 features/)
  })
})
