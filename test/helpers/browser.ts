/**
 * A real headless browser for the page tests: Debian's chromium driven by playwright-core
 * (no browser download; `.ci/run` installs chromium with apt). Each launch gets a fresh
 * profile directory, removed on close.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Null when a browser is installed, else the reason the browser tests skip. */
export function browserMissing(): string | null {
  return existsSync(CHROMIUM) ? null : `no browser at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH); skipping the browser tests`
}

/** Flags: headless, no sandbox (root in CI), and nothing that talks to the network by itself. */
export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']

export interface Browser {
  context: BrowserContext
  close(): Promise<void>
}

export async function launchBrowser(viewport = { width: 1280, height: 900 }): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'collab-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport,
    offline: false,
  })
  return {
    context,
    async close() {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    },
  }
}

/** Width and height of a PNG, from its IHDR chunk (bytes 16-23). */
export function pngSize(png: Buffer): { width: number; height: number } {
  if (png.subarray(1, 4).toString('latin1') !== 'PNG') throw new Error('not a PNG')
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) }
}

/**
 * How much of a screenshot is ink: decoded by the browser itself (canvas), the fraction
 * of pixels that are not near-white and the number of distinct colours (quantised).
 */
export async function inkOf(context: BrowserContext, png: Buffer): Promise<{ ink: number; colours: number }> {
  const page = await context.newPage()
  try {
    await page.setContent('<canvas id="c"></canvas>')
    // the page script is a string: this project compiles without the DOM types
    const script = `(async () => {
      const img = new Image()
      img.src = 'data:image/png;base64,${png.toString('base64')}'
      await img.decode()
      const c = document.getElementById('c')
      c.width = img.width
      c.height = img.height
      const g = c.getContext('2d')
      g.drawImage(img, 0, 0)
      const d = g.getImageData(0, 0, img.width, img.height).data
      let ink = 0
      const colours = new Set()
      for (let i = 0; i < d.length; i += 4) {
        if (d[i] < 240 || d[i + 1] < 240 || d[i + 2] < 240) ink++
        colours.add(((d[i] >> 4) << 8) | ((d[i + 1] >> 4) << 4) | (d[i + 2] >> 4))
      }
      return { ink: ink / (d.length / 4), colours: colours.size }
    })()`
    return await page.evaluate<{ ink: number; colours: number }>(script)
  } finally {
    await page.close()
  }
}
