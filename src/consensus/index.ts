/**
 * Transport-agnostic dynamical average consensus (DESIGN.md eq. 3-6): weights and spectral
 * round counts, the round engine with random chunking and relabelling, reruns without
 * silent nodes, an in-memory transport, a virtual clock, and Shamir secret sharing.
 * It averages Float64Arrays over a Transport and knows nothing of models or libp2p.
 */
export type { ConsensusFrame, FrameKind, FrameHandler, Transport, Clock } from './transport.js'
export { systemClock } from './transport.js'
export {
  SCHEMES,
  DEFAULT_TOL,
  DisconnectedGraphError,
  graphSpectrum,
  graphSpectrumDense,
  graphSpectrumSparse,
  DENSE_SPECTRUM_MAX_NODES,
  planScheme,
  roundsFor,
  chebyshevRounds,
  metropolisWeight,
  type SchemeName,
  type SchemePlan,
  type GraphSpectrum,
} from './weights.js'
export {
  createConsensusNode,
  attemptId,
  DEFAULT_SCHEME,
  DEFAULT_CHUNKS,
  sessionTol,
  DEFAULT_CHUNK_SCALE,
  DEFAULT_RETRANSMIT_MS,
  MAX_SESSIONS_AHEAD,
  MAX_BACKOFFS,
  FRAME_HEADER_BYTES,
  type ConsensusOptions,
  type ConsensusNode,
  type ConsensusStats,
  type SessionRecord,
  type SessionWait,
  type SumOptions,
  formatWaits,
} from './node.js'
export { NeighbourTimeoutError, ExcludedError, OutOfStepError, ConsensusClosedError, ConsensusInputError, SessionMismatchError } from './errors.js'
export { createShamirNode, ShamirQuorumError, WORDS as SHAMIR_WORDS, type ShamirNodeOptions } from './secure-sum.js'
export { createMemoryNetwork, MemoryNetworkError, type MemoryNetwork, type MemoryNetworkOptions, type MemoryNetworkStats } from './memory.js'
export { ClockStalledError, createVirtualClock, type RunOptions as ClockRunOptions, type VirtualClock } from './clock.js'
export { splitChunks, relabelling, sessionRelabelling, memberGraph, COVERAGE_REPAIR_SWAPS_PER_NODE, type Relabelling, type SessionRelabelling, type MemberGraph } from './membership.js'
export { ChunkRun, settleLentPayloads, type RoundEvent } from './round.js'
export {
  SHAMIR_PRIME,
  DEFAULT_FRACTION_BITS,
  ShamirRangeError,
  ShamirInputError,
  shamirEncode,
  shamirDecode,
  shamirSplit,
  shamirAdd,
  shamirReconstruct,
  reconstructField,
  fieldSum,
  toWords,
  fromWords,
  type ShamirShare,
  type ShamirOptions,
} from './shamir.js'
