/** Shared test helpers: run one sum() on every node of an in-memory network, measure errors. */
import { Rng } from '../../src/numeric/rng.js'
import { SecretRng } from '../../src/numeric/secret-rng.js'
import { createConsensusNode, createMemoryNetwork, type ConsensusNode, type ConsensusOptions, type MemoryNetwork } from '../../src/consensus/index.js'
import type { Topology } from '../../topologies/index.js'

export interface Net {
  net: MemoryNetwork
  nodes: ConsensusNode[]
}

export function network(t: Topology, opts: Partial<Omit<ConsensusOptions, 'topology' | 'transport'>> = {}, netOpts: Parameters<typeof createMemoryNetwork>[1] = {}): Net {
  const net = createMemoryNetwork(t, netOpts)
  const nodes = net.transports.map((tr) => createConsensusNode({ seed: 11, noise: SecretRng.forSimulation(`test/${String(opts.seed ?? 11)}`, tr.self), ...opts, topology: t, transport: tr }))
  return { net, nodes }
}

export function randomVectors(S: number, len: number, seed: number | string): Float64Array[] {
  const rng = new Rng(seed)
  return Array.from({ length: S }, () => rng.fillNormal(new Float64Array(len)))
}

/** Direct mean of the vectors (the reference the consensus must reach). */
export function directMean(xs: Float64Array[]): Float64Array {
  const out = new Float64Array(xs[0].length)
  for (const x of xs) for (let i = 0; i < x.length; i++) out[i] += x[i]
  for (let i = 0; i < out.length; i++) out[i] /= xs.length
  return out
}

/** sqrt(sum_s ||a_s - ref||^2): network-wide 2-norm of the deviation from `ref`. */
export function deviation(values: Float64Array[], ref: Float64Array): number {
  let s = 0
  for (const v of values) for (let i = 0; i < v.length; i++) s += (v[i] - ref[i]) ** 2
  return Math.sqrt(s)
}
