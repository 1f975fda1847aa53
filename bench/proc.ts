/** What the benchmarks read of a process in /proc (Linux only): CPU ticks, memory, argv, parent. */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { basename } from 'node:path';

/** Clock ticks a second (`getconf CLK_TCK`), 100 when it cannot be read. */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface Stat {
  ppid: number;
  /** utime + stime, clock ticks. */
  own: number;
  /** cutime + cstime: children the process waited for. */
  children: number;
}

export function statOf(pid: number): Stat {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field N of proc(5) is at index N - 3 after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const n = (field: number): number => Number(f[field - 3]);
  return { ppid: n(4), own: n(14) + n(15), children: n(16) + n(17) };
}

/** utime + stime of a process, in seconds. */
export function cpuSeconds(pid: number): number {
  return statOf(pid).own / CLK_TCK;
}

/**
 * CPU time of a process's live threads, in seconds, to the nanosecond: the sum of the first field
 * of /proc/<pid>/task/<tid>/schedstat. utime + stime count in clock ticks (10 ms), too coarse for
 * a daemon that uses a few ticks a minute; a thread that ended is not counted (Node's do not end).
 */
export function threadCpuSeconds(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return ns / 1e9;
}

/** Fields of /proc/<pid>/status counted in kB (VmRSS, VmHWM...), in MiB; throws on a missing one. */
export function statusMiB<K extends string>(pid: number, ...fields: K[]): Record<K, number> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const out = {} as Record<K, number>;
  for (const field of fields) {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
    out[field] = Number(m[1]) / 1024;
  }
  return out;
}

export function rssMiB(pid: number): number {
  return statusMiB(pid, 'VmRSS').VmRSS;
}

/** The command line of a process; null once it is gone. */
export function argvOf(pid: number): string[] | null {
  try {
    const parts = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (parts.at(-1) === '') parts.pop();
    return parts;
  } catch {
    return null; // gone
  }
}

export function ppidOf(pid: number): number | null {
  try {
    return statOf(pid).ppid;
  } catch {
    return null;
  }
}

/** Every pid in /proc right now. */
export function pidsNow(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) out.push(Number(name));
  }
  return out;
}

/**
 * `sleep <mark>` processes a bench started and left behind (not ones there before it began, in
 * `preexisting`), killed after half a second for stragglers; their pids, for the details.
 */
export async function killLeftoverSleeps(preexisting: ReadonlySet<number>, marks: Iterable<string>): Promise<number[]> {
  const ours = new Set(marks);
  await new Promise((r) => setTimeout(r, 500));
  const leftovers = pidsNow().filter((pid) => {
    const argv = argvOf(pid);
    return !preexisting.has(pid) && argv?.length === 2 && basename(argv[0]!) === 'sleep' && ours.has(argv[1]!);
  });
  for (const pid of leftovers) process.kill(pid, 'SIGKILL');
  return leftovers;
}
