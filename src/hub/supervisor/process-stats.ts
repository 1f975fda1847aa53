/**
 * CPU and memory of whole agents: everything in an agent's process group, its children included.
 *
 * One scan of /proc finds the members of every group, and the same /proc/<pid>/stat lines carry
 * what is measured: utime + stime and the resident set. No second read per process, no child
 * process (pidusage read each stat again, asynchronously, for the same two numbers).
 *
 * CPU % is the CPU time a process used since the previous reading of it, over the time between
 * the two (the first reading of a process reports 0). A reading is kept per pid and start time,
 * so a reused pid starts afresh, for a few times the gap between samples.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { groupMembers, listProcesses, readStat, type ProcInfo } from './procfs.js';

export interface GroupUsage {
  /** 100 = one core fully busy. */
  cpu_percent: number;
  /** Resident set size, summed. */
  memory_bytes: number;
  /** The live members of the group at the time of the scan. */
  pids: number[];
}

/** Clock ticks a second and bytes a page, asked once of getconf (as pidusage did). */
let units: Promise<{ tick: number; page: number }> | null = null;

function systemUnits(): Promise<{ tick: number; page: number }> {
  const getconf = async (name: string, fallback: number): Promise<number> => {
    try {
      const { stdout } = await promisify(execFile)('getconf', [name], { timeout: 5000 });
      return Number(stdout.trim()) || fallback;
    } catch {
      return fallback;
    }
  };
  units ??= Promise.all([getconf('CLK_TCK', 100), getconf('PAGESIZE', 4096)]).then(([tick, page]) => ({ tick, page }));
  return units;
}

interface Reading {
  ticks: number;
  at: number;
}

/** The last reading of each process, by "pid start time". */
const readings = new Map<string, Reading>();
/** A reading older than this is forgotten: a few times the gap between calls, at least a minute. */
const MIN_KEEP_MS = 60_000;
let lastCallAt: number | undefined;

function forgetOld(now: number): void {
  const keep = Math.max(MIN_KEEP_MS, 3 * (now - (lastCallAt ?? now)));
  lastCallAt = now;
  for (const [key, r] of readings) if (now - r.at > keep) readings.delete(key);
}

/**
 * Sums, per group, the usage of the pids given for it. `procs` is a scan already made; without it
 * each pid's stat is read now. A pid that has exited since it was listed counts for nothing (it is
 * not in `pids` of the result either).
 */
export async function usageByGroup(members: Map<number, number[]>, procs?: ProcInfo[]): Promise<Map<number, GroupUsage>> {
  const result = new Map<number, GroupUsage>();
  for (const pgid of members.keys()) result.set(pgid, { cpu_percent: 0, memory_bytes: 0, pids: [] });
  if ([...members.values()].every((pids) => pids.length === 0)) return result;
  const { tick, page } = await systemUnits();
  const now = performance.now();
  forgetOld(now);
  const scanned = procs ? new Map(procs.map((p) => [p.pid, p])) : null;
  for (const [pgid, pids] of members) {
    const usage = result.get(pgid)!;
    for (const pid of pids) {
      const p = scanned ? scanned.get(pid) : readStat(pid);
      if (!p || p.state === 'Z' || p.state === 'X') continue;
      const key = `${pid} ${p.startTime}`;
      const before = readings.get(key);
      const seconds = before ? (now - before.at) / 1000 : 0;
      if (before && seconds > 0) usage.cpu_percent += (Math.max(0, p.cpuTicks - before.ticks) / tick / seconds) * 100;
      readings.set(key, { ticks: p.cpuTicks, at: now });
      usage.memory_bytes += p.rssPages * page;
      usage.pids.push(pid);
    }
  }
  return result;
}

/**
 * CPU and memory of each process group. Every pgid asked for is in the map; a group with no live
 * process left has zero usage and no pids. No pgid: no work at all.
 */
export async function sampleGroups(pgids: number[]): Promise<Map<number, GroupUsage>> {
  if (pgids.length === 0) return new Map();
  const procs = listProcesses();
  const members = new Map<number, number[]>();
  for (const pgid of pgids) members.set(pgid, groupMembers(pgid, procs));
  return usageByGroup(members, procs);
}
