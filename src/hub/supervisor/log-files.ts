/**
 * Per-agent stdout/stderr log files with size-based rotation (stdout.log, stdout.log.1 … .N).
 *
 * Pipe chunks are split into lines synchronously (listeners see them at once); the file writes are
 * batched and run one at a time per stream on a promise chain, so ordering holds, the event loop
 * only ever waits on one async write, and `tail` (chained after the writes) sees every line.
 */
import { mkdirSync } from 'node:fs';
import { open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';

export type Stream = 'stdout' | 'stderr';
/** maxBytes: size of one file before rotating; files: how many rotated files to keep. */
export interface LogLimits {
  maxBytes: number;
  files: number;
}
type LineListener = (stream: Stream, line: string) => void;

/** A line longer than this without a newline is cut, so a runaway agent can't grow memory. */
export const MAX_LINE_BYTES = 64 * 1024;
/** One write() call at most this big, so a huge backlog doesn't become one giant Buffer. */
const MAX_BATCH_BYTES = 1024 * 1024;
const READ_CHUNK = 64 * 1024;
const EMPTY = Buffer.alloc(0);
const NL = 0x0a;
/** Modes of new log folders and files (a rotated file keeps its mode). */
const PRIVATE_DIR = 0o700;
const PRIVATE_FILE = 0o600;
const CR = 0x0d;

interface StreamState {
  readonly path: string;
  pending: Buffer; // the partial last line, never longer than MAX_LINE_BYTES
  queue: Buffer[]; // encoded lines ("…\n") not yet handed to a drain
  drainScheduled: boolean;
  chain: Promise<unknown>; // drains, tails and the close, in call order
  handle: FileHandle | null;
  size: number; // bytes in the current file
  failing: boolean; // warn once per streak of write errors, not per batch
}

export class AgentLogs {
  private readonly streams: Record<Stream, StreamState>;
  private readonly listeners = new Set<{ fn: LineListener }>();
  private readonly limits: LogLimits;
  private closing: Promise<void> | null = null;

  constructor(readonly dir: string, limits: LogLimits) {
    if (!(limits.maxBytes > 0) || !Number.isInteger(limits.files) || limits.files < 0) {
      throw new RangeError(`bad log limits: ${JSON.stringify(limits)}`);
    }
    this.limits = { ...limits };
    // Sync once at construction: cheap, and every later write can assume the folder exists.
    // Private, as the files: output holds whatever the program prints, secrets included.
    mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
    const state = (name: Stream): StreamState => {
      const path = join(dir, `${name}.log`);
      return { path, pending: EMPTY, queue: [], drainScheduled: false, chain: Promise.resolve(), handle: null, size: 0, failing: false };
    };
    this.streams = { stdout: state('stdout'), stderr: state('stderr') };
  }

  /** Raw pipe chunks. Output arriving after close() is dropped (a late pipe must not reopen files). */
  write(stream: Stream, chunk: Buffer): void {
    if (this.closing) return;
    const s = this.streams[stream];
    for (let start = 0; start < chunk.length; ) {
      const nl = chunk.indexOf(NL, start);
      const part = chunk.subarray(start, nl === -1 ? chunk.length : nl);
      const rest = this.cutLong(stream, s.pending.length > 0 ? Buffer.concat([s.pending, part]) : part);
      if (nl === -1) {
        s.pending = Buffer.from(rest); // a copy: don't pin the (possibly large) pipe chunk in memory
        break;
      }
      s.pending = EMPTY;
      this.emitLine(stream, rest);
      start = nl + 1;
    }
  }

  onLine(listener: LineListener): () => void {
    const entry = { fn: listener }; // wrapped so the same function can subscribe twice
    this.listeners.add(entry);
    return () => void this.listeners.delete(entry);
  }

  /** The last n complete lines, oldest first, reading back into rotated files as needed. */
  tail(stream: Stream, n: number): Promise<string[]> {
    const s = this.streams[stream];
    const want = Math.floor(n);
    if (!(want > 0)) return Promise.resolve([]);
    const paths = [s.path, ...Array.from({ length: this.limits.files }, (_, i) => `${s.path}.${i + 1}`)];
    // Chained after every write already queued, and before any rotation queued later.
    return this.serial(s, async () => {
      let out: string[] = [];
      for (const p of paths) {
        if (out.length >= want) break;
        out = (await lastLines(p, want - out.length)).concat(out);
      }
      return out;
    });
  }

  /** Flushes a pending partial line, waits for every queued write, closes the files. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const names: Stream[] = ['stdout', 'stderr'];
      for (const name of names) {
        const s = this.streams[name];
        if (s.pending.length > 0) this.emitLine(name, s.pending);
        s.pending = EMPTY;
      }
      await Promise.all(
        names.map((name) => {
          const s = this.streams[name];
          return this.serial(s, async () => {
            await s.handle?.close().catch(() => undefined);
            s.handle = null;
          });
        }),
      );
    })();
    return this.closing;
  }

  /** Emits MAX_LINE_BYTES pieces of a line that has no newline yet; returns what is left. */
  private cutLong(stream: Stream, buf: Buffer): Buffer {
    while (buf.length > MAX_LINE_BYTES) {
      const cut = utf8Boundary(buf, MAX_LINE_BYTES);
      this.emitLine(stream, buf.subarray(0, cut));
      buf = buf.subarray(cut);
    }
    return buf;
  }

  private emitLine(stream: Stream, raw: Buffer): void {
    const bytes = raw.length > 0 && raw[raw.length - 1] === CR ? raw.subarray(0, -1) : raw;
    const line = bytes.toString('utf8'); // invalid sequences become U+FFFD; never throws
    const s = this.streams[stream];
    s.queue.push(Buffer.from(`${line}\n`, 'utf8'));
    if (!s.drainScheduled) {
      s.drainScheduled = true;
      void this.serial(s, () => this.drain(s));
    }
    for (const { fn } of this.listeners) {
      try {
        fn(stream, line);
      } catch (e) {
        // One bad listener must not cost the others (or the file) their lines.
        process.emitWarning(`agent log listener failed: ${String(e)}`);
      }
    }
  }

  /** Runs op after everything already chained on this stream; a failure doesn't break the chain. */
  private serial<T>(s: StreamState, op: () => Promise<T>): Promise<T> {
    const p = s.chain.then(op);
    s.chain = p.catch(() => undefined);
    return p;
  }

  private async drain(s: StreamState): Promise<void> {
    s.drainScheduled = false; // lines queued from now on get a drain of their own, chained after this
    const lines = s.queue.splice(0);
    let batch: Buffer[] = [];
    let batchBytes = 0;
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const data = batch.length === 1 ? batch[0]! : Buffer.concat(batch, batchBytes);
      batch = [];
      batchBytes = 0;
      const fh = await this.fileFor(s);
      let off = 0;
      while (off < data.length) off += (await fh.write(data, off, data.length - off)).bytesWritten;
    };
    try {
      await this.fileFor(s); // learns the size of a file left by an earlier run
      for (const line of lines) {
        // A line that doesn't fit rotates first; an oversized line lands alone in a fresh file.
        if (s.size > 0 && s.size + line.length > this.limits.maxBytes) {
          await flush();
          await this.rotate(s);
        }
        batch.push(line);
        batchBytes += line.length;
        s.size += line.length;
        if (batchBytes >= MAX_BATCH_BYTES) await flush();
      }
      await flush();
      s.failing = false;
    } catch (e) {
      // Disk full, folder removed…: the batch is lost, but the next drain reopens and carries on.
      if (!s.failing) process.emitWarning(`cannot write agent log ${s.path}: ${String(e)}`);
      s.failing = true;
      await s.handle?.close().catch(() => undefined);
      s.handle = null;
    }
  }

  private async fileFor(s: StreamState): Promise<FileHandle> {
    if (s.handle) return s.handle;
    mkdirSync(this.dir, { recursive: true, mode: PRIVATE_DIR }); // cheap no-op unless someone removed it
    const fh = await open(s.path, 'a', PRIVATE_FILE);
    s.size = (await fh.stat()).size;
    s.handle = fh;
    return fh;
  }

  private async rotate(s: StreamState): Promise<void> {
    await s.handle?.close();
    s.handle = null;
    s.size = 0;
    const { files } = this.limits;
    if (files === 0) {
      await ignoreMissing(unlink(s.path));
    } else {
      // Renaming .N-1 over .N drops the oldest one. One readdir instead of N failing renames.
      const names = new Set(await readdir(this.dir));
      const base = basename(s.path);
      for (let i = files - 1; i >= 1; i--) {
        if (names.has(`${base}.${i}`)) await ignoreMissing(rename(`${s.path}.${i}`, `${s.path}.${i + 1}`));
      }
      await ignoreMissing(rename(s.path, `${s.path}.1`));
    }
    await this.fileFor(s); // opened now, so the size counted for the next batch isn't reset by stat
  }
}

/** The largest cut <= max that doesn't split a UTF-8 character (buf.length > max). */
function utf8Boundary(buf: Buffer, max: number): number {
  for (let k = 0; k < 4; k++) if ((buf[max - k]! & 0xc0) !== 0x80) return max - k;
  return max; // not valid UTF-8 anyway
}

async function ignoreMissing(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** The last n complete lines of a file, reading backwards so a big file isn't read whole. */
async function lastLines(path: string, n: number): Promise<string[]> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  try {
    const parts: Buffer[] = [];
    let pos = (await fh.stat()).size;
    let newlines = 0;
    // n+1 newlines means the first of the last n lines is complete.
    while (pos > 0 && newlines <= n) {
      const len = Math.min(READ_CHUNK, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      const { bytesRead } = await fh.read(buf, 0, len, pos);
      const got = buf.subarray(0, bytesRead);
      parts.unshift(got);
      for (let i = got.indexOf(NL); i !== -1; i = got.indexOf(NL, i + 1)) newlines++;
    }
    const lines = Buffer.concat(parts).toString('utf8').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    return lines.slice(-n);
  } finally {
    await fh.close();
  }
}
