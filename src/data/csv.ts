/**
 * Loading a node's private data from CSV: a header row, numeric feature columns and
 * optionally one 0/1 label column. Everything that can be wrong with a file is found
 * here, at the edge, and reported with the file, the row (1-based data row, plus the line
 * in the file) and the column, so the models downstream can assume clean finite input.
 */
import { readFileSync } from 'node:fs'
import { parse } from 'csv-parse/sync'
import { mat, type Mat } from '../numeric/matrix.js'

/** Anything wrong with input data; the message names file, row and column where known. */
export class DataError extends Error {
  override name = 'DataError'
}

export interface LoadCsvOptions {
  /** Name of the 0/1 label column (e.g. `anomaly`), excluded from the features. */
  labelCol?: string
  /** Columns to ignore entirely (identifiers, free text). */
  dropCols?: string[]
  /**
   * Accept columns that hold one value on every row (default true: the models pin a
   * network-constant feature, src/models/preprocess.ts; false refuses them, naming the column).
   */
  allowConstant?: boolean
  /** Accept fewer rows than feature columns (default false: no covariance can be estimated). */
  allowFewRows?: boolean
  /**
   * Missing-value policy (README "Data policy"): when given, missing cells (empty, NA, NaN,
   * null, none, ?, -) and the declared sentinel values become NaN, which the models then
   * handle (GGM: EM on the observed entries; model hyper `missing: true`). Without it,
   * missing cells are refused.
   */
  missing?: MissingPolicy
}

/** Which values mean "not measured". */
export interface MissingPolicy {
  /** Per column: values that code a missing measurement there (e.g. { insulin: [0] } in Pima, where 0 is recorded for "not measured"). */
  sentinels?: Record<string, readonly number[]>
}

export interface LoadedCsv {
  /** rows x columns.length, finite values. */
  features: Mat
  /** One 0/1 label per row when `labelCol` was given. */
  labels?: Int8Array
  /** Feature column names, in order. */
  columns: string[]
  /** Where the data came from (for messages). */
  source: string
  /** With a missing-value policy: missing values per feature column (NaN in `features`). */
  missing?: number[]
}

// Plain decimal or scientific notation; rejects '', 'NaN', 'Infinity', '0x1F', '1,5'.
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/
const MISSING = new Set(['', 'na', 'nan', 'null', 'none', '?', '-'])

/** Read and validate a CSV file (see `parseCsv`). */
export function loadCsv(path: string, opts: LoadCsvOptions = {}): LoadedCsv {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new DataError(`${path}: cannot read file (${(err as Error).message})`)
  }
  return parseCsv(text, path, opts)
}

/**
 * Parse CSV text (header row first). `source` names the input in error messages.
 * Errors (all DataError): ragged rows, non-numeric or non-finite cells, missing values,
 * labels other than 0/1, constant columns (only with allowConstant: false), fewer rows
 * than feature columns, no rows.
 *
 * Data policy (README "Data policy"): missing cells (empty, NA, NaN, null, none, ?, -) and
 * non-numeric cells are refused, naming file, row and column, unless a missing-value policy
 * is given (opts.missing): then they, and the declared sentinels, become NaN and the model
 * fits on the observed entries (an imputation a node chose alone would bias the network's
 * statistics silently). Constant columns are accepted and pinned by the models.
 */
export function parseCsv(text: string, source: string, opts: LoadCsvOptions = {}): LoadedCsv {
  let records: { record: string[]; info: { lines: number } }[]
  try {
    records = parse(text, {
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
      trim: true,
      bom: true,
    }) as unknown as { record: string[]; info: { lines: number } }[]
  } catch (err) {
    throw new DataError(`${source}: not valid CSV (${(err as Error).message})`)
  }
  if (records.length === 0) throw new DataError(`${source}: the file is empty; expected a header row and data rows`)
  const header = records[0].record
  const width = header.length
  const seen = new Set<string>()
  header.forEach((name, j) => {
    if (name === '') throw new DataError(`${source}: header column ${j + 1} has no name; name every column`)
    if (seen.has(name)) throw new DataError(`${source}: column name "${name}" appears twice in the header`)
    seen.add(name)
  })
  let labelIdx = -1
  if (opts.labelCol !== undefined) {
    labelIdx = header.indexOf(opts.labelCol)
    if (labelIdx < 0) {
      throw new DataError(`${source}: label column "${opts.labelCol}" not in header (${header.join(', ')})`)
    }
  }
  const drop = new Set(opts.dropCols ?? [])
  for (const d of drop) {
    if (!seen.has(d)) throw new DataError(`${source}: column "${d}" to drop is not in the header`)
  }
  const featureIdx: number[] = []
  header.forEach((name, j) => {
    if (j !== labelIdx && !drop.has(name)) featureIdx.push(j)
  })
  const M = featureIdx.length
  if (M === 0) throw new DataError(`${source}: no feature columns left after removing the label column`)

  const N = records.length - 1
  if (N === 0) throw new DataError(`${source}: no data rows after the header`)
  const sentinels = sentinelSets(opts.missing, featureIdx.map((j) => header[j]), source)
  const data = new Float64Array(N * M)
  const labels = labelIdx >= 0 ? new Int8Array(N) : undefined
  for (let i = 0; i < N; i++) {
    const { record, info } = records[i + 1]
    const where = `${source}: row ${i + 1} (line ${info.lines})`
    if (record.length !== width) {
      throw new DataError(`${where} has ${record.length} fields, the header has ${width}; fix the row's separators or quoting`)
    }
    for (let f = 0; f < M; f++) {
      const j = featureIdx[f]
      const raw = record[j]
      if (sentinels !== null && MISSING.has(raw.toLowerCase())) {
        data[i * M + f] = NaN
        continue
      }
      const v = numericCell(raw, `${where}, column "${header[j]}"`)
      data[i * M + f] = sentinels?.[f].has(v) === true ? NaN : v
    }
    if (labels !== undefined) {
      const v = record[labelIdx]
      if (v !== '0' && v !== '1') {
        throw new DataError(`${where}, column "${header[labelIdx]}": label "${v}" is not 0 or 1`)
      }
      labels[i] = v === '1' ? 1 : 0
    }
  }
  const columns = featureIdx.map((j) => header[j])
  const features = mat(N, M, data)
  if (!opts.allowFewRows && N < M) {
    throw new DataError(`${source}: ${N} rows but ${M} feature columns; a covariance needs at least as many rows as columns (add rows or drop columns)`)
  }
  if (opts.allowConstant === false) assertNoConstantColumns(features, columns, source)
  const out: LoadedCsv = { features, columns, source }
  if (labels !== undefined) out.labels = labels
  if (sentinels !== null) out.missing = checkMissing(features, columns, source)
  return out
}

/** Per feature column, the set of sentinel values (null: no missing-value policy). */
function sentinelSets(policy: MissingPolicy | undefined, columns: readonly string[], source: string): Set<number>[] | null {
  if (policy === undefined) return null
  const declared = policy.sentinels ?? {}
  for (const name of Object.keys(declared)) {
    if (!columns.includes(name)) throw new DataError(`${source}: missing-value sentinel for column "${name}", which is not a feature column (${columns.join(', ')})`)
  }
  return columns.map((c) => new Set(declared[c] ?? []))
}

/** Missing values per column; a row or a column with nothing observed is refused. */
function checkMissing(features: Mat, columns: readonly string[], source: string): number[] {
  const { rows, cols, data } = features
  const perColumn = new Array<number>(cols).fill(0)
  for (let i = 0; i < rows; i++) {
    let seen = 0
    for (let j = 0; j < cols; j++) {
      if (Number.isNaN(data[i * cols + j])) perColumn[j]++
      else seen++
    }
    if (seen === 0) throw new DataError(`${source}: row ${i + 1} has no observed value; drop it`)
  }
  perColumn.forEach((n, j) => {
    if (n === rows) throw new DataError(`${source}: column "${columns[j]}" is missing on every row; drop it (dropCols)`)
  })
  return perColumn
}

function numericCell(raw: string, where: string): number {
  if (MISSING.has(raw.toLowerCase())) {
    throw new DataError(`${where}: missing value "${raw}"; declare missing values (data.missing in the config, --missing on the command line) or impute or drop the row first`)
  }
  if (!NUMBER.test(raw)) {
    const lower = raw.toLowerCase()
    if (lower.includes('inf')) throw new DataError(`${where}: non-finite value "${raw}"`)
    throw new DataError(`${where}: "${raw}" is not a number (use plain decimal notation, '.' as decimal point)`)
  }
  const v = Number(raw)
  if (!Number.isFinite(v)) throw new DataError(`${where}: value "${raw}" overflows a double`)
  return v
}

/** DataError naming the first column whose values are all equal. */
export function assertNoConstantColumns(features: Mat, columns: readonly string[], source: string): void {
  const { rows, cols, data } = features
  if (rows === 0) return
  for (let j = 0; j < cols; j++) {
    const first = data[j]
    let constant = true
    for (let i = 1; i < rows && constant; i++) constant = data[i * cols + j] === first
    if (constant) {
      throw new DataError(
        `${source}: column "${columns[j] ?? j + 1}" is constant (all ${rows} rows equal ${first}); drop it (dropCols) — it makes covariances singular`,
      )
    }
  }
}
