/**
 * The node's persistent libp2p identity: an Ed25519 key in `<dir>/identity.key`
 * (libp2p protobuf encoding), readable by its owner only (mode 0600).
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'

export const IDENTITY_FILE = 'identity.key'

export class IdentityError extends Error {
  override name = 'IdentityError'
}

export function identityPath(dir: string): string {
  return join(dir, IDENTITY_FILE)
}

/**
 * Create a new identity in `dir` (created with mode 0700 if missing) and return its
 * PeerId. Refuses to overwrite an existing key: a node's PeerId is what the topology lists.
 */
export async function initIdentity(dir: string): Promise<{ peerId: string; path: string }> {
  const path = identityPath(dir)
  if (existsSync(path)) {
    throw new IdentityError(`${path} already exists; a node keeps its identity (delete it by hand to start a new one)`)
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const key = await generateKeyPair('Ed25519')
  // 'wx': fail if created concurrently; mode applies at creation, chmod guards against the umask
  const fd = openSync(path, 'wx', 0o600)
  try {
    writeSync(fd, privateKeyToProtobuf(key))
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  chmodSync(path, 0o600)
  return { peerId: peerIdFromPrivateKey(key).toString(), path }
}

/** Load the identity of `dir`; refuses a key file readable by group or others. */
export function loadIdentity(dir: string): { privateKey: PrivateKey; peerId: string } {
  const path = identityPath(dir)
  if (!existsSync(path)) {
    throw new IdentityError(`${path} not found; create it with \`collab node init --dir ${dir}\``)
  }
  const mode = statSync(path).mode & 0o777
  if ((mode & 0o077) !== 0) {
    throw new IdentityError(`${path} has mode ${mode.toString(8)}; a private key must be readable by its owner only: chmod 600 ${path}`)
  }
  let privateKey: PrivateKey
  try {
    privateKey = privateKeyFromProtobuf(readFileSync(path))
  } catch (err) {
    throw new IdentityError(`${path} is not a libp2p private key (${(err as Error).message}); restore it from backup`)
  }
  if (privateKey.type !== 'Ed25519') throw new IdentityError(`${path} holds a ${privateKey.type} key; collabdict nodes use Ed25519`)
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString() }
}

export const IDENTITY_LOCK_FILE = 'identity.lock'

/** Two nodes were started with the same identity (the same PeerId). */
export class DuplicateIdentityError extends Error {
  override name = 'DuplicateIdentityError'
  constructor(
    readonly peerId: string,
    message: string,
  ) {
    super(message)
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists but belongs to someone else
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Claim the identity in `dir` for this process: `<dir>/identity.lock` holds the pid, host
 * and PeerId of the node using it. A second node started with the same identity fails at
 * once with DuplicateIdentityError naming the PeerId (issue 14: both ran, and every peer
 * failed after its timeout blaming another node). A lock left by a process that is gone
 * (same host) is taken over. Returns the release function (call it on stop).
 */
export function lockIdentity(dir: string, peerId: string): () => void {
  const path = join(dir, IDENTITY_LOCK_FILE)
  const mine = JSON.stringify({ pid: process.pid, host: hostname(), peerId, since: new Date().toISOString() })
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600)
      try {
        writeSync(fd, mine)
      } finally {
        closeSync(fd)
      }
      return () => {
        try {
          const held = JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown }
          if (held.pid === process.pid) unlinkSync(path)
        } catch {
          // already gone: nothing to release
        }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    let held: { pid?: unknown; host?: unknown; since?: unknown } = {}
    try {
      held = JSON.parse(readFileSync(path, 'utf8')) as typeof held
    } catch {
      // unreadable (a crash mid-write): stale
    }
    const pid = typeof held.pid === 'number' ? held.pid : null
    const sameHost = held.host === hostname()
    if (pid !== null && (!sameHost || processAlive(pid))) {
      throw new DuplicateIdentityError(
        peerId,
        `identity ${peerId} (${dir}) is already in use by process ${pid} on ${sameHost ? 'this host' : String(held.host)} since ${String(held.since)}: ` +
          'two nodes with one identity make every peer fail after its timeout; give each organisation its own identity (collab node init), ' +
          `or stop the other node${sameHost ? '' : `, or delete ${path} if that host no longer runs it`}`,
      )
    }
    rmSync(path, { force: true }) // stale: its process is gone
  }
  throw new DuplicateIdentityError(peerId, `could not claim ${path}: another node keeps creating it; is identity ${peerId} being started twice?`)
}
