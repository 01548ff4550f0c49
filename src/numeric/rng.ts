/**
 * Seeded generator with the same streams in TypeScript and in Rust (wasm/src/rng.rs):
 * xoshiro128** (Blackman & Vigna) over four 32-bit words, seeded by the murmur3 `fmix32`
 * finaliser of a splitmix32 counter. Hand-written (not a library) because the stream
 * must match the Rust core bit for bit.
 *
 * Seeds: a safe integer s is the 64-bit two's-complement word pair
 * (lo, hi) = (s mod 2^32, floor(s / 2^32) mod 2^32). A string is hashed from its UTF-8
 * bytes: lo = fmix32(FNV-1a-32(bytes, offset 0x811c9dc5)),
 * hi = fmix32(FNV-1a-32(bytes, offset 0x9e3779b9) ^ byteLength).
 * State: s0 = fmix32(lo + g), s1 = fmix32(lo + 2g), s2 = fmix32((hi ^ g) + g),
 * s3 = fmix32((hi ^ g) + 2g), g = 0x9e3779b9 (all mod 2^32).
 * uniform() = ((u1 >>> 5) * 2^26 + (u2 >>> 6)) / 2^53; normal() is the Marsaglia polar
 * method with an IEEE-exact `ln` (see lnExact), the second value of each pair kept.
 */
import { InvalidInputError } from './errors.js'
import { i32view, readF64, withScratch } from './wasm.js'

const G = 0x9e3779b9 | 0

function fmix32(z: number): number {
  z ^= z >>> 16
  z = Math.imul(z, 0x85ebca6b)
  z ^= z >>> 13
  z = Math.imul(z, 0xc2b2ae35)
  z ^= z >>> 16
  return z >>> 0
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}

function fnv1a(bytes: Uint8Array, offset: number): number {
  let h = offset | 0
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 16777619)
  return h >>> 0
}

const encoder = new TextEncoder()

/** The 64-bit seed words (lo, hi) of a number or string seed (see the module comment). */
export function seedWords(seed: number | string, what = 'seed'): [number, number] {
  if (typeof seed === 'string') {
    const b = encoder.encode(seed)
    return [fmix32(fnv1a(b, 0x811c9dc5)), fmix32(fnv1a(b, 0x9e3779b9) ^ b.length)]
  }
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    throw new InvalidInputError(`${what} must be a safe integer or a string, got ${String(seed)}`)
  }
  return [seed >>> 0, Math.floor(seed / 4294967296) >>> 0]
}

const SQRT2 = 1.4142135623730951
const SQRT_HALF = 0.7071067811865475
const LN2 = 0.6931471805599453

/**
 * Two independent standard normals from uniforms on [0, 1) (Marsaglia polar method), with
 * the logarithm passed in: the seeded Rng uses lnExact so its stream matches Rust's bit
 * for bit; the OS-entropy generator of src/privacy uses Math.log.
 */
export function polarPair(uniform: () => number, ln: (x: number) => number): [number, number] {
  for (;;) {
    const u = 2 * uniform() - 1
    const v = 2 * uniform() - 1
    const s = u * u + v * v
    if (s >= 1 || s === 0) continue
    const f = Math.sqrt((-2 * ln(s)) / s)
    return [u * f, v * f]
  }
}

/**
 * ln x for positive finite x from IEEE-exact operations only (identical to ln_exact in
 * wasm/src/rng.rs): x = m 2^e, m in [sqrt(1/2), sqrt(2)), by exact scaling, then
 * ln x = e ln 2 + 2 atanh((m-1)/(m+1)), atanh by its series to z^25 (Horner).
 */
export function lnExact(x: number): number {
  let m = x
  let e = 0
  while (m >= SQRT2) {
    m *= 0.5
    e += 1
  }
  while (m < SQRT_HALF) {
    m *= 2
    e -= 1
  }
  const z = (m - 1) / (m + 1)
  const z2 = z * z
  let p = 1 / 25
  p = 1 / 23 + z2 * p
  p = 1 / 21 + z2 * p
  p = 1 / 19 + z2 * p
  p = 1 / 17 + z2 * p
  p = 1 / 15 + z2 * p
  p = 1 / 13 + z2 * p
  p = 1 / 11 + z2 * p
  p = 1 / 9 + z2 * p
  p = 1 / 7 + z2 * p
  p = 1 / 5 + z2 * p
  p = 1 / 3 + z2 * p
  p = 1 + z2 * p
  return e * LN2 + 2 * z * p
}

/**
 * What a consumer of randomness draws from: the seeded `Rng` below (replayable streams for
 * shared decisions and simulations) and the keyed cryptographic `SecretRng`
 * (./secret-rng.ts) for every noise that protects privacy. Code that adds protective
 * noise takes a RandomSource and its host decides which one it gets.
 */
export interface RandomSource {
  /** Next 32-bit output, an integer in [0, 2^32). */
  nextU32(): number
  /** Uniform on [0, 1). */
  uniform(): number
  /** Standard normal. */
  normal(): number
  /** Uniform integer in [0, n). */
  int(n: number): number
  fillUniform(out: Float64Array): Float64Array
  fillNormal(out: Float64Array): Float64Array
  /** Uniformly random permutation of 0..n-1. */
  permutation(n: number): Int32Array
  /** Independent child stream named `label` (the same label always gives the same stream). */
  fork(label: string | number): RandomSource
}

/**
 * The draws every generator derives from its 32-bit outputs (uniform, normal, integers,
 * permutations), shared by the seeded `Rng` and the keyed `SecretRng` so both give the
 * same distributions from their own streams.
 */
export abstract class U32Draws implements RandomSource {
  protected spare = 0
  protected hasSpare = false

  /** @param ln the logarithm the normal draws use (Rng: the bit-exact twin of the Rust core's). */
  constructor(private readonly ln: (x: number) => number) {}

  abstract nextU32(): number
  abstract fork(label: string | number): RandomSource

  /** Uniform in [0, 1) with 53-bit resolution. */
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
    const [a, b] = polarPair(() => this.uniform(), this.ln)
    this.spare = b
    this.hasSpare = true
    return a
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling); n a positive safe integer. */
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
}

export class Rng extends U32Draws {
  private lo = 0
  private hi = 0
  private s0 = 0
  private s1 = 0
  private s2 = 0
  private s3 = 0
  constructor(seed: number | string) {
    super(lnExact)
    const [lo, hi] = seedWords(seed)
    this.reseed(lo, hi)
  }

  /** A generator from explicit seed words (lo, hi), each an unsigned 32-bit integer. */
  static fromWords(lo: number, hi: number): Rng {
    const r = new Rng(0)
    r.reseed(lo >>> 0, hi >>> 0)
    return r
  }

  /** Low 32-bit word of this generator's 64-bit seed (what `fork` and the Rust twin use). */
  get seedLo(): number {
    return this.lo
  }

  /** High 32-bit word of this generator's 64-bit seed. */
  get seedHi(): number {
    return this.hi
  }

  private reseed(lo: number, hi: number): void {
    this.lo = lo
    this.hi = hi
    const h = (hi ^ G) | 0
    this.s0 = fmix32((lo + G) | 0) | 0
    this.s1 = fmix32((lo + 2 * G) | 0) | 0
    this.s2 = fmix32((h + G) | 0) | 0
    this.s3 = fmix32((h + 2 * G) | 0) | 0
    this.hasSpare = false
    this.spare = 0
  }

  /** Next 32-bit output, an integer in [0, 2^32). */
  nextU32(): number {
    const s0 = this.s0
    const s1 = this.s1
    const s2 = this.s2 ^ s0
    const s3 = this.s3 ^ s1
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0
    this.s1 = s1 ^ s2
    this.s0 = s0 ^ s3
    this.s2 = s2 ^ (s1 << 9)
    this.s3 = rotl(s3, 11)
    return result
  }

  /** Shuffle `items` in place (Fisher-Yates, same draws as `permutation`); returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const t = items[i]
      items[i] = items[j]
      items[j] = t
    }
    return items
  }

  /**
   * Child generator derived from this generator's seed and `label` (not its current
   * state), so the same (seed, label) always gives the same stream whatever was drawn
   * before. Child words: two keyed fmix32 chains over (seedLo, seedHi, labelLo, labelHi).
   */
  fork(label: string | number): Rng {
    const [llo, lhi] = seedWords(label, 'fork label')
    let a = fmix32(this.seedLo ^ 0x6a09e667)
    a = fmix32(a ^ this.seedHi)
    a = fmix32(a ^ llo)
    a = fmix32(a ^ lhi)
    let b = fmix32(this.seedHi ^ 0xbb67ae85)
    b = fmix32(b ^ llo)
    b = fmix32(b ^ this.seedLo)
    b = fmix32(b ^ lhi)
    return Rng.fromWords(a, b)
  }
}

/**
 * The first `n` draws of the Rust generator (wasm/src/rng.rs) seeded like `rng` (same seed
 * words, fresh state): the parity reference for this module, also usable for bulk draws.
 */
export function coreStream(rng: Rng, kind: 'u32' | 'uniform' | 'normal', n: number): Float64Array | Uint32Array {
  if (!Number.isInteger(n) || n < 0) throw new InvalidInputError(`coreStream: n must be an integer >= 0, got ${n}`)
  return withScratch((s, k) => {
    if (kind === 'u32') {
      const p = s.i32(n)
      k.cd_rng_fill_u32(rng.seedLo, rng.seedHi, p, n)
      return new Uint32Array(i32view(p, n).slice().buffer)
    }
    const p = s.f64(n)
    if (kind === 'uniform') k.cd_rng_fill_uniform(rng.seedLo, rng.seedHi, p, n)
    else k.cd_rng_fill_normal(rng.seedLo, rng.seedHi, p, n)
    return readF64(p, n)
  })
}
