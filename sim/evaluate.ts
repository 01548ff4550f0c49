/**
 * Anomaly-detection quality of trained nodes: each node scores its own held-out normal
 * rows and every anomalous row with its own model (ROC-AUC, PR-AUC), and, at its agreed
 * threshold, the per-class table of the imbalance paper (ref. 4). The same evaluation is
 * applied to the local-only baseline (each node trained alone) and to the centralised
 * reference (one model on the pooled training rows, scoring each node's test set).
 */
import { classificationReport, prAuc, rocAuc, thresholdAt, type ClassMetrics } from '../src/eval/metrics.js'
import type { CollabModel } from '../src/models/model.js'
import { isClassifier } from '../src/models/classifier/index.js'
import type { Mat } from '../src/numeric/matrix.js'
import type { NodeData } from './data.js'

export interface NodeScore {
  node: number
  rocAuc: number
  prAuc: number
  /** Per-class metrics at the node's threshold (label 0 = normal, 1 = anomaly). */
  perClass?: ClassMetrics[]
  accuracy?: number
}

export interface Summary {
  /** Mean over evaluated nodes. */
  rocAuc: number
  prAuc: number
  /** Lowest and highest node ROC-AUC. */
  rocAucMin: number
  rocAucMax: number
  nodes: number
  /** Nodes whose model could not be fitted or could not score (counted, not averaged). */
  failed: number
  /** Why each failed node failed (node, `Name: message`), in node order; never dropped silently. */
  failures?: NodeFailure[]
  /** Mean per-class metrics (label 0 normal, 1 anomaly) when requested. */
  perClass?: ClassMetrics[]
  accuracy?: number
}

/** Anything that scores rows (higher = more anomalous): a node's model, a released model. */
export type Scorer = Pick<CollabModel, 'score'>

/** Scores of [testNormal; anomalies] and their 0/1 labels. */
function scoreTest(model: Scorer, node: NodeData, anomalies: Mat): { scores: Float64Array; labels: Int8Array } {
  const a = model.score(node.testNormal)
  const b = model.score(anomalies)
  const scores = new Float64Array(a.length + b.length)
  scores.set(a)
  scores.set(b, a.length)
  const labels = new Int8Array(scores.length)
  labels.fill(1, a.length)
  return { scores, labels }
}

/** Evaluate one node's model on its test set; `threshold` (the node's own) enables per-class metrics. */
export function evaluateNode(node: number, model: Scorer, data: NodeData, anomalies: Mat, threshold: number | null): NodeScore {
  const { scores, labels } = scoreTest(model, data, anomalies)
  const out: NodeScore = { node, rocAuc: rocAuc(scores, labels), prAuc: prAuc(scores, labels) }
  if (threshold !== null) {
    const pred = Int8Array.from(scores, (s) => (s > threshold ? 1 : 0))
    const rep = classificationReport(pred, labels)
    out.perClass = rep.perClass
    out.accuracy = rep.accuracy
  }
  return out
}

/** The threshold per-class metrics use: a classifier's own decision threshold, else the quantile threshold given. */
export function decisionThreshold(model: Scorer | CollabModel, quantileThreshold: number): number {
  return 'kind' in model && isClassifier(model) ? model.decisionThreshold : quantileThreshold
}

/** Threshold at quantile q of a model's scores on its training rows. */
export function trainingThreshold(model: Scorer, train: Mat, q: number): number {
  return thresholdAt(model.score(train), q)
}

/** Mean of node scores (failed nodes counted separately). */
/** One node whose model (a baseline, CollabDict, a release) could not be fitted or could not score. */
export interface NodeFailure {
  node: number
  reason: string
}

/** A caught error as a failure record (name and message). */
export function nodeFailure(node: number, e: unknown): NodeFailure {
  return { node, reason: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }
}

/**
 * `0.962 over 4 of 31; 27 failed: PreprocessError: ... (27)`: a summary's mean with the counts
 * and the distinct failure reasons, for every place a baseline figure is printed.
 */
export function describeSummary(s: Summary | null | undefined, digits = 3): string {
  if (s === null || s === undefined) return '-'
  const total = s.nodes + s.failed
  const mean = Number.isFinite(s.rocAuc) ? s.rocAuc.toFixed(digits) : '-'
  if (s.failed === 0) return `${mean} over ${s.nodes} of ${total}`
  const why = new Map<string, number>()
  for (const f of s.failures ?? []) why.set(f.reason, (why.get(f.reason) ?? 0) + 1)
  const reasons = [...why.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([r, c]) => `${r.length > 140 ? `${r.slice(0, 140)}...` : r} (${c})`)
  return `${mean} over ${s.nodes} of ${total}; ${s.failed} failed${reasons.length ? `: ${reasons.join('; ')}` : ''}`
}

export function summarise(scores: readonly NodeScore[], failedOrList: number | readonly NodeFailure[]): Summary {
  const n = scores.length
  const failures = typeof failedOrList === 'number' ? undefined : [...failedOrList]
  const failed = typeof failedOrList === 'number' ? failedOrList : failedOrList.length
  if (n === 0) return { rocAuc: Number.NaN, prAuc: Number.NaN, rocAucMin: Number.NaN, rocAucMax: Number.NaN, nodes: 0, failed, ...(failures ? { failures } : {}) }
  const mean = (f: (s: NodeScore) => number): number => scores.reduce((a, s) => a + f(s), 0) / n
  const out: Summary = {
    rocAuc: mean((s) => s.rocAuc),
    prAuc: mean((s) => s.prAuc),
    rocAucMin: Math.min(...scores.map((s) => s.rocAuc)),
    rocAucMax: Math.max(...scores.map((s) => s.rocAuc)),
    nodes: n,
    failed,
    ...(failures ? { failures } : {}),
  }
  const withClasses = scores.filter((s) => s.perClass !== undefined)
  if (withClasses.length > 0) {
    const labels = [0, 1]
    out.perClass = labels.map((label) => {
      const rows = withClasses.map((s) => (s.perClass as ClassMetrics[]).find((c) => c.label === label)).filter((c): c is ClassMetrics => c !== undefined)
      const m = (f: (c: ClassMetrics) => number): number => (rows.length ? rows.reduce((a, c) => a + f(c), 0) / rows.length : Number.NaN)
      return {
        label,
        precision: m((c) => c.precision),
        recall: m((c) => c.recall),
        specificity: m((c) => c.specificity),
        f1: m((c) => c.f1),
        gMean: m((c) => c.gMean),
        iba: m((c) => c.iba),
        support: rows.reduce((a, c) => a + c.support, 0),
      }
    })
    out.accuracy = withClasses.reduce((a, s) => a + (s.accuracy as number), 0) / withClasses.length
  }
  return out
}

/** Evenly spaced node indices, at most `max` of them (all when max >= S). */
export function evaluatedNodes(S: number, max: number): number[] {
  if (max >= S) return Array.from({ length: S }, (_, i) => i)
  return Array.from({ length: max }, (_, i) => Math.floor((i * S) / max))
}
