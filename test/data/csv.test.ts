import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DataError, loadCsv, parseCsv } from '../../src/data/csv.js'

const dir = mkdtempSync(join(tmpdir(), 'collab-csv-'))
function file(name: string, text: string): string {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}

function failure(fn: () => unknown): DataError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(DataError)
    expect((err as Error).name).toBe('DataError')
    return err as DataError
  }
  throw new Error('expected a DataError')
}

describe('loadCsv', () => {
  it('reads the real ad_newthyroid file: 215 x 5 features, 65 anomalies, columns in order', () => {
    const d = loadCsv('data/ad_newthyroid.csv', { labelCol: 'anomaly' })
    expect(d.features.rows).toBe(215)
    expect(d.features.cols).toBe(5)
    expect(d.columns).toEqual(['RT3U', 'T4', 'T3', 'TSH', 'DTSH'])
    expect(d.labels!.reduce((a, b) => a + b, 0)).toBe(65)
    // first data row of the file: 107,10.1,2.2,0.9,2.7,0
    expect(Array.from(d.features.data.subarray(0, 5))).toEqual([107, 10.1, 2.2, 0.9, 2.7])
  })

  it('accepts quoted numbers, CRLF, a BOM and a trailing blank line; drops named columns', () => {
    const p = file('ok.csv', '\uFEFF"id","a","b","y"\r\n"x1",1,2.5e1,0\r\n"x2",-3,.5,1\r\n\r\n')
    const d = loadCsv(p, { labelCol: 'y', dropCols: ['id'] })
    expect(d.columns).toEqual(['a', 'b'])
    expect(Array.from(d.features.data)).toEqual([1, 25, -3, 0.5])
    expect(Array.from(d.labels!)).toEqual([0, 1])
  })

  it('ragged row: names file, row, line and field counts', () => {
    const p = file('ragged.csv', 'a,b,c\n1,2,3\n4,5\n')
    const e = failure(() => loadCsv(p))
    expect(e.message).toContain(p)
    expect(e.message).toContain('row 2 (line 3)')
    expect(e.message).toContain('2 fields, the header has 3')
  })

  it('non-numeric cell: names file, row and column', () => {
    const p = file('text.csv', 'a,b\n1,2\n3,abc\n5,6\n')
    const e = failure(() => loadCsv(p))
    expect(e.message).toMatch(new RegExp(`${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: row 2 \\(line 3\\), column "b"`))
    expect(e.message).toContain('"abc" is not a number')
  })

  it('NaN, empty and non-finite cells are errors naming row and column', () => {
    expect(failure(() => parseCsv('a,b\n1,NaN\n2,3\n', 'n.csv')).message).toContain('n.csv: row 1 (line 2), column "b": missing value "NaN"')
    expect(failure(() => parseCsv('a,b\n1,2\n,3\n', 'e.csv')).message).toContain('e.csv: row 2 (line 3), column "a": missing value ""')
    expect(failure(() => parseCsv('a,b\n1,2\n3,-Infinity\n', 'i.csv')).message).toContain('column "b": non-finite')
    expect(failure(() => parseCsv('a,b\n1,2\n3,1e999\n', 'o.csv')).message).toContain('overflows')
  })

  it('constant column: accepted by default (the models pin it); allowConstant: false refuses it, naming the column', () => {
    const text = 'a,b,c\n1,7,3\n2,7,1\n5,7,0\n'
    expect(parseCsv(text, 'c.csv').features.cols).toBe(3)
    expect(failure(() => parseCsv(text, 'c.csv', { allowConstant: false })).message).toContain('c.csv: column "b" is constant (all 3 rows equal 7)')
  })

  it('fewer rows than dimensions is an error', () => {
    const e = failure(() => parseCsv('a,b,c\n1,2,3\n4,5,7\n', 'few.csv'))
    expect(e.message).toContain('few.csv: 2 rows but 3 feature columns')
  })

  it('labels must be 0/1 and the label column must exist', () => {
    expect(failure(() => parseCsv('a,b,y\n1,2,0\n3,4,2\n5,1,0\n', 'l.csv', { labelCol: 'y' })).message).toContain(
      'l.csv: row 2 (line 3), column "y": label "2" is not 0 or 1',
    )
    expect(failure(() => parseCsv('a,b\n1,2\n', 'l.csv', { labelCol: 'anomaly' })).message).toContain('label column "anomaly" not in header')
  })

  it('missing file and empty file are DataErrors naming the path', () => {
    expect(failure(() => loadCsv(join(dir, 'absent.csv'))).message).toContain('absent.csv: cannot read file')
    expect(failure(() => loadCsv(file('empty.csv', ''))).message).toContain('empty.csv: the file is empty')
  })
})
