import { describe, expect, it } from 'vitest'
import { namedScenarios } from '../../sim/cli.js'
import { ScenarioError, parseScenario, resolveScenario, scenarioVariants, applyVariant } from '../../sim/scenario.js'
import { statsLength } from '../../src/models/ggm/index.js'

describe('named scenarios', () => {
  it('every shipped scenario and each of its variants validates', () => {
    const names = namedScenarios()
    expect(names).toEqual(expect.arrayContaining(['demo', 'rounds-vs-s', 'auc-vs-epsilon', 'auc-vs-s', 'ggm-vs-vae', 'imbalance-pima', 'imbalance-wdbc', 'shuttle-1000']))
    for (const n of names) {
      const sc = resolveScenario(n)
      for (const v of scenarioVariants(sc)) expect(() => applyVariant(sc, v, n)).not.toThrow()
    }
  })

  it('the EM-session replica carries the statistics vector of one shuttle-10000 iteration, in its chunks', () => {
    const em = resolveScenario('consensus-10000-em')
    const run = resolveScenario('shuttle-10000')
    // the model's statistics (ad_shuttle has 9 features) plus the loop's converged vote and member count (src/learning/index.ts)
    expect(em.vectorLength).toBe(statsLength(Number(run.training.model.hyper.K), 9) + 2)
    expect(em.nodes).toBe(run.nodes)
    expect(em.training.consensus.chunks).toBe(run.training.consensus.chunks)
    expect(em.training.consensus.tol).toBe(run.training.consensus.tol)
  })

  it('shuttle-10000-prior is shuttle-10000 with one pseudo-row on the private weights, nothing else', () => {
    const base = resolveScenario('shuttle-10000')
    const prior = resolveScenario('shuttle-10000-prior')
    expect(prior.training.model.hyper).toEqual({ ...base.training.model.hyper, weightPrior: 1 })
    const strip = (sc: typeof base): unknown => ({ ...sc, name: '', description: '', training: { ...sc.training, model: { ...sc.training.model, hyper: {} } } })
    expect(strip(prior)).toEqual(strip(base))
  })

  it('errors name the source and the field', () => {
    expect(() => parseScenario({ nodes: 3, training: { model: { kind: 'ggm' }, seed: 1 } }, 'x.yaml')).toThrow(/x\.yaml: dataset: required in train mode/)
    expect(() => parseScenario({ nodes: 0, dataset: { path: 'a.csv' }, training: { model: { kind: 'ggm' }, seed: 1 } }, 'x.yaml')).toThrow(ScenarioError)
    expect(() =>
      parseScenario({ nodes: 3, dataset: { path: 'a.csv' }, training: { model: { kind: 'ggm' }, seed: 1 }, faults: { crashes: [{ node: 5, atIteration: 1 }] } }, 'x.yaml'),
    ).toThrow(/faults\.crashes: node 5 does not exist/)
    expect(() => parseScenario({ nodes: 3, dataset: { path: 'a.csv' }, training: { model: { kind: 'ggm' }, seed: 1, consensus: { chunks: 0 } } }, 'x.yaml')).toThrow(
      /x\.yaml: training\.consensus\.chunks/,
    )
    expect(() => resolveScenario('no-such-scenario')).toThrow(/collab sim --list/)
  })
})
