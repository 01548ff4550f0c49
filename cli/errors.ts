/**
 * One voice for errors, shared by `collab`, the bench and the experiment scripts:
 *
 *   collab: <Name>: <message>            one line; exit 1 (operational error)
 *   collab: UsageError: <message>        exit 2, followed by one line of hint
 *   hint: collab fit --help lists its options
 *
 * A usage error is anything commander rejects (unknown option or command, missing or
 * invalid option value, too many arguments) or an InvalidArgumentError thrown by a
 * command. A named error class (DataError, NodeConfigError, ...) is operational: its
 * message already says what to do; so does a system error, named by its code (EADDRINUSE).
 * Other built-in errors (TypeError, ...) are bugs and keep their stack; COLLAB_DEBUG=1
 * shows the stack of every error.
 */
import { CommanderError, InvalidArgumentError, type Command } from 'commander'

/** Built-in error classes mean a bug here (show the stack); our named errors are user-facing. */
const BUILTIN_ERRORS = new Set(['Error', 'TypeError', 'RangeError', 'ReferenceError', 'SyntaxError', 'EvalError', 'URIError', 'AggregateError'])

/** commander codes that are not errors: help or version asked for. */
const NOT_ERRORS = new Set(['commander.helpDisplayed', 'commander.version', 'commander.help'])

/** The command as the user typed it, e.g. 'collab privacy release'. */
export function commandPath(cmd: Command): string {
  const names: string[] = []
  for (let c: Command | null = cmd; c !== null; c = c.parent) names.unshift(c.name())
  return names.join(' ')
}

/** commander's message without its 'error: ' prefix, on one line ("(Did you mean --nodes?)" joins it). */
function usageMessage(err: Error): string {
  return oneLine(err.message.replace(/^error:\s*/, '').replace(/\n\(Did you mean (.*)\?\)/, ' (did you mean $1?)'))
}

function oneLine(s: string): string {
  return s.trim().replace(/\s*\n\s*/g, '; ')
}

/**
 * Route every command's parse errors through `onError` instead of commander's own
 * printing (which dumps help): call once after all commands are registered.
 */
export function quietCommander(root: Command, onFailingCommand: (cmd: Command) => void): void {
  const walk = (c: Command): void => {
    c.configureOutput({ outputError: () => {} })
    c.exitOverride((err) => {
      onFailingCommand(c)
      // commander checks required options before unknown ones, so `fit --nodez 3` would
      // say "--data not specified"; the typo is the more useful message
      const typo = err.code === 'commander.missingMandatoryOptionValue' ? c.args.find((a) => a.startsWith('-')) : undefined
      if (typo !== undefined) {
        const unknownOption = (c as unknown as { unknownOption?: (flag: string) => never }).unknownOption
        if (typeof unknownOption === 'function') unknownOption.call(c, typo.split('=')[0]) // commander's own message, with its suggestion
        throw new CommanderError(1, 'commander.unknownOption', `error: unknown option '${typo.split('=')[0]}'`)
      }
      throw err
    })
    for (const sub of c.commands) walk(sub)
  }
  walk(root)
}

/** Print `err` in the one voice and return the exit code (0 for help/version). */
export function reportError(prog: string, err: unknown, failing: Command | null): number {
  const debug = process.env.COLLAB_DEBUG === '1'
  if (err instanceof CommanderError) {
    // a command group run without its subcommand prints its (short) help: a usage error
    if (NOT_ERRORS.has(err.code)) return err.code === 'commander.help' && err.exitCode !== 0 ? 2 : err.exitCode
    process.stderr.write(`${prog}: UsageError: ${usageMessage(err)}\n`)
    const where = failing === null ? prog : commandPath(failing)
    process.stderr.write(`hint: ${where} --help lists its options\n`)
    if (debug) process.stderr.write(`${err.stack ?? ''}\n`)
    return 2
  }
  if (err instanceof Error && !BUILTIN_ERRORS.has(err.name) && !debug) {
    process.stderr.write(`${prog}: ${err.name}: ${oneLine(err.message)}\n`)
    return 1
  }
  // the operating system's errors (port in use, file missing, permission) are not bugs:
  // their code names them (EADDRINUSE, ENOENT, EACCES)
  const code = (err as { code?: unknown } | null)?.code
  if (err instanceof Error && typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) && !debug) {
    process.stderr.write(`${prog}: ${code}: ${oneLine(err.message)}\n`)
    return 1
  }
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  return 1
}

/**
 * Parse argv with `cmd` and run its action; every error is printed in the one voice and
 * sets the exit code. For the scripts outside `collab` (bench, experiments).
 */
export async function runCommand(cmd: Command, argv: readonly string[]): Promise<void> {
  let failing: Command | null = null
  quietCommander(cmd, (c) => {
    failing = c
  })
  cmd.hook('preAction', (_root, action) => {
    failing = action
  })
  try {
    await cmd.parseAsync([...argv], { from: 'user' })
  } catch (err) {
    process.exitCode = reportError(cmd.name(), err, failing)
  }
}

/**
 * Parse the flags of a script (no action): on a usage error print it in the one voice
 * and exit 2. Returns the parsed options.
 */
export function parseOrExit<T extends Record<string, unknown>>(cmd: Command, argv: readonly string[]): T {
  let failing: Command | null = null
  quietCommander(cmd, (c) => {
    failing = c
  })
  try {
    cmd.parse([...argv], { from: 'user' })
  } catch (err) {
    const code = reportError(cmd.name(), err, failing)
    process.exit(code)
  }
  return cmd.opts<T>()
}

/** A commander option parser for a finite number; anything else is a usage error naming the flag. */
export function numberFlag(flag: string): (v: string) => number {
  return (v: string): number => {
    const x = Number(v)
    if (v.trim() === '' || !Number.isFinite(x)) throw new InvalidArgumentError(`${flag} must be a number`)
    return x
  }
}

/** A commander value parser for a flag holding a JSON object (e.g. --hyper '{"architecture": "mlp"}'). */
export function jsonObjectFlag(flag: string): (v: string) => Record<string, unknown> {
  return (v: string): Record<string, unknown> => {
    let x: unknown
    try {
      x = JSON.parse(v)
    } catch {
      throw new InvalidArgumentError(`${flag} must be a JSON object such as '{"architecture": "mlp"}'`)
    }
    if (x === null || typeof x !== 'object' || Array.isArray(x)) throw new InvalidArgumentError(`${flag} must be a JSON object, not an array or a single value`)
    return x as Record<string, unknown>
  }
}
