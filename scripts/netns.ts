/**
 * `npm run test:netns`: 5 real `collab node start` processes, each in its own Linux network
 * namespace, joined by veth pairs to one bridge (issue 14, "Real network conditions").
 *
 * This kernel has no `tc netem` (no sch_netem, no modules, no iptables/nft), so latency and
 * loss are injected in user space: every node's libp2p port is reached through a TCP relay
 * (this process, on the bridge) that holds each chunk for the configured one-way latency in
 * each direction and, with probability `loss` per chunk, for one more Linux minimum
 * retransmission timeout (200 ms) plus a round trip, which is what a lost segment costs a TCP
 * stream (head-of-line: later chunks wait behind it). A partition is real: the node's veth
 * goes down for 30 s and comes back up.
 *
 * Prints seconds per iteration at 0 / 20 / 80 ms and 80 ms + 1 % loss, and the
 * partition-and-heal result; each run's global model is compared with the in-process run of
 * the same slices and config with exact sums. Skips (exit 0) when not root or without
 * `ip netns`. Cleans up namespaces, links and processes on exit, also on failure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { loadCsv } from '../src/data/index.js'
import { parseTrainingConfig, type TrainingConfigInput } from '../src/learning/config.js'
import { createNodeModel } from '../src/learning/models.js'
import { runNetwork } from '../src/learning/network.js'
import { createLedger, createPrivacyGuard, createReleaser } from '../src/learning/privacy.js'
import { loadModel } from '../src/models/index.js'
import { globalStateDifference } from '../src/models/model.js'
import { selectRows, type Mat } from '../src/numeric/matrix.js'
import { scaffoldNetwork, type ScaffoldedNode } from '../node/network.js'

const REPO = resolve(import.meta.dirname, '..')
const CLI = join(REPO, 'dist/cli/collab.js')
const CSV = join(REPO, 'data/ad_breastw.csv')
const S = 5
const TOKEN = 'netns-token'
const PREFIX = `cdn${process.pid % 10000}`
const BRIDGE = `${PREFIX}br`
const BRIDGE_IP = '10.77.0.254'
const nodeIp = (s: number): string => `10.77.0.${s + 1}`
const P2P_PORT = 4001
const API_PORT = 8080
const relayPort = (s: number): number => 16001 + s
/** One-way consensus agreement the tests ask of a real network (network.test.ts): 1e-8 relative. */
const TOLERANCE = 1e-8
const PARTITION_MS = 30_000

const training: TrainingConfigInput = {
  model: { kind: 'ggm', hyper: { K: 3 } },
  seed: 7,
  maxIterations: 6,
  // a neighbour is waited for up to 45 s before the others rerun without it: above the
  // 30 s partition, so the cut-off node is waited for, not excluded (its share stays in)
  consensus: { scheme: 'metropolis', tol: 1e-10, chunks: 3, timeoutMs: 45_000, rerunOnTimeout: true },
  privacy: { budget: 10, release: { enabled: false } },
}

class NetnsSetupError extends Error {
  override name = 'NetnsSetupError'
}
class NetnsRunError extends Error {
  override name = 'NetnsRunError'
}

function sh(args: string[], allowFail = false): string {
  const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8' })
  if (r.status !== 0 && !allowFail) throw new NetnsSetupError(`'${args.join(' ')}' failed (${r.status}): ${r.stderr.trim()}; run as root on Linux with iproute2`)
  return r.stdout
}

function skipReason(): string | null {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not root (network namespaces need CAP_NET_ADMIN)'
  const probe = `${PREFIX}probe`
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' })
  if (r.error !== undefined || r.status !== 0) return `'ip netns add' unavailable: ${r.error?.message ?? r.stderr.trim()}`
  sh(['ip', 'netns', 'del', probe], true)
  return null
}

// ---- namespaces, links, processes: everything made is recorded and undone on exit ----

const namespaces: string[] = []
const links: string[] = []
const procs: ChildProcess[] = []
const servers: Server[] = []
const sockets = new Set<Socket>()
let roots: string[] = []

function cleanupProcs(): void {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null && p.pid !== undefined) p.kill('SIGKILL')
}

function cleanup(): void {
  stopping = true
  cleanupProcs()
  for (const s of sockets) s.destroy()
  for (const srv of servers) srv.close()
  for (const ns of namespaces.splice(0)) sh(['ip', 'netns', 'del', ns], true)
  for (const l of links.splice(0)) sh(['ip', 'link', 'del', l], true)
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true })
}

function setUpNetwork(): void {
  sh(['ip', 'link', 'add', BRIDGE, 'type', 'bridge'])
  links.push(BRIDGE)
  sh(['ip', 'addr', 'add', `${BRIDGE_IP}/24`, 'dev', BRIDGE])
  sh(['ip', 'link', 'set', BRIDGE, 'up'])
  for (let s = 0; s < S; s++) {
    const ns = `${PREFIX}n${s}`
    const host = `${PREFIX}v${s}`
    sh(['ip', 'netns', 'add', ns])
    namespaces.push(ns)
    sh(['ip', 'link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
    links.push(host)
    sh(['ip', 'link', 'set', host, 'master', BRIDGE])
    sh(['ip', 'link', 'set', host, 'up'])
    sh(['ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', `${nodeIp(s)}/24`, 'dev', 'eth0'])
    sh(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'eth0', 'up'])
    sh(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up'])
  }
}

// ---- the user-space delay/loss relay (no netem in this kernel) ----

interface Impairment {
  latencyMs: number
  loss: number
}
const impairment: Impairment = { latencyMs: 0, loss: 0 }
const MIN_RTO_MS = 200

/** Forward `from` to `to`, releasing each chunk after the latency (+ an RTO when "lost"), in order. */
function pipeDelayed(from: Socket, to: Socket): void {
  let releaseAt = 0
  from.on('data', (chunk: Buffer) => {
    const { latencyMs, loss } = impairment
    const lost = loss > 0 && Math.random() < loss
    const due = Math.max(releaseAt, Date.now() + latencyMs + (lost ? MIN_RTO_MS + 2 * latencyMs : 0))
    releaseAt = due
    const wait = due - Date.now()
    if (wait <= 0) to.write(chunk)
    else setTimeout(() => to.writable && to.write(chunk), wait)
  })
  from.on('end', () => setTimeout(() => to.end(), Math.max(0, releaseAt - Date.now())))
}

async function startRelay(s: number): Promise<void> {
  const srv = createServer((inbound) => {
    const outbound = connect(P2P_PORT, nodeIp(s))
    for (const sock of [inbound, outbound]) {
      sockets.add(sock)
      sock.setNoDelay(true)
      sock.on('error', () => {
        inbound.destroy()
        outbound.destroy()
      })
      sock.on('close', () => {
        sockets.delete(sock)
        inbound.destroy()
        outbound.destroy()
      })
    }
    pipeDelayed(inbound, outbound)
    pipeDelayed(outbound, inbound)
  })
  servers.push(srv)
  await new Promise<void>((res, rej) => {
    srv.once('error', rej)
    srv.listen(relayPort(s), BRIDGE_IP, () => res())
  })
}

// ---- one training run of 5 node processes ----

interface RunResult {
  iterations: number
  secondsPerIteration: number
  wallSeconds: number
  maxRelDiff: number
  converged: boolean[]
  restarts: number
}

async function scaffold(root: string): Promise<ScaffoldedNode[]> {
  const net = await scaffoldNetwork({
    dir: root,
    nodes: S,
    data: CSV,
    labelCol: 'anomaly',
    trainOn: 'normal',
    kind: 'cwic',
    host: '0.0.0.0',
    p2pPort: () => P2P_PORT,
    apiPort: () => API_PORT,
    token: TOKEN,
    barrierTimeoutMs: 120_000,
    training,
  })
  // every member is dialled through its relay on the bridge
  const topo = JSON.parse(readFileSync(net.topologyPath, 'utf8')) as { nodes: Array<{ multiaddrs: string[] }> }
  topo.nodes.forEach((n, s) => (n.multiaddrs = [`/ip4/${BRIDGE_IP}/tcp/${relayPort(s)}`]))
  writeFileSync(net.topologyPath, JSON.stringify(topo, null, 2) + '\n')
  return net.nodes
}

/** Restarts of nodes that exited with code 3 (training failed), as a supervisor would. */
let restarts = 0
const EXIT_TRAINING_FAILED = 3

function startNode(n: ScaffoldedNode): ChildProcess {
  const p = spawn('ip', ['netns', 'exec', `${PREFIX}n${n.index}`, process.execPath, CLI, 'node', 'start', '--config', n.config], { stdio: ['ignore', 'pipe', 'pipe'] })
  const log = join(n.dir, 'node.log')
  p.stdout.on('data', (c: Buffer) => appendFileSync(log, c))
  p.stderr.on('data', (c: Buffer) => appendFileSync(log, c))
  procs.push(p)
  p.once('exit', (code) => {
    if (stopping) return
    if (code === EXIT_TRAINING_FAILED) {
      // README policy (systemd Restart=on-failure): restart; it resumes from its checkpoint
      restarts++
      console.log(`  node ${n.index} exited with code 3; restarting it as a supervisor would`)
      startNode(n)
    } else exitedBadly.push(`node ${n.index} exited with code ${code}; see ${log}`)
  })
  return p
}
let stopping = false
const exitedBadly: string[] = []

interface Status {
  state: string
  iteration: number
  converged: boolean
}

async function status(s: number): Promise<Status | null> {
  try {
    const res = await fetch(`http://${nodeIp(s)}:${API_PORT}/v1/status`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(5000) })
    if (!res.ok) return null
    return (await res.json()) as Status
  } catch {
    return null
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Poll until every node is trained; fails when no node's iteration moved for `stallMs`. */
async function waitTrained(nodes: ScaffoldedNode[], onTick?: (st: Array<Status | null>) => Promise<void>, stallMs = 180_000): Promise<{ firstIterAt: number; doneAt: number; st: Status[] }> {
  let firstIterAt = 0
  let lastProgress = Date.now()
  let lastKey = ''
  for (;;) {
    const st = await Promise.all(nodes.map((n) => status(n.index)))
    if (exitedBadly.length > 0) throw new NetnsRunError(exitedBadly.join('; '))
    for (const [s, x] of st.entries()) {
      if (x?.state === 'failed') throw new NetnsRunError(`node ${s} failed; see ${join(nodes[s].dir, 'node.log')}`)
    }
    if (firstIterAt === 0 && st.every((x) => x !== null && x.iteration >= 1)) firstIterAt = Date.now()
    if (st.every((x) => x?.state === 'trained')) return { firstIterAt, doneAt: Date.now(), st: st as Status[] }
    const key = st.map((x) => `${x?.state}:${x?.iteration}`).join(',')
    if (key !== lastKey) {
      lastKey = key
      lastProgress = Date.now()
    }
    if (Date.now() - lastProgress > stallMs) throw new NetnsRunError(`no progress for ${stallMs} ms: ${key}`)
    if (onTick) await onTick(st)
    await sleep(250)
  }
}

function normalRows(path: string): Mat {
  const csv = loadCsv(path, { labelCol: 'anomaly' })
  const idx: number[] = []
  csv.labels?.forEach((l, i) => {
    if (l === 0) idx.push(i)
  })
  return selectRows(csv.features, idx)
}

async function reference(nodes: ScaffoldedNode[]): Promise<Array<{ iteration: number; state: Float64Array }>> {
  const config = parseTrainingConfig(training)
  const run = await runNetwork({
    config,
    parts: nodes.map((n) => normalRows(n.dataPath)),
    nodeParts: (s) => {
      const ledger = createLedger(config, `ref-${s}`)
      return { model: createNodeModel(config), ledger, guard: createPrivacyGuard(config, ledger), releaser: createReleaser(config, ledger, { members: S }) }
    },
    aggregation: { kind: 'exact' },
  })
  return run.nodes.map((r) => r.model.exportGlobal())
}

async function stopNodes(): Promise<void> {
  stopping = true
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((res) => {
          if (p.exitCode !== null || p.signalCode !== null) return res()
          p.once('exit', () => res())
          p.kill('SIGTERM')
        }),
    ),
  )
}

async function trainOnce(label: string, ref: Array<{ iteration: number; state: Float64Array }> | null, partition?: number): Promise<RunResult & { ref: Array<{ iteration: number; state: Float64Array }> }> {
  const root = mkdtempSync(join(tmpdir(), `collab-netns-${label.replace(/\W+/g, '-')}-`))
  roots.push(root)
  const nodes = await scaffold(join(root, 'net'))
  // the reference first: it runs in this process and would stall the relays meanwhile
  const reference_ = ref ?? (await reference(nodes))
  const t0 = Date.now()
  stopping = false
  restarts = 0
  procs.length = 0
  nodes.forEach(startNode)
  let cut: { at: number; healed: boolean; healedAt: number; iterAtCut: number; iterAtHeal: number } | null = null
  const link = partition === undefined ? '' : `${PREFIX}v${partition}`
  const done = await waitTrained(nodes, async (st) => {
    if (partition === undefined) return
    const it = st[partition]?.iteration ?? 0
    if (cut === null && it >= 2) {
      sh(['ip', 'link', 'set', link, 'down'])
      cut = { at: Date.now(), healed: false, healedAt: 0, iterAtCut: it, iterAtHeal: 0 }
      console.log(`  ${label}: node ${partition} cut off at iteration ${it} (ip link set ${link} down)`)
    } else if (cut !== null && !cut.healed && Date.now() - cut.at >= PARTITION_MS) {
      sh(['ip', 'link', 'set', link, 'up'])
      cut.healed = true
      cut.healedAt = Date.now()
      cut.iterAtHeal = Math.max(...st.map((x) => x?.iteration ?? 0))
      console.log(`  ${label}: healed after ${((cut.healedAt - cut.at) / 1000).toFixed(1)} s (network at iteration ${cut.iterAtHeal})`)
    }
  }, partition === undefined ? 180_000 : 180_000 + PARTITION_MS)
  if (partition !== undefined && cut === null) throw new NetnsRunError(`${label}: training ended before the partition could start`)
  const got = nodes.map((n) => loadModel(JSON.parse(readFileSync(join(n.storage, 'model.json'), 'utf8'))).exportGlobal())
  await stopNodes()
  let d = 0
  for (let s = 0; s < S; s++) {
    if (got[s].iteration !== reference_[s].iteration) throw new NetnsRunError(`${label}: node ${s} stopped at iteration ${got[s].iteration}, the in-process run at ${reference_[s].iteration}`)
    d = Math.max(d, globalStateDifference(got[s].state, reference_[s].state))
  }
  const iterations = done.st[0].iteration
  return {
    iterations,
    wallSeconds: (done.doneAt - t0) / 1000,
    secondsPerIteration: (done.doneAt - done.firstIterAt) / 1000 / Math.max(1, iterations - 1),
    maxRelDiff: d,
    converged: done.st.map((x) => x.converged),
    restarts,
    ref: reference_,
  }
}

async function main(): Promise<number> {
  const why = skipReason()
  if (why !== null) {
    console.log(`test:netns skipped: ${why}`)
    return 0
  }
  try {
    readFileSync(CLI)
  } catch {
    throw new NetnsSetupError(`${CLI} missing: run 'npm run build' first`)
  }
  setUpNetwork()
  for (let s = 0; s < S; s++) await startRelay(s)
  console.log(`5 nodes in namespaces ${PREFIX}n0..${S - 1} (10.77.0.1-5), veth -> bridge ${BRIDGE}; latency/loss by user-space relay (no netem in this kernel)`)
  console.log(`GGM K 3, ad_breastw normal rows in 5 slices, cwic, maxIterations ${String(training.maxIterations)}, consensus tol 1e-10; tolerance vs in-process exact run ${TOLERANCE}`)
  const cases: Array<{ label: string; latencyMs: number; loss: number; partition?: number }> = [
    { label: '0 ms', latencyMs: 0, loss: 0 },
    { label: '20 ms', latencyMs: 20, loss: 0 },
    { label: '80 ms', latencyMs: 80, loss: 0 },
    { label: '80 ms + 1 % loss', latencyMs: 80, loss: 0.01 },
    { label: `20 ms, node 2 partitioned ${PARTITION_MS / 1000} s`, latencyMs: 20, loss: 0, partition: 2 },
  ]
  let ref: Array<{ iteration: number; state: Float64Array }> | null = null
  let failed = 0
  // `npm run test:netns -- 80` runs only the cases whose label starts with an argument
  const only = process.argv.slice(2)
  for (const c of cases.filter((x) => only.length === 0 || only.some((o) => x.label.startsWith(o)))) {
    impairment.latencyMs = c.latencyMs
    impairment.loss = c.loss
    try {
      const r = await trainOnce(c.label, ref, c.partition)
      ref = r.ref
      const ok = r.maxRelDiff < TOLERANCE
      if (!ok) failed++
      console.log(
        `${c.label.padEnd(34)} ${r.iterations} iterations, ${r.secondsPerIteration.toFixed(2)} s/iteration (${r.wallSeconds.toFixed(1)} s wall incl. start-up); ` +
          `max rel. diff vs in-process ${r.maxRelDiff.toExponential(2)} ${ok ? 'OK' : 'FAIL'}; converged ${r.converged.filter(Boolean).length}/${S}, restarts ${r.restarts}; load ${loadavg()[0].toFixed(1)}`,
      )
    } catch (e) {
      failed++
      stopping = true
      cleanupProcs()
      console.log(`${c.label.padEnd(34)} FAILED: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`)
    }
  }
  return failed === 0 ? 0 : 1
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    cleanup()
    process.exit(130)
  })
}
process.on('exit', cleanup)
main()
  .then((code) => {
    cleanup()
    roots = []
    process.exit(code)
  })
  .catch((e: unknown) => {
    console.error(e instanceof Error ? `${e.name}: ${e.message}` : String(e))
    cleanup()
    process.exit(1)
  })
