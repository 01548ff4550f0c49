/**
 * The simulator's HTML report in a real headless browser (Debian chromium): it renders
 * with no console errors and no network request, and a full-page screenshot (saved
 * under reports/screenshots/) has the page's size and visible content.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { writeRunReport } from '../../sim/report.js'
import { runScenario } from '../../sim/run.js'
import { browserMissing, inkOf, launchBrowser, pngSize } from '../helpers/browser.js'
import { chartScenario } from './fixtures.js'

const SHOTS = resolve(import.meta.dirname, '../../reports/screenshots')
const missing = browserMissing()
if (missing) console.log(missing)

describe.skipIf(missing !== null)('sim report in a headless browser', () => {
  it('renders every chart with no console error or request, and screenshots to a non-blank PNG', async () => {
    const { report } = await runScenario(chartScenario())
    const dir = mkdtempSync(join(tmpdir(), 'collab-report-'))
    const { html } = await writeRunReport(dir, report)
    const browser = await launchBrowser({ width: 1200, height: 800 })
    try {
      const page = await browser.context.newPage()
      const errors: string[] = []
      const requests: string[] = []
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text())
      })
      page.on('pageerror', (e) => errors.push(e.message))
      page.on('request', (r) => requests.push(r.url()))
      const url = pathToFileURL(html).href
      await page.goto(url)
      expect(errors).toEqual([])
      expect(requests).toEqual([url])
      // five charts, each drawn at a real size
      const sizes = await page.evaluate<[number, number][]>("[...document.querySelectorAll('svg.marks')].map((e) => [e.clientWidth, e.clientHeight])")
      expect(sizes.length).toBe(5)
      for (const [w, h] of sizes) {
        expect(w).toBeGreaterThan(300)
        expect(h).toBeGreaterThan(150)
      }
      const png = await page.screenshot({ fullPage: true })
      mkdirSync(SHOTS, { recursive: true })
      writeFileSync(join(SHOTS, 'sim-report.png'), png)
      const height = await page.evaluate('document.documentElement.scrollHeight')
      expect(pngSize(png)).toEqual({ width: 1200, height })
      const { ink, colours } = await inkOf(browser.context, png)
      expect(ink).toBeGreaterThan(0.03)
      expect(colours).toBeGreaterThan(20)
    } finally {
      await browser.close()
    }
  })
})
