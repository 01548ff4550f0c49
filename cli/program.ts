/**
 * The `collab` command tree: one composition root that registers each area's commands.
 * Areas never import each other's CLIs; each exports a `register...(program)`.
 */
import { Command } from 'commander'
import { registerNodeCommands } from '../node/cli.js'
import { registerEvaluateCommand } from './evaluate.js'
import { registerExperimentCommands } from './experiment.js'
import { registerGlassoCommand } from './glasso.js'
import { registerPrivacyCommands } from './privacy.js'
import { registerSimCommands } from '../sim/cli.js'
import { registerTopologyCommands } from '../topologies/cli.js'

export function createProgram(): Command {
  const program = new Command()
  program.name('collab').description('CollabDict: privacy-preserving decentralised anomaly detection').version('0.1.0')
  // One line per command group (keep sorted by area).
  registerNodeCommands(program)
  registerEvaluateCommand(program)
  registerExperimentCommands(program)
  registerGlassoCommand(program)
  registerPrivacyCommands(program)
  registerSimCommands(program)
  registerTopologyCommands(program)
  return program
}
