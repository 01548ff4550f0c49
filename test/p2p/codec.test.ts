import { describe, expect, it } from 'vitest'
import { decodeFrame, encodeFrame, FrameError, FRAME_VERSION, HEADER_BYTES, type FrameLimits } from '../../src/p2p/codec.js'
import { decodeGlobal, encodeGlobal, SyncError } from '../../src/p2p/sync.js'

const limits: FrameLimits = { maxPayload: 16, maxChunks: 4, maxRounds: 1000 }

function reason(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(FrameError)
    return (err as FrameError).reason
  }
  return 'accepted'
}

describe('consensus wire codec', () => {
  it('round-trips every field bit-exactly, from an unaligned buffer', () => {
    const payload = new Float64Array([1.5, -0, 1e-300, -7.25e200, Math.PI])
    const bytes = encodeFrame({ kind: 'exclude', attempt: 77, session: 0xfffffffe, chunk: 3, round: 999, payload })
    // little-endian on the wire, independent of the codec's own reader
    const dv = new DataView(bytes.buffer)
    expect(dv.getUint8(0)).toBe(FRAME_VERSION)
    expect(dv.getUint32(4, true)).toBe(0xfffffffe)
    expect(dv.getFloat64(HEADER_BYTES + 8 * 4, true)).toBe(Math.PI)
    const shifted = new Uint8Array(bytes.byteLength + 3)
    shifted.set(bytes, 3)
    const f = decodeFrame(shifted.subarray(3), limits)
    expect(f.session).toBe(0xfffffffe)
    expect(f.kind).toBe('exclude')
    expect(f.attempt).toBe(77)
    expect(f.chunk).toBe(3)
    expect(f.round).toBe(999)
    expect(Array.from(f.payload)).toEqual(Array.from(payload))
    expect(Object.is(f.payload[1], -0)).toBe(true)
    // a Node Buffer view into a shared pool (what the socket hands over)
    const pooled = Buffer.concat([Buffer.from([7]), Buffer.from(bytes)]).subarray(1)
    expect(Array.from(decodeFrame(pooled, limits).payload)).toEqual(Array.from(payload))
  })

  it('rejects each malformed field with its own reason', () => {
    const good = encodeFrame({ session: 1, chunk: 0, round: 0, payload: new Float64Array([1, 2]) })
    const mutate = (fn: (b: Uint8Array, v: DataView) => void): Uint8Array => {
      const b = good.slice()
      fn(b, new DataView(b.buffer))
      return b
    }
    expect(reason(() => decodeFrame(good, limits))).toBe('accepted')
    expect(reason(() => decodeFrame(good.subarray(0, 10), limits))).toBe('truncated')
    expect(reason(() => decodeFrame(good.subarray(0, good.length - 1), limits))).toBe('truncated')
    expect(reason(() => decodeFrame(mutate((b) => (b[0] = 2)), limits))).toBe('bad-version')
    expect(reason(() => decodeFrame(mutate((b) => (b[1] = 9)), limits))).toBe('bad-kind')
    expect(decodeFrame(good, limits)).toMatchObject({ kind: 'data', attempt: 0 })
    expect(reason(() => decodeFrame(mutate((b) => (b[2] = 1)), limits))).toBe('bad-reserved')
    expect(reason(() => decodeFrame(mutate((_, v) => v.setUint32(16, 17, true)), limits))).toBe('oversized')
    const long = new Uint8Array(good.length + 8)
    long.set(good)
    expect(reason(() => decodeFrame(long, limits))).toBe('bad-length')
    expect(reason(() => decodeFrame(mutate((_, v) => v.setUint32(8, 4, true)), limits))).toBe('bad-chunk')
    expect(reason(() => decodeFrame(mutate((_, v) => v.setUint32(12, 1000, true)), limits))).toBe('bad-round')
    expect(reason(() => decodeFrame(mutate((_, v) => v.setFloat64(HEADER_BYTES + 8, NaN, true)), limits))).toBe('non-finite')
    expect(reason(() => decodeFrame(mutate((_, v) => v.setFloat64(HEADER_BYTES, -Infinity, true)), limits))).toBe(
      'non-finite',
    )
  })

  it('never throws anything but FrameError on random bytes', () => {
    let seed = 12345
    const next = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32
    for (let trial = 0; trial < 2000; trial++) {
      const n = Math.floor(next() * 60)
      const b = new Uint8Array(n)
      for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256)
      if (n > 0 && next() < 0.5) b[0] = FRAME_VERSION
      const r = reason(() => decodeFrame(b, limits))
      expect(typeof r).toBe('string')
    }
  })

  it('refuses to encode out-of-range header fields', () => {
    expect(() => encodeFrame({ session: -1, chunk: 0, round: 0, payload: new Float64Array(0) })).toThrow(RangeError)
    expect(() => encodeFrame({ session: 1.5, chunk: 0, round: 0, payload: new Float64Array(0) })).toThrow(RangeError)
  })
})

describe('state-sync codec', () => {
  it('round-trips a global state and the empty reply', () => {
    const g = { iteration: 42, converged: true, state: new Float64Array([0.25, -3, 1e10]) }
    const back = decodeGlobal(encodeGlobal(g), 3)
    expect(back).toEqual(g)
    expect(decodeGlobal(encodeGlobal(null), 3)).toBeNull()
  })
  it('rejects oversized, truncated and infinite states; keeps NaN (the layouts\' "absent" marker)', () => {
    const g = { iteration: 1, converged: false, state: new Float64Array([1, 2, 3]) }
    expect(() => decodeGlobal(encodeGlobal(g), 2)).toThrow(SyncError)
    expect(() => decodeGlobal(encodeGlobal(g).subarray(0, 20), 3)).toThrow(SyncError)
    expect(() => decodeGlobal(encodeGlobal({ ...g, state: new Float64Array([1, Infinity, 3]) }), 3)).toThrow(SyncError)
    expect(Number.isNaN(decodeGlobal(encodeGlobal({ ...g, state: new Float64Array([1, NaN, 3]) }), 3)?.state[1])).toBe(true)
  })
})
