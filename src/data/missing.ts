/**
 * The missing-value policy as configured (node config `data.missing`, scenario
 * `dataset.missing`, `collab evaluate --missing`): which cell values mean "not measured".
 * Loading with a policy turns missing cells and sentinels into NaN (src/data/csv.ts); the
 * models then need hyper `missing: true` in the shared training config (every node must
 * agree: it changes the first consensus vector).
 */
import { z } from 'zod'
import { DataError, type MissingPolicy } from './csv.js'

/** `{ sentinels: { column: [values] } }`; `{}` = only empty / NA / ? cells are missing. */
export const MissingPolicySchema = z
  .object({
    /** Per column, values that code "not measured" there (e.g. { insulin: [0] }). */
    sentinels: z.record(z.string().min(1), z.array(z.number().finite()).min(1)).default({}),
  })
  .strict()

/**
 * `--missing` flag: "" (missing cells only) or "col=v[;v...],col=v", e.g.
 * "insulin=0,triceps=0" or "code=-1;999".
 */
export function parseMissingFlag(spec: string): MissingPolicy {
  const sentinels: Record<string, number[]> = {}
  for (const part of spec.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const eq = part.indexOf('=')
    const col = part.slice(0, Math.max(eq, 0)).trim()
    const tokens = eq > 0 ? part.slice(eq + 1).split(';').map((v) => v.trim()) : []
    // Number('') is 0: an empty token must not become the sentinel 0
    if (col === '' || tokens.length === 0 || tokens.some((t) => t === '' || !Number.isFinite(Number(t)))) {
      throw new DataError(`--missing: "${part}" is not column=value[;value...] (e.g. insulin=0,triceps=0)`)
    }
    sentinels[col] = [...(sentinels[col] ?? []), ...tokens.map(Number)]
  }
  return { sentinels }
}

/** commander's value of an optional-value `--missing [spec]` flag: absent, bare (missing cells only) or a spec. */
export function missingFromFlag(flag: string | boolean | undefined): MissingPolicy | undefined {
  if (flag === undefined || flag === false) return undefined
  return parseMissingFlag(flag === true ? '' : flag)
}

/** Help text of the `--missing [spec]` flag. */
export const MISSING_FLAG_HELP = 'missing values: empty / NA cells, plus per-column codes "col=v[;v],col=v" (e.g. insulin=0,triceps=0); models fit and score on the observed entries'
