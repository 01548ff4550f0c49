/**
 * `collab privacy release` (one organisation releasing a model of its own rows by the
 * network's mechanism) and `collab privacy score` (a third party scoring with the file).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { afterEach, describe, expect, it } from 'vitest'
import { registerPrivacyCommands } from '../../cli/privacy.js'
import { mat } from '../../src/numeric/matrix.js'
import { Rng } from '../../src/numeric/rng.js'
import { PrivacyLedger } from '../../src/privacy/ledger.js'
import { loadReleasedGgm, scoreReleasedGgm } from '../../src/privacy/ggm-release.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

async function run(argv: string[]): Promise<string> {
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {} })
  registerPrivacyCommands(program)
  const chunks: string[] = []
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((s: string) => {
    chunks.push(s)
    return true
  })
  try {
    await program.parseAsync(argv, { from: 'user' })
  } finally {
    process.stdout.write = write
  }
  return chunks.join('')
}

describe('collab privacy release / score', () => {
  it('releases a model of a CSV (ledger first) that collab privacy score reads, twice charged twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'release-cli-'))
    dirs.push(dir)
    const g = new Rng('data')
    const lines = ['a,b']
    for (let i = 0; i < 400; i++) lines.push(`${(g.normal() + (i % 2 ? 4 : 0)).toFixed(4)},${g.normal().toFixed(4)}`)
    writeFileSync(join(dir, 'rows.csv'), lines.join('\n') + '\n')
    const ledgerPath = join(dir, 'ledger.json')
    const args = ['privacy', 'release', '--data', join(dir, 'rows.csv'), '--bounds', '-6:10', '--ledger', ledgerPath, '--node-id', 'org', '--epsilon', '2', '--json']
    const out = JSON.parse(await run([...args, '--out', join(dir, 'rel.json')])) as { K: number; epsilon: number; spent: { epsilon: number } }
    expect(out.epsilon).toBeLessThanOrEqual(2)
    expect(out.epsilon).toBeGreaterThan(1.98)
    const ledger = PrivacyLedger.load(ledgerPath)
    expect(ledger.entries).toHaveLength(1)
    expect(ledger.spent().epsilon).toBeCloseTo(out.epsilon, 9)
    const released = loadReleasedGgm(JSON.parse(readFileSync(join(dir, 'rel.json'), 'utf8')))
    expect(released.privacy.epsilon).toBe(out.epsilon)
    expect(released.privacy.members).toBe(1)
    writeFileSync(join(dir, 'probe.csv'), 'a,b\n0,0\n4,0\n30,30\n')
    const scored = JSON.parse(await run(['privacy', 'score', '--model', join(dir, 'rel.json'), '--data', join(dir, 'probe.csv'), '--json'])) as { scores: number[]; threshold: number }
    expect(scored.scores).toEqual(Array.from(scoreReleasedGgm(released, mat(3, 2, Float64Array.from([0, 0, 4, 0, 30, 30])))))
    expect(scored.scores[2]).toBeGreaterThan(scored.scores[0])
    expect(scored.threshold).toBe(released.threshold.value)
    // a second release is a second charge (new noise, new entry)
    await run([...args, '--out', join(dir, 'rel2.json')])
    expect(PrivacyLedger.load(ledgerPath).entries).toHaveLength(2)
    expect(readFileSync(join(dir, 'rel2.json'), 'utf8')).not.toBe(readFileSync(join(dir, 'rel.json'), 'utf8'))
  })

  it('refuses a release past the budget before anything is written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'release-cli-'))
    dirs.push(dir)
    writeFileSync(join(dir, 'rows.csv'), 'a\n1\n2\n3\n4\n')
    const ledgerPath = join(dir, 'ledger.json')
    await expect(
      run(['privacy', 'release', '--data', join(dir, 'rows.csv'), '--bounds', '0:5', '--ledger', ledgerPath, '--node-id', 'o', '--epsilon', '2', '--budget', '1', '--out', join(dir, 'r.json')]),
    ).rejects.toMatchObject({ name: 'PrivacyBudgetExceededError' })
    expect(PrivacyLedger.load(ledgerPath).entries).toHaveLength(0)
  })
})
