// Worker-thread entry when the simulator runs from its TypeScript sources (vitest, tsx):
// register tsx's ESM loader in this thread, then load the real entry (a .ts module).
// Built code (dist/) starts dist/sim/workers/worker-entry.js directly and never loads this file.
import { workerData } from 'node:worker_threads'

const api = await import('tsx/esm/api')
api.register()
await import(workerData.entry)
