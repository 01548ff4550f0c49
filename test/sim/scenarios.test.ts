import { describe, expect, it } from 'vitest'
import { namedScenarios } from '../../sim/cli.js'
import { ScenarioError, parseScenario, resolveScenario, scenarioVariants, applyVariant } from '../../sim/scenario.js'

describe('named scenarios', () => {
  it('every shipped scenario and each of its variants validates', () => {
    const names = namedScenarios()
    expect(names).toEqual(expect.arrayContaining(['demo', 'rounds-vs-s', 'auc-vs-epsilon', 'auc-vs-s', 'ggm-vs-vae', 'imbalance-pima', 'imbalance-wdbc', 'shuttle-1000']))
    for (const n of names) {
      const sc = resolveScenario(n)
      for (const v of scenarioVariants(sc)) expect(() => applyVariant(sc, v, n)).not.toThrow()
    }
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
