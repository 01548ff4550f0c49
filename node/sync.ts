/**
 * What a node asks of its peers outside consensus: their current global model state (to
 * rejoin after a crash or an exclusion), the network's released model (to adopt a release
 * finished while this node was down), and the start barrier (every peer ready before the
 * first session opens). Also serves the same two protocols to the peers.
 */
import type { Logger } from 'pino'
import type { GlobalState } from '../src/learning/types.js'
import type { CollabModel } from '../src/models/model.js'
import { DEFAULT_MAX_MESSAGE_BYTES, fetchGlobal, fetchReleased, PeerBarrierTimeoutError, serveGlobal, serveReleased, waitForPeers, type CollabHost } from '../src/p2p/index.js'
import type { NodeStore } from './store.js'

/** Longest a rejoining node waits for its peers to finish the iteration it was left out of (ms). */
export const REJOIN_WAIT_MS = 60_000

const MAX_STATE = Math.floor(DEFAULT_MAX_MESSAGE_BYTES / 8) - 8
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export interface NetworkSyncOptions {
  host: CollabHost
  /** Every member's PeerId, by topology index. */
  peers: string[]
  /** This node's topology index. */
  self: number
  /** Its neighbours' indices. */
  neighbours: number[]
  /** The consensus timeout; waits scale with it. */
  timeoutMs: number
  store: NodeStore
  log: Logger
  signal: AbortSignal
  /** The node's current model and whether it has a global part to serve yet. */
  model(): CollabModel
  prepared(): boolean
}

export class NetworkSync {
  /**
   * After an exclusion the node may only rejoin once the network has finished the
   * iteration it was excluded from (the peers' sessions for it run without this node).
   */
  rejoinAt = 0
  private serving = false

  constructor(private readonly o: NetworkSyncOptions) {}

  /** The most advanced global state among the neighbours, or null when none answers. */
  async askNeighbours(): Promise<GlobalState | null> {
    let best: GlobalState | null = null
    for (const j of this.o.neighbours) {
      try {
        const g = await fetchGlobal(this.o.host, this.o.peers[j], { maxState: MAX_STATE, timeoutMs: 5000 })
        if (g !== null && (best === null || g.iteration > best.iteration)) best = g
      } catch (err) {
        this.o.log.warn({ peer: j, err: (err as Error).message }, 'state sync failed')
      }
    }
    return best
  }

  /** The global state to rejoin from: waits (bounded) until the peers are past `rejoinAt`. */
  async fetchNetworkGlobal(): Promise<GlobalState | null> {
    const deadline = Date.now() + Math.max(REJOIN_WAIT_MS, 20 * this.o.timeoutMs)
    if (this.rejoinAt === 0) {
      // the session of the iteration the peers are in now may already have given up on
      // this node: join from the next one, which they open right after
      const now = await this.askNeighbours()
      if (now !== null && !now.converged && now.iteration >= this.o.model().iteration) this.rejoinAt = now.iteration + 1
    }
    for (;;) {
      const best = await this.askNeighbours()
      const ready = best !== null && (best.iteration >= this.rejoinAt || best.converged)
      if (ready || this.rejoinAt === 0 || Date.now() > deadline || this.o.signal.aborted) {
        this.o.log.info({ iteration: best?.iteration ?? null, rejoinAt: this.rejoinAt }, 'fetched global state from neighbours')
        return best
      }
      await sleep(250)
    }
  }

  /**
   * After a restart during the release: the network's released model from any member that
   * has finished it (asked in turn, for up to REJOIN_WAIT_MS or 20 timeouts), else null.
   */
  async fetchNetworkRelease(): Promise<unknown> {
    const deadline = Date.now() + Math.max(REJOIN_WAIT_MS, 20 * this.o.timeoutMs)
    while (Date.now() < deadline && !this.o.signal.aborted) {
      for (const [j, p] of this.o.peers.entries()) {
        if (j === this.o.self) continue
        try {
          const file = await fetchReleased(this.o.host, p, { timeoutMs: 5000 })
          if (file !== null) return file
        } catch (err) {
          this.o.log.debug({ peer: j, err: (err as Error).message }, 'released-model fetch failed')
        }
      }
      await sleep(500)
    }
    return null
  }

  /** Serve the sync protocols (global state; the released model, which is public). Idempotent. */
  async serve(): Promise<void> {
    if (this.serving) return
    this.serving = true
    await serveReleased(this.o.host, () => this.o.store.loadJson('released.json'))
    await serveGlobal(this.o.host, () => {
      if (!this.o.prepared()) return null
      try {
        return this.o.model().exportGlobal()
      } catch {
        return null
      }
    })
  }

  /**
   * The start barrier: every target connected and answering the sync protocol (a peer that
   * answers it is about to open its first consensus session), within `timeoutMs`.
   */
  async waitReady(targets: string[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    await waitForPeers(this.o.host, targets, timeoutMs)
    const pending = new Set(targets)
    while (pending.size > 0) {
      await Promise.all(
        [...pending].map(async (p) => {
          try {
            await fetchGlobal(this.o.host, p, { maxState: MAX_STATE, timeoutMs: 3000 })
            pending.delete(p)
          } catch {
            // not ready yet (no sync handler) or unreachable: ask again
          }
        }),
      )
      if (pending.size === 0) break
      if (Date.now() > deadline || this.o.signal.aborted) {
        throw new PeerBarrierTimeoutError(
          `start barrier: peers not ready after ${timeoutMs} ms: ${[...pending].join(', ')}; start them or raise startup.barrierTimeoutMs`,
        )
      }
      await sleep(200)
    }
    this.o.log.info({ peers: targets.length }, 'start barrier passed')
  }
}
