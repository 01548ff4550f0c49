/**
 * In-process reference runs of Algorithm 1 with exact network sums (no consensus error):
 * the centralised reference (one node holding every row) and S nodes summed exactly.
 * Works for any CollabModel; used by tests, the experiments and `fitExact`/`fitCentralised`.
 */
import type { Aggregate, CollabModel } from '../model.js'
import type { Mat } from '../../numeric/matrix.js'

export class ExactRunError extends Error {
  override name = 'ExactRunError'
}

/** Upper bound on rounds in `runExact` (a model stops itself at its own maxIter long before). */
export const EXACT_MAX_ROUNDS = 100_000

/** Sum of equal-length vectors in index order (deterministic: every node sees the same bits). */
export function sumVectors(vectors: readonly Float64Array[]): Float64Array {
  if (vectors.length === 0) throw new ExactRunError('nothing to sum')
  const n = vectors[0].length
  const out = new Float64Array(n)
  for (const v of vectors) {
    if (v.length !== n) throw new ExactRunError(`vectors of lengths ${n} and ${v.length} cannot be summed`)
    for (let i = 0; i < n; i++) out[i] += v[i]
  }
  return out
}

/**
 * S nodes' Aggregate functions over an exact in-process sum: the i-th call with a given
 * label on every node forms one round; each caller receives its own copy of the sum
 * (added in node order) once all S nodes have contributed.
 */
export function exactNetwork(S: number): { aggregate(node: number): Aggregate } {
  if (!Number.isInteger(S) || S < 1) throw new ExactRunError(`need at least one node, got ${S}`)
  interface Round {
    vecs: (Float64Array | undefined)[]
    waiters: { node: number; resolve: (v: Float64Array) => void; reject: (e: Error) => void }[]
  }
  const rounds = new Map<string, Round>()
  const calls: Map<string, number>[] = Array.from({ length: S }, () => new Map<string, number>())
  return {
    aggregate(node: number): Aggregate {
      if (!Number.isInteger(node) || node < 0 || node >= S) throw new ExactRunError(`node ${node} outside 0..${S - 1}`)
      return (vec, label) =>
        new Promise<Float64Array>((resolve, reject) => {
          const k = calls[node].get(label) ?? 0
          calls[node].set(label, k + 1)
          const key = `${label}#${k}`
          let round = rounds.get(key)
          if (round === undefined) {
            round = { vecs: new Array<Float64Array | undefined>(S).fill(undefined), waiters: [] }
            rounds.set(key, round)
          }
          round.vecs[node] = Float64Array.from(vec)
          round.waiters.push({ node, resolve, reject })
          if (round.waiters.length === S) {
            rounds.delete(key)
            try {
              const sum = sumVectors(round.vecs as Float64Array[])
              for (const w of round.waiters) w.resolve(Float64Array.from(sum))
            } catch (err) {
              for (const w of round.waiters) w.reject(err as Error)
            }
          }
        })
    },
  }
}

/**
 * Algorithm 1 with exact sums: every model prepares on its rows, then repeats
 * localUpdate -> exact sum -> optimize until the models report convergence.
 * `models[s]` holds rows `parts[s]`; all models must share hyper-parameters.
 */
export async function runExact<T extends CollabModel>(models: T[], parts: Mat[], maxRounds = EXACT_MAX_ROUNDS): Promise<T[]> {
  if (models.length !== parts.length) throw new ExactRunError(`${models.length} models for ${parts.length} data parts`)
  const net = exactNetwork(models.length)
  await Promise.all(models.map((m, s) => m.prepare(parts[s], net.aggregate(s))))
  for (let round = 0; !models[0].converged; round++) {
    if (round >= maxRounds) throw new ExactRunError(`no convergence after ${maxRounds} rounds; lower the model's maxIter`)
    const sum = sumVectors(models.map((m, s) => m.localUpdate(parts[s])))
    for (const m of models) m.optimize(sum)
  }
  return models
}
