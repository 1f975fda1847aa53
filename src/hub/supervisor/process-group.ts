/**
 * A program in its own process group (setsid), so that stopping it reaches every process it
 * started: the stop signal to the group, a grace period, then SIGKILL to the group.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { groupMembers } from './procfs.js';

export interface SpawnSpec {
  command: string;
  args: string[];
  cwd: string | undefined;
  env: Record<string, string>;
  /** An IPC channel (fd 3, Node's process.send): for a program that says `ready` as PM2's wait_ready. */
  ipc?: boolean;
}

/**
 * What the add-on's Supervisor hands the hub: a token with Home Assistant's and the Supervisor's
 * full rights (HASSIO_TOKEN is its older name). The hub's, not its programs'.
 */
const SUPERVISOR_SECRETS = new Set(['SUPERVISOR_TOKEN', 'HASSIO_TOKEN']);

/**
 * The environment a program of the owner's gets: the hub's own, without its HEARTH_ settings
 * (database URL, broker password, admin token) and the Supervisor's token, with `extra` over it.
 */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('HEARTH_') && !SUPERVISOR_SECRETS.has(k)) env[k] = v;
  return { ...env, ...extra };
}

/** Never through a shell: the command and each argument reach the program as they are. */
export function spawnGroup(s: SpawnSpec): ChildProcess {
  return spawn(s.command, s.args, {
    cwd: s.cwd,
    env: s.env,
    detached: true,
    shell: false,
    stdio: s.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
}

/** Sends a signal to every process of the group; a group already gone is fine. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

const POLL_MS = 25;

/** Resolves true once no process is left in the group, false if the deadline passes first. */
async function groupGone(pgid: number, deadline: number): Promise<boolean> {
  for (;;) {
    if (groupMembers(pgid).length === 0) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * Stops a whole group: `signal`, up to `timeoutS` for every member to go, then SIGKILL. Resolves
 * with how it ended. Zombies of our own children are reaped by Node once they exit.
 */
export async function stopGroup(pgid: number, signal: NodeJS.Signals, timeoutS: number): Promise<'signal' | 'killed' | 'gone'> {
  if (groupMembers(pgid).length === 0) return 'gone';
  signalGroup(pgid, signal);
  if (signal !== 'SIGKILL' && (await groupGone(pgid, Date.now() + timeoutS * 1000))) return 'signal';
  signalGroup(pgid, 'SIGKILL');
  await groupGone(pgid, Date.now() + 5000);
  return 'killed';
}
