/**
 * Writes the splits of the detection protocol (issue 16: 70/30, S = 10 non-iid nodes, seed
 * 2024) for the offline scikit-learn references (scripts/sklearn-references.py): per
 * dataset the pooled training row indices and the pooled test rows with their labels.
 *
 *   npx tsx sim/experiments/detection-splits.ts [--out reports/detection/splits.json]
 */
import '../../src/polyfills.js'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { DATASETS, DEFAULT_SEED, prepareAnomalyDataset } from './anomaly.js'

/** S of the detection protocol (issue 16), every dataset. */
export const DETECTION_NODES = 10

const out = process.argv.includes('--out') ? process.argv[process.argv.indexOf('--out') + 1] : 'reports/detection/splits.json'
const sets: Record<string, unknown> = {}
for (const name of DATASETS) {
  const ds = prepareAnomalyDataset(name, DEFAULT_SEED, 'global', DETECTION_NODES)
  sets[name] = {
    file: ds.file,
    train: Array.from(ds.split.trainAll),
    testNormal: Array.from(ds.split.testNormalAll),
    anomalies: Array.from(ds.split.anomalies),
  }
}
mkdirSync(dirname(out), { recursive: true })
writeFileSync(out, JSON.stringify({ seed: DEFAULT_SEED, S: DETECTION_NODES, testFraction: 0.3, sets }))
console.log(`written to ${out}`)
