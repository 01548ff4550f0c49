import { describe, expect, it } from 'vitest'
import { classificationReport, MetricInputError, prAuc, rocAuc, thresholdAt } from '../../src/eval/metrics.js'

/** Independent reference: mean over all (positive, negative) pairs of 1[s+ > s-] + 1/2 1[s+ = s-]. */
function pairwiseAuc(s: ArrayLike<number>, y: ArrayLike<number>): number {
  let num = 0
  let den = 0
  for (let i = 0; i < s.length; i++) {
    if (y[i] !== 1) continue
    for (let j = 0; j < s.length; j++) {
      if (y[j] !== 0) continue
      den++
      num += s[i] > s[j] ? 1 : s[i] === s[j] ? 0.5 : 0
    }
  }
  return num / den
}

/** Independent reference: AP from precision/recall recounted at every distinct threshold. */
function bruteAp(s: ArrayLike<number>, y: ArrayLike<number>): number {
  const thr = [...new Set(Array.from(s))].sort((a, b) => b - a)
  const P = Array.from(y).filter((v) => v === 1).length
  let prevR = 0
  let ap = 0
  for (const t of thr) {
    let tp = 0
    let fp = 0
    for (let i = 0; i < s.length; i++) {
      if (s[i] < t) continue
      if (y[i] === 1) tp++
      else fp++
    }
    ap += (tp / P - prevR) * (tp / (tp + fp))
    prevR = tp / P
  }
  return ap
}

/** Small deterministic LCG for test data (the metrics themselves use no randomness). */
function lcg(seed: number): () => number {
  let x = seed >>> 0
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    return x / 2 ** 32
  }
}

describe('rocAuc', () => {
  it('matches the scikit-learn documentation example (0.75)', () => {
    expect(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.75, 12)
  })
  it('is 1 for perfect separation, 0 for reversed, 0.5 when all scores tie', () => {
    expect(rocAuc([1, 2, 3, 4], [0, 0, 1, 1])).toBe(1)
    expect(rocAuc([4, 3, 2, 1], [0, 0, 1, 1])).toBe(0)
    expect(rocAuc([7, 7, 7, 7, 7], [0, 1, 0, 1, 1])).toBe(0.5)
  })
  it('equals the brute-force pairwise AUC on random data with many ties', () => {
    const r = lcg(7)
    for (let rep = 0; rep < 5; rep++) {
      const n = 300
      const y = Array.from({ length: n }, () => (r() < 0.3 ? 1 : 0))
      const s = y.map((v) => Math.round((r() + 0.3 * v) * 10) / 10) // rounding forces ties
      expect(rocAuc(s, y)).toBeCloseTo(pairwiseAuc(s, y), 12)
    }
  })
  it('refuses one-class labels and mismatched lengths with named errors', () => {
    expect(() => rocAuc([1, 2], [1, 1])).toThrow(MetricInputError)
    expect(() => rocAuc([1, 2, 3], [1, 0])).toThrow(MetricInputError)
    expect(() => rocAuc([1, 2], [1, 2])).toThrow(/must be 0/)
  })
})

describe('prAuc (average precision)', () => {
  it('matches the scikit-learn documentation example (0.8333)', () => {
    expect(prAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(5 / 6, 12)
  })
  it('is 1 for perfect ranking and equals the prevalence when all scores tie', () => {
    expect(prAuc([0.1, 0.2, 0.9, 0.8], [0, 0, 1, 1])).toBe(1)
    expect(prAuc([3, 3, 3, 3, 3], [1, 0, 0, 1, 0])).toBeCloseTo(0.4, 12)
  })
  it('equals the per-threshold recount on random data with ties', () => {
    const r = lcg(11)
    for (let rep = 0; rep < 5; rep++) {
      const n = 200
      const y = Array.from({ length: n }, () => (r() < 0.2 ? 1 : 0))
      const s = y.map((v) => Math.round((r() + 0.4 * v) * 20) / 20)
      expect(prAuc(s, y)).toBeCloseTo(bruteAp(s, y), 12)
    }
  })
})

describe('thresholdAt', () => {
  it('interpolates linearly between order statistics (numpy default)', () => {
    expect(thresholdAt([4, 1, 3, 2, 5], 0.5)).toBe(3)
    expect(thresholdAt([1, 2, 3, 4], 0.5)).toBe(2.5)
    expect(thresholdAt([10, 0], 0.9)).toBeCloseTo(9, 12)
    expect(thresholdAt([1, 2, 3], 0)).toBe(1)
    expect(thresholdAt([1, 2, 3], 1)).toBe(3)
  })
  it('refuses quantiles outside [0, 1]', () => {
    expect(() => thresholdAt([1], 1.5)).toThrow(MetricInputError)
  })
})

describe('classificationReport', () => {
  it('reproduces a hand-computed confusion matrix', () => {
    // class 1: TP 2, FP 1, FN 1, TN 4; class 0: TP 4, FP 1, FN 1, TN 2
    const labels = [1, 1, 1, 0, 0, 0, 0, 0]
    const pred = [1, 1, 0, 1, 0, 0, 0, 0]
    const rep = classificationReport(pred, labels)
    expect(rep.accuracy).toBeCloseTo(6 / 8, 12)
    const [c0, c1] = rep.perClass
    expect(c1.label).toBe(1)
    expect(c1.precision).toBeCloseTo(2 / 3, 12)
    expect(c1.recall).toBeCloseTo(2 / 3, 12)
    expect(c1.specificity).toBeCloseTo(4 / 5, 12)
    expect(c1.f1).toBeCloseTo(2 / 3, 12)
    expect(c1.gMean).toBeCloseTo(Math.sqrt(8 / 15), 12)
    expect(c1.iba).toBeCloseTo((1 + 0.1 * (2 / 3 - 4 / 5)) * (8 / 15), 12)
    expect(c1.support).toBe(3)
    expect(c0.precision).toBeCloseTo(4 / 5, 12)
    expect(c0.recall).toBeCloseTo(4 / 5, 12)
    expect(c0.specificity).toBeCloseTo(2 / 3, 12)
    expect(c0.iba).toBeCloseTo((1 + 0.1 * (4 / 5 - 2 / 3)) * (8 / 15), 12)
    expect(c0.support).toBe(5)
  })
  it('gives zero precision/F1 (not NaN) for a class that is never predicted', () => {
    const rep = classificationReport([0, 0, 0, 0], [0, 1, 0, 1])
    const c1 = rep.perClass[1]
    expect(c1.precision).toBe(0)
    expect(c1.f1).toBe(0)
    expect(c1.gMean).toBe(0)
    expect(rep.perClass[0].recall).toBe(1)
  })
  it('handles three classes one-vs-rest (imbalanced-learn per-class definition)', () => {
    const rep = classificationReport([0, 2, 1, 0, 0, 1], [0, 1, 2, 0, 1, 2])
    const c0 = rep.perClass[0]
    expect(c0.recall).toBe(1)
    expect(c0.specificity).toBeCloseTo(3 / 4, 12)
    expect(c0.iba).toBeCloseTo((1 + 0.1 * 0.25) * 0.75, 12)
  })
})
