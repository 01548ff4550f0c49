import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // libp2p 3 uses Promise.withResolvers, which Node 20 lacks: load the polyfill first.
    setupFiles: ['./src/polyfills.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
})
