/** Identity, config validation and atomic durable writes of the peer node. */
import { peerIdFromString } from '@libp2p/peer-id'
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DEFAULT_RATE_LIMIT, loadNodeConfig, NodeConfigError, parseNodeConfig } from '../../node/config.js'
import { IdentityError, identityPath, initIdentity, loadIdentity } from '../../node/identity.js'
import { openStore, writeAtomic } from '../../node/store.js'
import { NetworkInitError, scaffoldNetwork } from '../../node/network.js'
import { loadTopology } from '../../topologies/index.js'
import { exitOf, spawnCollab } from './cluster.js'

const tmp = (): string => mkdtempSync(join(tmpdir(), 'collab-node-'))

describe('node identity', () => {
  it('writes an Ed25519 key with mode 0600 whose PeerId round-trips', async () => {
    const dir = join(tmp(), 'id')
    const { peerId, path } = await initIdentity(dir)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(peerIdFromString(peerId).type).toBe('Ed25519')
    const loaded = loadIdentity(dir)
    expect(loaded.peerId).toBe(peerId)
    expect(loaded.privateKey.type).toBe('Ed25519')
  })

  it('`collab node init` prints the PeerId of the key it wrote', async () => {
    const dir = join(tmp(), 'cli-id')
    let out = ''
    const proc = spawnCollab(['node', 'init', '--dir', dir], (t) => {
      out += t
    })
    expect(await exitOf(proc)).toBe(0)
    expect(out).toContain(loadIdentity(dir).peerId)
  })

  it('never overwrites an identity and refuses a key others can read', async () => {
    const dir = tmp()
    await initIdentity(dir)
    await expect(initIdentity(dir)).rejects.toThrow(IdentityError)
    chmodSync(identityPath(dir), 0o644)
    expect(() => loadIdentity(dir)).toThrow(/chmod 600/)
    expect(() => loadIdentity(tmp())).toThrow(/collab node init/)
  })
})

const valid = {
  identity: './id',
  listen: ['/ip4/127.0.0.1/tcp/0'],
  data: { path: 'data.csv', labelCol: 'anomaly', trainOn: 'normal' },
  topology: 'topology.json',
  storage: 'state',
  api: { port: 8080 },
  training: { model: { kind: 'ggm', hyper: { K: 2 } }, seed: 3 },
}

describe('node config', () => {
  it('fills defaults and resolves paths against the config directory', () => {
    const c = parseNodeConfig(valid, 'org.yaml', '/etc/collab')
    expect(c.identity).toBe('/etc/collab/id')
    expect(c.data.path).toBe('/etc/collab/data.csv')
    expect(c.api.host).toBe('127.0.0.1')
    expect(c.api.maxBatch).toBeGreaterThan(0)
    expect(c.training.consensus.chunks).toBeGreaterThan(0)
    expect(c.api.metricsAuth).toBe(false)
    expect(c.api.rateLimit).toEqual(DEFAULT_RATE_LIMIT)
    expect(parseNodeConfig({ ...valid, api: { port: 1, rateLimit: false } }, 'org.yaml', '/').api.rateLimit).toBeNull()
    expect(parseNodeConfig({ ...valid, api: { port: 1, token: 'long-enough', metricsAuth: true } }, 'org.yaml', '/').api.metricsAuth).toBe(true)
  })

  it.each([
    [{ ...valid, api: { port: 70000 } }, /org\.yaml: api\.port: .*65535/],
    [{ ...valid, listen: ['localhost:4001'] }, /listen\.0: must be a TCP multiaddr/],
    [{ ...valid, data: { path: 'x.csv', trainOn: 'normal' } }, /data\.trainOn: trainOn "normal" needs data\.labelCol/],
    [{ ...valid, training: { model: { kind: 'ggm' } } }, /training\.seed: seed must be a whole number/],
    [{ ...valid, api: { port: 1, token: 'short' } }, /api\.token: .*8 characters/],
    [{ ...valid, extra: 1 }, /Unrecognized key.*extra|extra/],
    [{ ...valid, api: { port: 1, metricsAuth: true } }, /org\.yaml: api\.metricsAuth: metricsAuth needs api\.token/],
    [{ ...valid, api: { port: 1, rateLimit: { max: 0, windowMs: 1000 } } }, /org\.yaml: api\.rateLimit\.max: .*>= 1/],
  ])('names the field in errors (%#)', (input, message) => {
    expect(() => parseNodeConfig(input, 'org.yaml', '/')).toThrow(NodeConfigError)
    expect(() => parseNodeConfig(input, 'org.yaml', '/')).toThrow(message)
  })

  it('reads YAML and JSON files and reports syntax errors with the file name', () => {
    const dir = tmp()
    writeFileSync(join(dir, 'org.yaml'), 'identity: ./id\nlisten: [/ip4/127.0.0.1/tcp/0]\ndata: {path: d.csv}\ntopology: t.json\nstorage: s\napi: {port: 0}\ntraining: {model: {kind: ggm}, seed: 1}\n')
    expect(loadNodeConfig(join(dir, 'org.yaml')).storage).toBe(join(dir, 's'))
    writeFileSync(join(dir, 'org.json'), JSON.stringify(valid))
    expect(loadNodeConfig(join(dir, 'org.json')).training.seed).toBe(3)
    writeFileSync(join(dir, 'bad.json'), '{"identity": ')
    expect(() => loadNodeConfig(join(dir, 'bad.json'))).toThrow(/bad\.json: not valid JSON/)
  })
})

describe('durable store', () => {
  it('replaces files atomically, leaving no temp files, and reads back what it wrote', async () => {
    const dir = tmp()
    await writeAtomic(join(dir, 'a.json'), '{"v":1}')
    await writeAtomic(join(dir, 'a.json'), '{"v":2}')
    expect(readFileSync(join(dir, 'a.json'), 'utf8')).toBe('{"v":2}')
    expect(readdirSync(dir)).toEqual(['a.json'])
    const store = openStore(dir)
    expect(store.loadCheckpoint()).toBeNull()
    expect(store.loadState().preparedSessions).toBeNull()
    await store.saveState({ format: 'collabdict-node-state', version: 1, preparedSessions: 4 })
    expect(openStore(dir).loadState().preparedSessions).toBe(4)
    writeFileSync(join(dir, 'checkpoint.json'), '{"format": "collabdict-checkpoint", "iter')
    expect(() => store.loadCheckpoint()).toThrow(/unreadable/)
  })
})

describe('collab network init', () => {
  it('scaffolds S organisations: valid org.yaml files, identities listed in the topology, a seeded partition of the rows', async () => {
    const dir = join(tmp(), 'net')
    let out = ''
    const proc = spawnCollab(['network', 'init', '--dir', dir, '--nodes', '4', '--data', 'data/ad_breastw.csv', '--label-col', 'anomaly', '--train-on', 'normal', '--topology', 'ring', '--k', '3', '--p2p-port', '5001', '--api-port', '9001'], (t) => {
      out += t
    })
    expect(await exitOf(proc)).toBe(0)
    const topo = loadTopology(join(dir, 'topology.json'))
    expect(topo.nodes).toHaveLength(4)
    const source = readFileSync('data/ad_breastw.csv', 'utf8').trim().split('\n')
    const seen: string[] = []
    for (const n of topo.nodes) {
      const cfg = loadNodeConfig(join(dir, n.name, 'org.yaml'))
      expect(loadIdentity(cfg.identity).peerId).toBe(n.peerId)
      expect(cfg.listen).toEqual(n.multiaddrs)
      expect(cfg.listen[0]).toBe(`/ip4/127.0.0.1/tcp/${5001 + n.index}`)
      expect(cfg.api.port).toBe(9001 + n.index)
      expect(cfg.topology).toBe(join(dir, 'topology.json'))
      expect(cfg.training.model).toEqual({ kind: 'ggm', hyper: { K: 3 } })
      expect(cfg.data.trainOn).toBe('normal')
      expect(out).toContain(n.peerId)
      const [header, ...rows] = readFileSync(cfg.data.path, 'utf8').trim().split('\n')
      expect(header).toBe(source[0])
      expect(Math.abs(rows.length - (source.length - 1) / 4)).toBeLessThan(1)
      seen.push(...rows)
    }
    expect(seen.sort()).toEqual(source.slice(1).sort())
    await expect(scaffoldNetwork({ dir, nodes: 4, data: 'data/ad_breastw.csv', training: { model: { kind: 'ggm' }, seed: 1 } })).rejects.toThrow(NetworkInitError)
    await expect(scaffoldNetwork({ dir: join(tmp(), 'x'), nodes: 5, data: 'data/nope.csv', training: { model: { kind: 'ggm' }, seed: 1 } })).rejects.toThrow(/cannot read the data file/)
    await expect(scaffoldNetwork({ dir: join(tmp(), 'y'), nodes: 5, data: 'data/ad_breastw.csv', training: { model: { kind: 'ggm' }, seed: -1 } })).rejects.toThrow(/training\.seed/)
  })

  it('with a missing-value policy every org.yaml declares it and the shared model trains with missing: true', async () => {
    const net = await scaffoldNetwork({ dir: join(tmp(), 'missing'), nodes: 3, data: 'data/ad_pima.csv', labelCol: 'anomaly', missing: { sentinels: { insulin: [0] } }, training: { model: { kind: 'ggm', hyper: { K: 2 } }, seed: 1 } })
    for (const n of net.nodes) {
      const cfg = loadNodeConfig(n.config)
      expect(cfg.data.missing).toEqual({ sentinels: { insulin: [0] } })
      expect(cfg.training.model).toEqual({ kind: 'ggm', hyper: { K: 2, missing: true } })
    }
  })
})
