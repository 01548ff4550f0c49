import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { afterEach, describe, expect, it } from 'vitest'
import { registerPrivacyCommands } from '../../cli/privacy.js'
import { fitCentralised } from '../../src/models/ggm/index.js'
import { mat } from '../../src/numeric/matrix.js'
import { Rng } from '../../src/numeric/rng.js'
import { PrivacyLedger } from '../../src/privacy/ledger.js'
import { loadReleasedModel, scoreReleased } from '../../src/privacy/release.js'
import { SecureNoiseRng } from '../../src/privacy/secure.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

async function run(argv: string[]): Promise<string> {
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {} })
  registerPrivacyCommands(program)
  const chunks: string[] = []
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((s: string) => { chunks.push(s); return true })
  try {
    await program.parseAsync(argv, { from: 'user' })
  } finally {
    process.stdout.write = write
  }
  return chunks.join('')
}

describe('collab privacy release', () => {
  it('releases a saved GGM (ledger first) into a file that collab privacy score reads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'release-cli-'))
    dirs.push(dir)
    const g = new Rng('data')
    const n = 120
    const X = mat(n, 2)
    for (let i = 0; i < n; i++) {
      X.data[2 * i] = g.normal() + (i % 2 ? 4 : 0)
      X.data[2 * i + 1] = g.normal()
    }
    const model = await fitCentralised(X, { K: 2, radius: 6, lambda0: 2, seed: 1 })
    writeFileSync(join(dir, 'model.json'), JSON.stringify(model.save()))
    const ledgerPath = join(dir, 'ledger.json')
    const out = JSON.parse(await run(['privacy', 'release', '--model', join(dir, 'model.json'), '--ledger', ledgerPath, '--node-id', 'org', '--eig-cap', '5', '--min-nbar', '1', '--out', join(dir, 'rel.json'), '--seed', '7', '--json'])) as { K: number; kl: number; epsilon: number }
    expect(out.kl).toBeCloseTo((out.K * 5 * 36) / (2 * 2), 10)
    const ledger = PrivacyLedger.load(ledgerPath)
    expect(ledger.entries.length).toBe(1)
    expect(ledger.spent().epsilon).toBe(out.epsilon)
    const released = loadReleasedModel(JSON.parse(readFileSync(join(dir, 'rel.json'), 'utf8')))
    writeFileSync(join(dir, 'rows.csv'), 'a,b\n0,0\n4,0\n20,20\n')
    const scored = JSON.parse(await run(['privacy', 'score', '--model', join(dir, 'rel.json'), '--data', join(dir, 'rows.csv'), '--json'])) as { scores: number[] }
    expect(scored.scores).toEqual(Array.from(scoreReleased(released, mat(3, 2, Float64Array.from([0, 0, 4, 0, 20, 20])))))
    expect(scored.scores[2]).toBeGreaterThan(scored.scores[0])
  })
  it('refuses a model trained without the radius R (no guarantee possible)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'release-cli-'))
    dirs.push(dir)
    const g = new Rng('data2')
    const X = mat(60, 2, Float64Array.from({ length: 120 }, () => g.normal()))
    const model = await fitCentralised(X, { K: 1, lambda0: 1, seed: 1 })
    writeFileSync(join(dir, 'model.json'), JSON.stringify(model.save()))
    await expect(run(['privacy', 'release', '--model', join(dir, 'model.json'), '--ledger', join(dir, 'l.json'), '--node-id', 'o', '--eig-cap', '5', '--min-nbar', '1', '--out', join(dir, 'r.json')])).rejects.toThrow(/R is missing/)
  })
})

describe('SecureNoiseRng', () => {
  it('gives uniform [0, 1) and standard normal draws', () => {
    const r = new SecureNoiseRng()
    const n = 20000
    let su = 0
    let sn = 0
    let sn2 = 0
    for (let i = 0; i < n; i++) {
      const u = r.uniform()
      expect(u >= 0 && u < 1).toBe(true)
      su += u
      const z = r.normal()
      sn += z
      sn2 += z * z
    }
    expect(Math.abs(su / n - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n))
    expect(Math.abs(sn / n)).toBeLessThan(5 / Math.sqrt(n))
    expect(Math.abs(sn2 / n - 1)).toBeLessThan(5 * Math.sqrt(2 / n))
  })
})
