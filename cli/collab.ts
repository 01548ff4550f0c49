#!/usr/bin/env node
/**
 * The `collab` command (commands: cli/program.ts). Errors speak one way (cli/errors.ts):
 * `collab: <Name>: <message>` and exit 1; usage errors exit 2 with one line of hint.
 */
import '../src/polyfills.js'
import { runCommand } from './errors.js'
import { createProgram } from './program.js'

await runCommand(createProgram(), process.argv.slice(2))
