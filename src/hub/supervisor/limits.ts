/**
 * Resource limits of agents. With a usable cgroup v2 hierarchy the kernel enforces them (memory.max,
 * cpu.max). Without one, memory is watched and an agent that stays over its limit is restarted (as
 * PM2's max_memory_restart does); CPU is then only reported, not enforced.
 *
 * cgroup v2 is usable when the hub can create a group of its own with the memory and cpu controllers
 * enabled for its children: the group `hearth` under the hub's own cgroup. The kernel allows that only
 * if those controllers reach the hub's cgroup and the hub's cgroup may hand them down (a non-root group
 * holding processes may not: "no internal processes"), which is what a delegated cgroup gives, e.g. a
 * systemd service with Delegate=yes whose processes live in a leaf.
 */
import { mkdirSync, readFileSync, rmdirSync, statfsSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { LimitsSpec } from './spec.js';

/** statfs f_type of cgroup2. */
const CGROUP2_SUPER_MAGIC = 0x63677270;
const NEEDED = ['memory', 'cpu'] as const;
/** cpu.max period, µs. */
const CPU_PERIOD_US = 100_000;
/** The kernel refuses quotas under 1 ms. */
const CPU_MIN_QUOTA_US = 1000;

export interface CgroupDetection {
  usable: boolean;
  /** Why not, or what is used. */
  reason: string;
  /** The group under which agents get theirs (only when usable). */
  path?: string;
}

function isCgroup2(dir: string): boolean {
  try {
    return statfsSync(dir).type === CGROUP2_SUPER_MAGIC;
  } catch {
    return false;
  }
}

function words(file: string): string[] {
  return readFileSync(file, 'utf8').split(/\s+/).filter(Boolean);
}

function errText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code}: ${err.message}` : String(e);
}

/** The hub's own cgroup v2 path ("0::/x/y" in /proc/self/cgroup), relative to the mount. */
function ownCgroup(): string | undefined {
  try {
    const line = readFileSync('/proc/self/cgroup', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('0::'));
    return line?.slice(3);
  } catch {
    return undefined;
  }
}

/** Can the hub put its agents into cgroups with memory and cpu limits? Tries it (creates <own>/hearth). */
export function detectCgroupV2(root = '/sys/fs/cgroup'): CgroupDetection {
  const mount = [root, join(root, 'unified')].find(isCgroup2);
  if (!mount) return { usable: false, reason: `no cgroup2 file system mounted at ${root} or ${join(root, 'unified')}` };

  const own = ownCgroup();
  if (own === undefined) return { usable: false, reason: 'the hub is not in a cgroup v2 group (no 0:: line in /proc/self/cgroup)' };
  const parent = join(mount, own.replace(/^\/+/, ''));
  if (!existsSync(join(parent, 'cgroup.controllers'))) {
    return { usable: false, reason: `the hub's cgroup ${own} is not visible at ${parent}` };
  }

  let available: string[];
  try {
    available = words(join(parent, 'cgroup.controllers'));
  } catch (e) {
    return { usable: false, reason: `cannot read ${join(parent, 'cgroup.controllers')}: ${errText(e)}` };
  }
  const missing = NEEDED.filter((c) => !available.includes(c));
  if (missing.length > 0) {
    const hybrid = mount !== root ? ' (a hybrid setup: the controllers are bound to cgroup v1 hierarchies)' : '';
    return {
      usable: false,
      reason: `cgroup v2 at ${parent} lacks the ${missing.join(' and ')} controller${missing.length > 1 ? 's' : ''}; it has: ${available.join(' ') || 'none'}${hybrid}`,
    };
  }

  // The hub's cgroup must hand memory and cpu down to its children.
  try {
    const enabled = words(join(parent, 'cgroup.subtree_control'));
    const toEnable = NEEDED.filter((c) => !enabled.includes(c));
    if (toEnable.length > 0) writeFileSync(join(parent, 'cgroup.subtree_control'), toEnable.map((c) => `+${c}`).join(' '));
  } catch (e) {
    return {
      usable: false,
      reason: `cannot enable memory and cpu in ${join(parent, 'cgroup.subtree_control')} (${errText(e)}); run the hub in a delegated cgroup`,
    };
  }

  const base = join(parent, 'hearth');
  let created = false;
  try {
    if (!existsSync(base)) {
      mkdirSync(base);
      created = true;
    }
    writeFileSync(join(base, 'cgroup.subtree_control'), NEEDED.map((c) => `+${c}`).join(' '));
  } catch (e) {
    if (created) {
      try {
        rmdirSync(base);
      } catch {
        // left behind empty; harmless
      }
    }
    return { usable: false, reason: `cannot create ${base} with the memory and cpu controllers enabled (${errText(e)})` };
  }
  return { usable: true, reason: `cgroup v2 at ${base}`, path: base };
}

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
  constructor(private readonly base: string) {}

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
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'memory.max'), memoryMax(limits));
    writeFileSync(join(dir, 'cpu.max'), cpuMax(limits));
    writeFileSync(join(dir, 'cgroup.procs'), String(pid));
  }

  /**
   * Removes the agent's cgroup once its processes are gone. Nothing to remove is fine; a group still
   * holding processes (EBUSY) throws.
   */
  release(agentId: string): void {
    const dir = this.pathOf(agentId);
    try {
      rmdirSync(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      throw e;
    }
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
