// Minimal WebAssembly JS-API typings (the DOM lib has them, but this project does not
// load the DOM lib; @types/node 20 declares only the namespace). Used by wasm.ts alone.
declare namespace WebAssembly {
  class Module {
    constructor(bytes: BufferSource)
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>)
    readonly exports: Record<string, unknown>
  }
  class Memory {
    readonly buffer: ArrayBuffer
    grow(delta: number): number
  }
}
type BufferSource = ArrayBufferView | ArrayBuffer
