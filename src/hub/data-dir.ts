/**
 * The data directory is one hub's: an exclusive lock taken before the hub touches anything in it,
 * and permissions that keep its secrets (env values, headers, tokens in the database, job output,
 * logs, uploads) from other users of the machine.
 */
import { chmodSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { isSameProcess, startTimeOf } from './supervisor/procfs.js';

export const LOCK_FILE = 'hub.lock';

/** Folders whose whole content is the hub's private output. */
const PRIVATE_TREES = ['logs', 'jobs', 'uploads'];

interface Owner {
  pid: number;
  /** /proc start time: a pid alone may belong to a later process by now. */
  start_time: string | null;
}

/** Another live hub holds the data directory. */
export class DataDirBusy extends Error {
  readonly code = 'EBUSY';
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`the data directory ${dir} is in use by another hub (pid ${pid}): stop that one first, or give this one its own data directory`);
  }
}

export interface DataDirLock {
  release(): void;
}

const me = (): Owner => ({ pid: process.pid, start_time: startTimeOf(process.pid) });

function parseOwner(text: string): Owner | null {
  try {
    const o = JSON.parse(text) as Partial<Owner>;
    return Number.isInteger(o.pid) && o.pid! > 0 ? { pid: o.pid!, start_time: typeof o.start_time === 'string' ? o.start_time : null } : null;
  } catch {
    return null;
  }
}

function alive(o: Owner): boolean {
  if (o.start_time !== null) return isSameProcess(o.pid, o.start_time);
  // Without /proc (nothing recorded a start time): the pid alone.
  try {
    process.kill(o.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Takes the data directory for this process, or throws DataDirBusy naming the live hub that has it.
 * A lock left by a process that is gone (its pid dead, or reused by a process started later) is
 * taken over.
 */
export function lockDataDir(dir: string): DataDirLock {
  const lock = join(dir, LOCK_FILE);
  const mine = JSON.stringify(me()) + '\n';
  // Written whole first, then linked: the lock never exists half-written, and link() fails if it exists.
  const draft = join(dir, `.${LOCK_FILE}.${process.pid}`);
  writeFileSync(draft, mine, { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(draft, lock);
        return { release: () => release(lock, mine) };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const seen = readOrNull(lock);
      if (seen === null) continue;
      const owner = parseOwner(seen);
      if (owner && alive(owner)) throw new DataDirBusy(dir, owner.pid);
      // Stale (or not a lock at all). It is moved aside first, so that of two hubs taking it over at
      // once only one removes it; the other finds it gone and tries again.
      const aside = join(dir, `.${LOCK_FILE}.stale.${process.pid}`);
      try {
        renameSync(lock, aside);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      const moved = readOrNull(aside);
      // Another hub took it over between our read and our move: its lock goes back.
      if (moved !== seen) {
        try {
          linkSync(aside, lock);
        } catch {
          // a third one holds it now: the next attempt sees that one
        }
      }
      unlinkSync(aside);
    }
    throw new Error(`could not take the lock ${lock}: other processes keep changing it`);
  } finally {
    unlinkSync(draft);
  }
}

/** Removes the lock if it is still this process's. */
function release(lock: string, mine: string): void {
  try {
    if (readOrNull(lock) === mine) unlinkSync(lock);
  } catch {
    // The next start takes a lock of a dead process over.
  }
}

/**
 * Makes the data directory 0700 and the hub's files in it 0600 (owner bits kept: an executable stays
 * one for its owner): the files at its top (database, its WAL, secrets, hearth.yaml) and everything
 * under logs/, jobs/ and uploads/. Existing installs are fixed here at every start. Symbolic links
 * are left alone (they may point outside). Returns what could not be changed, for a warning.
 */
export function secureDataDir(dir: string): string[] {
  const problems: string[] = [];
  const tighten = (path: string, isDir: boolean, mode: number): void => {
    const want = isDir ? 0o700 : mode & 0o700;
    if ((mode & 0o777) === want) return;
    try {
      chmodSync(path, want);
    } catch (e) {
      problems.push(`${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const walk = (path: string): void => {
    let names: string[];
    try {
      names = readdirSync(path);
    } catch (e) {
      problems.push(`${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return;
    }
    for (const name of names) visit(join(path, name), true);
  };
  const visit = (path: string, deep: boolean): void => {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return; // gone meanwhile
    }
    if (st.isDirectory()) {
      if (!deep) return;
      tighten(path, true, st.mode);
      walk(path);
    } else if (st.isFile()) {
      tighten(path, false, st.mode);
    }
  };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  tighten(dir, true, lstatSync(dir).mode);
  for (const name of readdirSync(dir)) visit(join(dir, name), PRIVATE_TREES.includes(name));
  return problems;
}

/** Below this, the data directory's disk counts as full: the database, logs and job output stop being written. */
export const FULL_BELOW_BYTES = 1024 * 1024;

/** Free bytes for the hub's user on the data directory's filesystem (off the event loop: statfs may block). */
export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}
