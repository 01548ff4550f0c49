/**
 * `npm run bench -- spectrum`: the graph spectrum (Laplacian lambda_2, lambda_max and the
 * Metropolis mu_2, mu_min every weighting scheme needs) by Lanczos on the adjacency lists vs the
 * dense S x S eigendecompositions, on random 3-regular graphs of S = 1,000 and 2,000 nodes (the
 * sparse solver alone at 10,000). Wall-clock time of one call; max |difference| of the figures.
 */
import { graphSpectrumDense, graphSpectrumSparse, type GraphSpectrum } from '../src/consensus/index.js'
import { generateTopology, neighbours } from '../topologies/index.js'

const KEYS = ['lambda2', 'lambdaMax', 'metropolisMu2', 'metropolisMuMin'] as const

function timed<T>(fn: () => T): { ms: number; value: T } {
  const t0 = performance.now()
  const value = fn()
  return { ms: performance.now() - t0, value }
}

export async function run(): Promise<void> {
  console.log('graph spectrum, random 3-regular graph (seed 1): one call, wall-clock ms')
  console.log('| S | dense ms | sparse ms | speed-up | max abs diff |')
  console.log('|---:|---:|---:|---:|---:|')
  for (const S of [1000, 2000, 10000]) {
    const adj = neighbours(generateTopology('regular', S, { seed: 1 }))
    const sparse = timed(() => graphSpectrumSparse(adj))
    let dense: { ms: number; value: GraphSpectrum } | null = null
    if (S <= 2000) dense = timed(() => graphSpectrumDense(adj))
    const diff = dense !== null ? Math.max(...KEYS.map((k) => Math.abs(dense.value[k] - sparse.value[k]))) : NaN
    console.log(
      `| ${S} | ${dense !== null ? dense.ms.toFixed(0) : '- (skipped: ~6 min, 800 MB per matrix)'} | ${sparse.ms.toFixed(0)} | ${dense !== null ? (dense.ms / sparse.ms).toFixed(1) + 'x' : '-'} | ${dense !== null ? diff.toExponential(1) : '-'} |`,
    )
  }
}
