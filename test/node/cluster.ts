/**
 * Test harness: S real `collab node start` processes on 127.0.0.1, each with its own
 * identity, config, storage and slice of a dataset, sharing one topology file.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { generateTopology, type TopologyKind } from '../../topologies/index.js'
import type { TrainingConfigInput } from '../../src/learning/config.js'
import { initIdentity } from '../../node/identity.js'

export const REPO = resolve(import.meta.dirname, '../..')
export const CLI = join(REPO, 'cli/collab.ts')

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer()
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => res(port))
    })
    srv.on('error', rej)
  })
}

export interface ClusterNode {
  index: number
  dir: string
  config: string
  storage: string
  dataPath: string
  peerId: string
  apiPort: number
  apiUrl: string
  proc: ChildProcess | null
  log: string
}

export interface Cluster {
  root: string
  topologyPath: string
  nodes: ClusterNode[]
}

/** Split a CSV (header + rows) into S contiguous slices, written under `root`. */
export function sliceCsv(src: string, S: number, root: string): string[] {
  const [header, ...rows] = readFileSync(src, 'utf8').trim().split('\n')
  const out: string[] = []
  for (let s = 0; s < S; s++) {
    const lo = Math.floor((s * rows.length) / S)
    const hi = Math.floor(((s + 1) * rows.length) / S)
    const p = join(root, `slice-${s}.csv`)
    writeFileSync(p, [header, ...rows.slice(lo, hi)].join('\n') + '\n')
    out.push(p)
  }
  return out
}

export async function makeCluster(opts: {
  root: string
  S: number
  kind: TopologyKind
  csv: string
  labelCol: string
  training: TrainingConfigInput
  token?: string
}): Promise<Cluster> {
  const { root, S } = opts
  mkdirSync(root, { recursive: true })
  const slices = sliceCsv(opts.csv, S, root)
  const topo = generateTopology(opts.kind, S)
  const nodes: ClusterNode[] = []
  for (let s = 0; s < S; s++) {
    const dir = join(root, `node${s}`)
    const { peerId } = await initIdentity(join(dir, 'identity'))
    const p2pPort = await freePort()
    const apiPort = await freePort()
    topo.nodes[s].peerId = peerId
    topo.nodes[s].multiaddrs = [`/ip4/127.0.0.1/tcp/${p2pPort}`]
    const config = {
      identity: './identity',
      listen: [`/ip4/127.0.0.1/tcp/${p2pPort}`],
      data: { path: slices[s], labelCol: opts.labelCol, trainOn: 'normal' },
      topology: join(root, 'topology.json'),
      storage: './state',
      api: { host: '127.0.0.1', port: apiPort, ...(opts.token ? { token: opts.token } : {}) },
      startup: { barrierTimeoutMs: 60_000 },
      log: { level: 'info' },
      training: opts.training,
    }
    const configPath = join(dir, 'org.json')
    writeFileSync(configPath, JSON.stringify(config, null, 2))
    nodes.push({
      index: s,
      dir,
      config: configPath,
      storage: join(dir, 'state'),
      dataPath: slices[s],
      peerId,
      apiPort,
      apiUrl: `http://127.0.0.1:${apiPort}`,
      proc: null,
      log: '',
    })
  }
  const topologyPath = join(root, 'topology.json')
  writeFileSync(topologyPath, JSON.stringify(topo, null, 2))
  return { root, topologyPath, nodes }
}

/** Run the `collab` CLI as a separate OS process. */
export function spawnCollab(args: string[], onOutput?: (chunk: string) => void): ChildProcess {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  })
  proc.stdout?.setEncoding('utf8').on('data', (c: string) => onOutput?.(c))
  proc.stderr?.setEncoding('utf8').on('data', (c: string) => onOutput?.(c))
  return proc
}

export function startNodeProcess(n: ClusterNode): ChildProcess {
  n.proc = spawnCollab(['node', 'start', '--config', n.config], (c) => {
    n.log += c
    appendFileSync(join(n.dir, 'node.log'), c)
  })
  return n.proc
}

/** Poll `fn` until it returns a non-null value or `ms` passes. */
export async function until<T>(fn: () => Promise<T | null>, ms: number, what: string | (() => string), every = 250): Promise<T> {
  const t0 = Date.now()
  for (;;) {
    const v = await fn().catch(() => null)
    if (v !== null) return v
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'string' ? what : what()}`)
    await new Promise((r) => setTimeout(r, every))
  }
}

export async function getJson(url: string, token?: string): Promise<Record<string, unknown>> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} })
  if (!res.ok) throw new Error(`${url}: ${res.status}`)
  return (await res.json()) as Record<string, unknown>
}

export function exitOf(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode)
  return new Promise((r) => proc.once('exit', (code) => r(code)))
}
