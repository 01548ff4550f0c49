/**
 * A node whose training fails for good exits with EXIT_TRAINING_FAILED (3) so a supervisor
 * restarts it (issue 14: it stayed up in state 'failed' and was never restarted); a second
 * node with the same identity exits at start (1) naming the PeerId.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { EXIT_START_FAILED, EXIT_TRAINING_FAILED } from '../../node/exit-codes.js'
import { BACKSTOP_MS, exitOf, scaffoldBreastwRing, spawnCollab, until } from './cluster.js'

describe('exit codes a supervisor can act on', () => {
  it('training that cannot start (its peers never come) exits 3 after stopping; a duplicate identity exits 1', { timeout: BACKSTOP_MS }, async () => {
    const { net } = await scaffoldBreastwRing(join(mkdtempSync(join(tmpdir(), 'collab-exit-')), 'net'), {
      barrierTimeoutMs: 6000,
      logLevel: 'info',
      training: { model: { kind: 'ggm', hyper: { K: 2 } }, seed: 3, maxIterations: 4 },
    })
    let out = ''
    const first = spawnCollab(['node', 'start', '--config', net.nodes[0].config], (t) => {
      out += t
    })
    // the same identity again once the first holds it: refused at start, naming the PeerId
    await until(async () => (/node starting/.test(out) ? true : null), 120_000, 'node 0 starting', 100, () => String(out.length))
    let dupOut = ''
    const dup = spawnCollab(['node', 'start', '--config', net.nodes[0].config], (t) => {
      dupOut += t
    })
    const dupCode = await exitOf(dup)
    // nodes 1 and 2 never start: node 0's start barrier fails, training fails for good
    expect(await exitOf(first)).toBe(EXIT_TRAINING_FAILED)
    expect(out).toMatch(/training failed: exiting with code 3/)
    if (dupCode === EXIT_START_FAILED && /DuplicateIdentityError/.test(dupOut)) {
      expect(dupOut).toContain(net.nodes[0].peerId)
    } else {
      // the duplicate started only after the first had exited (a very slow machine): it then fails the same way
      expect(dupCode).toBe(EXIT_TRAINING_FAILED)
    }
  })
})
