/**
 * kill -9 at every step of the release: the ledger charges the release once and the
 * restarted node publishes it (the same file an uninterrupted run with the same secret
 * publishes). Each case runs the one-member node of fixtures/release-crash-child.ts twice:
 * once to the crash, once to the end.
 */
import { spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { PrivacyLedger } from '../../src/privacy/ledger.js'
import { loadReleasedGgm } from '../../src/privacy/ggm-release.js'

const REPO = resolve(import.meta.dirname, '../..')
const CHILD = join(REPO, 'test/learning/fixtures/release-crash-child.ts')
const root = mkdtempSync(join(tmpdir(), 'collab-release-crash-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

function runChild(dir: string, crashAt?: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, ...(crashAt ? [crashAt] : [])], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } })
    let out = ''
    p.stdout.setEncoding('utf8').on('data', (c: string) => (out += c))
    p.stderr.setEncoding('utf8').on('data', (c: string) => (out += c))
    p.on('exit', (code, signal) => res({ code, signal, out }))
  })
}

const releases = (dir: string): number => PrivacyLedger.load(join(dir, 'ledger.json')).entries.filter((e) => e.kind === 'release').length

describe('release across kill -9', () => {
  it('no crash point double-charges or loses the release', { timeout: 300_000 }, async () => {
    // the uninterrupted reference, and the secret every case shares with it
    const ref = join(root, 'reference')
    mkdirSync(ref)
    const r0 = await runChild(ref)
    expect(r0.code, r0.out).toBe(0)
    const want = readFileSync(join(ref, 'released.json'), 'utf8')
    expect(loadReleasedGgm(JSON.parse(want)).K).toBeGreaterThanOrEqual(1)
    expect(releases(ref)).toBe(1)

    const points = ['checkpoint:release', 'aggregate:release:moments', 'aggregate:release:global', 'aggregate:release:em:1', 'checkpoint:done', 'before-write']
    for (const point of points) {
      const dir = join(root, point.replace(/[^a-z0-9]+/gi, '_'))
      mkdirSync(dir)
      copyFileSync(join(ref, 'secret.key'), join(dir, 'secret.key'))
      const first = await runChild(dir, point)
      expect(first.signal, `${point}: ${first.out}`).toBe('SIGKILL')
      expect(existsSync(join(dir, 'released.json'))).toBe(false)
      const second = await runChild(dir)
      expect(second.code, `${point}: ${second.out}`).toBe(0)
      expect(releases(dir), point).toBe(1)
      expect(readFileSync(join(dir, 'released.json'), 'utf8'), point).toBe(want)
    }
  })
})
