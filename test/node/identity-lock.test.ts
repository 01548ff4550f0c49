import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DuplicateIdentityError, IDENTITY_LOCK_FILE, initIdentity, lockIdentity } from '../../node/identity.js'

describe('one node per identity', () => {
  it('a second node with the same identity fails at once, naming the PeerId; after release it starts', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'collab-id-')), 'identity')
    const { peerId } = await initIdentity(dir)
    const release = lockIdentity(dir, peerId)
    let err: unknown = null
    try {
      lockIdentity(dir, peerId)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(DuplicateIdentityError)
    expect((err as DuplicateIdentityError).peerId).toBe(peerId)
    expect((err as Error).message).toContain(`identity ${peerId}`)
    expect((err as Error).message).toContain(`process ${process.pid} on this host`)
    release()
    expect(existsSync(join(dir, IDENTITY_LOCK_FILE))).toBe(false)
    lockIdentity(dir, peerId)()
  })

  it('a lock left by a process that is gone (kill -9) is taken over', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'collab-id-')), 'identity')
    const { peerId } = await initIdentity(dir)
    const gone = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid
    writeFileSync(join(dir, IDENTITY_LOCK_FILE), JSON.stringify({ pid: gone, host: hostname(), peerId, since: 'earlier' }))
    const release = lockIdentity(dir, peerId)
    expect(JSON.parse(readFileSync(join(dir, IDENTITY_LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid, peerId })
    release()
  })
})
