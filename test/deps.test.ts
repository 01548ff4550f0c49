/**
 * The dependency tree installs cleanly on this Node (README: Node >= 20): no package in
 * the lock file declares an engine this Node does not satisfy, and the three packages
 * pinned by package.json `overrides` to Node-20 versions work the way their dependents
 * call them (cookie 1 in light-my-request, p-retry 7 in libp2p's reconnect queue,
 * content-disposition 2 in @fastify/static).
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'

const require = createRequire(import.meta.url)
const semver = require('semver') as { satisfies(version: string, range: string): boolean }
const REPO = join(import.meta.dirname, '..')

/** Resolve `pkg` the way `from` (a package) does, and read its package.json. */
function nested(from: string, pkg: string): { dir: string; version: string } {
  const fromEntry = require.resolve(from)
  const entry = createRequire(fromEntry).resolve(pkg)
  let dir = dirname(entry)
  while (!dir.endsWith(`node_modules/${pkg}`)) dir = dirname(dir)
  return { dir, version: (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version }
}

describe('dependencies on this Node', () => {
  it('every package in package-lock.json accepts this Node version (npm ci prints no engine warning)', () => {
    const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; engines?: { node?: string } }> }
    const refused = Object.entries(lock.packages)
      .filter(([, p]) => typeof p.engines?.node === 'string' && !semver.satisfies(process.versions.node, p.engines.node))
      .map(([k, p]) => `${k}@${p.version} needs node ${p.engines?.node}`)
    expect(refused).toEqual([])
  })

  it('light-my-request encodes request cookies with the pinned cookie 1.x', async () => {
    expect(nested('light-my-request', 'cookie').version).toBe('1.1.1')
    const app = Fastify()
    app.get('/', async (req) => ({ cookie: req.headers.cookie }))
    const r = await app.inject({ url: '/', cookies: { session: 'a b;c', plain: 'x' } })
    // values percent-encoded as RFC 6265 requires
    expect(r.json()).toEqual({ cookie: 'session=a%20b%3Bc; plain=x' })
    await app.close()
  })

  it("p-retry 7 retries and aborts the way libp2p's reconnect queue calls it", async () => {
    const { dir, version } = nested('libp2p', 'p-retry')
    expect(version).toBe('7.1.1')
    const mod = (await import(pathToFileURL(join(dir, 'index.js')).href)) as { default: (fn: (attempt: number) => Promise<string>, o: object) => Promise<string> }
    const pRetry = mod.default
    const attempts: number[] = []
    // the reconnect queue's options: signal, retries, factor, minTimeout; the callback gets the attempt number
    const ok = await pRetry(
      async (attempt) => {
        attempts.push(attempt)
        if (attempt < 3) throw new Error('dial failed')
        return 'connected'
      },
      { signal: new AbortController().signal, retries: 5, factor: 1, minTimeout: 1 },
    )
    expect(ok).toBe('connected')
    expect(attempts).toEqual([1, 2, 3])
    let calls = 0
    await expect(pRetry(async () => (calls++, Promise.reject(new Error('down'))), { retries: 2, factor: 1, minTimeout: 1 })).rejects.toThrow('down')
    expect(calls).toBe(3)
    const stop = new AbortController()
    const aborted = pRetry(
      async () => {
        stop.abort(new Error('node stopping'))
        throw new Error('dial failed')
      },
      { signal: stop.signal, retries: 10, factor: 1, minTimeout: 10_000 },
    )
    await expect(aborted).rejects.toThrow('node stopping')
  })

  it('@fastify/static builds Content-Disposition with the pinned content-disposition 2.x', () => {
    const { dir, version } = nested('@fastify/static', 'content-disposition')
    expect(version).toBe('2.0.1')
    const cd = require(dir) as { create(name: string): string }
    expect(cd.create('report 1.csv')).toBe('attachment; filename="report 1.csv"')
    expect(cd.create('résumé.pdf')).toBe('attachment; filename="r?sum?.pdf"; filename*=UTF-8\'\'r%C3%A9sum%C3%A9.pdf')
  })
})
