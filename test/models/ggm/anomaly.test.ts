/**
 * The collaborative anomaly-detection property on the smallest benchmark set (the full
 * five-dataset table is sim/experiments/anomaly.ts): with the same hyper-parameters,
 * CollabDict beats the mean local-only model and stays within 0.01 AUC of centralised.
 */
import { describe, expect, it } from 'vitest'
import { checks, EXPERIMENT_HYPER, prepareAnomalyDataset, runGgm } from '../../../sim/experiments/anomaly.js'

describe('collaborative anomaly detection (ad_newthyroid, S = 10, non-iid uneven split)', () => {
  it('CollabDict > mean local-only ROC-AUC and >= centralised - 0.01', async () => {
    const ds = prepareAnomalyDataset('newthyroid')
    expect(ds.S).toBe(10)
    const row = await runGgm(ds, EXPERIMENT_HYPER)
    expect(row.localOnly.rocPerNode.length).toBe(10)
    expect(checks(row)).toEqual({ withinCentralised: true, aboveLocalOnly: true })
  })
})
