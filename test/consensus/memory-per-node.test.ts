/**
 * Memory per consensus node must not grow with the network size S: the simulator hosts
 * 100,000 nodes in one process, where any per-node array of length S (a dense
 * Float64Array(S) was 80 KB per node at S = 10,000) costs S^2 bytes. Measured as heap +
 * ArrayBuffer bytes retained after a full GC by S nodes that have each run one chunked
 * sum (finished sessions linger for late neighbours, so the session state is included),
 * at two network sizes: shared read-only structures (adjacency, relabellings) cost the
 * same per node at both, so the per-node figures must agree, while an O(S) array of f64
 * per node would add 8 (S2 - S1) bytes per node. A byte count, not a timing: a loaded
 * machine does not change it.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { createConsensusNode, createMemoryNetwork, createVirtualClock, type ConsensusNode } from '../../src/consensus/index.js'
import { SecretRng } from '../../src/numeric/secret-rng.js'
import { generateTopology } from '../../topologies/index.js'
import { directMean, randomVectors } from './helpers.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

function retained(): number {
  for (let i = 0; i < 4; i++) gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

const LEN = 16
const CHUNKS = 2

/** Bytes per node retained by S nodes after one chunked sum, and the largest relative error of their sums. */
async function perNode(S: number): Promise<{ bytes: number; error: number; nodes: ConsensusNode[] }> {
  const t = generateTopology('regular', S, { degree: 3, seed: 1 })
  const xs = randomVectors(S, LEN, `mem/${S}`)
  const want = directMean(xs).map((v) => v * S)
  const clock = createVirtualClock()
  const before = retained()
  const net = createMemoryNetwork(t, { clock, seed: 1 })
  const nodes = net.transports.map((tr) => createConsensusNode({ topology: t, transport: tr, clock, seed: 3, tol: 1e-9, chunks: CHUNKS, noise: SecretRng.forSimulation('mem', tr.self) }))
  const sums = Promise.all(nodes.map((c, s) => c.sum(xs[s], 'mem')))
  await clock.run({ until: sums, maxMs: 1e9, describe: () => 'memory test' })
  let error = 0
  for (const v of await sums) {
    let d = 0
    let n = 0
    for (let i = 0; i < LEN; i++) {
      d += (v[i] - want[i]) ** 2
      n += want[i] ** 2
    }
    error = Math.max(error, Math.sqrt(d / n))
  }
  const bytes = (retained() - before) / S
  if (process.env.MEM_TEST_VERBOSE) console.log(`S = ${S}: ${bytes.toFixed(0)} bytes per node`)
  return { bytes, error, nodes }
}

describe('consensus node memory', () => {
  it('does not grow with the network size (no per-node array of length S)', async () => {
    const small = await perNode(200)
    for (const c of small.nodes) c.close()
    const large = await perNode(1400)
    for (const c of large.nodes) c.close()
    // both networks really summed (the retained state is that of a finished session)
    expect(small.error).toBeLessThan(1e-6)
    expect(large.error).toBeLessThan(1e-6)
    // a per-node Float64Array(S) would add 8 * 1200 = 9,600 bytes per node; allow a quarter of it for GC noise
    expect(large.bytes - small.bytes).toBeLessThan((8 * (1400 - 200)) / 4)
    // and the absolute figure stays that of a few length-LEN buffers per chunk and peer, plus bookkeeping
    expect(large.bytes).toBeLessThan(32 * 1024)
  }, 600_000) // a few seconds alone; generous for a loaded machine (no figure here depends on time)
})
