/**
 * CPU and memory of whole agents: everything in an agent's process group, its children included.
 *
 * One /proc scan finds the members of every group, then one batched pidusage call measures them all.
 *
 * CPU % comes from pidusage's per-pid history: each call reports the CPU used since the previous
 * call for that pid (the first call for a pid reports 0). So the history must outlive the time
 * between two samples: it is never cleared here (pidusage.clear() would make every reading 0, and it
 * drops the /proc file descriptors pidusage keeps open without closing them), and its max age is set
 * to a few times the gap between calls so that a slow sampler still gets deltas. A pid not asked for
 * within that age is forgotten by pidusage itself.
 */
import pidusage from 'pidusage';
import { listProcesses, groupMembers } from './procfs.js';

export interface GroupUsage {
  /** 100 = one core fully busy. */
  cpu_percent: number;
  /** Resident set size, summed. */
  memory_bytes: number;
  /** The live members of the group at the time of the scan. */
  pids: number[];
}

/** pidusage's own default. */
const MIN_HISTORY_MS = 60_000;
let lastCallAt: number | undefined;

function historyAge(now: number): number {
  const gap = lastCallAt === undefined ? 0 : now - lastCallAt;
  lastCallAt = now;
  return Math.max(MIN_HISTORY_MS, 3 * gap);
}

function isGone(e: unknown): boolean {
  const err = e as NodeJS.ErrnoException | undefined;
  return err?.code === 'ENOENT' || err?.code === 'ESRCH' || /No matching pid/i.test(String(err?.message));
}

/**
 * Sums, per group, the usage of the pids given for it, with one pidusage call. A pid that has exited
 * since it was listed counts for nothing (it is not in `pids` of the result either).
 */
export async function usageByGroup(members: Map<number, number[]>): Promise<Map<number, GroupUsage>> {
  const result = new Map<number, GroupUsage>();
  const all: number[] = [];
  for (const [pgid, pids] of members) {
    result.set(pgid, { cpu_percent: 0, memory_bytes: 0, pids: [] });
    all.push(...pids);
  }
  if (all.length === 0) return result;

  let stats: Record<string, pidusage.Status | null | undefined>;
  try {
    stats = await pidusage([...new Set(all)], { maxage: historyAge(Date.now()) });
  } catch (e) {
    // pidusage reports a failure for a lone pid as an error (with several, as a missing entry).
    if (!isGone(e)) throw e;
    stats = {};
  }

  for (const [pgid, pids] of members) {
    const usage = result.get(pgid)!;
    for (const pid of pids) {
      const s = stats[pid];
      if (!s) continue;
      usage.cpu_percent += Number.isFinite(s.cpu) ? s.cpu : 0;
      usage.memory_bytes += Number.isFinite(s.memory) ? s.memory : 0;
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
  return usageByGroup(members);
}
