/**
 * A node's privacy ledger cannot be lost quietly: with a checkpoint present, a deleted
 * ledger.json stops the node (LedgerMissingError) unless the operator asks to rebuild it
 * from the checkpoint's copy, and a ledger swapped for a shorter (older) copy is refused
 * (LedgerCorruptError). Also: what `collab network init` writes is readable by its owner only.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { loadNodeConfig } from '../../node/config.js'
import { startNode } from '../../node/peer.js'
import { PrivacyLedger } from '../../src/privacy/ledger.js'
import { makeCluster, type Cluster } from './cluster.js'

const roots: string[] = []
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true })
})

const quiet = pino({ level: 'silent' })

async function trainTwoNodes(): Promise<Cluster> {
  const root = mkdtempSync(join(tmpdir(), 'collab-ledger-'))
  roots.push(root)
  const c = await makeCluster({
    root: join(root, 'net'),
    S: 2,
    kind: 'complete',
    csv: 'data/ad_breastw.csv',
    labelCol: 'anomaly',
    // l0 above any entropy the nodes can reach: every local update is perturbed and logged
    training: { model: { kind: 'ggm', hyper: { K: 2 } }, seed: 5, maxIterations: 4, privacy: { monitor: true, l0: 400, release: { enabled: false } } },
  })
  const nodes = await Promise.all(c.nodes.map((n) => startNode(loadNodeConfig(n.config), { logger: quiet })))
  await Promise.all(nodes.map((n) => n.training))
  await Promise.all(nodes.map((n) => n.stop()))
  return c
}

describe('node ledger durability', () => {
  it('refuses to start without its ledger, rebuilds it only when told, and refuses a truncated one', async () => {
    const c = await trainTwoNodes()
    const n0 = c.nodes[0]
    const ledgerPath = join(n0.storage, 'ledger.json')
    const full = PrivacyLedger.load(ledgerPath)
    expect(full.entries.length).toBeGreaterThanOrEqual(2)
    const config = loadNodeConfig(n0.config)

    // deleted: refuse, naming the way out
    renameSync(ledgerPath, `${ledgerPath}.away`)
    await expect(startNode(config, { logger: quiet })).rejects.toMatchObject({ name: 'LedgerMissingError', message: expect.stringMatching(/--restore-ledger-from-checkpoint/) })
    expect(existsSync(ledgerPath)).toBe(false)

    // the operator's explicit choice: rebuilt from the checkpoint copy, same chain
    const restored = await startNode(config, { logger: quiet, restoreLedgerFromCheckpoint: true })
    await restored.training
    await restored.stop()
    expect(PrivacyLedger.load(ledgerPath).head()).toEqual(full.head())

    // truncated to a shorter, internally valid chain: refused against the checkpoint's head
    const doc = full.toJSON()
    const kept = doc.entries.slice(0, 1)
    const totals = { external: doc.totals.external.map(() => 0), peers: doc.totals.peers.map(() => 0) }
    for (const e of kept) e.rdp.forEach((v, j) => (totals[e.audience][j] += v))
    writeFileSync(ledgerPath, JSON.stringify({ ...doc, entries: kept, totals }))
    expect(PrivacyLedger.load(ledgerPath).entries).toHaveLength(1) // valid on its own
    await expect(startNode(config, { logger: quiet })).rejects.toMatchObject({ name: 'LedgerCorruptError' })
  })

  it('collab network init writes the data slices and org.yaml (holding the API token) with mode 0600', async () => {
    const root = mkdtempSync(join(tmpdir(), 'collab-modes-'))
    roots.push(root)
    const c = await makeCluster({ root: join(root, 'net'), S: 2, kind: 'complete', csv: 'data/ad_breastw.csv', labelCol: 'anomaly', token: 'tok-123456', training: { model: { kind: 'ggm' }, seed: 1 } })
    for (const n of c.nodes) {
      expect(statSync(n.dataPath).mode & 0o777).toBe(0o600)
      expect(statSync(n.config).mode & 0o777).toBe(0o600)
      expect(readFileSync(n.config, 'utf8')).toContain('tok-123456')
    }
  })
})
