/** Finding the test's own processes by a marker in their command line. */
import { readdirSync, readFileSync } from 'node:fs';

export function pidsWith(marker: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const state = readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]?.[0];
      if (cmd.includes(marker) && state !== 'Z') out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The process is there and not a zombie. */
export function alive(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return state !== undefined && state !== 'Z';
  } catch {
    return false;
  }
}

interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
  sid: number;
  cmd: string;
}

function procStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      out.push({ pid: Number(name), state: f[0]!, ppid: Number(f[1]), sid: Number(f[3]), cmd });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * The sessions a hub started: its children that lead a session of their own. Agents, jobs and
 * health-check commands each run setsid, so whatever they leave behind stays in that session.
 */
export function sessionsLedBy(parentPid: number): number[] {
  return procStats()
    .filter((p) => p.ppid === parentPid && p.sid === p.pid && p.state !== 'Z')
    .map((p) => p.pid);
}

/** Live processes (not zombies) in any of these sessions. */
export function processesInSessions(sids: ReadonlySet<number>): Array<{ pid: number; cmd: string }> {
  return procStats()
    .filter((p) => sids.has(p.sid) && p.state !== 'Z')
    .map(({ pid, cmd }) => ({ pid, cmd }));
}
