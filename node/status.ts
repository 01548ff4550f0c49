/**
 * What GET /v1/status (and the status page at /) shows: the node's state, its iteration
 * history, its peers and their liveness, consensus and wire counts, privacy spent vs budget.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { IterationRecord, TrainingResult } from '../src/learning/types.js'
import type { PrivacyLedger } from '../src/privacy/ledger.js'
import type { CollabHost, TransportStats } from '../src/p2p/index.js'
import type { Topology } from '../topologies/index.js'

export type NodeState = 'starting' | 'waiting-for-peers' | 'training' | 'trained' | 'failed' | 'stopped'

/** One completed iteration as the status page plots it. */
export interface HistoryRow {
  iteration: number
  objective: number
  time: number
  rounds: number
  bytesSent: number
  bytesReceived: number
  participants: number
  iterationMs: number
}

/** Iteration rows, bounded by maxIterations; a node that rejoins reruns iterations and keeps the last run of each. */
export class IterationHistory {
  readonly rows: HistoryRow[] = []

  record(r: IterationRecord, rounds: number, t: TransportStats): void {
    while (this.rows.length > 0 && this.rows[this.rows.length - 1].iteration >= r.iteration) this.rows.pop()
    this.rows.push({ iteration: r.iteration, objective: r.objective, time: Date.now(), rounds, bytesSent: t.bytesSent, bytesReceived: t.bytesReceived, participants: r.participants, iterationMs: r.iterationMs })
  }
}

export interface StatusSources {
  topology: Topology
  self: number
  peerId: string
  neighbours: number[]
  host: CollabHost
  ledger: PrivacyLedger
  transport: TransportStats
  history: IterationHistory
  startedAt: string
  state(): NodeState
  iteration(): number
  result(): TrainingResult | null
  threshold(): number | null
  consensus(): { sessions: number; reruns: number; rounds: number }
}

function connectedSince(host: CollabHost, peer: string): number | null {
  const open = host.getConnections(peerIdFromString(peer)).map((c) => c.timeline.open)
  return open.length > 0 ? Math.min(...open) : null
}

export function nodeStatus(s: StatusSources): Record<string, unknown> {
  const { topology, self, ledger } = s
  const result = s.result()
  return {
    node: { index: self, name: topology.nodes[self].name, peerId: s.peerId },
    state: s.state(),
    startedAt: s.startedAt,
    iteration: s.iteration(),
    converged: result?.converged ?? null,
    stopReason: result?.stopReason ?? null,
    threshold: s.threshold(),
    peers: topology.nodes
      .filter((n) => n.index !== self)
      .map((n) => ({
        index: n.index,
        name: n.name,
        peerId: n.peerId,
        neighbour: s.neighbours.includes(n.index),
        connected: s.host.getConnections(peerIdFromString(n.peerId as string)).length > 0,
        connectedSince: connectedSince(s.host, n.peerId as string),
      })),
    consensus: s.consensus(),
    transport: s.transport,
    privacy: {
      epsilonSpent: ledger.spent('external').epsilon,
      budget: ledger.settings.budget,
      delta: ledger.settings.delta,
      lastRelease: ledger.entries.filter((e) => e.audience === 'external').map((e) => ({ time: e.time, label: e.label, kind: e.kind, epsilon: e.epsilon })).at(-1) ?? null,
    },
    history: s.history.rows,
  }
}
