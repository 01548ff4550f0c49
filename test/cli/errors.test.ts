/**
 * One voice for errors: every `collab` failure prints `collab: <Name>: <message>` on one
 * line and exits 1, or, for a usage error, `collab: UsageError: ...` plus one line of
 * hint and exit 2. In-process over the real command tree (cli/program.ts), and twice
 * through the real binary.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { reportError, runCommand } from '../../cli/errors.js'
import { createProgram } from '../../cli/program.js'
import { benchCommand } from '../../bench/index.js'
import { CLI, REPO } from '../node/cluster.js'

const dir = mkdtempSync(join(tmpdir(), 'collab-errors-'))

async function collab(args: string[], program = createProgram()): Promise<{ err: string; out: string; code: number }> {
  let out = ''
  let err = ''
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true))
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true))
  process.exitCode = undefined
  try {
    await runCommand(program, args)
  } finally {
    o.mockRestore()
    e.mockRestore()
  }
  const code = Number(process.exitCode ?? 0)
  process.exitCode = undefined
  return { out, err, code }
}

afterEach(() => vi.restoreAllMocks())

/** The one format: a named error line, and for usage errors exactly one hint line. */
function expectOneVoice(err: string, code: number, name: string, prog = 'collab'): void {
  const lines = err.split('\n').filter((l) => l !== '')
  expect(lines[0]).toMatch(new RegExp(`^${prog}: ${name}: \\S`))
  if (code === 2) {
    expect(lines.length).toBe(2)
    expect(lines[1]).toMatch(new RegExp(`^hint: ${prog}( [a-z-]+)* --help lists its options$`))
  } else {
    expect(code).toBe(1)
    expect(lines.length).toBe(1)
  }
}

function file(name: string, text: string): string {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}

const orgYaml = (hyper: string): string =>
  `identity: ./id\nlisten: [/ip4/127.0.0.1/tcp/0]\ndata: {path: d.csv}\ntopology: t.json\nstorage: s\napi: {port: 0}\ntraining: {model: {kind: ggm, hyper: ${hyper}}, seed: 1}\n`

describe('collab errors speak one way', () => {
  it.each<[string, () => string[], string, number, RegExp]>([
    ['unknown option', () => ['fit', '--nodez', '3'], 'UsageError', 2, /unknown option '--nodez' \(did you mean --nodes\?\)/],
    ['non-number for --nodes', () => ['fit', '--data', 'x.csv', '--out', 'o.json', '--nodes', 'abc'], 'UsageError', 2, /option '--nodes <S>' argument 'abc' is invalid.*--nodes must be a number/],
    ['missing required flag', () => ['privacy', 'release', '--data', 'x.csv', '--bounds', '1:10'], 'UsageError', 2, /required option '--ledger <file>' not specified/],
    ['bad epsilon flag value', () => ['privacy', 'epsilon', '--sigma', 'x', '--q', '0.1', '--steps', '10', '--delta', '1e-5'], 'UsageError', 2, /--sigma/],
    ['unknown command', () => ['fitt'], 'UsageError', 2, /unknown command 'fitt'/],
    ['unknown subcommand', () => ['topology', 'inspekt', 'x.json'], 'UsageError', 2, /unknown command 'inspekt'/],
    ['too many arguments', () => ['demo', 'extra'], 'UsageError', 2, /too many arguments/],
    ['score needs --model or --url', () => ['score', '--data', 'x.csv'], 'UsageError', 2, /exactly one of --model or --url/],
    ['network init --nodes abc', () => ['network', 'init', '--dir', join(dir, 'n'), '--data', 'x.csv', '--nodes', 'abc'], 'UsageError', 2, /--nodes must be a whole number/],
    ['GGM hyper typo in org.yaml', () => ['node', 'start', '--config', file('org.yaml', orgYaml('{rhoo: 1}'))], 'NodeConfigError', 1, /org\.yaml: training\.model\.hyper\.rhoo: unknown GGM hyper-parameter/],
    ['several config problems on one line', () => ['node', 'start', '--config', file('org2.yaml', orgYaml('{rhoo: 1, K: 0}'))], 'NodeConfigError', 1, /training\.model\.hyper\.K: .*; .*training\.model\.hyper\.rhoo/],
    ['missing config file', () => ['node', 'start', '--config', join(dir, 'none.yaml')], 'NodeConfigError', 1, /none\.yaml: cannot read config/],
    ['hyper typo in a scenario file', () => ['sim', '--scenario', file('sc.yaml', 'dataset: {path: data/ad_breastw.csv}\nnodes: 3\ntraining: {model: {kind: vae, hyper: {hiden: 3}}, seed: 1}\n')], 'ScenarioError', 1, /sc\.yaml: training\.model\.hyper\.hiden: unknown VAE hyper-parameter/],
    ['unknown scenario', () => ['sim', '--scenario', 'no-such-scenario'], 'ScenarioError', 1, /no scenario named 'no-such-scenario'/],
    ['missing model file', () => ['score', '--model', join(dir, 'none.json'), '--data', 'x.csv'], 'ScoreClientError', 1, /none\.json: cannot read a model JSON/],
    ['missing topology', () => ['topology', 'inspect', join(dir, 'none.json')], 'TopologyError', 1, /cannot read/],
    ['bad covariance', () => ['glasso', '--cov', file('rag.json', '[[1, 0], [0]]'), '--alpha', '0.1'], 'GlassoCliError', 1, /must be square/],
    ['ragged CSV', () => ['fit', '--data', file('rag.csv', 'a,b\n1,2\n3\n'), '--out', join(dir, 'm.json'), '--nodes', '2'], 'DataError', 1, /rag\.csv/],
    ['unreadable released model', () => ['privacy', 'score', '--model', file('rel.json', '{"format": "x"}'), '--data', 'x.csv'], 'PrivacyCliError', 1, /cannot load .*rel\.json/],
  ])('%s', async (_what, args, name, code, message) => {
    const r = await collab(args())
    expect(r.code).toBe(code)
    expectOneVoice(r.err, code, name)
    expect(r.err.split('\n')[0]).toMatch(message)
  })

  it('system errors are named by their code; bugs keep their stack', () => {
    let err = ''
    const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true))
    try {
      const busy = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:8080'), { code: 'EADDRINUSE' })
      expect(reportError('collab', busy, null)).toBe(1)
      expect(err).toBe('collab: EADDRINUSE: listen EADDRINUSE: address already in use 127.0.0.1:8080\n')
      err = ''
      expect(reportError('collab', new TypeError('x is undefined'), null)).toBe(1)
      expect(err).toMatch(/^TypeError: x is undefined\n\s+at /)
    } finally {
      e.mockRestore()
    }
  })

  it('--help and --version are not errors', async () => {
    const h = await collab(['fit', '--help'])
    expect(h.code).toBe(0)
    expect(h.out).toContain('--nodes')
    expect(h.err).toBe('')
  })

  it('bench rejects an unknown area or flag with a usage error, running nothing', async () => {
    for (const args of [['typo'], ['--typo']]) {
      const r = await collab(args, benchCommand())
      expect(r.code).toBe(2)
      expectOneVoice(r.err, 2, 'UsageError', 'bench')
      expect(r.out).toBe('')
    }
  })
})

describe('the collab binary', () => {
  const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: REPO, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } })

  it('`collab fit --nodez 3` prints at most three lines and exits 2', () => {
    const r = run(['fit', '--nodez', '3'])
    expect(r.status).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr.trimEnd().split('\n').length).toBeLessThanOrEqual(3)
    expectOneVoice(r.stderr, 2, 'UsageError')
  })

  it('`collab privacy release` with a missing flag prints one error line and exits 2', () => {
    const r = run(['privacy', 'release', '--data', 'x.csv', '--bounds', '1:10', '--ledger', 'l.json', '--out', 'r.json'])
    expect(r.status).toBe(2)
    const errorLines = r.stderr.split('\n').filter((l) => l.startsWith('collab:'))
    expect(errorLines).toEqual(["collab: UsageError: required option '--node-id <id>' not specified"])
    expectOneVoice(r.stderr, 2, 'UsageError')
  })
})
