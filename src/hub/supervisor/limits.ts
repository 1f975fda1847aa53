/**
 * Resource limits of agents. Where the hub has a cgroup v2 subtree of its own (cgroup-tree.ts:
 * systemd's Delegate=yes, a container with a private and writable cgroup namespace) the kernel
 * enforces them: each agent's processes go into <own>/agents/<id>, with memory.max (and no swap)
 * and cpu.max. An agent over its memory is killed by the kernel's OOM killer, which memory.events
 * counts: that is how its exit is told from any other SIGKILL. Without such a subtree, memory is
 * watched and an agent that stays over its limit is restarted (as PM2's max_memory_restart does);
 * CPU is then only reported, not enforced. Why it is one or the other is detectCgroupV2()'s reason.
 */
import { join } from 'node:path';
import { ensureGroup, errCode, nodeCgroupFs, removeEmptyGroups, type CgroupFs } from './cgroup-tree.js';
import type { LimitsSpec } from './spec.js';


/** cpu.max period, µs. */
const CPU_PERIOD_US = 100_000;
/** The kernel refuses quotas under 1 ms. */
const CPU_MIN_QUOTA_US = 1000;

function safeName(agentId: string): string {
  if (!agentId || agentId === '.' || agentId === '..' || agentId.includes('/') || agentId.includes('\0')) {
    throw new Error(`not a usable cgroup name: ${JSON.stringify(agentId)}`);
  }
  return agentId;
}

/** memory.max for a limit in MiB (bytes), or "max". */
export function memoryMax(limits: LimitsSpec): string {
  return limits.memory_mb !== undefined ? String(Math.max(1, Math.round(limits.memory_mb * 1024 * 1024))) : 'max';
}

/** cpu.max for a limit in percent of one core: "<quota µs> <period µs>", or "max <period>". */
export function cpuMax(limits: LimitsSpec): string {
  if (limits.cpu_percent === undefined) return `max ${CPU_PERIOD_US}`;
  const quota = Math.max(CPU_MIN_QUOTA_US, Math.round((limits.cpu_percent / 100) * CPU_PERIOD_US));
  return `${quota} ${CPU_PERIOD_US}`;
}

/** One cgroup per agent under base (from detectCgroupV2().path). */
export class CgroupLimits {
  constructor(
    private readonly base: string,
    private readonly fs: CgroupFs = nodeCgroupFs,
  ) {}

  /** The agent's cgroup directory. */
  pathOf(agentId: string): string {
    return join(this.base, safeName(agentId));
  }

  /**
   * Creates (or reuses) <base>/<agentId>, sets its limits and moves pid into it. Children the
   * process forks afterwards are born in it; call this right after the spawn.
   */
  apply(agentId: string, pid: number, limits: LimitsSpec): void {
    const dir = this.pathOf(agentId);
    ensureGroup(this.fs, dir);
    this.fs.write(join(dir, 'memory.max'), memoryMax(limits));
    // Swapped out, an agent over its limit would crawl on rather than be stopped (PM2 counts
    // resident memory only). The file exists where the kernel accounts swap.
    if (this.fs.exists(join(dir, 'memory.swap.max'))) this.fs.write(join(dir, 'memory.swap.max'), limits.memory_mb === undefined ? 'max' : '0');
    this.fs.write(join(dir, 'cpu.max'), cpuMax(limits));
    this.fs.write(join(dir, 'cgroup.procs'), String(pid));
  }

  /** How many processes of the agent the kernel's OOM killer has killed so far; null without its group. */
  oomKills(agentId: string): number | null {
    try {
      const m = /^oom_kill (\d+)$/m.exec(this.fs.read(join(this.pathOf(agentId), 'memory.events')));
      return m ? Number(m[1]) : null;
    } catch {
      return null;
    }
  }

  /**
   * Removes the agent's cgroup once its processes are gone. Nothing to remove is fine; a group still
   * holding processes (EBUSY) throws.
   */
  release(agentId: string): void {
    try {
      this.fs.rmdir(this.pathOf(agentId));
    } catch (e) {
      if (errCode(e) === 'ENOENT') return;
      throw e;
    }
  }

  /** Removes every agent's group that holds no process (when the hub stops: its agents have). */
  releaseAll(): void {
    removeEmptyGroups(this.fs, this.base);
  }
}

/** Restart-on-memory: over the limit for `samples` observations in a row. */
export class MemoryWatch {
  private streak = 0;

  constructor(
    private readonly limitBytes: number,
    private readonly samples = 3,
  ) {}

  /** Records a sample; true when the last `samples` ones were all over the limit: time to restart. */
  observe(bytes: number): boolean {
    this.streak = bytes > this.limitBytes ? this.streak + 1 : 0;
    return this.streak >= this.samples;
  }

  /** After a restart: start counting afresh. */
  reset(): void {
    this.streak = 0;
  }
}

export interface Enforcement {
  memory: 'cgroup' | 'restart' | 'none';
  cpu: 'cgroup' | 'unenforced' | 'none';
}

/** How each limit of an agent is enforced, as the API reports it. */
export function enforcement(limits: LimitsSpec | undefined, cgroup: { usable: boolean }): Enforcement {
  return {
    memory: limits?.memory_mb === undefined ? 'none' : cgroup.usable ? 'cgroup' : 'restart',
    cpu: limits?.cpu_percent === undefined ? 'none' : cgroup.usable ? 'cgroup' : 'unenforced',
  };
}
