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
