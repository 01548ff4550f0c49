/**
 * Exact network-wide sums for S nodes in one process: the reference aggregation (no
 * consensus, no error) used to check that decentralised learning equals centralised
 * learning, and for `collab fit --exact`. Every node's aggregate(vec, label) waits until
 * all S nodes have contributed to `label`, then all receive the same sum, added in node
 * order so the result does not depend on arrival order. A label used again by the same
 * node opens the next session of that label (the k-th calls of all nodes pair up).
 */
import type { Aggregate } from '../models/model.js'

export class AggregateMismatchError extends Error {
  override name = 'AggregateMismatchError'
}

interface Pending {
  vecs: (Float64Array | undefined)[]
  count: number
  waiters: { resolve: (v: Float64Array) => void; reject: (e: Error) => void }[]
}

export interface ExactAggregator {
  /** The aggregate function of node s. */
  forNode(s: number): Aggregate
  /** Reject every pending and future call (a node failed: the others must not wait forever). */
  fail(err: Error): void
}

export function createExactAggregator(size: number): ExactAggregator {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`exact aggregator needs >= 1 node, got ${size}`)
  const pending = new Map<string, Pending>()
  const calls: Map<string, number>[] = Array.from({ length: size }, () => new Map<string, number>())
  let failed: Error | null = null

  const contribute = (s: number, vec: Float64Array, baseLabel: string): Promise<Float64Array> => {
    if (failed) return Promise.reject(failed)
    const k = calls[s].get(baseLabel) ?? 0
    calls[s].set(baseLabel, k + 1)
    const label = `${baseLabel}#${k}`
    let p = pending.get(label)
    if (p === undefined) {
      p = { vecs: new Array<Float64Array | undefined>(size).fill(undefined), count: 0, waiters: [] }
      pending.set(label, p)
    }
    const first = p.vecs.find((v) => v !== undefined)
    if (first !== undefined && first.length !== vec.length) {
      return Promise.reject(
        new AggregateMismatchError(`node ${s} sent ${vec.length} values to '${label}' but others sent ${first.length}; all nodes must share one model config`),
      )
    }
    p.vecs[s] = Float64Array.from(vec)
    p.count++
    const entry = p
    const result = new Promise<Float64Array>((resolve, reject) => entry.waiters.push({ resolve, reject }))
    if (entry.count === size) {
      pending.delete(label)
      const sum = new Float64Array(vec.length)
      for (let j = 0; j < size; j++) {
        const v = entry.vecs[j] as Float64Array
        for (let i = 0; i < sum.length; i++) sum[i] += v[i]
      }
      for (const w of entry.waiters) w.resolve(Float64Array.from(sum))
    }
    return result
  }

  return {
    forNode(s: number): Aggregate {
      if (!Number.isInteger(s) || s < 0 || s >= size) throw new RangeError(`node index ${s} outside 0..${size - 1}`)
      return (vec, label) => contribute(s, vec, label)
    },
    fail(err: Error): void {
      failed = err
      for (const p of pending.values()) for (const w of p.waiters) w.reject(err)
      pending.clear()
    },
  }
}
