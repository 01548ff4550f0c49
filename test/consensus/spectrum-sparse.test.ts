/**
 * The sparse (Lanczos) graph spectrum against the dense eigendecompositions, on graphs of
 * every topology family (including a torus, whose eigenvalues are multiple, and a graph with
 * two components), and the consensus plans each scheme derives from it.
 */
import { describe, expect, it } from 'vitest'
import { generateTopology, neighbours } from '../../topologies/index.js'
import {
  DENSE_SPECTRUM_MAX_NODES,
  graphSpectrum,
  graphSpectrumDense,
  graphSpectrumSparse,
  planScheme,
  SCHEMES,
  type GraphSpectrum,
} from '../../src/consensus/index.js'
import { extremeRitz } from '../../src/consensus/spectrum-sparse.js'
import { eigvalsh, mat } from '../../src/numeric/index.js'

const KEYS = ['lambda2', 'lambdaMax', 'metropolisMu2', 'metropolisMuMin'] as const

function maxDiff(a: GraphSpectrum, b: GraphSpectrum): number {
  return Math.max(...KEYS.map((k) => Math.abs(a[k] - b[k])))
}

describe('sparse spectrum (Lanczos on adjacency lists) == dense spectrum', () => {
  it.each([
    ['regular', 600, 3],
    ['cwic', 601, undefined],
    ['mgg', 576, undefined],
    ['torus', 576, undefined],
    ['ring', 120, undefined],
    ['regular', 1000, 4],
  ] as const)('%s on %i nodes: all four figures within 1e-9, the same plan for every scheme', (kind, nodes, degree) => {
    const adj = neighbours(generateTopology(kind, nodes, { seed: 7, ...(degree !== undefined ? { degree } : {}) }))
    const dense = graphSpectrumDense(adj)
    const sparse = graphSpectrumSparse(adj)
    expect(sparse.nodes).toBe(dense.nodes)
    expect(sparse.edges).toBe(dense.edges)
    expect(sparse.maxDegree).toBe(dense.maxDegree)
    expect(maxDiff(sparse, dense)).toBeLessThan(1e-9)
    for (const s of SCHEMES) {
      const a = planScheme(s, sparse, 1e-9, adj)
      const b = planScheme(s, dense, 1e-9, adj)
      expect(a.rounds).toBe(b.rounds)
      expect(Math.abs(a.rho - b.rho)).toBeLessThan(1e-8)
    }
  })

  it('graphSpectrum switches to the sparse solver above DENSE_SPECTRUM_MAX_NODES, identically', () => {
    const adj = neighbours(generateTopology('regular', DENSE_SPECTRUM_MAX_NODES + 2, { seed: 3 }))
    expect(graphSpectrum(adj)).toEqual(graphSpectrumSparse(adj))
    const small = neighbours(generateTopology('regular', 50, { seed: 3 }))
    expect(graphSpectrum(small)).toEqual(graphSpectrumDense(small))
  })

  it('two components: lambda_2 = 0 and mu_2 = 1 exactly, as the dense solver finds (to rounding)', () => {
    const a = neighbours(generateTopology('cwic', 31))
    const adj = [...a, ...a.map((l) => l.map((j) => j + 31))]
    const sparse = graphSpectrumSparse(adj)
    const dense = graphSpectrumDense(adj)
    expect(sparse.lambda2).toBe(0)
    expect(sparse.metropolisMu2).toBe(1)
    expect(dense.lambda2).toBeLessThan(1e-12)
    expect(Math.abs(sparse.lambdaMax - dense.lambdaMax)).toBeLessThan(1e-9)
    expect(Math.abs(sparse.metropolisMuMin - dense.metropolisMuMin)).toBeLessThan(1e-9)
  })

  it('the tridiagonal Ritz step (bisection + inverse iteration) matches a dense eigensolver', () => {
    const k = 40
    const alpha = Array.from({ length: k }, (_, i) => Math.sin(i) * 2)
    const beta = Array.from({ length: k - 1 }, (_, i) => 0.5 + Math.cos(3 * i) ** 2)
    const t = mat(k, k)
    for (let i = 0; i < k; i++) {
      t.data[i * k + i] = alpha[i]
      if (i + 1 < k) t.data[i * k + i + 1] = t.data[(i + 1) * k + i] = beta[i]
    }
    const ev = eigvalsh(t)
    for (const which of ['min', 'max'] as const) {
      const r = extremeRitz(alpha, beta, which)
      const want = which === 'min' ? ev[0] : ev[k - 1]
      const next = which === 'min' ? ev[1] : ev[k - 2]
      expect(Math.abs(r.theta - want)).toBeLessThan(1e-13)
      expect(Math.abs(r.next - next)).toBeLessThan(1e-13)
      // T s = theta s
      let res = 0
      for (let i = 0; i < k; i++) {
        let v = alpha[i] * r.s[i] - r.theta * r.s[i]
        if (i > 0) v += beta[i - 1] * r.s[i - 1]
        if (i + 1 < k) v += beta[i] * r.s[i + 1]
        res = Math.max(res, Math.abs(v))
      }
      expect(res).toBeLessThan(1e-10)
    }
  })
})
