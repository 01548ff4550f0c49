/**
 * The WebAssembly boundary. This is the only module in the project that touches
 * `WebAssembly`, raw pointers or the module's linear memory.
 *
 * Memory ownership (the contract every kernel wrapper follows):
 * - TypeScript allocates every buffer a kernel reads or writes, through `withScratch`:
 *   buffers come from a scratch arena (one `cd_alloc` block owned by this module, kept
 *   across calls and reused by bump allocation, grown up to ARENA_MAX_BYTES when calls need
 *   more) or, for larger requests, from their own `cd_alloc(bytes)` block. Everything a
 *   scratch scope took is released when `withScratch` returns or throws (the arena's bump
 *   pointer is reset, own blocks are `cd_free`d); scopes nest in LIFO order.
 *   Pointers from a scope are invalid after it ends.
 * - Rust never keeps a pointer between calls and never frees host buffers.
 * - A `Float64Array` view into `memory.buffer` dies whenever memory grows, and memory can
 *   grow on any `cd_alloc` or kernel call. So views are created with `f64view()` right
 *   before they are used, results are copied out with `.slice()`, and no view ever
 *   escapes this module's wrappers.
 * - The module is compiled and instantiated once, synchronously, on first use.
 */
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export class WasmLoadError extends Error {
  override name = 'WasmLoadError'
}

/** Raw exports of wasm/collabdict_core.wasm. Kernel signatures are added here as they land. */
export interface CoreExports {
  memory: WebAssembly.Memory
  cd_abi_version(): number
  cd_alloc(bytes: number): number
  cd_free(ptr: number, bytes: number): void
  // rng.rs (seed words lo, hi; out pointer, count)
  cd_rng_fill_u32(lo: number, hi: number, out: number, n: number): void
  cd_rng_fill_uniform(lo: number, hi: number, out: number, n: number): void
  cd_rng_fill_normal(lo: number, hi: number, out: number, n: number): void
  // linalg.rs: return 0 on success, p > 0 when pivot p - 1 was not positive
  cd_cholesky(a: number, n: number, l: number, logdet: number): number
  cd_solve_triangular(t: number, n: number, x: number, m: number, lower: number, transpose: number): void
  cd_solve_spd(a: number, n: number, x: number, m: number, logdet: number): number
  cd_spd_inverse(a: number, n: number, inv: number, logdet: number): number
  cd_eigh(a: number, n: number, values: number, vectors: number): number
  cd_clip_eigenvalues(a: number, n: number, lo: number, hi: number, out: number): number
  cd_check_symmetric(a: number, n: number, rel: number): number
  // mixture.rs: return 0, or 1 + comp * m + pivot when precision `comp` is not positive definite
  cd_gauss_logdens(x: number, n: number, m: number, means: number, k: number, precs: number, out: number): number
  cd_estep(
    x: number, n: number, m: number, logw: number, means: number, k: number, precs: number,
    resp: number, logdens: number, loglik: number, nk: number, sums: number, scatter: number,
  ): number
  cd_mixture_stats(x: number, n: number, m: number, resp: number, k: number, nk: number, sums: number, scatter: number): void
  cd_mixture_prepare(precs: number, m: number, k: number, u: number, consts: number): number
  cd_gauss_logdens_prepared(x: number, n: number, m: number, means: number, k: number, u: number, consts: number, out: number): void
  // glasso.rs: 0 ok, 1-4 failures (see exports.rs)
  cd_glasso(
    s: number, d: number, alpha: number, tol: number, maxIter: number, penalizeDiagonal: number, screen: number,
    w: number, warmTheta: number, theta: number, report: number,
  ): number
  [name: string]: unknown
}

interface Loaded {
  exports: CoreExports
  /** sha256 of the .wasm bytes (first 16 hex digits): identifies the build that made a result. */
  buildId: string
  path: string
}

let loaded: Loaded | undefined

/** Find wasm/collabdict_core.wasm walking up from this file (works from src/ and dist/src/). */
function locateWasm(): string {
  const override = process.env.COLLABDICT_WASM
  if (override !== undefined && override !== '') return override
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'wasm', 'collabdict_core.wasm')
    if (existsSync(candidate)) return candidate
    dir = dirname(dir)
  }
  throw new WasmLoadError(
    'wasm/collabdict_core.wasm not found: run `npm run build:wasm` (needs Debian rustc with libstd-rust-dev-wasm32) or restore the committed binary',
  )
}

/** The instantiated core. Throws WasmLoadError if the binary is missing or incompatible. */
export function core(): Loaded {
  if (loaded !== undefined) return loaded
  const path = locateWasm()
  const bytes = readFileSync(path)
  let instance: WebAssembly.Instance
  try {
    const module = new WebAssembly.Module(bytes)
    instance = new WebAssembly.Instance(module, {})
  } catch (err) {
    throw new WasmLoadError(`cannot instantiate ${path}: ${(err as Error).message}; rebuild with \`npm run build:wasm\``)
  }
  const exports = instance.exports as unknown as CoreExports
  if (exports.cd_abi_version() !== ABI_VERSION) {
    throw new WasmLoadError(
      `${path} has ABI ${exports.cd_abi_version()}, this code expects ${ABI_VERSION}: rebuild with \`npm run build:wasm\``,
    )
  }
  const buildId = createHash('sha256').update(bytes).digest('hex').slice(0, 16)
  loaded = { exports, buildId, path }
  return loaded
}

/** ABI version this wrapper expects from `cd_abi_version()` (see wasm/src/exports.rs). */
export const ABI_VERSION = 1

/** Identifier of the numeric-core build (sha256 prefix of the .wasm), recorded in saved models. */
export function buildId(): string {
  return core().buildId
}

let heap: Float64Array | undefined

/**
 * A Float64Array over all of linear memory. Growing memory detaches the old buffer, which
 * makes the cached view's length 0: that cheap test replaces a call to the
 * `memory.buffer` getter on every access.
 */
function heapF64(): Float64Array {
  if (heap === undefined || heap.length === 0) heap = new Float64Array(core().exports.memory.buffer)
  return heap
}

/** A fresh Float64Array view of `len` doubles at `ptr`. Valid only until the next allocation or kernel call. */
export function f64view(ptr: number, len: number): Float64Array {
  return new Float64Array(core().exports.memory.buffer, ptr, len)
}

/** The double at `ptr`. */
export function f64at(ptr: number): number {
  return heapF64()[ptr >>> 3]
}

/** A copy of `len` doubles at `ptr` (safe to keep: it does not alias wasm memory). */
export function readF64(ptr: number, len: number): Float64Array {
  const start = ptr >>> 3
  return heapF64().slice(start, start + len)
}

/** A fresh Int32Array view of `len` ints at `ptr`. Same lifetime rule as `f64view`. */
export function i32view(ptr: number, len: number): Int32Array {
  return new Int32Array(core().exports.memory.buffer, ptr, len)
}

/** Scratch requests up to this size (summed over one outermost scope) are served from the arena. */
export const ARENA_MAX_BYTES = 8 << 20
const ARENA_MIN_BYTES = 64 << 10

/** The scratch arena: [ptr, ptr + bytes), bump pointer `top`; `demand` = bytes asked in the current outermost scope. */
const arena = { ptr: 0, bytes: 0, top: 0, demand: 0, depth: 0 }

/**
 * Scratch allocator for one kernel call: `f64`/`i32`/`raw` reserve buffers, everything is
 * released when `fn` returns or throws. Use `put` to copy an input in; read outputs with
 * `readF64` (or `f64view(...).slice()`) after the kernel call, before returning.
 */
export class Scratch {
  private readonly blocks: Array<{ ptr: number; bytes: number }> = []

  /** Reserve `len` f64 slots (uninitialised); returns the byte pointer. */
  f64(len: number): number {
    return this.raw(Math.max(1, len) * 8)
  }

  /** Reserve `len` i32 slots (padded to 8 bytes); returns the byte pointer. */
  i32(len: number): number {
    return this.raw(Math.max(2, len + (len % 2)) * 4)
  }

  /** Copy `data` into a fresh buffer; returns the byte pointer. */
  put(data: ArrayLike<number>): number {
    const ptr = this.f64(data.length)
    heapF64().set(data, ptr >>> 3)
    return ptr
  }

  /** Reserve `bytes` (rounded up to 8, 8-byte aligned); returns the byte pointer. */
  raw(bytes: number): number {
    const size = (bytes + 7) & ~7
    arena.demand += size
    if (arena.top + size <= arena.ptr + arena.bytes) {
      const p = arena.top
      arena.top += size
      return p
    }
    const c = core().exports
    const ptr = c.cd_alloc(size)
    if (ptr === 0) throw new WasmLoadError(`wasm allocation of ${bytes} bytes failed (memory exhausted)`)
    this.blocks.push({ ptr, bytes: size })
    return ptr
  }

  freeAll(): void {
    const c = core().exports
    for (const b of this.blocks.splice(0)) c.cd_free(b.ptr, b.bytes)
  }
}

/** Run `fn` with a scratch allocator whose buffers are released afterwards, even on error. */
export function withScratch<T>(fn: (s: Scratch, k: CoreExports) => T): T {
  const k = core().exports
  if (arena.depth === 0) arena.demand = 0
  const mark = arena.top
  arena.depth++
  const s = new Scratch()
  try {
    return fn(s, k)
  } finally {
    s.freeAll()
    arena.top = mark
    arena.depth--
    if (arena.depth === 0 && arena.demand > arena.bytes && arena.demand <= ARENA_MAX_BYTES) growArena(k, arena.demand)
  }
}

/** Replace the (idle) arena by one of at least `need` bytes. */
function growArena(k: CoreExports, need: number): void {
  let bytes = Math.max(ARENA_MIN_BYTES, arena.bytes)
  while (bytes < need) bytes *= 2
  bytes = Math.min(bytes, ARENA_MAX_BYTES)
  if (arena.bytes > 0) k.cd_free(arena.ptr, arena.bytes)
  const ptr = k.cd_alloc(bytes)
  if (ptr === 0) {
    arena.ptr = arena.top = arena.bytes = 0
    return
  }
  arena.ptr = arena.top = ptr
  arena.bytes = bytes
}
