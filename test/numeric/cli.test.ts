import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { runCommand } from '../../cli/errors.js'
import { registerGlassoCommand } from '../../cli/glasso.js'
import { readGolden } from './data.js'

interface GlassoGolden {
  alpha: number
  S: number[][]
  precision: number[][]
}

async function runCli(args: string[]): Promise<{ out: string; err: string; code: number | undefined }> {
  let out = ''
  let err = ''
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true))
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true))
  process.exitCode = undefined
  try {
    const program = new Command('collab')
    registerGlassoCommand(program)
    await runCommand(program, ['glasso', ...args])
  } finally {
    o.mockRestore()
    e.mockRestore()
  }
  const code = process.exitCode as number | undefined
  process.exitCode = undefined
  return { out, err, code }
}

describe('collab glasso CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'collab-glasso-'))
  const g = readGolden<GlassoGolden>('glasso_thy_a0.2.json')
  afterEach(() => vi.restoreAllMocks())

  it('prints the precision, iterations, gap and seconds as JSON for both file shapes', async () => {
    for (const [name, body] of [
      ['rows.json', g.S],
      ['obj.json', { S: g.S }],
    ] as const) {
      const file = join(dir, name)
      writeFileSync(file, JSON.stringify(body))
      const { out, code } = await runCli(['--cov', file, '--alpha', String(g.alpha), '--tol', '1e-10', '--json'])
      expect(code).toBeUndefined()
      const r = JSON.parse(out) as { precision: number[][]; iterations: number; gap: number; seconds: number }
      expect(r.iterations).toBeGreaterThan(0)
      expect(r.gap).toBeLessThanOrEqual(1e-10)
      expect(r.seconds).toBeGreaterThan(0)
      const diff = Math.max(...r.precision.flat().map((v, i) => Math.abs(v - g.precision.flat()[i])))
      expect(diff).toBeLessThan(1e-6)
    }
  })

  it('rejects bad files with a one-line named error and exit code 1, bad options with a usage error and exit code 2', async () => {
    const ragged = join(dir, 'ragged.json')
    writeFileSync(ragged, '[[1, 0], [0]]')
    let r = await runCli(['--cov', ragged, '--alpha', '0.1', '--json'])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/^collab: GlassoCliError: .*must be square.*\n$/)
    const text = join(dir, 'text.json')
    writeFileSync(text, '{"S": [[1, "a"], [0, 1]]}')
    r = await runCli(['--cov', text, '--alpha', '0.1'])
    expect(r.err).toMatch(/S\.0\.1/)
    r = await runCli(['--cov', join(dir, 'missing.json'), '--alpha', '0.1'])
    expect(r.err).toMatch(/cannot read --cov/)
    writeFileSync(join(dir, 'ok.json'), JSON.stringify(g.S))
    r = await runCli(['--cov', join(dir, 'ok.json'), '--alpha', 'abc'])
    expect(r.code).toBe(2)
    expect(r.err).toMatch(/^collab: UsageError: .*alpha.*\nhint: collab glasso --help lists its options\n$/)
    const nan = join(dir, 'asym.json')
    writeFileSync(nan, '[[1, 0.5], [0.1, 1]]')
    r = await runCli(['--cov', nan, '--alpha', '0.1'])
    expect(r.err).toMatch(/^collab: InvalidInputError: .*not symmetric/)
  })
})
