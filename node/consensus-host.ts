/**
 * The node's consensus engine across its lifetime: created lazily at the first sum() of
 * each training attempt so that its session counter starts at the session of the
 * iteration the node (re)joins at (preparedSessions + iteration, kept in node-state.json),
 * retired when an attempt ends, and watched: a node that rejoined a session its peers have
 * already finished would wait on frames that never come, so a sum running longer than
 * STALE_CHECK_FACTOR timeouts asks the neighbours where they are and leaves if they are past.
 */
import type { Logger } from 'pino'
import { createConsensusNode, type ConsensusNode } from '../src/consensus/index.js'
import type { LearningContext } from '../src/learning/index.js'
import type { GlobalState } from '../src/learning/types.js'
import { SecretRng } from '../src/numeric/secret-rng.js'
import type { Libp2pTransport } from '../src/p2p/index.js'
import type { Topology } from '../topologies/index.js'
import type { NodeConfig } from './config.js'
import type { NodeStore, NodeState as NodeStateFile } from './store.js'
import { engineOptions } from '../src/learning/config.js'

/** A consensus session running longer than this many neighbour timeouts is checked for staleness. */
export const STALE_CHECK_FACTOR = 2

export class NodeSetupError extends Error {
  override name = 'NodeSetupError'
}

export interface ConsensusHostOptions {
  topology: Topology
  transport: Libp2pTransport
  training: NodeConfig['training']
  store: NodeStore
  /** node-state.json as loaded at start (updated in place and saved). */
  nodeState: NodeStateFile
  /** The node started from a checkpoint. */
  resumedAtStart: boolean
  log: Logger
  /** The neighbours' most advanced global state (the staleness check). */
  askNeighbours(): Promise<GlobalState | null>
  onRound: () => void
}

export class ConsensusHost {
  private engine: ConsensusNode | null = null
  private sessionsDone = 0
  private rerunsDone = 0
  /** Frames the retired engines dropped without blaming a peer, by reason. */
  private readonly retiredRejects: Record<string, number> = {}
  /** Set when the watchdog abandons a stale session: the iteration the peers were at. */
  staleAt: number | null = null

  constructor(private readonly o: ConsensusHostOptions) {}

  /** Completed sessions over every engine this node has run. */
  get sessions(): number {
    return this.sessionsDone + (this.engine?.stats.sessions ?? 0)
  }

  get reruns(): number {
    return this.rerunsDone + (this.engine?.stats.reruns.length ?? 0)
  }

  /** Stale, replayed and early frames dropped without blaming the peer, over every engine, by reason. */
  silentRejects(): Record<string, number> {
    const all = { ...this.retiredRejects }
    for (const [r, n] of Object.entries(this.engine?.stats.silentRejects ?? {})) all[r] = (all[r] ?? 0) + n
    return all
  }

  /** Close the current engine (its counts are kept). */
  retire(): void {
    if (this.engine === null) return
    for (const [r, n] of Object.entries(this.engine.stats.silentRejects ?? {})) this.retiredRejects[r] = (this.retiredRejects[r] ?? 0) + n
    this.sessionsDone += this.engine.stats.sessions
    this.rerunsDone += this.engine.stats.reruns.length
    this.engine.close()
    this.engine = null
  }

  /** The learning loop's aggregate: a consensus sum, on the right session, watched for staleness. */
  readonly aggregate: LearningContext['aggregate'] = async (vec, label, opts) => {
    const m = /^iter:(\d+):stats$/.exec(label)
    const iteration = m === null ? null : Number(m[1])
    const c = await this.engineFor(iteration)
    if (iteration === null) return c.sum(vec, label, opts)
    let timer: ReturnType<typeof setTimeout> | null = null
    let settled = false
    const watch = (): void => {
      timer = setTimeout(() => {
        void this.o.askNeighbours().then((g) => {
          if (settled) return
          if (g !== null && g.iteration > iteration) {
            this.o.log.warn({ iteration, network: g.iteration }, 'peers are past this consensus session; leaving it to rejoin')
            this.staleAt = g.iteration
            this.retire()
          } else watch()
        })
      }, STALE_CHECK_FACTOR * this.o.training.consensus.timeoutMs)
    }
    watch()
    try {
      return await c.sum(vec, label, opts)
    } finally {
      settled = true
      if (timer !== null) clearTimeout(timer)
    }
  }

  /** The engine for a sum at `iteration` (null: a prepare-phase sum), created at the right session. */
  private async engineFor(iteration: number | null): Promise<ConsensusNode> {
    const state = this.o.nodeState
    if (this.engine === null) {
      let first = 0
      if (iteration !== null) {
        if (state.preparedSessions === null) {
          if (this.o.resumedAtStart) {
            throw new NodeSetupError(
              `${this.o.store.dir}/node-state.json is missing: cannot tell which consensus session iteration ${iteration} uses; delete checkpoint.json to start afresh`,
            )
          }
          state.preparedSessions = 0
          await this.o.store.saveState(state)
        }
        first = state.preparedSessions + iteration
      }
      this.engine = this.create(first)
    } else if (state.preparedSessions === null && iteration !== null) {
      // first iteration of a fresh run: every session so far belonged to prepare()
      state.preparedSessions = this.engine.nextSession - iteration
      await this.o.store.saveState(state)
    }
    return this.engine
  }

  private create(firstSession: number): ConsensusNode {
    return createConsensusNode({
      topology: this.o.topology,
      transport: this.o.transport,
      ...engineOptions(this.o.training),
      // chunk noise: a fresh OS-entropy key per engine (never reused across incarnations)
      noise: SecretRng.fromOsEntropy(),
      firstSession,
      onRound: this.o.onRound,
    })
  }
}
