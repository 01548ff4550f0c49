/**
 * Shamir secret sharing (Shamir 1979) over the prime field GF(p), p = 2^61 - 1, with
 * fixed-point encoding of real vectors: the alternative protection to random chunking
 * (Idé & Raymond, SMDS 2021). Shares are additively homomorphic: adding the shares that
 * parties hold for several secrets gives shares of the sum, so the sum can be
 * reconstructed from any `threshold` parties without anyone seeing an individual secret.
 *
 * Precision (what the encoding costs): a value v is stored as round(v * 2^f) mod p, so
 * each encoded value is off by at most 2^-(f+1) (f = fractionBits, default 24: 3.0e-8),
 * and a sum of n encoded values by at most n * 2^-(f+1). Range: an encoded value (and any
 * sum that is reconstructed) must satisfy |v| * 2^f < 2^52, so |v| < 2^(52-f) (default
 * 2^28 = 2.7e8); encode() refuses larger values with ShamirRangeError instead of wrapping.
 *
 * Hand-written because no installed library does fixed-point Shamir over a fixed prime;
 * BigInt arithmetic keeps it exact (p^2 < 2^122).
 */
import type { Rng } from '../numeric/rng.js'

export const SHAMIR_PRIME = (1n << 61n) - 1n
/** Default fraction bits of the fixed-point encoding. */
export const DEFAULT_FRACTION_BITS = 24

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
  y: BigUint64Array
}

const P = SHAMIR_PRIME

function mod(a: bigint): bigint {
  const r = a % P
  return r < 0n ? r + P : r
}

function powMod(b: bigint, e: bigint): bigint {
  let r = 1n
  let x = mod(b)
  while (e > 0n) {
    if (e & 1n) r = (r * x) % P
    x = (x * x) % P
    e >>= 1n
  }
  return r
}

function fractionBits(o: ShamirOptions): number {
  const f = o.fractionBits ?? DEFAULT_FRACTION_BITS
  if (!Number.isInteger(f) || f < 0 || f > 50) throw new ShamirInputError(`fractionBits must be an integer in 0..50, got ${f}`)
  return f
}

/** Fixed-point encoding into GF(p): round(v * 2^f) mod p. */
export function shamirEncode(values: Float64Array, opts: ShamirOptions = {}): BigUint64Array {
  const f = fractionBits(opts)
  const scale = 2 ** f
  const out = new BigUint64Array(values.length)
  for (let i = 0; i < values.length; i++) {
    const s = Math.round(values[i] * scale)
    if (!Number.isSafeInteger(s) || Math.abs(s) >= 2 ** 52) {
      throw new ShamirRangeError(`value ${values[i]} at ${i} is outside the encodable range |v| < 2^${52 - f}; lower fractionBits or rescale`)
    }
    out[i] = mod(BigInt(s))
  }
  return out
}

/** Inverse of shamirEncode; field elements above p/2 are negative numbers. */
export function shamirDecode(field: BigUint64Array, opts: ShamirOptions = {}): Float64Array {
  const f = fractionBits(opts)
  const scale = 2 ** f
  const half = P >> 1n
  const out = new Float64Array(field.length)
  for (let i = 0; i < field.length; i++) {
    const v = field[i]
    const signed = v > half ? v - P : v
    if (signed >= 1n << 52n || signed <= -(1n << 52n)) {
      throw new ShamirRangeError(`reconstructed entry ${i} overflows the fixed-point range; the sum exceeds 2^${52 - f}`)
    }
    out[i] = Number(signed) / scale
  }
  return out
}

/** A uniform element of GF(p) from two 32-bit draws (rejection keeps it exactly uniform). */
function fieldElement(rng: Rng): bigint {
  for (;;) {
    const hi = BigInt(rng.nextU32() >>> 3) // 29 bits
    const lo = BigInt(rng.nextU32())
    const v = (hi << 32n) | lo
    if (v < P) return v
  }
}

/**
 * Split `values` into `parties` shares, any `threshold` of which reconstruct them and any
 * fewer reveal nothing (each secret is the constant term of a random polynomial of degree
 * threshold - 1). Share j is held by party x = j + 1.
 */
export function shamirSplit(values: Float64Array, parties: number, threshold: number, rng: Rng, opts: ShamirOptions = {}): ShamirShare[] {
  if (!Number.isInteger(parties) || parties < 1 || parties > 1_000_000) throw new ShamirInputError(`parties must be an integer in 1..1e6, got ${parties}`)
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > parties) {
    throw new ShamirInputError(`threshold must be an integer in 1..parties (${parties}), got ${threshold}`)
  }
  const secret = shamirEncode(values, opts)
  const shares: ShamirShare[] = Array.from({ length: parties }, (_, j) => ({ x: j + 1, y: new BigUint64Array(values.length) }))
  const coef = new Array<bigint>(threshold)
  for (let i = 0; i < values.length; i++) {
    coef[0] = secret[i]
    for (let m = 1; m < threshold; m++) coef[m] = fieldElement(rng)
    for (const s of shares) {
      // Horner at x.
      const x = BigInt(s.x)
      let acc = 0n
      for (let m = threshold - 1; m >= 0; m--) acc = (acc * x + coef[m]) % P
      s.y[i] = acc
    }
  }
  return shares
}

/** Elementwise sum of shares held by the same party (a share of the sum of the secrets). */
export function shamirAdd(a: ShamirShare, b: ShamirShare): ShamirShare {
  if (a.x !== b.x) throw new ShamirInputError(`cannot add shares of different parties (x = ${a.x} and ${b.x})`)
  if (a.y.length !== b.y.length) throw new ShamirInputError(`share lengths differ (${a.y.length} and ${b.y.length})`)
  const y = new BigUint64Array(a.y.length)
  for (let i = 0; i < y.length; i++) y[i] = (a.y[i] + b.y[i]) % P
  return { x: a.x, y }
}

/** Lagrange interpolation at 0 from `threshold` or more shares with distinct x. */
export function shamirReconstruct(shares: ShamirShare[], opts: ShamirOptions = {}): Float64Array {
  if (shares.length === 0) throw new ShamirInputError('need at least one share to reconstruct')
  const xs = shares.map((s) => BigInt(s.x))
  if (new Set(xs).size !== xs.length) throw new ShamirInputError('shares must come from distinct parties')
  const len = shares[0].y.length
  const lambda = xs.map((xj, j) => {
    let num = 1n
    let den = 1n
    for (let m = 0; m < xs.length; m++) {
      if (m === j) continue
      num = (num * mod(-xs[m])) % P
      den = (den * mod(xj - xs[m])) % P
    }
    return (num * powMod(den, P - 2n)) % P
  })
  const field = new BigUint64Array(len)
  for (let i = 0; i < len; i++) {
    let acc = 0n
    for (let j = 0; j < shares.length; j++) acc = (acc + lambda[j] * shares[j].y[i]) % P
    field[i] = acc
  }
  return shamirDecode(field, opts)
}
