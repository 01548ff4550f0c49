/**
 * Evaluation metrics the reference papers report: ROC-AUC and PR-AUC for anomaly scores,
 * and the per-class imbalanced-classification table (precision, recall, specificity, F1,
 * G-mean, index of balanced accuracy) of the DP medical-classification paper (ref. 4).
 *
 * Conventions: labels are 0/1 with 1 = positive (anomaly); scores are "higher = more
 * anomalous". Definitions follow scikit-learn (roc_auc_score, average_precision_score) and
 * imbalanced-learn (classification_report_imbalanced, alpha = 0.1), so numbers compare
 * with published tables.
 */

export class MetricInputError extends Error {
  override name = 'MetricInputError'
}

function checkPair(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  if (a.length !== b.length) {
    throw new MetricInputError(`${what}: ${a.length} scores/predictions but ${b.length} labels; pass one label per sample`)
  }
  if (a.length === 0) throw new MetricInputError(`${what}: empty input; pass at least one sample of each class`)
}

function binaryCounts(labels: ArrayLike<number>, what: string): { pos: number; neg: number } {
  let pos = 0
  let neg = 0
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]
    if (y === 1) pos++
    else if (y === 0) neg++
    else throw new MetricInputError(`${what}: label ${y} at index ${i}; labels must be 0 (normal) or 1 (anomaly)`)
  }
  if (pos === 0 || neg === 0) {
    throw new MetricInputError(`${what}: needs both classes, got ${pos} positives and ${neg} negatives`)
  }
  return { pos, neg }
}

/** Indices sorted by score, ascending (stable). NaN scores are refused. */
function argsortAsc(scores: ArrayLike<number>, what: string): number[] {
  const idx = new Array<number>(scores.length)
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(scores[i])) throw new MetricInputError(`${what}: score at index ${i} is NaN; fix the model's scores first`)
    idx[i] = i
  }
  idx.sort((a, b) => scores[a] - scores[b])
  return idx
}

/**
 * Area under the ROC curve = P(score of a random positive > score of a random negative)
 * + 1/2 P(tie), computed by the Mann-Whitney rank sum with midranks for ties. O(n log n).
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkPair(scores, labels, 'rocAuc')
  const { pos, neg } = binaryCounts(labels, 'rocAuc')
  const idx = argsortAsc(scores, 'rocAuc')
  let rankSumPos = 0
  let i = 0
  while (i < idx.length) {
    let j = i
    while (j + 1 < idx.length && scores[idx[j + 1]] === scores[idx[i]]) j++
    const midrank = (i + j) / 2 + 1 // ranks are 1-based
    for (let t = i; t <= j; t++) if (labels[idx[t]] === 1) rankSumPos += midrank
    i = j + 1
  }
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg)
}

/**
 * Average precision (scikit-learn's average_precision_score): AP = sum_n (R_n - R_{n-1}) P_n
 * over the distinct score thresholds taken from high to low (tied scores form one
 * threshold), with R_0 = 0. No interpolation.
 */
export function prAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkPair(scores, labels, 'prAuc')
  const { pos } = binaryCounts(labels, 'prAuc')
  const idx = argsortAsc(scores, 'prAuc').reverse()
  let tp = 0
  let fp = 0
  let prevRecall = 0
  let ap = 0
  let i = 0
  while (i < idx.length) {
    let j = i
    while (j + 1 < idx.length && scores[idx[j + 1]] === scores[idx[i]]) j++
    for (let t = i; t <= j; t++) {
      if (labels[idx[t]] === 1) tp++
      else fp++
    }
    const recall = tp / pos
    const precision = tp / (tp + fp)
    ap += (recall - prevRecall) * precision
    prevRecall = recall
    i = j + 1
  }
  return ap
}

/**
 * The q-quantile of the scores (numpy's default linear interpolation between order
 * statistics), e.g. `thresholdAt(trainScores, 0.95)` flags the top 5 % of normal scores.
 */
export function thresholdAt(scores: ArrayLike<number>, quantile: number): number {
  if (scores.length === 0) throw new MetricInputError('thresholdAt: no scores; pass at least one score')
  if (!(quantile >= 0 && quantile <= 1)) {
    throw new MetricInputError(`thresholdAt: quantile ${quantile} is outside [0, 1]`)
  }
  const s = Float64Array.from(scores)
  for (let i = 0; i < s.length; i++) {
    if (Number.isNaN(s[i])) throw new MetricInputError(`thresholdAt: score at index ${i} is NaN`)
  }
  s.sort()
  const pos = quantile * (s.length - 1)
  const lo = Math.floor(pos)
  const hi = Math.min(lo + 1, s.length - 1)
  return s[lo] + (pos - lo) * (s[hi] - s[lo])
}

/** Imbalanced-learn's default weight of the dominance term in the index of balanced accuracy. */
export const IBA_ALPHA = 0.1

export interface ClassMetrics {
  /** The class label this row treats as "positive". */
  label: number
  /** TP / (TP + FP); 0 when the class is never predicted (scikit-learn's zero_division). */
  precision: number
  /** TP / (TP + FN), the sensitivity. */
  recall: number
  /** TN / (TN + FP). */
  specificity: number
  f1: number
  /** sqrt(recall * specificity) (imbalanced-learn, per class). */
  gMean: number
  /** Index of balanced accuracy: (1 + alpha (recall - specificity)) gMean^2, alpha = 0.1. */
  iba: number
  /** Number of samples whose true label is this class. */
  support: number
}

export interface ClassificationReport {
  accuracy: number
  /** One row per class present in labels or predictions, sorted by label. */
  perClass: ClassMetrics[]
}

/**
 * Per-class precision, recall, specificity, F1, G-mean and IBA (imbalanced-learn's
 * classification_report_imbalanced with alpha = 0.1) plus overall accuracy.
 * `pred` and `labels` hold integer class labels (0/1 for anomaly detection).
 */
export function classificationReport(
  pred: ArrayLike<number>,
  labels: ArrayLike<number>,
  alpha: number = IBA_ALPHA,
): ClassificationReport {
  checkPair(pred, labels, 'classificationReport')
  const n = labels.length
  const classSet = new Set<number>()
  for (let i = 0; i < n; i++) {
    if (!Number.isInteger(pred[i]) || !Number.isInteger(labels[i])) {
      throw new MetricInputError(`classificationReport: non-integer class at index ${i}; threshold scores first (thresholdAt)`)
    }
    classSet.add(pred[i])
    classSet.add(labels[i])
  }
  const classes = [...classSet].sort((a, b) => a - b)
  let correct = 0
  for (let i = 0; i < n; i++) if (pred[i] === labels[i]) correct++
  const perClass = classes.map((c): ClassMetrics => {
    let tp = 0
    let fp = 0
    let fn = 0
    let tn = 0
    for (let i = 0; i < n; i++) {
      const p = pred[i] === c
      const t = labels[i] === c
      if (p && t) tp++
      else if (p) fp++
      else if (t) fn++
      else tn++
    }
    const precision = tp + fp > 0 ? tp / (tp + fp) : 0
    const recall = tp + fn > 0 ? tp / (tp + fn) : 0
    const specificity = tn + fp > 0 ? tn / (tn + fp) : 0
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0
    const gMean = Math.sqrt(recall * specificity)
    const iba = (1 + alpha * (recall - specificity)) * gMean * gMean
    return { label: c, precision, recall, specificity, f1, gMean, iba, support: tp + fn }
  })
  return { accuracy: correct / n, perClass }
}
