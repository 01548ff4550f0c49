/**
 * The node's durable state in its storage directory. Every file is replaced atomically
 * (write a temp file in the same directory, fsync it, rename over the old one, fsync the
 * directory), so a crash or kill -9 leaves the previous or the new version, never a torn one.
 *
 *   checkpoint.json   src/learning Checkpoint after every iteration (model, ledger copy, records)
 *   ledger.json       the privacy ledger (written by src/privacy on every charge)
 *   node-state.json   what the node itself needs to rejoin (consensus sessions used by prepare)
 *   model.json        the node's trained model (with its private part) when training finishes
 *   released.json     the released DP model, when there is one
 *   secret.key        this node's 32-byte secret (hex, mode 0600) from the OS CSPRNG: the key of
 *                     every noise that protects privacy (src/numeric/secret-rng.ts). It never
 *                     leaves the machine; a release re-run after a crash redraws the same noise.
 */
import { existsSync, readFileSync } from 'node:fs'
import { newSecretKey } from '../src/numeric/secret-rng.js'
import { writeFileAtomic, writeFileAtomicAsync } from '../src/data/atomic-file.js'
import { join } from 'node:path'
import type { Checkpoint } from '../src/learning/types.js'

export class StoreError extends Error {
  override name = 'StoreError'
}

/** Write `text` to `path` atomically and durably (src/data/atomic-file.ts). */
export const writeAtomic = writeFileAtomicAsync

/** What the node records for itself beside the learning checkpoint. */
export interface NodeState {
  format: 'collabdict-node-state'
  version: 1
  /** Consensus sessions the model's prepare() used: iteration i runs session preparedSessions + i. */
  preparedSessions: number | null
}

export interface NodeStore {
  readonly dir: string
  readonly ledgerPath: string
  loadCheckpoint(): Checkpoint | null
  saveCheckpoint(cp: Checkpoint): Promise<void>
  loadState(): NodeState
  saveState(s: NodeState): Promise<void>
  saveJson(name: 'model.json' | 'released.json', value: unknown): Promise<void>
  loadJson(name: 'model.json' | 'released.json'): unknown
  /** This node's secret key (secret.key), created from OS entropy on first use. */
  secretKey(): Uint8Array
}

function readJson(path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new StoreError(`${path}: ${what} is unreadable (${(err as Error).message}); restore it from backup or delete it to start afresh`)
  }
}

export function openStore(dir: string): NodeStore {
  const p = (name: string): string => join(dir, name)
  return {
    dir,
    ledgerPath: p('ledger.json'),
    loadCheckpoint(): Checkpoint | null {
      if (!existsSync(p('checkpoint.json'))) return null
      const cp = readJson(p('checkpoint.json'), 'the checkpoint') as Partial<Checkpoint>
      if (cp.format !== 'collabdict-checkpoint' || typeof cp.iteration !== 'number' || cp.model === undefined) {
        throw new StoreError(`${p('checkpoint.json')} is not a collabdict checkpoint; delete it to start afresh`)
      }
      return cp as Checkpoint
    },
    saveCheckpoint: (cp) => writeAtomic(p('checkpoint.json'), JSON.stringify(cp)),
    loadState(): NodeState {
      if (!existsSync(p('node-state.json'))) return { format: 'collabdict-node-state', version: 1, preparedSessions: null }
      const s = readJson(p('node-state.json'), 'the node state') as Partial<NodeState>
      if (s.format !== 'collabdict-node-state') throw new StoreError(`${p('node-state.json')} is not a node state file; delete it`)
      return { format: 'collabdict-node-state', version: 1, preparedSessions: s.preparedSessions ?? null }
    },
    saveState: (s) => writeAtomic(p('node-state.json'), JSON.stringify(s)),
    saveJson: (name, value) => writeAtomic(p(name), JSON.stringify(value)),
    loadJson(name): unknown {
      return existsSync(p(name)) ? readJson(p(name), name) : null
    },
    secretKey(): Uint8Array {
      const path = p('secret.key')
      if (!existsSync(path)) {
        writeFileAtomic(path, Buffer.from(newSecretKey()).toString('hex') + '\n')
      }
      const hex = readFileSync(path, 'utf8').trim()
      if (!/^[0-9a-f]{64}$/.test(hex)) {
        throw new StoreError(`${path} is not a 32-byte hex secret; restore it from backup, or delete it to draw a new one (a release re-run would then use new noise)`)
      }
      return Uint8Array.from(Buffer.from(hex, 'hex'))
    },
  }
}
