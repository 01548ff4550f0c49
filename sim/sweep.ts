/**
 * Scenarios with a `sweep`: every combination of the swept values is run as its own
 * scenario (same seed), and the flat metrics of each run form one table and its plots.
 */
import { flatMetrics, type PlotSpec, type SweepReport } from './report.js'
import { runScenario, type RunHooks } from './run.js'
import { applyVariant, scenarioVariants, type Scenario } from './scenario.js'

export interface SweepProgress {
  variant: number
  variants: number
  label: string
}

/** Default table: swept paths, then the main metrics. */
export function defaultColumns(sc: Scenario): string[] {
  const keys = [...new Set([...(sc.cases ?? []).flatMap((c) => Object.keys(c)), ...Object.keys(sc.sweep ?? {})])]
  return [...keys, 'status', 'iterations', 'roundsPerSession', 'aucLocal', 'localFailed', 'aucCollab', 'aucCentral', 'epsilon', 'exposedNodes']
}

export async function runSweep(
  sc: Scenario,
  hooks: RunHooks & { onVariant?: (p: SweepProgress) => void } = {},
): Promise<{ sweep: SweepReport; plots: PlotSpec[]; columns: string[]; wallMs: number }> {
  const variants = scenarioVariants(sc)
  const rows: SweepReport['rows'] = []
  let wallMs = 0
  for (let v = 0; v < variants.length; v++) {
    const variant = variants[v]
    const label = Object.entries(variant)
      .map(([k, x]) => `${k}=${x}`)
      .join(', ')
    hooks.onVariant?.({ variant: v + 1, variants: variants.length, label })
    const one = applyVariant(sc, variant, sc.name)
    const out = await runScenario(one, hooks)
    wallMs += out.wallMs
    rows.push({ ...variant, ...flatMetrics(out.report) })
  }
  const columns = sc.report.table.length > 0 ? sc.report.table : defaultColumns(sc)
  return {
    sweep: { format: 'collabdict-sim-sweep', version: 1, name: sc.name, description: sc.description, rows, keys: [...new Set([...(sc.cases ?? []).flatMap((c) => Object.keys(c)), ...Object.keys(sc.sweep ?? {})])] },
    plots: sc.report.plots,
    columns,
    wallMs,
  }
}
