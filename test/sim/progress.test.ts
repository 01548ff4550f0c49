/**
 * The simulator's progress lines (non-terminal output, as in logs and CI): the start and the
 * release name the network sum the nodes are in, at most one line per interval of a phase,
 * so a 10,000-node run that spends minutes before iteration 1 is not silent and a demo's
 * ~60 start sums do not flood the log.
 */
import { describe, expect, it } from 'vitest'
import { ProgressView } from '../../sim/cli.js'
import type { Progress } from '../../sim/report-types.js'

describe('ProgressView (plain lines)', () => {
  it('prints the start and release sums throttled per phase, every iteration, and the end', () => {
    const lines: string[] = []
    let t = 0
    const view = new ProgressView(false, (l) => lines.push(l), () => t, 2000)
    const at = (ms: number, p: Progress): void => {
      t = ms
      view.update(p)
    }
    const base = { maxIterations: 10, objective: null }
    at(0, { ...base, iteration: 0, phase: 'prepare', step: 'prepare:ggm/moments', sessions: 1 })
    at(500, { ...base, iteration: 0, phase: 'prepare', step: 'prepare:ggm/select:seed:0', sessions: 2 })
    at(2600, { ...base, iteration: 0, phase: 'prepare', step: 'prepare:ggm/select:lloyd:0', sessions: 3 })
    at(2700, { ...base, iteration: 1, phase: 'train', objective: 1.5 })
    at(2800, { ...base, iteration: 1, phase: 'train', objective: 1.5 })
    at(2900, { ...base, iteration: 2, phase: 'train', objective: 1.75 })
    at(3000, { ...base, iteration: 2, phase: 'release', step: 'release:moments', sessions: 4 })
    at(3100, { ...base, iteration: 2, phase: 'release', step: 'release:global', sessions: 5 })
    at(3200, { ...base, iteration: 2, phase: 'evaluate' })
    at(3300, { ...base, iteration: 2, phase: 'done', objective: 1.75 })
    expect(lines).toEqual([
      'prepare: network sum 1 (ggm/moments)\n',
      'prepare: network sum 3 (ggm/select:lloyd:0)\n',
      'iteration 1/10 objective 1.50000\n',
      'iteration 2/10 objective 1.75000\n',
      'release: network sum 4 (moments)\n',
      'evaluating local, collaborative and centralised models\n',
      'done\n',
    ])
  })
})
