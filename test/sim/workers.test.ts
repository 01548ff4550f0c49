import { describe, expect, it } from 'vitest'
import type { ConsensusFrame } from '../../src/consensus/transport.js'
import type { Progress } from '../../sim/report-types.js'
import { reportJson } from '../../sim/report.js'
import { runScenario } from '../../sim/run.js'
import { parseScenario, resolveScenario, type Scenario } from '../../sim/scenario.js'
import { FrameBatchError, FrameBatchWriter, readFrameBatch } from '../../sim/workers/frame-batch.js'
import { WorkersUnsupportedError } from '../../sim/workers/limits.js'
import { partition } from '../../sim/workers/partition.js'

/** The demo, made small: 11 nodes, K fixed, 3 iterations (monitor, release and all baselines on). */
function smallDemo(): Scenario {
  const d = resolveScenario('demo')
  return parseScenario({
    ...d,
    nodes: 11,
    training: { ...d.training, model: { kind: 'ggm', hyper: { K: 3, rho: 1, lambda0: 60, radius: 4 } }, maxIterations: 3 },
  })
}

describe('collab sim on worker threads', () => {
  it('a training run on 2 and 3 workers writes the same report.json bytes (and models) as on one thread', async () => {
    const sc = smallDemo()
    const progress: Progress[] = []
    const one = await runScenario(sc, { onProgress: (p) => progress.push(p) })
    expect(one.report.outcome.status).toBe('completed')
    expect(one.report.outcome.iterations).toBe(3)
    expect(one.report.privacy.ledgers.length).toBeGreaterThan(0)
    expect(one.report.auc.released?.nodes).toBe(11)
    // the start and the release report each network sum node 0 opens, numbered, in order
    const steps = (ps: Progress[]): string[] => ps.filter((p) => p.step !== undefined).map((p) => `${p.phase} ${String(p.sessions)} ${String(p.step)}`)
    const phases = progress.map((p) => p.phase)
    expect(steps(progress)[0]).toBe('prepare 1 prepare:ggm/moments')
    expect(progress.filter((p) => p.step !== undefined).map((p) => p.sessions)).toEqual(steps(progress).map((_, i) => i + 1))
    expect(phases.lastIndexOf('prepare')).toBeLessThan(phases.indexOf('train'))
    expect(phases.indexOf('release')).toBeGreaterThan(phases.lastIndexOf('train'))
    expect(phases.at(-1)).toBe('done')
    expect(steps(progress).filter((x) => x.startsWith('release ')).map((x) => x.split(' ')[2])).toEqual(['release:moments', 'release:global', 'release:em:0', 'release:em:1', 'release:em:2'])
    for (const workers of [2, 3]) {
      const seen: Progress[] = []
      const par = await runScenario({ ...sc, workers }, { onProgress: (p) => seen.push(p) })
      expect(steps(seen)).toEqual(steps(progress))
      expect(reportJson(par.report)).toBe(reportJson(one.report))
      // the models come back from the workers as they are on one thread
      expect(par.models.map((m) => JSON.stringify(m?.save()))).toEqual(one.models.map((m) => JSON.stringify(m?.save())))
    }
  }, 120_000)

  it('with weightPrior and SQUAREM (extrapolated M-steps included) 2 workers write the same report and models as one thread', async () => {
    const base = smallDemo()
    const sc = parseScenario({
      ...base,
      training: { ...base.training, model: { kind: 'ggm', hyper: { K: 3, rho: 1, lambda0: 60, radius: 4, weightPrior: 1, accelerate: 'squarem' } }, maxIterations: 7 },
    })
    const one = await runScenario(sc)
    const steps = one.models[0]?.trace.map((e) => Number(e.extrapolation)) ?? []
    // the demo's integer-valued features keep the covariances near singular: the step is halved towards 1 until valid
    expect(steps.filter((v) => v > 1).length).toBeGreaterThanOrEqual(1)
    const two = await runScenario({ ...sc, workers: 2 })
    expect(reportJson(two.report)).toBe(reportJson(one.report))
    expect(two.models.map((m) => JSON.stringify(m?.save()))).toEqual(one.models.map((m) => JSON.stringify(m?.save())))
  }, 120_000)

  it('consensus mode on 2 workers writes the same report.json bytes as on one thread', async () => {
    const sc = parseScenario({
      mode: 'consensus',
      seed: 2,
      vectorLength: 8,
      nodes: 60,
      topology: { kind: 'regular' },
      training: { model: { kind: 'ggm' }, seed: 7, consensus: { scheme: 'chebyshev', tol: 1e-9, chunks: 3 } },
    })
    const one = await runScenario(sc)
    const two = await runScenario({ ...sc, workers: 2 })
    expect(one.report.outcome.converged).toBe(true)
    expect(one.report.consensus.errorPerRound?.errors.length).toBeGreaterThan(10)
    expect(reportJson(two.report)).toBe(reportJson(one.report))
  }, 60_000)

  it('leaves workers out of the report, and refuses what threads cannot replay, with a named error', async () => {
    const sc = smallDemo()
    const refuse = async (s: Scenario, what: RegExp): Promise<void> => {
      const e: unknown = await runScenario(s).then(
        () => null,
        (x: unknown) => x,
      )
      expect(e).toBeInstanceOf(WorkersUnsupportedError)
      expect((e as Error).message).toMatch(what)
    }
    await refuse({ ...sc, workers: 2, faults: { ...sc.faults, loss: 0.1 } }, /fault-free.*loss 0.1.*workers: 1/)
    await refuse({ ...sc, workers: 2, faults: { ...sc.faults, latency: { kind: 'fixed', ms: 3 } } }, /latency \(fixed\)/)
    await refuse({ ...sc, workers: 2, faults: { ...sc.faults, crashes: [{ node: 1, atIteration: 1 }] } }, /1 crash/)
    await refuse({ ...sc, workers: 2, transport: 'exact' }, /in-memory transport only.*transport: exact/)
    await refuse({ ...sc, workers: 12 }, /exceeds nodes: 11/)
    expect(() => parseScenario({ ...sc, workers: 0 })).toThrow(/workers/)
  })
})

describe('worker-thread plumbing', () => {
  it('a frame batch gives back every frame, field for field, in order', () => {
    const frames: ConsensusFrame[] = [
      { session: 3, chunk: 1, round: 7, payload: Float64Array.of(1.5, -2, Number.MIN_VALUE) },
      { kind: 'exclude', attempt: 4_000_000_000, session: 9, chunk: 0, round: 0, payload: Float64Array.of(5, 8) },
      { kind: 'share', session: 1, chunk: 2, round: 0, payload: new Float64Array(0) },
      { kind: 'reveal', attempt: 0, session: 2, chunk: 0, round: 1, payload: new Float64Array(3000).map((_, i) => i / 7) },
    ]
    const w = new FrameBatchWriter()
    frames.forEach((f, i) => w.push(10 + i, i, f))
    expect(w.frames).toBe(4)
    const got: Array<{ to: number; from: number; frame: ConsensusFrame }> = []
    readFrameBatch(w.take(), (to, from, frame) => got.push({ to, from, frame: { ...frame, payload: Float64Array.from(frame.payload) } }))
    expect(w.empty).toBe(true)
    expect(got).toEqual(frames.map((frame, i) => ({ to: 10 + i, from: i, frame })))
  })

  it('a frame sent to several peers of one worker is copied once and read back for each of them', () => {
    const f: ConsensusFrame = { session: 3, chunk: 1, round: 7, attempt: 0, payload: new Float64Array(50).map((_, i) => i * 0.25) }
    const g: ConsensusFrame = { session: 3, chunk: 1, round: 7, attempt: 0, payload: Float64Array.of(9) }
    const w = new FrameBatchWriter()
    const sends: Array<[number, number, ConsensusFrame]> = [
      [4, 1, f],
      [6, 1, f],
      [9, 1, f],
      [4, 2, g],
      [5, 1, f], // not right after itself: copied again
    ]
    for (const [to, from, fr] of sends) w.push(to, from, fr)
    expect(w.frames).toBe(5)
    const batch = w.take()
    // three full copies (header + payload) and two header-only repeats
    expect(batch.length).toBe(5 * 8 + 2 * 50 + 1)
    const got: Array<[number, number, ConsensusFrame]> = []
    expect(readFrameBatch(batch, (to, from, frame) => got.push([to, from, frame]))).toBe(5)
    expect(got.map(([to, from, fr]) => [to, from, { ...fr, payload: Array.from(fr.payload) }])).toEqual(sends.map(([to, from, fr]) => [to, from, { ...fr, payload: Array.from(fr.payload) }]))
    expect(got[1][2]).toBe(got[0][2])
    expect(got[2][2]).toBe(got[0][2])
    expect(() => readFrameBatch(batch.subarray(8 + 50), () => undefined)).toThrow(/repeats a previous frame/)
  })

  it('a taken batch is left alone while the writer goes on, and a buffer handed back is written again', () => {
    const w = new FrameBatchWriter()
    const big: ConsensusFrame = { session: 1, chunk: 0, round: 2, attempt: 0, payload: new Float64Array(5000).map((_, i) => i) }
    w.push(3, 1, big)
    const first = w.take()
    const kept = Float64Array.from(first)
    // the next batch goes to another buffer, already as large as the first grew to
    w.push(4, 2, { ...big, payload: new Float64Array(5000).fill(-1) })
    expect(first).toEqual(kept)
    const second = w.take()
    expect(second.buffer).not.toBe(first.buffer)
    expect(second.buffer.byteLength).toBeGreaterThanOrEqual(first.byteLength)
    // handed back: the writer's next buffer after this one is the first batch's
    w.recycle(first.buffer as ArrayBuffer)
    expect(w.spares).toBe(1)
    w.push(5, 1, big)
    const third = w.take()
    expect(w.spares).toBe(0)
    w.push(6, 1, big)
    expect(w.take().buffer).toBe(first.buffer)
    const got: number[] = []
    readFrameBatch(third, (to) => got.push(to))
    expect(got).toEqual([5])
    // detached (transferred away) or surplus buffers are not kept
    w.recycle(new ArrayBuffer(0))
    for (let k = 0; k < 10; k++) w.recycle(new ArrayBuffer(64))
    expect(w.spares).toBe(4)
  })

  it('refuses a header field the reader could not take as a 32-bit integer, and reads the rest as integers', () => {
    const w = new FrameBatchWriter()
    expect(() => w.push(1, 0, { session: 2 ** 31, chunk: 0, round: 0, payload: Float64Array.of(1) })).toThrow(FrameBatchError)
    expect(() => w.push(1, 0, { session: 1, chunk: 0, round: 0.5, payload: Float64Array.of(1) })).toThrow(/not a 32-bit integer/)
    expect(() => w.push(-(2 ** 40), 0, { session: 1, chunk: 0, round: 0, payload: Float64Array.of(1) })).toThrow(FrameBatchError)
    w.push(2 ** 31 - 1, 5, { session: 2 ** 31 - 1, chunk: 1, round: 3, attempt: 2 ** 32 - 1, payload: Float64Array.of(1) })
    const got: Array<[number, number, ConsensusFrame]> = []
    readFrameBatch(w.take(), (to, from, frame) => got.push([to, from, frame]))
    expect(got).toHaveLength(1)
    expect(got[0][0]).toBe(2 ** 31 - 1)
    expect(got[0][2].session).toBe(2 ** 31 - 1)
    expect(got[0][2].attempt).toBe(2 ** 32 - 1)
  })

  it('partitions nodes into contiguous blocks that cover every node once, and owner() agrees with them', () => {
    for (const [S, W] of [
      [31, 2],
      [1000, 3],
      [7, 7],
      [10, 4],
    ]) {
      const parts = Array.from({ length: W }, (_, w) => partition(S, W, w))
      expect(parts[0].lo).toBe(0)
      expect(parts[W - 1].hi).toBe(S)
      for (let w = 1; w < W; w++) expect(parts[w].lo).toBe(parts[w - 1].hi)
      for (let s = 0; s < S; s++) {
        const w = parts[0].owner(s)
        expect(s >= parts[w].lo && s < parts[w].hi).toBe(true)
      }
    }
  })
})
