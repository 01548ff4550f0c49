/**
 * `collab network init`: everything S organisations need to run real peer nodes on one
 * machine (or to copy to S machines): per organisation an Ed25519 identity, its slice of
 * a CSV, and an org.yaml; one topology file listing every member's PeerId and address.
 *
 *   <dir>/topology.json
 *   <dir>/org-00/{identity/identity.key, data.csv, org.yaml}   (one folder per organisation)
 *
 * The rows are spread over the organisations by a seeded permutation (equal sizes, iid),
 * header kept, so each slice is a valid CSV of the same columns. The test harness of the
 * 5-process network test builds its clusters with this function (free ports passed in).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { stringify as toYaml } from 'yaml'
import { splitIid } from '../src/data/split.js'
import type { MissingPolicy } from '../src/data/csv.js'
import { parseTrainingConfig, type TrainingConfigInput } from '../src/learning/config.js'
import { Rng } from '../src/numeric/rng.js'
import { generateTopology, TOPOLOGY_KINDS, type TopologyKind } from '../topologies/index.js'
import { parseNodeConfig } from './config.js'
import { initIdentity } from './identity.js'

export class NetworkInitError extends Error {
  override name = 'NetworkInitError'
}

export interface NetworkInitOptions {
  /** Folder to create (must not hold a previous network's topology.json). */
  dir: string
  nodes: number
  /** CSV with a header row; split over the organisations. */
  data: string
  labelCol?: string
  /** Train on rows labelled 0 only (needs labelCol). */
  trainOn?: 'all' | 'normal'
  /** Missing-value policy written into every org.yaml (data.missing); the model then trains with hyper missing: true. */
  missing?: MissingPolicy
  kind?: TopologyKind
  degree?: number
  /** Seed of the row split (the training seed is training.seed). */
  splitSeed?: number
  host?: string
  /** libp2p TCP port of organisation s (default 4001 + s). */
  p2pPort?: (s: number) => number
  /** API port of organisation s (default 8080 + s). */
  apiPort?: (s: number) => number
  token?: string
  barrierTimeoutMs?: number
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  training: TrainingConfigInput
}

export interface ScaffoldedNode {
  index: number
  name: string
  dir: string
  config: string
  storage: string
  dataPath: string
  peerId: string
  p2pPort: number
  apiPort: number
  apiUrl: string
}

export interface ScaffoldedNetwork {
  root: string
  topologyPath: string
  nodes: ScaffoldedNode[]
}

function csvSlices(path: string, S: number, seed: number): { header: string; parts: string[][] } {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new NetworkInitError(`${path}: cannot read the data file (${(err as Error).message})`)
  }
  const [header, ...rows] = text.split(/\r?\n/).filter((l) => l.trim() !== '')
  if (header === undefined || rows.length < S) {
    throw new NetworkInitError(`${path} has ${rows.length} data rows; ${S} organisations need at least one each (use fewer --nodes)`)
  }
  const parts = splitIid(rows.length, S, new Rng(seed).fork('network/split')).map((idx) => Array.from(idx, (i) => rows[i]))
  return { header, parts }
}

/** Create the network folder; returns where everything went. Validates every config it writes. */
export async function scaffoldNetwork(o: NetworkInitOptions): Promise<ScaffoldedNetwork> {
  const S = o.nodes
  if (!Number.isInteger(S) || S < 2) throw new NetworkInitError(`--nodes must be a whole number >= 2, got ${S}`)
  const kind = o.kind ?? 'cwic'
  if (!TOPOLOGY_KINDS.includes(kind)) throw new NetworkInitError(`unknown topology kind '${kind}'; use one of ${TOPOLOGY_KINDS.join(', ')}`)
  const input = o.missing === undefined ? o.training : { ...o.training, model: { ...o.training.model, hyper: { ...(o.training.model?.hyper ?? {}), missing: true } } }
  const training = parseTrainingConfig(input, 'network init', ['training'])
  const root = resolve(o.dir)
  const topologyPath = join(root, 'topology.json')
  if (existsSync(topologyPath)) throw new NetworkInitError(`${topologyPath} already exists; choose a new --dir (identities are never overwritten)`)
  const host = o.host ?? '127.0.0.1'
  const p2pPort = o.p2pPort ?? ((s: number) => 4001 + s)
  const apiPort = o.apiPort ?? ((s: number) => 8080 + s)
  const topo = generateTopology(kind, S, { degree: o.degree })
  const { header, parts } = csvSlices(resolve(o.data), S, o.splitSeed ?? 1)
  mkdirSync(root, { recursive: true })
  const nodes: ScaffoldedNode[] = []
  for (let s = 0; s < S; s++) {
    const name = topo.nodes[s].name.replace(/^node-/, 'org-')
    topo.nodes[s].name = name
    const dir = join(root, name)
    mkdirSync(dir, { recursive: true })
    const { peerId } = await initIdentity(join(dir, 'identity'))
    const dataPath = join(dir, 'data.csv')
    // private rows and the config (holding the API token): readable by the owner only
    writeFileSync(dataPath, [header, ...parts[s]].join('\n') + '\n', { mode: 0o600 })
    const addr = `/ip4/${host}/tcp/${p2pPort(s)}`
    topo.nodes[s].peerId = peerId
    topo.nodes[s].multiaddrs = [addr]
    const config = {
      identity: './identity',
      listen: [addr],
      data: { path: './data.csv', ...(o.labelCol !== undefined ? { labelCol: o.labelCol } : {}), trainOn: o.trainOn ?? 'all', ...(o.missing !== undefined ? { missing: o.missing } : {}) },
      topology: relative(dir, topologyPath),
      storage: './state',
      api: { host, port: apiPort(s), ...(o.token !== undefined ? { token: o.token } : {}) },
      startup: { barrierTimeoutMs: o.barrierTimeoutMs ?? 120_000 },
      log: { level: o.logLevel ?? 'info' },
      training,
    }
    parseNodeConfig(config, `${name}/org.yaml`, dir)
    const configPath = join(dir, 'org.yaml')
    writeFileSync(configPath, `# ${name}: collab node start --config ${configPath}\n` + toYaml(config), { mode: 0o600 })
    nodes.push({
      index: s,
      name,
      dir,
      config: configPath,
      storage: join(dir, 'state'),
      dataPath,
      peerId,
      p2pPort: p2pPort(s),
      apiPort: apiPort(s),
      apiUrl: `http://${host}:${apiPort(s)}`,
    })
  }
  writeFileSync(topologyPath, JSON.stringify(topo, null, 2) + '\n')
  return { root, topologyPath, nodes }
}
