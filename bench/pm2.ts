/**
 * PM2 (the devDependency) as a baseline: its CLI under this Node binary, with a PM2_HOME of the
 * benchmark's own, and a kill that makes sure its daemon ("PM2 v… God Daemon") is gone.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { cleanEnv, ROOT } from './hub-process.js';
import { argvOf } from './proc.js';

const execFileP = promisify(execFile);

export const PM2_BIN = join(ROOT, 'node_modules/pm2/bin/pm2');
const WAIT_MS = 30_000;

export function pm2Version(): string {
  if (!existsSync(PM2_BIN)) throw new Error(`${PM2_BIN} is missing: npm install`);
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules/pm2/package.json'), 'utf8')) as { version: string }).version;
}

function pm2Env(home: string): NodeJS.ProcessEnv {
  return { ...cleanEnv(['HEARTH_', 'PM2_']), PM2_HOME: home };
}

/** The PM2 CLI under this Node binary (the daemon it forks runs on the same one). */
export async function pm2(home: string, args: string[]): Promise<string> {
  const { stdout } = await execFileP(process.execPath, [PM2_BIN, ...args], { env: pm2Env(home), timeout: WAIT_MS, maxBuffer: 16 << 20 });
  return stdout;
}

/** An ecosystem file's app, as far as the benchmarks use it. */
export interface Pm2App {
  name: string;
  script: string;
  args: string[];
  interpreter: 'none';
  autorestart: true;
  cwd?: string;
  watch?: boolean;
  restart_delay?: number;
  min_uptime?: number;
  max_restarts?: number;
}

export async function pm2Start(home: string, file: string, apps: Pm2App[]): Promise<void> {
  const path = join(home, file);
  writeFileSync(path, JSON.stringify({ apps }, null, 2));
  await pm2(home, ['start', path]);
}

export function pm2DaemonPid(home: string): number {
  return Number(readFileSync(join(home, 'pm2.pid'), 'utf8').trim());
}

const isDaemon = (pid: number): boolean => (argvOf(pid) ?? []).join(' ').includes('God Daemon');

/** `pm2 kill`, then SIGKILL for a daemon still there 5 s later; what happened, for the details. */
export async function pm2Kill(home: string): Promise<Record<string, unknown>> {
  const daemon = existsSync(join(home, 'pm2.pid')) ? pm2DaemonPid(home) : null;
  const out: Record<string, unknown> = {};
  const t0 = performance.now();
  try {
    await pm2(home, ['kill']);
    out.pm2_kill = { ok: true, ms: Math.round(performance.now() - t0) };
  } catch (e) {
    out.pm2_kill = { ok: false, error: (e as Error).message.slice(0, 300) };
  }
  if (daemon === null) return out;
  // `pm2 kill` can return while the daemon is still on its way out.
  for (let i = 0; i < 100 && isDaemon(daemon); i++) await sleep(50);
  if (isDaemon(daemon)) {
    process.kill(daemon, 'SIGKILL');
    out.daemon_sigkilled = daemon;
  }
  return out;
}
