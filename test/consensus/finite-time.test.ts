/**
 * Finite-time exact consensus (src/consensus/finite-time.ts): the product of
 * (W - lambda_k I) / (1 - lambda_k) over W's other distinct eigenvalues is the averaging
 * projection 11^T / n, so the network average is reached after (distinct eigenvalues - 1)
 * rounds. References: an independent eigensolver (ml-matrix) for the distinct-eigenvalue
 * count, the dense polynomial applied by matrix products, and a direct mean.
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix'
import { describe, expect, it } from 'vitest'
import { finiteTimeErrorEstimate, lejaOrder } from '../../src/consensus/finite-time.js'
import { denseBaseW, planScheme, type SchemePlan } from '../../src/consensus/weights.js'
import { generateTopology, neighbours, spectralReport, topologySpectrum, type Topology } from '../../topologies/index.js'
import { deviation, directMean, network, randomVectors } from './helpers.js'

/** Distinct eigenvalues of the dense symmetric `w` by ml-matrix (clustered at 1e-7). */
function distinctCount(w: Float64Array, n: number): number {
  const rows = Array.from({ length: n }, (_, i) => Array.from(w.subarray(i * n, (i + 1) * n)))
  const ev = new EigenvalueDecomposition(new Matrix(rows), { assumeSymmetric: true }).realEigenvalues.sort((a, b) => a - b)
  let d = 1
  for (let i = 1; i < ev.length; i++) if (ev[i] - ev[i - 1] > 1e-7) d++
  return d
}

function finitePlan(t: Topology, tol: number): Extract<SchemePlan, { kind: 'finite' }> {
  const p = planScheme('finite-time', topologySpectrum(t), tol, neighbours(t))
  if (p.kind !== 'finite') throw new Error(`expected a finite-time plan on ${t.nodes.length} nodes, got ${p.kind}`)
  return p
}

describe('finite-time exact consensus', () => {
  it.each([
    ['cwic', 31],
    ['ring', 31],
    ['torus', 100],
  ] as const)('%s-%i: rounds = distinct eigenvalues of W - 1 (ml-matrix), fewer than Chebyshev at 1e-9', (kind, n) => {
    const t = generateTopology(kind, n)
    const p = finitePlan(t, 1e-9)
    const w = denseBaseW(p.base, neighbours(t))
    expect(p.rounds).toBe(distinctCount(w, n) - 1)
    expect(p.rounds).toBeLessThan(spectralReport(t, 1e-9).schemes.chebyshev.rounds)
    expect(p.errorBound).toBeLessThan(1e-9)
  })

  it('the polynomial applied by dense matrix products is the averaging projection 11^T / n', () => {
    const t = generateTopology('cwic', 31)
    const adj = neighbours(t)
    const p = finitePlan(t, 1e-9)
    const n = adj.length
    const W = new Matrix(Array.from({ length: n }, (_, i) => Array.from(denseBaseW(p.base, adj).subarray(i * n, (i + 1) * n))))
    let Q = Matrix.eye(n)
    for (const r of p.roots) Q = W.clone().sub(Matrix.eye(n).mul(r)).mul(1 / (1 - r)).mmul(Q)
    let worst = 0
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) worst = Math.max(worst, Math.abs(Q.get(i, j) - 1 / n))
    expect(worst).toBeLessThan(1e-11)
  })

  it('over the consensus engine: every node holds the exact mean after the planned rounds (1e-12, far below tol)', async () => {
    const t = generateTopology('cwic', 31)
    const p = finitePlan(t, 1e-9)
    const xs = randomVectors(31, 16, 'finite-time')
    const mean = directMean(xs)
    const { nodes } = network(t, { scheme: 'finite-time', tol: 1e-9, chunks: 1 })
    const out = await Promise.all(nodes.map((nd, i) => nd.average(xs[i], 'x')))
    expect(nodes[0].stats.history[0].rounds[0]).toBe(p.rounds)
    expect(deviation(out, mean) / deviation(xs, mean)).toBeLessThan(1e-12)
    for (const nd of nodes) nd.close()
  })

  it('with chunk noise (C = 3) the sum is exact to the session tolerance', async () => {
    const t = generateTopology('ring', 31)
    const xs = randomVectors(31, 8, 'finite-time/chunks')
    const mean = directMean(xs)
    const { nodes } = network(t, { scheme: 'finite-time', tol: 1e-9, chunks: 3 })
    const out = await Promise.all(nodes.map((nd, i) => nd.average(xs[i], 'x')))
    expect(deviation(out, mean) / deviation(xs, mean)).toBeLessThan(1e-9)
    for (const nd of nodes) nd.close()
  })

  it('falls back to Chebyshev where finite time is no faster (random expander, many distinct eigenvalues) or too large', () => {
    const reg = generateTopology('regular', 100, { seed: 4 })
    const p = planScheme('finite-time', topologySpectrum(reg), 1e-9, neighbours(reg))
    expect(p.kind).toBe('chebyshev')
    expect(p.rounds).toBe(spectralReport(reg, 1e-9).schemes.chebyshev.rounds)
    const big = generateTopology('ring', 402)
    expect(planScheme('finite-time', topologySpectrum(big), 1e-9, neighbours(big)).kind).toBe('chebyshev')
  })

  it('the rounding estimate refuses a root order that amplifies: Leja order stays small where ascending order does not', () => {
    const t = generateTopology('ring', 101)
    const p = finitePlan(t, 1e-9)
    const ascending = Float64Array.from([...p.roots].sort((a, b) => a - b))
    const ev = [...p.roots, 1]
    const leja = finiteTimeErrorEstimate(lejaOrder([...p.roots]), ev, 1)
    const naive = finiteTimeErrorEstimate(ascending, ev, 1)
    expect(leja).toBeLessThan(1e-9)
    expect(naive).toBeGreaterThan(1e3 * leja)
  })
})
