/**
 * The evaluation phase of a simulated run: each evaluated node's CollabDict model, the
 * network's DP release (scored as a third party would), the local-only baseline (the node
 * alone) and the centralised fit (all training rows pooled), on the node's own test rows.
 */
import type { TrainingResult } from '../src/learning/index.js'
import { selectRows, type Mat } from '../src/numeric/matrix.js'
import type { Rng } from '../src/numeric/rng.js'
import { scoreReleasedGgm } from '../src/privacy/ggm-release.js'
import type { SimData } from './data.js'
import { decisionThreshold, evaluateNode, evaluatedNodes, nodeFailure, summarise, trainingThreshold, type NodeFailure, type NodeScore, type Summary } from './evaluate.js'
import type { SimNode } from './network-run.js'
import type { SimReport } from './report-types.js'
import { referenceConfig, simulationSecret, trainAlone } from './run-common.js'
import type { Scenario } from './scenario.js'

export interface RunEvaluation {
  auc: SimReport['auc']
  /** ROC/PR-AUC of each evaluated node's CollabDict model. */
  collabByNode: Map<number, NodeScore>
  localByNode: Map<number, number>
  centralByNode: Map<number, number>
}

/** The trained-model part of one evaluated node: its CollabDict model and (release on) the network's DP release. */
export interface NodeEvaluation {
  node: number
  collab: { score: NodeScore } | { failure: NodeFailure }
  released: { score: NodeScore } | { failure: NodeFailure } | null
}

export async function evaluateRun(sc: Scenario, data: SimData, root: Rng, nodes: SimNode[]): Promise<RunEvaluation> {
  const anomaliesFor = anomalySampler(sc, data, root)
  const perNode = evaluatedFinished(sc, (s) => nodes[s].status === 'finished').map((s) => evaluateTrainedNode(sc, data, s, nodes[s].result as TrainingResult, anomaliesFor))
  return completeEvaluation(sc, data, anomaliesFor, perNode)
}

/** The nodes whose models are scored: the evaluated ones (evaluate.maxNodes) that finished, in node order. */
export function evaluatedFinished(sc: Scenario, finished: (s: number) => boolean): number[] {
  return [...new Set(evaluatedNodes(sc.nodes, sc.evaluate.maxNodes).filter(finished))]
}

/**
 * Combine the trained models' scores (one NodeEvaluation per evaluated node, in node order,
 * wherever they were computed) with the local-only and centralised baselines.
 */
export async function completeEvaluation(sc: Scenario, data: SimData, anomaliesFor: AnomaliesFor, perNode: readonly NodeEvaluation[]): Promise<RunEvaluation> {
  return combineEvaluation(sc, perNode, await referenceEvaluation(sc, data, anomaliesFor))
}

/** The baselines (local-only fits, the centralised fit): they need no trained network. */
export interface ReferenceEvaluation {
  local: { summary: Summary; byNode: Map<number, number> } | null
  central: { summary: Summary; byNode: Map<number, number> } | null
}

export async function referenceEvaluation(sc: Scenario, data: SimData, anomaliesFor: AnomaliesFor): Promise<ReferenceEvaluation> {
  const local = sc.evaluate.local ? await evaluateLocal(sc, data, anomaliesFor) : null
  const central = sc.evaluate.centralised ? await evaluateCentralised(sc, data, anomaliesFor) : null
  return { local, central }
}

/** The trained models' scores (one NodeEvaluation per evaluated node, in node order, wherever computed) with the baselines. */
export function combineEvaluation(sc: Scenario, perNode: readonly NodeEvaluation[], refs: ReferenceEvaluation): RunEvaluation {
  const collab = combineScores(perNode.map((p) => p.collab))
  const released = sc.training.privacy.release.enabled ? combineScores(perNode.map((p) => p.released ?? { failure: { node: p.node, reason: 'no release' } })).summary : null
  const { local, central } = refs
  return {
    auc: { collab: collab.summary, local: local?.summary ?? null, centralised: central?.summary ?? null, released },
    collabByNode: collab.byNode,
    localByNode: local?.byNode ?? new Map<number, number>(),
    centralByNode: central?.byNode ?? new Map<number, number>(),
  }
}

function combineScores(items: ReadonlyArray<{ score: NodeScore } | { failure: NodeFailure }>): { summary: Summary; byNode: Map<number, NodeScore> } {
  const scores: NodeScore[] = []
  const byNode = new Map<number, NodeScore>()
  const failed: NodeFailure[] = []
  for (const it of items) {
    if ('score' in it) {
      scores.push(it.score)
      byNode.set(it.score.node, it.score)
    } else failed.push(it.failure)
  }
  return { summary: summarise(scores, failed), byNode }
}

export type AnomaliesFor = (s: number) => Mat

/** Each node's anomalous test rows: all of them, or a seeded sample keeping the dataset's class ratio. */
export function anomalySampler(sc: Scenario, data: SimData, root: Rng): AnomaliesFor {
  const cache = new Map<number, Mat>()
  return (s) => {
    if (sc.evaluate.anomalies === 'all') return data.anomalies
    let m = cache.get(s)
    if (m === undefined) {
      const want = Math.max(1, Math.round((data.nodes[s].testNormal.rows * data.counts.anomalies) / data.counts.normal))
      const pick = root.fork(`eval-anomalies:${s}`).permutation(data.anomalies.rows).slice(0, Math.min(want, data.anomalies.rows))
      m = selectRows(data.anomalies, pick)
      cache.set(s, m)
    }
    return m
  }
}

/** Score node s's CollabDict model and, release on, the DP release it holds (as a third party would). */
export function evaluateTrainedNode(sc: Scenario, data: SimData, s: number, r: TrainingResult, anomaliesFor: AnomaliesFor): NodeEvaluation {
  let collab: NodeEvaluation['collab']
  try {
    collab = { score: evaluateNode(s, r.model, data.nodes[s], anomaliesFor(s), sc.evaluate.perClass ? decisionThreshold(r.model, r.threshold) : null) }
  } catch (e) {
    collab = { failure: nodeFailure(s, e) }
  }
  return { node: s, collab, released: sc.training.privacy.release.enabled ? evaluateReleased(sc, data, s, r, anomaliesFor) : null }
}

/** The DP release of one node, scored by a third party (what leaves the network). */
function evaluateReleased(sc: Scenario, data: SimData, s: number, r: TrainingResult, anomaliesFor: AnomaliesFor): { score: NodeScore } | { failure: NodeFailure } {
  const rel = r.release
  if (rel === null || 'refused' in rel) return { failure: { node: s, reason: rel === null ? 'no release' : `release refused: ${rel.refused}` } }
  try {
    const scorer = { score: (X: Mat) => scoreReleasedGgm(rel.released, X) }
    // A third party's threshold: the one in the released file (a quantile of the model's own scores)
    const thr = sc.evaluate.perClass ? rel.released.threshold.value : null
    return { score: evaluateNode(s, scorer, data.nodes[s], anomaliesFor(s), thr) }
  } catch (e) {
    return { failure: nodeFailure(s, e) }
  }
}

async function evaluateLocal(sc: Scenario, data: SimData, anomaliesFor: AnomaliesFor): Promise<{ summary: Summary; byNode: Map<number, number> }> {
  const config = sc.training
  const refConfig = referenceConfig(config)
  const scores: NodeScore[] = []
  const byNode = new Map<number, number>()
  // a failing local-only fit is counted with its reason, never dropped (issue 14: 27 of 31 once failed unseen)
  const failed: NodeFailure[] = []
  for (const s of evaluatedNodes(sc.nodes, sc.evaluate.maxNodes)) {
    try {
      const r = await trainAlone(refConfig, data.nodes[s].train, simulationSecret(sc, `local:${s}`))
      const thr = sc.evaluate.perClass ? decisionThreshold(r.model, trainingThreshold(r.model, data.nodes[s].train, config.thresholdQuantile)) : null
      const ns = evaluateNode(s, r.model, data.nodes[s], anomaliesFor(s), thr)
      scores.push(ns)
      byNode.set(s, ns.rocAuc)
    } catch (e) {
      failed.push(nodeFailure(s, e))
    }
  }
  return { summary: summarise(scores, failed), byNode }
}

async function evaluateCentralised(sc: Scenario, data: SimData, anomaliesFor: AnomaliesFor): Promise<{ summary: Summary; byNode: Map<number, number> }> {
  const scores: NodeScore[] = []
  const byNode = new Map<number, number>()
  const failed: NodeFailure[] = []
  try {
    const r = await trainAlone(referenceConfig(sc.training), data.trainAll, simulationSecret(sc, 'centralised'))
    for (const s of evaluatedNodes(sc.nodes, sc.evaluate.maxNodes)) {
      try {
        const ns = evaluateNode(s, r.model, data.nodes[s], anomaliesFor(s), sc.evaluate.perClass ? decisionThreshold(r.model, r.threshold) : null)
        scores.push(ns)
        byNode.set(s, ns.rocAuc)
      } catch (e) {
        failed.push(nodeFailure(s, e))
      }
    }
  } catch (e) {
    for (const s of evaluatedNodes(sc.nodes, sc.evaluate.maxNodes)) failed.push(nodeFailure(s, e))
  }
  return { summary: summarise(scores, failed), byNode }
}
