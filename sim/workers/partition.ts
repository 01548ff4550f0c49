/**
 * Which worker thread owns which nodes: contiguous blocks of node ids, as equal as possible.
 * (Per-session relabelling, DESIGN.md eq. 6, gives every session a random neighbourhood,
 * so no static partition keeps a session's edges inside one block: about (W-1)/W of the
 * frames cross workers whatever the ordering; blocks keep each worker's data contiguous.)
 */
export interface Partition {
  S: number
  workers: number
  /** This worker's nodes: lo <= node < hi. */
  lo: number
  hi: number
  owner(node: number): number
}

/** First node of worker w's block (w = workers gives S). */
export function blockStart(S: number, workers: number, w: number): number {
  return Math.floor((w * S) / workers)
}

export function partition(S: number, workers: number, w: number): Partition {
  const starts = Array.from({ length: workers + 1 }, (_, i) => blockStart(S, workers, i))
  // owner by the inverse of blockStart: the largest w with start(w) <= node
  const owner = (node: number): number => {
    let k = Math.min(workers - 1, Math.floor((node * workers) / S))
    while (k > 0 && starts[k] > node) k--
    while (k < workers - 1 && starts[k + 1] <= node) k++
    return k
  }
  return { S, workers, lo: starts[w], hi: starts[w + 1], owner }
}
