/**
 * Watching an agent's files: one report per burst of changes, naming the first file changed.
 *
 * Why not `fs.watch(dir, { recursive: true })`: on Linux, Node 20 implements it in JavaScript
 * (lib/internal/fs/recursive_watch.js) with one inotify watch and one retained Stats object per
 * FILE, set up by a synchronous readdir + stat of the whole tree, node_modules included. For 50,000
 * files that is 50,521 inotify watches, over 100 MiB of RSS and 0.7-1.3 s with the event loop
 * blocked (bench/watch.ts). inotify reports a directory's entries to a watch on the directory, so
 * this watches each directory instead (50,000 files in 521 directories: 521 watches, 0.5 MiB of
 * heap), never entering ignored ones, and adds directories as they appear. It does not poll: idle,
 * it costs no CPU.
 *
 * Fallback: past MAX_WATCHED_DIRS directories, or when the kernel refuses a watch (ENOSPC:
 * fs.inotify.max_user_watches, shared by all of the user's programs), it says so once through
 * onProblem and polls instead (file-poll.ts: bounded entries per scan, a scan every 2 s).
 */
import { watch, type Dirent, type FSWatcher } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import picomatch from 'picomatch';
import { POLL_ENTRIES_PER_SCAN, POLL_INTERVAL_MS, PollScan, type Root } from './file-poll.js';

export interface WatchSpec {
  /** Absolute paths (directories or files) to watch. */
  paths: string[];
  /** Globs (picomatch syntax), beside the defaults node_modules/** and .git/** (at any depth): without a slash a name at any depth, with one a path from `globBase`. */
  ignore: string[];
  /** Where globs with a slash start (an agent's cwd, as PM2's ignore_watch); default: each watched directory. */
  globBase?: string;
  /** Absolute paths never reported (the agent's own log folder). */
  ignorePaths: string[];
  /** A burst ends after this much quiet; default 1000 (0 = report each change at once). */
  debounceMs: number;
}

export interface Burst {
  /** absolute path of the first file changed in the burst */
  file: string;
  count: number;
}

/** Ignored at any depth, whatever the spec says. */
const DEFAULT_IGNORE = ['**/node_modules/**', '**/.git/**'];
/**
 * Directories one FileWatch watches at most before it polls instead: the kernel's old default
 * fs.inotify.max_user_watches, a budget every program of the user shares (about 12 MiB here).
 */
export const MAX_WATCHED_DIRS = 8192;
/** A burst that never goes quiet is reported after this many debounce periods. */
const BURST_CAP = 10;

interface Pending {
  file: string;
  count: number;
  last: number;
  cap: number;
}

export class FileWatch {
  private readonly ignored: (relativePath: string) => boolean;
  private readonly ignorePaths: string[];
  private readonly globBase: string | null;
  private roots: Root[] = [];
  /** inotify mode: every watched directory. */
  private readonly watchers = new Map<string, FSWatcher>();
  private poll: PollScan | null = null;
  /** Walks of new directories and the poll's first pass, awaited by start() and close(). */
  private readonly work = new Set<Promise<void>>();
  private burst: Pending | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly spec: WatchSpec,
    private readonly onBurst: (b: Burst) => void,
    private readonly onProblem: (message: string) => void,
  ) {
    if (!(spec.debounceMs >= 0)) throw new RangeError(`bad debounce: ${spec.debounceMs}`);
    // "./logs" and "logs/" mean the folder logs, as in .gitignore; a glob without a slash matches
    // the name at any depth (by hand: picomatch's `basename` option breaks globs with a slash,
    // micromatch/picomatch#89). A directory that matches is never entered.
    const globs = spec.ignore.map((g) => g.replace(/^\.\//, '').replace(/\/+$/, ''));
    const byPath = picomatch([...DEFAULT_IGNORE, ...globs.filter((g) => g.includes('/'))], { dot: true });
    const byName = picomatch(globs.filter((g) => !g.includes('/')), { dot: true });
    this.ignored = (rel) => byPath(rel) || byName(rel.slice(rel.lastIndexOf('/') + 1));
    this.ignorePaths = spec.ignorePaths.map((p) => resolve(p));
    this.globBase = spec.globBase === undefined ? null : resolve(spec.globBase);
  }

  /** Resolves once watching (a missing path is an onProblem message, not a throw). */
  async start(): Promise<void> {
    const dirs = new Set<string>();
    const files = new Map<string, Set<string>>();
    for (const path of this.spec.paths.map((p) => resolve(p))) {
      if (this.underIgnoredPath(path)) continue;
      try {
        if ((await stat(path)).isDirectory()) dirs.add(path);
        else files.set(dirname(path), (files.get(dirname(path)) ?? new Set()).add(basename(path)));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        this.problem(code === 'ENOENT' ? `watch: ${path} does not exist` : `watch: cannot watch ${path}: ${(e as Error).message}`);
      }
    }
    // A file is watched through its directory, so that an editor's save (a new file renamed over
    // the old one) is seen; directories come first, so a file inside one is covered by it.
    this.roots = [...[...dirs].map((dir) => ({ dir, only: null })), ...[...files].map(([dir, only]) => ({ dir, only }))];
    for (const root of this.roots) await this.watchTree(root, root.dir, false);
    while (this.work.size > 0) await Promise.all(this.work);
  }

  /** Idempotent; no callback after it resolves. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.burst = null;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    await this.poll?.close();
    await Promise.all(this.work);
  }

  private underIgnoredPath(path: string): boolean {
    return this.ignorePaths.some((p) => path === p || path.startsWith(p + sep));
  }

  private skip(root: Root, path: string): boolean {
    if (this.underIgnoredPath(path)) return true;
    if (root.only !== null) return dirname(path) !== root.dir || !root.only.has(basename(path));
    const rel = relative(this.globBase !== null && (path === this.globBase || path.startsWith(this.globBase + sep)) ? this.globBase : root.dir, path);
    return rel !== '' && this.ignored(sep === '/' ? rel : rel.split(sep).join('/'));
  }

  /**
   * Watches `top` and the directories below it that are not ignored; each watch is in place before
   * its directory is read, so nothing created meanwhile is missed. `report`: the entries found are
   * changes (a directory that appeared after start).
   */
  private async watchTree(root: Root, top: string, report: boolean): Promise<void> {
    const stack = [top];
    while (stack.length > 0) {
      if (this.closed || this.poll !== null) return;
      const dir = stack.pop()!;
      if (this.watchers.has(dir) || !this.watchDir(root, dir) || root.only !== null) continue;
      let entries: Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        this.unwatchTree(dir);
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') this.problem(`watch: cannot read ${dir}: ${(e as Error).message}`);
        continue;
      }
      for (const e of entries) {
        // At start only directories matter (50,000 files: 521 glob tests, not 50,521); a symbolic
        // link is not followed.
        if (!report && !e.isDirectory()) continue;
        const path = join(dir, e.name);
        if (this.skip(root, path)) continue;
        if (report) this.note(path);
        if (e.isDirectory()) stack.push(path);
      }
    }
  }

  /** One inotify watch on `dir`; false when it is not watched (gone, refused: then polling). */
  private watchDir(root: Root, dir: string): boolean {
    if (this.watchers.size >= MAX_WATCHED_DIRS) {
      this.fallBack(`${root.dir} has more than ${MAX_WATCHED_DIRS} directories to watch`);
      return false;
    }
    let w: FSWatcher;
    try {
      w = watch(dir, (type, name) => this.changed(root, dir, type, name));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EMFILE') {
        const limit = code === 'ENOSPC' ? 'fs.inotify.max_user_watches' : 'fs.inotify.max_user_instances';
        this.fallBack(`the kernel refused an inotify watch (${code}: ${limit}) after ${this.watchers.size} directories`);
      } else if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        this.problem(`watch: cannot watch ${dir}: ${(e as Error).message}`);
      }
      return false;
    }
    w.on('error', (e) => {
      this.unwatchTree(dir);
      this.problem(`watch: stopped watching ${dir}: ${e.message}`);
    });
    this.watchers.set(dir, w);
    return true;
  }

  private changed(root: Root, dir: string, type: string, name: string | null): void {
    if (this.closed) return;
    const path = name === null ? dir : join(dir, name);
    if (this.skip(root, path)) return;
    this.note(path);
    // An entry appeared or went: a new directory is watched, a removed one forgotten.
    if (type === 'rename' && root.only === null) this.track(this.renamed(root, path));
  }

  /**
   * A directory named in a 'rename' is new, or replaces one removed or moved away (whose watches
   * follow the old inode and say nothing more): its watches are made afresh.
   */
  private async renamed(root: Root, path: string): Promise<void> {
    let isDir: boolean;
    try {
      isDir = (await lstat(path)).isDirectory();
    } catch {
      isDir = false;
    }
    this.unwatchTree(path);
    if (isDir) await this.watchTree(root, path, true);
  }

  private unwatchTree(top: string): void {
    if (!this.watchers.has(top)) return;
    for (const [dir, w] of this.watchers) {
      if (dir !== top && !dir.startsWith(top + sep)) continue;
      w.close();
      this.watchers.delete(dir);
    }
  }

  private fallBack(reason: string): void {
    if (this.poll !== null || this.closed) return;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    this.problem(
      `watch: ${reason}; polling instead: every ${POLL_INTERVAL_MS / 1000} s, ${POLL_ENTRIES_PER_SCAN} entries a scan, so a change may take a few scans to be seen`,
    );
    this.poll = new PollScan(this.roots, (root, path) => this.skip(root, path), (path) => this.note(path));
    this.track(this.poll.start());
  }

  private track(p: Promise<void>): void {
    const tracked = p
      .catch((e: unknown) => this.problem(`watch: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => this.work.delete(tracked));
    this.work.add(tracked);
  }

  private problem(message: string): void {
    if (!this.closed) this.onProblem(message);
  }

  /** Trailing debounce: the burst ends after debounceMs of quiet, or BURST_CAP periods after it began. */
  private note(file: string): void {
    if (this.closed) return;
    if (this.spec.debounceMs === 0) {
      this.onBurst({ file, count: 1 });
      return;
    }
    const now = performance.now();
    if (this.burst !== null) {
      this.burst.count++;
      this.burst.last = now;
      return;
    }
    this.burst = { file, count: 1, last: now, cap: now + BURST_CAP * this.spec.debounceMs };
    this.timer = setTimeout(() => this.due(), this.spec.debounceMs);
  }

  private due(confirmed = false): void {
    const b = this.burst;
    if (b === null || this.closed) return;
    const wait = Math.min(b.last + this.spec.debounceMs, b.cap) - performance.now();
    if (wait > 0) {
      this.timer = setTimeout(() => this.due(), wait);
      return;
    }
    // Timers run before the I/O of a loop turn: after a stall of the hub, the events that came in
    // meanwhile are read first, and may carry the burst on.
    if (!confirmed) {
      setImmediate(() => this.due(true));
      return;
    }
    this.burst = null;
    this.timer = null;
    this.onBurst({ file: b.file, count: b.count });
  }
}
