#!/usr/bin/env node
/**
 * The `collab` command: one composition root that registers each area's commands.
 * Areas never import each other's CLIs; each exports a `register...(program)`.
 */
import '../src/polyfills.js'
import { Command } from 'commander'
import { registerNodeCommands } from '../node/cli.js'
import { registerGlassoCommand } from './glasso.js'
import { registerPrivacyCommands } from './privacy.js'
import { registerSimCommands } from '../sim/cli.js'
import { registerTopologyCommands } from '../topologies/cli.js'

const program = new Command()
program
  .name('collab')
  .description('CollabDict: privacy-preserving decentralised anomaly detection')
  .version('0.1.0')
  .showHelpAfterError()

// One line per command group (keep sorted by area).
registerNodeCommands(program)
registerGlassoCommand(program)
registerPrivacyCommands(program)
registerSimCommands(program)
registerTopologyCommands(program)

/** Built-in error classes mean a bug here (show the stack); our named errors are user-facing. */
const BUILTIN_ERRORS = new Set(['Error', 'TypeError', 'RangeError', 'ReferenceError', 'SyntaxError', 'EvalError', 'URIError', 'AggregateError'])

try {
  await program.parseAsync(process.argv)
} catch (err) {
  // A named error (ConfigError, DataError, TopologyError, ...) already says what to do:
  // print it as one line. Anything else is a bug: keep the stack. COLLAB_DEBUG=1 always shows it.
  if (err instanceof Error && !BUILTIN_ERRORS.has(err.name) && process.env.COLLAB_DEBUG !== '1') {
    process.stderr.write(`collab: ${err.name}: ${err.message}\n`)
  } else {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  }
  process.exitCode = 1
}
