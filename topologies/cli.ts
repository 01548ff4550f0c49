/**
 * `collab topology generate|inspect`: make seeded topology files and print their spectral
 * report (Laplacian lambda_2 / lambda_max, per scheme the rate rho and rounds for --tol).
 */
import { writeFileSync } from 'node:fs'
import { Command, InvalidArgumentError, Option } from 'commander'
import { DEFAULT_TOL } from '../src/consensus/weights.js'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { TOPOLOGY_KINDS, TopologyError, generateTopology, loadTopology, parseTopology, spectralReport, type Topology, type TopologyKind } from './index.js'

function int(name: string) {
  return (v: string): number => {
    const n = Number(v)
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be an integer, got '${v}'`)
    return n
  }
}

function tolerance(v: string): number {
  const n = Number(v)
  if (!(n > 0 && n < 1)) throw new InvalidArgumentError(`tol must be a number in (0, 1), got '${v}'`)
  return n
}

/** Topology JSON with one edge per line (diff-friendly, still valid JSON). */
export function formatTopology(t: Topology): string {
  const nodes = t.nodes.map((n) => `    ${JSON.stringify(n)}`).join(',\n')
  const edges = t.edges.map((e) => `[${e[0]}, ${e[1]}]`)
  const lines: string[] = []
  for (let i = 0; i < edges.length; i += 12) lines.push(`    ${edges.slice(i, i + 12).join(', ')}`)
  const gen = t.generator === undefined ? '' : `,\n  "generator": ${JSON.stringify(t.generator)}`
  return `{\n  "version": 1,\n  "nodes": [\n${nodes}\n  ],\n  "edges": [\n${lines.join(',\n')}\n  ]${gen}\n}\n`
}

/**
 * Fill in one member of a topology: its PeerId (from `collab node init`) and the
 * multiaddrs its peers dial. The PeerId and each multiaddr are parsed here, so a typo
 * fails now rather than as a refused connection at start-up.
 */
export function setMember(t: Topology, index: number, m: { peerId: string; addrs: string[]; name?: string }): Topology {
  if (!(index >= 0 && index < t.nodes.length)) throw new TopologyError(`--index ${index} is outside 0..${t.nodes.length - 1}`)
  try {
    peerIdFromString(m.peerId)
  } catch (e) {
    throw new TopologyError(`--peer-id '${m.peerId}' is not a PeerId (${(e as Error).message}); copy what \`collab node init\` printed`)
  }
  if (m.addrs.length === 0) throw new TopologyError('pass at least one --addr, e.g. /ip4/10.0.0.5/tcp/4001')
  for (const a of m.addrs) {
    try {
      multiaddr(a)
    } catch (e) {
      throw new TopologyError(`--addr '${a}' is not a multiaddr (${(e as Error).message}); use e.g. /ip4/10.0.0.5/tcp/4001`)
    }
    if (!/^\/(ip4|ip6|dns4|dns6|dns)\/[^/]+\/tcp\/\d+/.test(a)) throw new TopologyError(`--addr '${a}' must be a TCP address such as /ip4/10.0.0.5/tcp/4001`)
  }
  const nodes = t.nodes.map((n) => (n.index === index ? { ...n, ...(m.name !== undefined ? { name: m.name } : {}), peerId: m.peerId, multiaddrs: [...m.addrs] } : n))
  return parseTopology({ ...t, nodes }, 'topology after set-member')
}

export function registerTopologyCommands(program: Command): void {
  const topo = program.command('topology').description('generate and inspect overlay topologies (expanders, spectra, consensus rounds)')
  topo
    .command('generate')
    .description('write a seeded topology file (JSON)')
    .addOption(new Option('--kind <kind>', 'graph family').choices([...TOPOLOGY_KINDS]).makeOptionMandatory())
    .requiredOption('--nodes <S>', 'number of nodes (cwic: prime; mgg: perfect square)', int('nodes'))
    .option('--degree <d>', 'degree of the random regular graph', int('degree'))
    .option('--seed <n>', 'generator seed (regular)', int('seed'))
    .option('--out <file>', 'write here instead of stdout')
    .action((o: { kind: TopologyKind; nodes: number; degree?: number; seed?: number; out?: string }) => {
      const t = generateTopology(o.kind, o.nodes, { degree: o.degree, seed: o.seed })
      const text = formatTopology(t)
      if (o.out === undefined) process.stdout.write(text)
      else {
        writeFileSync(o.out, text)
        process.stderr.write(`wrote ${o.out}: ${t.nodes.length} nodes, ${t.edges.length} edges\n`)
      }
    })
  topo
    .command('set-member')
    .description("record one organisation's PeerId and address in a topology file (in place)")
    .argument('<file>', 'topology JSON file')
    .requiredOption('--index <i>', 'node index in the file', int('index'))
    .requiredOption('--peer-id <id>', 'the PeerId `collab node init` printed')
    .requiredOption('--addr <multiaddr>', 'address its peers dial (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--name <name>', 'rename the node (e.g. the organisation)')
    .action((file: string, o: { index: number; peerId: string; addr: string[]; name?: string }) => {
      const t = setMember(loadTopology(file), o.index, { peerId: o.peerId, addrs: o.addr, name: o.name })
      writeFileSync(file, formatTopology(t))
      const missing = t.nodes.filter((n) => n.peerId === undefined).length
      process.stderr.write(`${file}: node ${o.index} is ${o.peerId}; ${missing} of ${t.nodes.length} nodes still lack a PeerId\n`)
    })
  topo
    .command('inspect')
    .description('spectral report: lambda_2, lambda_max, and per scheme rho and rounds for --tol')
    .argument('<file>', 'topology JSON file')
    .option('--json', 'print JSON')
    .option('--tol <tol>', 'relative tolerance', tolerance, DEFAULT_TOL)
    .action((file: string, o: { json?: boolean; tol: number }) => {
      const r = spectralReport(loadTopology(file), o.tol)
      if (o.json === true) {
        process.stdout.write(`${JSON.stringify(r)}\n`)
        return
      }
      const lines = [
        `${file}: ${r.nodes} nodes, ${r.edges} edges, max degree ${r.maxDegree}`,
        `Laplacian lambda_2 = ${r.lambda2.toPrecision(6)}, lambda_max = ${r.lambdaMax.toPrecision(6)}`,
        `rounds for relative tolerance ${o.tol}:`,
        ...Object.entries(r.schemes).map(([s, v]) => `  ${s.padEnd(14)} rho = ${v.rho.toFixed(6)}  rounds = ${v.rounds}`),
      ]
      process.stdout.write(`${lines.join('\n')}\n`)
    })
}
