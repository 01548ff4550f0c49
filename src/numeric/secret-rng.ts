/**
 * The generator for noise that protects privacy: release noise, DP-SGD noise, l-diversity
 * pseudo-samples, random chunks, Shamir coefficients. Differential privacy and chunking
 * only protect if the adversary cannot predict the noise; a seeded xoshiro stream
 * (./rng.ts `Rng`) whose seed a peer knows (the network's shared `training.seed`) can be
 * recomputed and subtracted. This generator is a keyed cryptographic stream instead:
 *
 *   key (32 bytes) -> AES-256-CTR keystream (node:crypto, IV zero, counter from 0)
 *   fork(label)    -> a new key HMAC-SHA256(key, "collabdict/fork/" + label)
 *
 * so its outputs are indistinguishable from random to anyone without the key, and the
 * same (key, label path) always gives the same stream. Where the key comes from decides
 * what it protects against:
 *
 * - `SecretRng.fromOsEntropy()`: a fresh 256-bit key from the OS CSPRNG (randomBytes).
 *   A peer node draws every protecting noise from this (or from a key it generated this
 *   way and keeps private, so that a release re-run after a crash reproduces its noise).
 * - `SecretRng.forSimulation(seed, node)`: a key derived from a *simulation noise seed*
 *   that the simulator owns (never the network's shared training seed), so a simulated
 *   run replays exactly. A real deployment never uses it.
 *
 * Hand-written over node:crypto because no installed library offers a seedable,
 * forkable CSPRNG with normal draws; AES-CTR and HMAC are the standard constructions
 * (NIST SP 800-90A CTR_DRBG without reseeding; HKDF-style key derivation for forks).
 */
import { createCipheriv, createHash, createHmac, randomBytes, type Cipher } from 'node:crypto'
import { InvalidInputError } from './errors.js'
import { U32Draws } from './rng.js'

/**
 * Keystream bytes produced per refill (one cipher call): the first refill makes
 * MIN_POOL_BYTES, each later one twice the last, up to POOL_BYTES. A generator that draws a
 * few numbers (most forks) then holds a few hundred bytes, not 16 KB: the simulator keeps
 * several per node, at S = 10,000 nodes. The keystream, and so every draw, is the same
 * whatever the refill sizes (CTR mode).
 */
const POOL_BYTES = 16384
const MIN_POOL_BYTES = 256
const ZEROS = new Uint8Array(POOL_BYTES)
const IV = new Uint8Array(16)

export class SecretRng extends U32Draws {
  /** How this generator's key was obtained (reports say which). */
  readonly origin: 'os-entropy' | 'simulation' | 'derived'
  private readonly key: Uint8Array
  /** Created on the first draw: a generator that is only forked never holds a cipher. */
  private cipher: Cipher | null = null
  private pool: Uint8Array = new Uint8Array(0)
  private pos = 0
  /** A generator keyed by `key` (32 bytes). Prefer the named constructors. */
  constructor(key: Uint8Array, origin: SecretRng['origin'] = 'derived') {
    super(Math.log)
    if (!(key instanceof Uint8Array) || key.length !== 32) throw new InvalidInputError(`SecretRng needs a 32-byte key, got ${key?.length ?? typeof key} bytes`)
    this.key = Uint8Array.from(key)
    this.origin = origin
  }

  /** A fresh key from the operating system's CSPRNG: unpredictable and not reproducible. */
  static fromOsEntropy(): SecretRng {
    return new SecretRng(randomBytes(32), 'os-entropy')
  }

  /** A generator from a stored secret key (e.g. a node's state/secret.key, 32 bytes). */
  static fromKey(key: Uint8Array): SecretRng {
    return new SecretRng(key, 'os-entropy')
  }

  /**
   * Simulation only: node `node`'s secret stream derived from the simulator's own noise
   * seed, so a simulated run replays. Never pass the network's shared seed here.
   */
  static forSimulation(noiseSeed: string | number, node: number | string): SecretRng {
    const key = createHash('sha256').update(`collabdict/simulation-noise/${String(noiseSeed)}/node/${String(node)}`).digest()
    return new SecretRng(key, 'simulation')
  }

  private byte(): number {
    if (this.pos >= this.pool.length) this.refill()
    return this.pool[this.pos++]
  }

  private refill(): void {
    this.cipher ??= createCipheriv('aes-256-ctr', this.key, IV)
    const n = Math.min(POOL_BYTES, Math.max(MIN_POOL_BYTES, 2 * this.pool.length))
    this.pool = this.cipher.update(ZEROS.subarray(0, n))
    this.pos = 0
  }

  /** Next 32-bit output, an integer in [0, 2^32). */
  nextU32(): number {
    if (this.pos + 4 > this.pool.length) {
      return ((this.byte() << 24) | (this.byte() << 16) | (this.byte() << 8) | this.byte()) >>> 0
    }
    const p = this.pool
    const i = this.pos
    this.pos += 4
    return ((p[i] << 24) | (p[i + 1] << 16) | (p[i + 2] << 8) | p[i + 3]) >>> 0
  }

  /**
   * Child generator keyed by HMAC-SHA256(key, label): the same (key, label) always gives
   * the same stream, whatever was drawn before; children of different labels are
   * independent, and a child's stream reveals nothing about its parent's key.
   */
  fork(label: string | number): SecretRng {
    const k = createHmac('sha256', this.key).update(`collabdict/fork/${typeof label}:${String(label)}`).digest()
    return new SecretRng(k, this.origin === 'os-entropy' ? 'os-entropy' : this.origin)
  }
}

/** A fresh random 32-byte secret (OS CSPRNG), e.g. for a node's state/secret.key. */
export function newSecretKey(): Uint8Array {
  return randomBytes(32)
}
