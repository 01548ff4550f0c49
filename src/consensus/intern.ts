/**
 * One copy per process of what every node of a simulated network records alike: a
 * session's label (`iter:12:stats` is built by each of 10,000 nodes, and each kept its own
 * copy in its session history) and its rounds per chunk ([62] on nearly every node). The
 * tables are bounded: a value past INTERN_LIMIT distinct ones is kept as given (unshared).
 * Interned arrays are frozen: the records that hold them are read, never changed.
 */

/** Distinct values kept per table (labels repeat per iteration: a few hundred per run). */
export const INTERN_LIMIT = 4096

const labels = new Map<string, string>()
const roundLists = new Map<string, readonly number[]>()

/** The process's copy of `label`. */
export function internLabel(label: string): string {
  const got = labels.get(label)
  if (got !== undefined) return got
  if (labels.size < INTERN_LIMIT) labels.set(label, label)
  return label
}

/** The process's frozen copy of a small integer list (rounds per chunk). */
export function internRounds(rounds: readonly number[]): number[] {
  const key = rounds.join(',')
  let got = roundLists.get(key)
  if (got === undefined) {
    got = Object.freeze(rounds.slice())
    if (roundLists.size < INTERN_LIMIT) roundLists.set(key, got)
  }
  // frozen: a record's rounds are read (max, sum), never written
  return got as number[]
}
