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

export async function evaluateRun(sc: Scenario, data: SimData, root: Rng, nodes: SimNode[]): Promise<RunEvaluation> {
  const anomaliesFor = anomalySampler(sc, data, root)
  const evalSet = new Set(evaluatedNodes(sc.nodes, sc.evaluate.maxNodes).filter((s) => nodes[s].status === 'finished'))
  const collab = evaluateCollab(sc, data, nodes, evalSet, anomaliesFor)
  const released = sc.training.privacy.release.enabled ? evaluateReleased(sc, data, nodes, evalSet, anomaliesFor) : null
  const local = sc.evaluate.local ? await evaluateLocal(sc, data, anomaliesFor) : null
  const central = sc.evaluate.centralised ? await evaluateCentralised(sc, data, anomaliesFor) : null
  return {
    auc: { collab: collab.summary, local: local?.summary ?? null, centralised: central?.summary ?? null, released },
    collabByNode: collab.byNode,
    localByNode: local?.byNode ?? new Map<number, number>(),
    centralByNode: central?.byNode ?? new Map<number, number>(),
  }
}

type AnomaliesFor = (s: number) => Mat

/** Each node's anomalous test rows: all of them, or a seeded sample keeping the dataset's class ratio. */
function anomalySampler(sc: Scenario, data: SimData, root: Rng): AnomaliesFor {
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

function evaluateCollab(sc: Scenario, data: SimData, nodes: SimNode[], evalSet: Set<number>, anomaliesFor: AnomaliesFor): { summary: Summary; byNode: Map<number, NodeScore> } {
  const scores: NodeScore[] = []
  const byNode = new Map<number, NodeScore>()
  const failed: NodeFailure[] = []
  for (const s of evalSet) {
    const r = nodes[s].result as TrainingResult
    try {
      const ns = evaluateNode(s, r.model, data.nodes[s], anomaliesFor(s), sc.evaluate.perClass ? decisionThreshold(r.model, r.threshold) : null)
      scores.push(ns)
      byNode.set(s, ns)
    } catch (e) {
      failed.push(nodeFailure(s, e))
    }
  }
  return { summary: summarise(scores, failed), byNode }
}

/** The DP releases, scored by a third party (what leaves the network). */
function evaluateReleased(sc: Scenario, data: SimData, nodes: SimNode[], evalSet: Set<number>, anomaliesFor: AnomaliesFor): Summary {
  const scores: NodeScore[] = []
  const failed: NodeFailure[] = []
  for (const s of evalSet) {
    const rel = (nodes[s].result as TrainingResult).release
    if (rel === null || 'refused' in rel) {
      failed.push({ node: s, reason: rel === null ? 'no release' : `release refused: ${rel.refused}` })
      continue
    }
    try {
      const scorer = { score: (X: Mat) => scoreReleasedGgm(rel.released, X) }
      // A third party's threshold: the one in the released file (a quantile of the model's own scores)
      const thr = sc.evaluate.perClass ? rel.released.threshold.value : null
      scores.push(evaluateNode(s, scorer, data.nodes[s], anomaliesFor(s), thr))
    } catch (e) {
      failed.push(nodeFailure(s, e))
    }
  }
  return summarise(scores, failed)
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
