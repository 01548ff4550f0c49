/**
 * Shamir secret sharing (Shamir 1979) over the prime field GF(p), p = 2^127 - 1 (a
 * Mersenne prime), with fixed-point encoding of real vectors: the alternative protection
 * to random chunking (Idé & Raymond, SMDS 2021; src/consensus/secure-sum.ts runs it as a
 * network protocol). Shares are additively homomorphic: adding the shares that parties
 * hold for several secrets gives shares of the sum, so the sum can be reconstructed from
 * any `threshold` parties without anyone seeing an individual secret.
 *
 * Precision (what the encoding costs): a value v is stored as round(v * 2^f) mod p, so
 * each encoded value is off by at most 2^-(f+1) (f = fractionBits, default 32: 1.2e-10;
 * beyond 2^53 the double's own rounding dominates), and a sum of n values by n times that.
 * Range: an encoded value and any reconstructed sum must satisfy |v| 2^f < 2^125, so
 * |v| < 2^(125-f) (default 2^93 = 1e28); encode() refuses larger values with
 * ShamirRangeError instead of wrapping. On the wire a field element is four u32 words
 * (toWords / fromWords), each an exact double.
 *
 * Hand-written because no installed library does fixed-point Shamir over a fixed prime;
 * BigInt arithmetic keeps it exact, with the Mersenne reduction x mod p = (x & p) + (x >> 127).
 */
import type { RandomSource } from '../numeric/rng.js'

export const SHAMIR_PRIME = (1n << 127n) - 1n
/** Default fraction bits of the fixed-point encoding. */
export const DEFAULT_FRACTION_BITS = 32
/** Largest |round(v 2^f)| encode() accepts and decode() returns (p / 4: room for sums of a few values at the limit). */
const MAX_ENCODED = 1n << 125n

export class ShamirRangeError extends Error {
  override name = 'ShamirRangeError'
}
export class ShamirInputError extends Error {
  override name = 'ShamirInputError'
}

export interface ShamirOptions {
  /** Fixed-point fraction bits f: resolution 2^-f. Default 24. */
  fractionBits?: number
}

/** One party's share of a vector: the polynomials evaluated at x (1..n). */
export interface ShamirShare {
  x: number
  y: bigint[]
}

const P = SHAMIR_PRIME

function mod(a: bigint): bigint {
  if (a >= 0n) {
    // Mersenne reduction: 2^127 = 1 (mod p)
    let r = (a & P) + (a >> 127n)
    while (r > P) r = (r & P) + (r >> 127n)
    return r === P ? 0n : r
  }
  const r = a % P
  return r < 0n ? r + P : r
}

function powMod(b: bigint, e: bigint): bigint {
  let r = 1n
  let x = mod(b)
  while (e > 0n) {
    if (e & 1n) r = mod(r * x)
    x = mod(x * x)
    e >>= 1n
  }
  return r
}

function fractionBits(o: ShamirOptions): number {
  const f = o.fractionBits ?? DEFAULT_FRACTION_BITS
  if (!Number.isInteger(f) || f < 0 || f > 100) throw new ShamirInputError(`fractionBits must be an integer in 0..100, got ${f}`)
  return f
}

/** Fixed-point encoding into GF(p): round(v * 2^f) mod p. */
export function shamirEncode(values: Float64Array, opts: ShamirOptions = {}): bigint[] {
  const f = fractionBits(opts)
  const scale = 2 ** f
  const out: bigint[] = new Array<bigint>(values.length)
  for (let i = 0; i < values.length; i++) {
    const x = values[i] * scale
    if (!Number.isFinite(x)) throw new ShamirRangeError(`value ${values[i]} at ${i} cannot be encoded (finite values only)`)
    const s = BigInt(Math.round(x))
    if (s >= MAX_ENCODED || s <= -MAX_ENCODED) {
      throw new ShamirRangeError(`value ${values[i]} at ${i} is outside the encodable range |v| < 2^${125 - f}; lower fractionBits or rescale`)
    }
    out[i] = mod(s)
  }
  return out
}

/** Inverse of shamirEncode; field elements above p/2 are negative numbers. */
export function shamirDecode(field: readonly bigint[], opts: ShamirOptions = {}): Float64Array {
  const f = fractionBits(opts)
  const scale = 2 ** f
  const half = P >> 1n
  const out = new Float64Array(field.length)
  for (let i = 0; i < field.length; i++) {
    const v = field[i]
    const signed = v > half ? v - P : v
    if (signed >= MAX_ENCODED || signed <= -MAX_ENCODED) {
      throw new ShamirRangeError(`reconstructed entry ${i} is outside the fixed-point range |v| < 2^${125 - f}: the sum overflowed, or too few shares were combined`)
    }
    out[i] = Number(signed) / scale
  }
  return out
}

/** A field element as four u32 words (high first), each an exact double, for the wire. */
export function toWords(v: bigint, out: Float64Array, at: number): void {
  out[at] = Number((v >> 96n) & 0xffffffffn)
  out[at + 1] = Number((v >> 64n) & 0xffffffffn)
  out[at + 2] = Number((v >> 32n) & 0xffffffffn)
  out[at + 3] = Number(v & 0xffffffffn)
}

/** Inverse of toWords; null when a word is not a u32 or the element is not below p. */
export function fromWords(src: ArrayLike<number>, at: number): bigint | null {
  let v = 0n
  for (let k = 0; k < 4; k++) {
    const w = src[at + k]
    if (!Number.isInteger(w) || w < 0 || w > 0xffffffff) return null
    v = (v << 32n) | BigInt(w)
  }
  return v < P ? v : null
}

/** A uniform element of GF(p) from four 32-bit draws (rejection keeps it exactly uniform). */
function fieldElement(rng: RandomSource): bigint {
  for (;;) {
    let v = BigInt(rng.nextU32() >>> 1) // 31 bits
    for (let k = 0; k < 3; k++) v = (v << 32n) | BigInt(rng.nextU32())
    if (v < P) return v
  }
}

/**
 * Split `values` into `parties` shares, any `threshold` of which reconstruct them and any
 * fewer reveal nothing (each secret is the constant term of a random polynomial of degree
 * threshold - 1). Share j is held by party x = j + 1.
 */
export function shamirSplit(values: Float64Array, parties: number, threshold: number, rng: RandomSource, opts: ShamirOptions = {}): ShamirShare[] {
  if (!Number.isInteger(parties) || parties < 1 || parties > 1_000_000) throw new ShamirInputError(`parties must be an integer in 1..1e6, got ${parties}`)
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > parties) {
    throw new ShamirInputError(`threshold must be an integer in 1..parties (${parties}), got ${threshold}`)
  }
  const secret = shamirEncode(values, opts)
  const shares: ShamirShare[] = Array.from({ length: parties }, (_, j) => ({ x: j + 1, y: new Array<bigint>(values.length) }))
  const coef = new Array<bigint>(threshold)
  for (let i = 0; i < values.length; i++) {
    coef[0] = secret[i]
    for (let m = 1; m < threshold; m++) coef[m] = fieldElement(rng)
    for (const s of shares) {
      // Horner at x.
      const x = BigInt(s.x)
      let acc = 0n
      for (let m = threshold - 1; m >= 0; m--) acc = mod(acc * x + coef[m])
      s.y[i] = acc
    }
  }
  return shares
}

/** Elementwise sum of shares held by the same party (a share of the sum of the secrets). */
export function shamirAdd(a: ShamirShare, b: ShamirShare): ShamirShare {
  if (a.x !== b.x) throw new ShamirInputError(`cannot add shares of different parties (x = ${a.x} and ${b.x})`)
  if (a.y.length !== b.y.length) throw new ShamirInputError(`share lengths differ (${a.y.length} and ${b.y.length})`)
  const y = new Array<bigint>(a.y.length)
  for (let i = 0; i < y.length; i++) y[i] = mod(a.y[i] + b.y[i])
  return { x: a.x, y }
}

/** Lagrange interpolation at 0 from `threshold` or more shares with distinct x. */
export function shamirReconstruct(shares: ShamirShare[], opts: ShamirOptions = {}): Float64Array {
  return shamirDecode(reconstructField(shares), opts)
}

/** Lagrange interpolation at 0 in the field (the secrets, still encoded). */
export function reconstructField(shares: ShamirShare[]): bigint[] {
  if (shares.length === 0) throw new ShamirInputError('need at least one share to reconstruct')
  const xs = shares.map((s) => BigInt(s.x))
  if (new Set(xs).size !== xs.length) throw new ShamirInputError('shares must come from distinct parties')
  const len = shares[0].y.length
  const lambda = xs.map((xj, j) => {
    let num = 1n
    let den = 1n
    for (let m = 0; m < xs.length; m++) {
      if (m === j) continue
      num = mod(num * mod(-xs[m]))
      den = mod(den * mod(xj - xs[m]))
    }
    return mod(num * powMod(den, P - 2n))
  })
  const field = new Array<bigint>(len)
  for (let i = 0; i < len; i++) {
    let acc = 0n
    for (let j = 0; j < shares.length; j++) acc = mod(acc + lambda[j] * shares[j].y[i])
    field[i] = acc
  }
  return field
}

/** Elementwise sum of field vectors (a party's shares of several secrets). */
export function fieldSum(vectors: readonly (readonly bigint[])[], length: number): bigint[] {
  const out = new Array<bigint>(length).fill(0n)
  for (const v of vectors) for (let i = 0; i < length; i++) out[i] = mod(out[i] + v[i])
  return out
}
