/**
 * The node's persistent libp2p identity: an Ed25519 key in `<dir>/identity.key`
 * (libp2p protobuf encoding), readable by its owner only (mode 0600).
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs'
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
