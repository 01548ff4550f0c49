/**
 * The node status page at `/` and the API docs at `/docs`, in a real headless browser
 * (Debian chromium): three real nodes (libp2p on loopback, in this process) train, then
 * the page of node 0 shows its PeerId, state and iteration from /v1/status with no
 * console error and no request leaving the node; a screenshot is saved under
 * reports/screenshots/. Skips, saying why, only where no browser is installed.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadNodeConfig } from '../../node/config.js'
import { startNode, type RunningNode } from '../../node/peer.js'
import { browserMissing, inkOf, launchBrowser, pngSize, type Browser } from '../helpers/browser.js'
import { BACKSTOP_MS, getJson, scaffoldBreastwRing, until } from './cluster.js'

const SHOTS = resolve(import.meta.dirname, '../../reports/screenshots')
const TOKEN = 'status-page-token'
const missing = browserMissing()
if (missing) console.log(missing)

describe.skipIf(missing !== null)('node status page in a headless browser', () => {
  const root = mkdtempSync(join(tmpdir(), 'collab-status-'))
  const nodes: RunningNode[] = []
  let browser: Browser
  let status: Record<string, unknown>

  beforeAll(async () => {
    const { net } = await scaffoldBreastwRing(join(root, 'net'), {
      token: TOKEN,
      barrierTimeoutMs: 60_000,
      logLevel: 'silent',
      training: { model: { kind: 'ggm', hyper: { K: 2 } }, seed: 3, maxIterations: 8, consensus: { chunks: 2, timeoutMs: 10_000 }, privacy: { budget: 10, release: { enabled: true, bounds: { lower: 1, upper: 10 } } } },
    })
    for (const n of net.nodes) nodes.push(await startNode(loadNodeConfig(n.config)))
    await Promise.all(nodes.map((n) => n.training))
    status = await until(async () => {
      const s = await getJson(`${nodes[0].apiUrl}/v1/status`, TOKEN)
      return s.state === 'trained' ? s : null
    }, 60_000, 'node 0 trained')
    browser = await launchBrowser({ width: 1280, height: 900 })
  }, BACKSTOP_MS)

  afterAll(async () => {
    await browser?.close()
    for (const n of nodes) await n.stop()
    rmSync(root, { recursive: true, force: true })
  })

  it('/v1/status carries the history the page plots', () => {
    const history = status.history as { iteration: number; objective: number; bytesSent: number }[]
    expect(history.length).toBe(status.iteration)
    // one row per completed iteration, numbered from 0 like the training records
    expect(history.map((h) => h.iteration)).toEqual(history.map((_, i) => i))
    expect(history.every((h) => Number.isFinite(h.objective))).toBe(true)
    // cumulative bytes never go down
    for (let i = 1; i < history.length; i++) expect(history[i].bytesSent).toBeGreaterThanOrEqual(history[i - 1].bytesSent)
    const privacy = status.privacy as { epsilonSpent: number; budget: number; lastRelease: { epsilon: number } | null }
    expect(privacy.budget).toBe(10)
    expect(privacy.lastRelease?.epsilon).toBeCloseTo(privacy.epsilonSpent, 9)
  })

  it('shows the PeerId, state and iteration with no console error and no request leaving the node; screenshot', async () => {
    const page = await browser.context.newPage()
    const errors: string[] = []
    const foreign: string[] = []
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text())
    })
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('request', (r) => {
      if (!r.url().startsWith(nodes[0].apiUrl)) foreign.push(r.url())
    })
    // the token the page would ask for once, already in this tab's sessionStorage
    await page.addInitScript(`sessionStorage.setItem('collab-token', ${JSON.stringify(TOKEN)})`)
    await page.goto(`${nodes[0].apiUrl}/`)
    await page.locator('#peerid', { hasText: nodes[0].peerId }).waitFor({ timeout: 30_000 })
    expect(await page.locator('#iteration').textContent()).toBe(String(status.iteration))
    expect(await page.locator('#state').textContent()).toBe('trained')
    // every chart drawn, every neighbour listed as connected or not
    await page.locator('#byteschart svg').waitFor({ timeout: 30_000 })
    for (const id of ['objchart', 'iterchart', 'byteschart']) expect(await page.locator(`#${id} svg .mark-line path`).count(), id).toBeGreaterThan(0)
    expect(await page.locator('#peers tr').count()).toBe(2)
    expect(await page.locator('#spent').textContent()).toMatch(/of 10\.000/)
    const png = await page.screenshot({ fullPage: true })
    mkdirSync(SHOTS, { recursive: true })
    writeFileSync(join(SHOTS, 'node-status.png'), png)
    expect(pngSize(png).width).toBe(1280)
    expect(pngSize(png).height).toBeGreaterThanOrEqual(900)
    const { ink, colours } = await inkOf(browser.context, png)
    expect(ink).toBeGreaterThan(0.05)
    expect(colours).toBeGreaterThan(20)
    expect(errors).toEqual([])
    expect(foreign).toEqual([])
    await page.close()
  })

  it('asks for the token when the API has one and none is stored', async () => {
    const page = await browser.context.newPage()
    await page.goto(`${nodes[0].apiUrl}/`)
    await page.locator('#login.show').waitFor({ timeout: 30_000 })
    await page.fill('#token', TOKEN)
    await page.click('#loginform button')
    await page.locator('#peerid', { hasText: nodes[0].peerId }).waitFor({ timeout: 30_000 })
    await page.close()
  })

  it('serves the API docs at /docs offline, with no console error', async () => {
    const page = await browser.context.newPage()
    const errors: string[] = []
    const foreign: string[] = []
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text())
    })
    page.on('request', (r) => {
      if (!r.url().startsWith(nodes[0].apiUrl) && !r.url().startsWith('data:')) foreign.push(r.url())
    })
    await page.goto(`${nodes[0].apiUrl}/docs`)
    await page.locator('.opblock-summary-path', { hasText: '/v1/public/score' }).first().waitFor({ timeout: 30_000 })
    expect(await page.locator('.opblock').count()).toBeGreaterThanOrEqual(9)
    expect(errors).toEqual([])
    expect(foreign).toEqual([])
    await page.close()
  })
})
