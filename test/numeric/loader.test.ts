import { describe, expect, it } from 'vitest'
import { ABI_VERSION, buildId, core, withScratch, f64view } from '../../src/numeric/wasm.js'

describe('wasm loader', () => {
  it('loads the committed core once and reports its build id and ABI', () => {
    const a = core()
    expect(core()).toBe(a)
    expect(a.exports.cd_abi_version()).toBe(ABI_VERSION)
    expect(buildId()).toMatch(/^[0-9a-f]{16}$/)
  })

  it('scratch buffers round-trip data and are freed, even when growing memory', () => {
    const big = new Float64Array(3_000_000).map((_, i) => i * 0.5)
    const back = withScratch((s) => {
      const p = s.put(big)
      return f64view(p, big.length).slice()
    })
    expect(back[2_999_999]).toBe(2_999_999 * 0.5)
    // Memory freed: the same allocation again does not grow memory further.
    const before = core().exports.memory.buffer.byteLength
    withScratch((s) => s.put(big))
    expect(core().exports.memory.buffer.byteLength).toBe(before)
  })
})
