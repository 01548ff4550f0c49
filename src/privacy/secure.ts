/**
 * A noise source for real releases. Differential privacy needs noise the adversary cannot
 * predict: a release drawn from a generator whose seed other parties know (for instance
 * one forked from the network's agreed seed) can be recomputed and subtracted, which voids
 * the guarantee. The seeded `Rng` (src/numeric/rng.ts) is right for simulations that must
 * replay exactly; a node that publishes a model should draw from this generator instead,
 * which reads the operating system's CSPRNG (node:crypto) and so is neither seedable nor
 * reproducible, on purpose. It implements the same `NoiseRng` interface the mechanisms take.
 */
import { randomBytes } from 'node:crypto'
import type { NoiseRng } from './mechanisms.js'
import { polarPair } from '../numeric/rng.js'

/** Bytes fetched from the CSPRNG at a time. */
const POOL_BYTES = 4096

export class SecureNoiseRng implements NoiseRng {
  private pool = randomBytes(POOL_BYTES)
  private pos = 0
  private spare = 0
  private hasSpare = false

  private byte(): number {
    if (this.pos >= this.pool.length) {
      this.pool = randomBytes(POOL_BYTES)
      this.pos = 0
    }
    return this.pool[this.pos++]
  }

  /** Uniform on [0, 1) with 53 random bits. */
  uniform(): number {
    let hi = 0
    for (let i = 0; i < 3; i++) hi = hi * 256 + this.byte() // 24 bits
    hi = hi >>> 3 // 21 bits
    let lo = 0
    for (let i = 0; i < 4; i++) lo = lo * 256 + this.byte() // 32 bits
    return (hi * 4294967296 + lo) / 9007199254740992
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
}
