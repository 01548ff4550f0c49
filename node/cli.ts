/**
 * CLI of the peer node:
 *   collab node init --dir D                       new Ed25519 identity (mode 0600), prints the PeerId
 *   collab node start --config org.yaml            run the node until SIGINT/SIGTERM
 *   collab score --model model.json --data F.csv [--label-col C] [--json]   offline scoring
 *   collab score --url URL --data F.csv [--token T] [--label-col C] [--json] score through a node's API
 */
import { InvalidArgumentError, type Command } from 'commander'
import { readFileSync } from 'node:fs'
import { jsonObjectFlag } from '../cli/errors.js'
import { loadCsv, MISSING_FLAG_HELP, missingFromFlag, type MissingPolicy } from '../src/data/index.js'
import { loadModel } from '../src/models/index.js'
import { toRows } from '../src/numeric/matrix.js'
import { loadNodeConfig } from './config.js'
import { initIdentity } from './identity.js'
import { scaffoldNetwork } from './network.js'
import { startNode } from './peer.js'
import { EXIT_FORCED, EXIT_START_FAILED, EXIT_STOPPED, EXIT_TRAINING_FAILED } from './exit-codes.js'
import { TOPOLOGY_KINDS, type TopologyKind } from '../topologies/index.js'

interface NetworkInitFlags {
  dir: string
  data: string
  nodes: number
  labelCol?: string
  trainOn: string
  missing?: string | true
  topology: string
  degree?: number
  model: string
  k?: number
  rho?: number
  hyper?: Record<string, unknown>
  seed: number
  maxIterations?: number
  host: string
  p2pPort: number
  apiPort: number
  token?: string
}

function intArg(flag: string, v: string): number {
  const n = Number(v)
  if (v.trim() === '' || !Number.isInteger(n)) throw new InvalidArgumentError(`${flag} must be a whole number`)
  return n
}

export class ScoreClientError extends Error {
  override name = 'ScoreClientError'
}

/** Scores of every row of a CSV with a saved model (the file `collab node` writes as model.json). */
export function scoreOffline(modelPath: string, dataPath: string, labelCol?: string, missing?: MissingPolicy): number[] {
  let saved: unknown
  try {
    saved = JSON.parse(readFileSync(modelPath, 'utf8'))
  } catch (err) {
    throw new ScoreClientError(`${modelPath}: cannot read a model JSON (${(err as Error).message})`)
  }
  const model = loadModel(saved)
  const csv = loadCsv(dataPath, { labelCol, allowFewRows: true, allowConstant: true, missing })
  if (csv.features.cols !== model.dim) {
    throw new ScoreClientError(`${dataPath} has ${csv.features.cols} feature columns; the model expects ${model.dim} (pass --label-col to drop a label column)`)
  }
  return Array.from(model.score(csv.features))
}

/** Scores through a node's POST /v1/score, in batches of `batch` rows. */
export async function scoreRemote(
  url: string,
  dataPath: string,
  opts: { token?: string; labelCol?: string; batch?: number; missing?: MissingPolicy } = {},
): Promise<{ scores: number[]; threshold: number; anomalous: boolean[] }> {
  // a missing value (NaN) goes out as JSON null
  const csv = loadCsv(dataPath, { labelCol: opts.labelCol, allowFewRows: true, allowConstant: true, missing: opts.missing })
  const rows = toRows(csv.features)
  const batch = opts.batch ?? 500
  const out = { scores: [] as number[], threshold: Number.NaN, anomalous: [] as boolean[] }
  for (let i = 0; i < rows.length; i += batch) {
    const res = await fetch(new URL('/v1/score', url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) },
      body: JSON.stringify({ samples: rows.slice(i, i + batch) }),
    })
    const body = (await res.json().catch(() => ({}))) as { scores?: number[]; threshold?: number; anomalous?: boolean[]; error?: string }
    if (!res.ok || body.scores === undefined || body.anomalous === undefined || body.threshold === undefined) {
      throw new ScoreClientError(`${url} answered ${res.status}: ${body.error ?? 'unexpected body'}`)
    }
    out.scores.push(...body.scores)
    out.anomalous.push(...body.anomalous)
    out.threshold = body.threshold
  }
  return out
}

export function registerNodeCommands(program: Command): void {
  const node = program.command('node').description('run a CollabDict peer node')
  node
    .command('init')
    .description('create the node identity (Ed25519 key, mode 0600) and print its PeerId')
    .requiredOption('--dir <dir>', 'directory for identity.key')
    .action(async (o: { dir: string }) => {
      const { peerId, path } = await initIdentity(o.dir)
      console.log(peerId)
      console.error(`identity written to ${path}; add the PeerId to the topology file`)
    })
  node
    .command('start')
    .description('join the overlay, train with the peers, serve the scoring API')
    .requiredOption('--config <file>', 'node config (YAML or JSON)')
    .option('--restore-ledger-from-checkpoint', "rebuild a missing ledger.json from checkpoint.json's copy (charges made after that checkpoint are lost)")
    .action(async (o: { config: string; restoreLedgerFromCheckpoint?: boolean }) => {
      const config = loadNodeConfig(o.config)
      const running = await startNode(config, { restoreLedgerFromCheckpoint: o.restoreLedgerFromCheckpoint === true })
      let signals = 0
      const shutdown = (sig: string): void => {
        if (++signals > 1) process.exit(EXIT_FORCED)
        console.error(`${sig}: stopping (checkpoint is on disk); send again to force`)
        running.stop().then(
          () => process.exit(EXIT_STOPPED),
          () => process.exit(EXIT_START_FAILED),
        )
      }
      process.on('SIGINT', () => shutdown('SIGINT'))
      process.on('SIGTERM', () => shutdown('SIGTERM'))
      // training failed for good: stop serving and exit non-zero so a supervisor restarts the
      // node (it resumes from its checkpoint); a node left up in state 'failed' is never restarted
      running.training.catch((err: unknown) => {
        if (signals > 0) return
        const e = err instanceof Error ? err : new Error(String(err))
        console.error(`collab: ${e.name}: ${e.message.replace(/\s*\n\s*/g, '; ')}`)
        console.error(`training failed: exiting with code ${EXIT_TRAINING_FAILED} so a supervisor restarts the node (it resumes from its checkpoint)`)
        running.stop().then(
          () => process.exit(EXIT_TRAINING_FAILED),
          () => process.exit(EXIT_TRAINING_FAILED),
        )
      })
    })

  program
    .command('network')
    .description('set up a network of organisations (identities, data slices, org.yaml files, topology)')
    .command('init')
    .description('create S organisations in --dir: identity, slice of --data, org.yaml each; one topology.json with every PeerId and address')
    .requiredOption('--dir <dir>', 'folder to create')
    .requiredOption('--data <file.csv>', 'CSV with a header row, split evenly (seeded) over the organisations')
    .option('--nodes <S>', 'number of organisations', (v) => intArg('--nodes', v), 5)
    .option('--label-col <name>', '0/1 anomaly label column (kept out of the features)')
    .option('--train-on <rows>', 'train on all rows or only rows labelled 0 (needs --label-col)', 'all')
    .option('--missing [spec]', MISSING_FLAG_HELP)
    .option('--topology <kind>', `overlay: ${TOPOLOGY_KINDS.join(', ')}`, 'cwic')
    .option('--degree <d>', 'degree of a random regular topology', (v) => intArg('--degree', v))
    .option('--model <kind>', 'ggm, vae or classifier (a classifier needs --label-col and trains on all rows)', 'ggm')
    .option('--hyper <json>', 'model hyper-parameters as a JSON object, e.g. \'{"architecture": "mlp"}\'', jsonObjectFlag('--hyper'))
    .option('--k <K>', 'GGM: initial number of components', (v) => intArg('--k', v))
    .option('--rho <rho>', 'GGM: l1 penalty', (v) => {
      const x = Number(v)
      if (v.trim() === '' || !Number.isFinite(x)) throw new InvalidArgumentError('--rho must be a number')
      return x
    })
    .option('--seed <n>', 'shared training seed', (v) => intArg('--seed', v), 1)
    .option('--max-iterations <n>', 'iteration cap', (v) => intArg('--max-iterations', v))
    .option('--host <ip>', 'address every node listens on and is listed under', '127.0.0.1')
    .option('--p2p-port <port>', 'libp2p TCP port of the first organisation (then +1 each)', (v) => intArg('--p2p-port', v), 4001)
    .option('--api-port <port>', 'API port of the first organisation (then +1 each)', (v) => intArg('--api-port', v), 8080)
    .option('--token <token>', 'bearer token for every node API')
    .action(async (o: NetworkInitFlags) => {
      if (o.trainOn !== 'all' && o.trainOn !== 'normal') throw new InvalidArgumentError(`--train-on must be "all" or "normal", got '${o.trainOn}'`)
      if (o.model !== 'ggm' && o.model !== 'vae' && o.model !== 'classifier') throw new InvalidArgumentError(`--model must be "ggm", "vae" or "classifier", got '${o.model}'`)
      const hyper: Record<string, unknown> = { ...(o.hyper ?? {}) }
      if (o.k !== undefined) hyper.K = o.k
      if (o.rho !== undefined) hyper.rho = o.rho
      const net = await scaffoldNetwork({
        dir: o.dir,
        nodes: o.nodes,
        data: o.data,
        labelCol: o.labelCol,
        trainOn: o.trainOn,
        missing: missingFromFlag(o.missing),
        kind: o.topology as TopologyKind,
        degree: o.degree,
        host: o.host,
        p2pPort: (s) => o.p2pPort + s,
        apiPort: (s) => o.apiPort + s,
        token: o.token,
        training: { model: { kind: o.model, hyper }, seed: o.seed, ...(o.maxIterations !== undefined ? { maxIterations: o.maxIterations } : {}) },
      })
      console.log(`${net.nodes.length} organisations in ${net.root}; topology ${net.topologyPath}`)
      console.log('start each (one terminal or machine per organisation):')
      for (const n of net.nodes) console.log(`  collab node start --config ${n.config}    # ${n.peerId}, API ${n.apiUrl}`)
    })

  program
    .command('score')
    .description('score a CSV offline with a saved model (--model) or through a node API (--url)')
    .requiredOption('--data <file>', 'CSV with a header row; columns in training order')
    .option('--model <file>', 'saved model JSON (model.json from a node storage directory)')
    .option('--url <url>', 'node API base URL, e.g. http://127.0.0.1:8080')
    .option('--token <token>', 'bearer token of the node API')
    .option('--label-col <name>', 'label column to drop from the features')
    .option('--missing [spec]', MISSING_FLAG_HELP)
    .option('--json', 'print one JSON document instead of one score per line')
    .action(async (o: { data: string; model?: string; url?: string; token?: string; labelCol?: string; json?: boolean; missing?: string | true }) => {
      if ((o.model === undefined) === (o.url === undefined)) throw new InvalidArgumentError('pass exactly one of --model or --url')
      const missing = missingFromFlag(o.missing)
      if (o.model !== undefined) {
        const scores = scoreOffline(o.model, o.data, o.labelCol, missing)
        console.log(o.json ? JSON.stringify({ scores }) : scores.join('\n'))
      } else {
        const r = await scoreRemote(o.url as string, o.data, { token: o.token, labelCol: o.labelCol, missing })
        console.log(o.json ? JSON.stringify(r) : r.scores.map((s, i) => `${s}\t${r.anomalous[i] ? 'anomalous' : 'normal'}`).join('\n'))
      }
    })
}
