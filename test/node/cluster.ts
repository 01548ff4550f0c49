/**
 * Test harness: S real `collab node start` processes on 127.0.0.1, each with its own
 * identity, config, storage and slice of a dataset, sharing one topology file.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { appendFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import type { TopologyKind } from '../../topologies/index.js'
import type { TrainingConfigInput } from '../../src/learning/config.js'
import { scaffoldNetwork, type ScaffoldedNetwork, type ScaffoldedNode } from '../../node/network.js'

export const REPO = resolve(import.meta.dirname, '../..')
export const CLI = join(REPO, 'cli/collab.ts')

/**
 * Loopback ports for the test's nodes, outside the kernel's ephemeral range (32768-60999
 * on Linux). A port taken by `listen(0)` and released is free only until the node binds
 * it seconds later; meanwhile any outgoing connection of a concurrent test can be given
 * that very port (the likely cause of a CI failure: a peer connected, then went, and the
 * others waited at the start barrier). Ports below the range are never handed out to
 * outgoing connections; each vitest worker takes its own block (VITEST_POOL_ID), so test
 * files running side by side cannot pick the same port, and one worker moves through its
 * block from a random offset.
 */
const PORT_BASE = 20_000
const PORT_BLOCK = 1_500
const poolId = Math.max(0, Number(process.env.VITEST_POOL_ID ?? '1') - 1) % 8
let nextPort = Math.floor(Math.random() * PORT_BLOCK)

/** The port can be bound on 127.0.0.1 right now. */
export function bindable(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer()
    srv.once('error', () => res(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)))
  })
}

/**
 * Three organisations on a ring holding the normal rows of data/ad_breastw.csv, on loopback
 * ports from freePort (the small network of the single-purpose node tests).
 */
export async function scaffoldBreastwRing(
  dir: string,
  o: Pick<Parameters<typeof scaffoldNetwork>[0], 'training' | 'token' | 'barrierTimeoutMs' | 'logLevel'>,
): Promise<{ net: ScaffoldedNetwork; p2pPorts: number[]; apiPorts: number[] }> {
  const ports: number[] = []
  for (let i = 0; i < 6; i++) ports.push(await freePort())
  const net = await scaffoldNetwork({
    dir,
    nodes: 3,
    data: join(REPO, 'data/ad_breastw.csv'),
    labelCol: 'anomaly',
    trainOn: 'normal',
    kind: 'ring',
    p2pPort: (s) => ports[s],
    apiPort: (s) => ports[3 + s],
    ...o,
  })
  return { net, p2pPorts: ports.slice(0, 3), apiPorts: ports.slice(3) }
}

export async function freePort(): Promise<number> {
  for (let tries = 0; tries < PORT_BLOCK; tries++) {
    const port = PORT_BASE + poolId * PORT_BLOCK + (nextPort++ % PORT_BLOCK)
    if (await bindable(port)) return port
  }
  throw new Error(`no free loopback port in ${PORT_BASE + poolId * PORT_BLOCK}..${PORT_BASE + (poolId + 1) * PORT_BLOCK - 1}`)
}

export interface ClusterNode extends ScaffoldedNode {
  proc: ChildProcess | null
  log: string
}

export interface Cluster {
  root: string
  topologyPath: string
  nodes: ClusterNode[]
}

/** S organisations from `collab network init`'s scaffold, on free loopback ports. */
export async function makeCluster(opts: {
  root: string
  S: number
  kind: TopologyKind
  csv: string
  labelCol: string
  training: TrainingConfigInput
  token?: string
}): Promise<Cluster> {
  const p2p: number[] = []
  const api: number[] = []
  for (let s = 0; s < opts.S; s++) {
    p2p.push(await freePort())
    api.push(await freePort())
  }
  const net = await scaffoldNetwork({
    dir: opts.root,
    nodes: opts.S,
    data: opts.csv,
    labelCol: opts.labelCol,
    trainOn: 'normal',
    kind: opts.kind,
    p2pPort: (s) => p2p[s],
    apiPort: (s) => api[s],
    token: opts.token,
    barrierTimeoutMs: 60_000,
    training: opts.training,
  })
  return { root: net.root, topologyPath: net.topologyPath, nodes: net.nodes.map((n) => ({ ...n, proc: null, log: '' })) }
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
  const proc = spawnCollab(['node', 'start', '--config', n.config], (c) => {
    n.log += c
    appendFileSync(join(n.dir, 'node.log'), c)
  })
  proc.once('exit', (code, signal) => {
    if (n.proc === proc) n.log += `\n[node ${n.index} process exited: ${signal ?? `code ${String(code)}`}]\n`
  })
  n.proc = proc
  return proc
}

/**
 * What a failed wait should show: the log tail of `focus` and of every node whose process
 * has exited (the cause is usually in the node that left, not the one that waited).
 */
export function clusterLogs(nodes: readonly ClusterNode[], focus?: ClusterNode): string {
  const exited = nodes.filter((n) => n !== focus && n.proc !== null && (n.proc.exitCode !== null || n.proc.signalCode !== null))
  return [focus, ...exited]
    .filter((n): n is ClusterNode => n !== undefined)
    .map((n) => `--- node ${n.index} ---\n${n.log.slice(-3000)}`)
    .join('\n')
}

/**
 * A per-test backstop for tests that drive real processes: far above any honest run, so a
 * 5x slower machine never meets it; the waits below key on progress, not on this.
 */
export const BACKSTOP_MS = 30 * 60_000

/** Thrown by a polled function to end the wait at once (e.g. a node reports it failed). */
export class GiveUpError extends Error {
  override name = 'GiveUpError'
}

/**
 * Poll `fn` until it returns a non-null value. No fixed deadline: it fails only when
 * nothing progressed for `stallMs` (issue 14: fixed 120 s deadlines failed on a loaded
 * machine). Progress is any change of `progress()` (e.g. the nodes' log output or
 * iterations); without it, `stallMs` bounds the whole wait. Errors from `fn` count as "not
 * yet" (a node not listening yet), except GiveUpError.
 */
export async function until<T>(fn: () => Promise<T | null>, stallMs: number, what: string | (() => string), every = 250, progress?: () => string): Promise<T> {
  let since = Date.now()
  let last = progress?.()
  for (;;) {
    const v = await fn().catch((err: unknown) => {
      if (err instanceof GiveUpError) throw err
      return null
    })
    if (v !== null) return v
    const now = progress?.()
    if (now !== last) {
      last = now
      since = Date.now()
    }
    if (Date.now() - since > stallMs) throw new Error(`no progress for ${stallMs} ms waiting for ${typeof what === 'string' ? what : what()}`)
    await new Promise((r) => setTimeout(r, every))
  }
}

/** Progress of node processes: how much they have logged (every iteration logs a line). */
export function logProgress(nodes: ReadonlyArray<{ log: string }>): () => string {
  return () => String(nodes.reduce((a, n) => a + n.log.length, 0))
}

/**
 * Wait until every node's /v1/status says trained (its statuses, in node order); a node
 * reporting failed ends the wait at once with the logs that explain it. `stallMs` bounds
 * only a stretch without log output (see `until`).
 */
export function waitTrained(nodes: readonly ClusterNode[], stallMs: number, token?: string): Promise<Array<Record<string, unknown>>> {
  return Promise.all(
    nodes.map((n) =>
      until(
        async () => {
          const s = await getJson(`${n.apiUrl}/v1/status`, token)
          if (s.state === 'failed') throw new GiveUpError(`node ${n.index} failed:\n${clusterLogs(nodes, n)}`)
          return s.state === 'trained' ? s : null
        },
        stallMs,
        () => `node ${n.index} trained\n${clusterLogs(nodes, n)}`,
        250,
        logProgress(nodes),
      ),
    ),
  )
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
