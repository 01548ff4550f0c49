/**
 * Durable atomic file replacement: write a temp file in the same directory (mode 0600),
 * fsync it, rename it over the target, fsync the directory. A crash or kill -9 leaves the
 * previous or the new version, never a torn one. The ledger, the node's checkpoints and
 * the network's scaffolded files all go through here.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { mkdir, open, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

let tmpCounter = 0
/** A temp name no other write in this process (or another process) uses at the same time. */
const tmpPath = (path: string): string => join(dirname(path), `.${basename(path)}.${process.pid}.${++tmpCounter}.tmp`)

/** Replace `path` with `text` atomically and durably (blocking; for small files). */
export function writeFileAtomic(path: string, text: string): void {
  const dir = dirname(path)
  mkdirSync(dir, { recursive: true })
  const tmp = tmpPath(path)
  const fd = openSync(tmp, 'w', 0o600)
  try {
    const buf = Buffer.from(text, 'utf8')
    let off = 0
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  try {
    renameSync(tmp, path)
  } catch (err) {
    try {
      unlinkSync(tmp)
    } catch {
      // already gone
    }
    throw err
  }
  try {
    const dfd = openSync(dir, 'r')
    try {
      fsyncSync(dfd)
    } finally {
      closeSync(dfd)
    }
  } catch {
    // Some platforms cannot open or fsync a directory; the rename itself is still atomic.
  }
}

/** Replace `path` with `text` atomically and durably, without blocking the event loop. */
export async function writeFileAtomicAsync(path: string, text: string): Promise<void> {
  const dir = dirname(path)
  await mkdir(dir, { recursive: true })
  const tmp = tmpPath(path)
  const fh = await open(tmp, 'w', 0o600)
  try {
    await fh.writeFile(text)
    await fh.sync()
  } finally {
    await fh.close()
  }
  try {
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
  try {
    const dh = await open(dir, 'r')
    try {
      await dh.sync()
    } finally {
      await dh.close()
    }
  } catch {
    // as above
  }
}
