/**
 * When a node's own mixture weights pi^s (eq. 13, used by its score, eq. 20) work against
 * it: a pattern the network holds but this node never saw gets weight ~0 here, so this
 * node's normal rows of that pattern would score as anomalies (and, with labels, its
 * ROC-AUC with pi^s falls below the one with the network's weights Nbar_k / sum Nbar).
 */
import type { GgmModel } from './model.js'

export interface UnseenComponent {
  /** Index of the component in the current model. */
  index: number
  /** Its share of the network's rows, Nbar_k / sum Nbar. */
  networkShare: number
  /** Its weight pi^s_k on this node. */
  ownWeight: number
}

/** Share of the network's rows above which a component counts as a real pattern. */
export const UNSEEN_MIN_SHARE = 0.05
/** Own weight below this fraction of the network share counts as never seen. */
export const UNSEEN_RATIO = 0.01

/** Components holding >= minShare of the network's rows whose weight on this node is < ratio times that share. */
export function unseenComponents(model: GgmModel, minShare = UNSEEN_MIN_SHARE, ratio = UNSEEN_RATIO): UnseenComponent[] {
  const own = model.weights
  const net = model.networkWeights
  const out: UnseenComponent[] = []
  for (let k = 0; k < own.length; k++) {
    if (net[k] >= minShare && own[k] < ratio * net[k]) out.push({ index: k, networkShare: net[k], ownWeight: own[k] })
  }
  return out
}

/** One line for a report: which patterns this node never saw, or null when none. */
export function unseenLine(node: number | string, unseen: readonly UnseenComponent[]): string | null {
  if (unseen.length === 0) return null
  const parts = unseen.map((u) => `component ${u.index} (${(100 * u.networkShare).toFixed(0)} % of the network's rows, weight ${u.ownWeight.toExponential(1)} here)`)
  return `node ${node}: its own weights pi^s exclude ${parts.join(', ')}: normal rows of those patterns score as anomalies on this node; score with the network's weights (hyper weights: 'shared') if it meets them`
}
