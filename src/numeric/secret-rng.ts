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
import { polarPair, type RandomSource } from './rng.js'

/** Keystream bytes produced per refill (one cipher call). */
const POOL_BYTES = 16384
const ZEROS = new Uint8Array(POOL_BYTES)
const IV = new Uint8Array(16)

export class SecretRng implements RandomSource {
  /** How this generator's key was obtained (reports say which). */
  readonly origin: 'os-entropy' | 'simulation' | 'derived'
  private readonly key: Uint8Array
  private readonly cipher: Cipher
  private pool: Uint8Array = new Uint8Array(0)
  private pos = 0
  private spare = 0
  private hasSpare = false

  /** A generator keyed by `key` (32 bytes). Prefer the named constructors. */
  constructor(key: Uint8Array, origin: SecretRng['origin'] = 'derived') {
    if (!(key instanceof Uint8Array) || key.length !== 32) throw new InvalidInputError(`SecretRng needs a 32-byte key, got ${key?.length ?? typeof key} bytes`)
    this.key = Uint8Array.from(key)
    this.origin = origin
    this.cipher = createCipheriv('aes-256-ctr', this.key, IV)
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
    if (this.pos >= this.pool.length) {
      this.pool = this.cipher.update(ZEROS)
      this.pos = 0
    }
    return this.pool[this.pos++]
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

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const a = this.nextU32() >>> 5
    const b = this.nextU32() >>> 6
    return (a * 67108864 + b) / 9007199254740992
  }

  /** Standard normal (Marsaglia polar method). */
  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false
      return this.spare
    }
    const [a, b] = polarPair(() => this.uniform(), Math.log)
    this.spare = b
    this.hasSpare = true
    return a
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling). */
  int(n: number): number {
    if (!Number.isSafeInteger(n) || n < 1) throw new InvalidInputError(`int(n) needs a positive safe integer n, got ${n}`)
    if (n <= 4294967296) {
      const limit = 4294967296 - (4294967296 % n)
      for (;;) {
        const r = this.nextU32()
        if (r < limit) return r % n
      }
    }
    const limit = 9007199254740992 - (9007199254740992 % n)
    for (;;) {
      const r = (this.nextU32() >>> 5) * 67108864 + (this.nextU32() >>> 6)
      if (r < limit) return r % n
    }
  }

  fillUniform(out: Float64Array): Float64Array {
    for (let i = 0; i < out.length; i++) out[i] = this.uniform()
    return out
  }

  fillNormal(out: Float64Array): Float64Array {
    for (let i = 0; i < out.length; i++) out[i] = this.normal()
    return out
  }

  /** Uniformly random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new InvalidInputError(`permutation(n) needs an integer n >= 0, got ${n}`)
    const p = new Int32Array(n)
    for (let i = 0; i < n; i++) p[i] = i
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const t = p[i]
      p[i] = p[j]
      p[j] = t
    }
    return p
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
