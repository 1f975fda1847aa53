/**
 * Linux /proc readers: who is alive, which process group they belong to, and when they started
 * (the start time tells a process from a later one that reuses its pid).
 *
 * /proc/<pid>/stat is "pid (comm) state ppid pgrp ...". comm is whatever the program named itself
 * (up to 15 bytes) and may hold spaces and parentheses, so the fields after it are found after the
 * LAST ')'. Field numbers below are those of proc(5), 1-based.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';

export interface ProcInfo {
  pid: number;
  ppid: number;
  pgid: number;
  /** R, S, D, Z (zombie), T, t, X, I… */
  state: string;
  /** Field 22: clock ticks since boot, as text (it can exceed 2^53 in theory; only compared). */
  startTime: string;
}

interface StatFields {
  state: string;
  ppid: number;
  pgid: number;
  startTime: string;
}

/** Parses the text of /proc/<pid>/stat; undefined if it is not one. */
export function parseStat(text: string): StatFields | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // After ") " come fields 3 (state), 4 (ppid), 5 (pgrp)… so field N is at index N - 3.
  const f = text.slice(close + 2).split(' ');
  const state = f[0];
  const ppid = Number(f[1]);
  const pgid = Number(f[2]);
  const startTime = f[19];
  if (!state || !Number.isInteger(ppid) || !Number.isInteger(pgid) || !startTime || !/^\d+$/.test(startTime)) return undefined;
  return { state, ppid, pgid, startTime };
}

/** The parsed stat of a pid, or undefined when there is no such process (any more). */
function readStat(pid: number): StatFields | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (e) {
    if (goneOrHidden(e)) return undefined;
    throw e;
  }
  return parseStat(text);
}

/** Gone (ENOENT), gone while reading (ESRCH), or not ours to see: all mean "not a process we have". */
export function goneOrHidden(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ESRCH' || code === 'EACCES' || code === 'EPERM';
}

/** Field 22 (starttime) of /proc/<pid>/stat, or null if the process is gone. A zombie still has one. */
export function startTimeOf(pid: number): string | null {
  return readStat(pid)?.startTime ?? null;
}

/** Alive (not a zombie) and started at startTime: the very process we knew, not a pid reuse. */
export function isSameProcess(pid: number, startTime: string): boolean {
  const s = readStat(pid);
  return s !== undefined && s.state !== 'Z' && s.state !== 'X' && s.startTime === startTime;
}

/** The pids in /proc now (thread group leaders: threads are not listed there). */
function pidsInProc(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue; // not a digit: not a process directory
    const pid = Number(name);
    if (Number.isInteger(pid)) out.push(pid);
  }
  return out;
}

/** Every process on the machine, from one scan of /proc. Processes that exit mid-scan are left out. */
export function listProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const pid of pidsInProc()) {
    const s = readStat(pid);
    if (s) out.push({ pid, ...s });
  }
  return out;
}

/**
 * The live members of a process group (zombies excluded: they are dead, only not yet reaped, and no
 * signal reaches them). Pass a scan already made to look at several groups for one scan.
 */
export function groupMembers(pgid: number, procs: ProcInfo[] = listProcesses()): number[] {
  return procs.filter((p) => p.pgid === pgid && p.state !== 'Z' && p.state !== 'X').map((p) => p.pid);
}

/** Whether a NUL-separated environment block holds exactly `entry` (not a longer value, nor a longer name). */
export function hasEnvEntry(environ: Buffer, entry: Buffer): boolean {
  for (let i = environ.indexOf(entry); i >= 0; i = environ.indexOf(entry, i + 1)) {
    const end = i + entry.length;
    if ((i === 0 || environ[i - 1] === 0) && (end === environ.length || environ[end] === 0)) return true;
  }
  return false;
}

/**
 * Process groups whose processes carry `name=value` in their environment (/proc/<pid>/environ), by
 * group id; unreadable processes are skipped. How a hub finds what an earlier one (killed -9) left
 * of an agent, pids it never recorded included: every agent process inherits the hub's marker.
 *
 * One pass over /proc. Only processes of the hub's own uid are read (one stat of /proc/<pid>, whose
 * owner is the process's uid): another user's environ is closed to us anyway, and an agent runs as
 * the hub. environ is the block the program was exec'd with (a later setenv does not show); a
 * zombie's is empty, so zombies never match, and the stat read after a match leaves out one that
 * died meanwhile.
 */
export function groupsWithEnv(name: string, value: string): Map<number, number[]> {
  const entry = Buffer.from(`${name}=${value}`);
  const uid = process.getuid?.();
  const groups = new Map<number, number[]>();
  for (const pid of pidsInProc()) {
    try {
      if (uid !== undefined && statSync(`/proc/${pid}`).uid !== uid) continue;
      if (!hasEnvEntry(readFileSync(`/proc/${pid}/environ`), entry)) continue;
    } catch (e) {
      if (goneOrHidden(e)) continue;
      throw e;
    }
    const s = readStat(pid);
    if (!s || s.state === 'Z' || s.state === 'X') continue;
    const members = groups.get(s.pgid);
    if (members) members.push(pid);
    else groups.set(s.pgid, [pid]);
  }
  return groups;
}
