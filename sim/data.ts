/**
 * The simulated organisations' data: load the scenario's CSV, spread the normal rows over
 * S nodes (iid, uneven, or non-iid by pattern), hold out a share of each node's normal
 * rows for scoring, and keep every anomalous row for scoring only (never trained on).
 */
import { anomalySplit, loadCsv, splitIid, splitNonIid, splitUneven, DataError } from '../src/data/index.js'
import { withLabels } from '../src/models/classifier/index.js'
import { selectRows, type Mat } from '../src/numeric/matrix.js'
import type { Rng } from '../src/numeric/rng.js'
import { existsSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { repoRoot, type Scenario } from './scenario.js'

export interface NodeData {
  /** Rows the node trains on (normal only). */
  train: Mat
  /** The node's held-out normal rows. */
  testNormal: Mat
}

export interface SimData {
  source: string
  columns: string[]
  nodes: NodeData[]
  /** Every anomalous row (scored by every node). */
  anomalies: Mat
  /** All training rows pooled (the centralised reference). */
  trainAll: Mat
  /** Rows in the file, normal rows, anomalous rows. */
  counts: { rows: number; normal: number; anomalies: number }
  /** With a missing-value policy: missing values per feature column in the file. */
  missing?: number[]
}

/** Hold out `fraction` of each part (at least one row, keeping at least one for training). */
function holdOut(parts: Int32Array[], fraction: number, rng: Rng): { train: Int32Array; testNormal: Int32Array }[] {
  return parts.map((part) => {
    const rows = Array.from(part)
    rng.shuffle(rows)
    const nTest = Math.min(rows.length - 1, Math.max(1, Math.round(fraction * rows.length)))
    return { testNormal: Int32Array.from(rows.slice(0, nTest)), train: Int32Array.from(rows.slice(nTest)) }
  })
}

export function loadSimData(sc: Scenario, rng: Rng): SimData {
  const d = sc.dataset
  if (d === undefined) throw new DataError('the scenario has no dataset (consensus mode needs none; training does)')
  const path = !isAbsolute(d.path) && !existsSync(d.path) && existsSync(join(repoRoot(), d.path)) ? join(repoRoot(), d.path) : d.path
  const csv = loadCsv(path, { labelCol: d.labelCol, dropCols: d.dropCols, missing: d.missing })
  const labels = csv.labels as Int8Array
  // Anomaly = the scenario's positive class.
  const y = Int8Array.from(labels, (v) => (v === d.positive ? 1 : 0))
  if (sc.training.model.kind === 'classifier') return classifierData(sc, csv.features, y, csv.columns, rng)
  const normal: number[] = []
  const anomalous: number[] = []
  for (let i = 0; i < y.length; i++) (y[i] === 1 ? anomalous : normal).push(i)
  if (normal.length < sc.nodes * 2) {
    throw new DataError(`${d.path}: ${normal.length} normal rows cannot give ${sc.nodes} nodes two rows each (one to train, one to test); use fewer nodes`)
  }
  let split: { train: Int32Array; testNormal: Int32Array }[]
  const srng = rng.fork('split')
  if (d.split.kind === 'non-iid') {
    const s = anomalySplit(csv.features, y, sc.nodes, srng, {
      patterns: d.split.patterns,
      concentration: d.split.concentration,
      sizeConcentration: d.split.sizeConcentration,
      minRows: d.split.minRows,
      testFraction: d.testFraction,
    })
    split = s.nodes
  } else {
    const idx = Int32Array.from(normal)
    const parts =
      d.split.kind === 'iid'
        ? splitIid(idx.length, sc.nodes, srng)
        : splitUneven(idx.length, sc.nodes, srng, { minRows: d.split.minRows, concentration: d.split.sizeConcentration })
    split = holdOut(
      parts.map((p) => Int32Array.from(p, (i) => idx[i])),
      d.testFraction,
      srng.fork('hold-out'),
    )
  }
  const nodes = split.map((p) => ({ train: selectRows(csv.features, p.train), testNormal: selectRows(csv.features, p.testNormal) }))
  const trainAll = selectRows(
    csv.features,
    split.flatMap((p) => Array.from(p.train)),
  )
  return {
    source: d.path,
    columns: csv.columns,
    nodes,
    anomalies: selectRows(csv.features, anomalous),
    trainAll,
    counts: { rows: y.length, normal: normal.length, anomalies: anomalous.length },
    ...(csv.missing !== undefined ? { missing: csv.missing } : {}),
  }
}

/**
 * A classifier's data: every row of both classes is training data. A stratified
 * `testFraction` of each class is held out and pooled (every node scores the same test
 * set: the model is shared); the rest is spread over the nodes (iid, uneven sizes, or
 * non-iid by pattern), each node's rows carrying the 0/1 label as their last column.
 * `testNormal` holds the held-out class-0 rows, `anomalies` the held-out class-1 rows.
 */
function classifierData(sc: Scenario, features: Mat, y: Int8Array, columns: string[], rng: Rng): SimData {
  const d = sc.dataset as NonNullable<Scenario['dataset']>
  const test: number[] = []
  const train: number[] = []
  for (const c of [0, 1]) {
    const idx = Array.from(y.keys()).filter((i) => y[i] === c)
    rng.fork(`classifier/hold-out/${c}`).shuffle(idx)
    const nTest = Math.round(d.testFraction * idx.length)
    test.push(...idx.slice(0, nTest))
    train.push(...idx.slice(nTest))
  }
  if (train.length < sc.nodes) throw new DataError(`${d.path}: ${train.length} training rows cannot give ${sc.nodes} nodes one row each; use fewer nodes`)
  const srng = rng.fork('split')
  const trainX = selectRows(features, train)
  const parts =
    d.split.kind === 'iid'
      ? splitIid(train.length, sc.nodes, srng)
      : d.split.kind === 'uneven'
        ? splitUneven(train.length, sc.nodes, srng, { minRows: Math.min(d.split.minRows, Math.floor(train.length / sc.nodes)), concentration: d.split.sizeConcentration })
        : splitNonIid(trainX, sc.nodes, srng, { patterns: d.split.patterns, concentration: d.split.concentration, sizeConcentration: d.split.sizeConcentration, minRows: d.split.minRows }).parts
  const labelled = withLabels(features, y)
  const trainAll = selectRows(labelled, train)
  const testNormal = selectRows(features, test.filter((i) => y[i] === 0))
  const anomalies = selectRows(features, test.filter((i) => y[i] === 1))
  return {
    source: d.path,
    columns,
    nodes: parts.map((p) => ({ train: selectRows(trainAll, p), testNormal })),
    anomalies,
    trainAll,
    counts: { rows: y.length, normal: y.filter((v) => v === 0).length, anomalies: y.filter((v) => v === 1).length },
  }
}
