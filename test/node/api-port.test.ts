/**
 * A node whose API address is taken fails before it joins the overlay: its libp2p host never
 * listens (peers would otherwise see it connect and leave, and wait for it at the start
 * barrier, as the issue-15 CI run's node 2 did), and the error names the address.
 */
import { mkdtempSync } from 'node:fs'
import { connect, createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { ApiPortInUseError } from '../../node/api/server.js'
import { loadNodeConfig } from '../../node/config.js'
import { startNode } from '../../node/peer.js'
import { bindable, scaffoldBreastwRing } from './cluster.js'

const held: Server[] = []
afterAll(async () => {
  for (const s of held) await new Promise((r) => s.close(r))
})

function hold(port: number): Promise<Server> {
  return new Promise((res, rej) => {
    const s = createServer()
    s.once('error', rej)
    s.listen(port, '127.0.0.1', () => {
      held.push(s)
      res(s)
    })
  })
}

/** Something accepts TCP connections on the port (a connect probe: it never takes the port). */
function listening(port: number): Promise<boolean> {
  return new Promise((res) => {
    const c = connect(port, '127.0.0.1')
    c.once('connect', () => {
      c.destroy()
      res(true)
    })
    c.once('error', () => res(false))
  })
}

describe('node start with its API port taken', () => {
  it('fails with ApiPortInUseError before its libp2p host listens', async () => {
    const { net, p2pPorts, apiPorts } = await scaffoldBreastwRing(join(mkdtempSync(join(tmpdir(), 'collab-apiport-')), 'net'), {
      training: { model: { kind: 'ggm', hyper: { K: 2 } }, seed: 3, maxIterations: 2 },
    })
    await hold(apiPorts[0])
    const config = loadNodeConfig(net.nodes[0].config)
    // the p2p port is probed while the start is under way: the host must never take it
    let p2pTaken = false
    const start = startNode(config, { logger: pino({ level: 'silent' }) })
    const watch = (async () => {
      for (let i = 0; i < 50 && !p2pTaken; i++) {
        if (await listening(p2pPorts[0])) p2pTaken = true
        await new Promise((r) => setTimeout(r, 20))
      }
    })()
    const err: unknown = await start.then(
      async (n) => {
        await n.stop()
        return null
      },
      (e: unknown) => e,
    )
    await watch
    expect(err).toBeInstanceOf(ApiPortInUseError)
    expect((err as Error).message).toContain(`127.0.0.1:${apiPorts[0]}`)
    expect((err as Error).message).toMatch(/did not join the network/)
    expect(p2pTaken).toBe(false)
    expect(await bindable(p2pPorts[0])).toBe(true)
  })
})
