/** libp2p networking shared by node/ and sim/: host factory, consensus wire codec and transport, state sync. */
export * from './codec.js'
export * from './host.js'
export * from './sync.js'
export * from './transport.js'
