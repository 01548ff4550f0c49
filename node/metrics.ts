/**
 * The node's Prometheus registry: consensus rounds and sessions, wire bytes and frames,
 * rejected frames by reason, privacy spent, training iteration and connected peers, plus
 * the process metrics every Prometheus user expects (added by the API).
 */
import { Counter, Gauge, Registry } from 'prom-client'
import type { PrivacyLedger } from '../src/privacy/ledger.js'
import type { TransportStats } from '../src/p2p/transport.js'

export interface NodeMetricsSources {
  transport: TransportStats
  ledger: PrivacyLedger
  /** Completed consensus sessions so far. */
  sessions: () => number
  /** Frames the consensus engines dropped without blaming a peer (stale, replayed, early), by reason. */
  engineRejects: () => Record<string, number>
  /** Completed training iterations. */
  iteration: () => number
  /** Topology members with an open connection. */
  connectedPeers: () => number
}

export interface NodeMetrics {
  registry: Registry
  /** Count one consensus round. */
  round(): void
}

export function createNodeMetrics(src: NodeMetricsSources): NodeMetrics {
  const registry = new Registry()
  const rounds = new Counter({ name: 'collab_consensus_rounds_total', help: 'Consensus rounds run (all chunks)', registers: [registry] })
  const gauge = (name: string, help: string, value: () => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(value())
      },
    })
  }
  const byLabel = (name: string, help: string, label: string, values: () => Record<string, number>): void => {
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset()
        for (const [k, n] of Object.entries(values())) this.inc({ [label]: k }, n)
      },
    })
  }
  const t = src.transport
  gauge('collab_consensus_sessions_total', 'Completed consensus sessions (sum calls)', src.sessions)
  byLabel('collab_p2p_bytes_total', 'Consensus frame bytes on the wire', 'direction', () => ({ sent: t.bytesSent, received: t.bytesReceived }))
  byLabel('collab_p2p_frames_total', 'Consensus frames accepted', 'direction', () => ({ sent: t.framesSent, received: t.framesReceived }))
  byLabel('collab_frame_rejects_total', 'Frames dropped and peer misbehaviour reports, by reason', 'reason', () => {
    const all = { ...t.rejects }
    for (const [reason, n] of Object.entries(src.engineRejects())) all[reason] = (all[reason] ?? 0) + n
    return all
  })
  gauge('collab_epsilon_spent', 'Epsilon spent on external releases at the ledger delta', () => src.ledger.spent('external').epsilon)
  gauge('collab_training_iteration', 'Completed training iterations', src.iteration)
  gauge('collab_peers_connected', 'Topology members with an open connection', src.connectedPeers)
  return { registry, round: () => rounds.inc() }
}
