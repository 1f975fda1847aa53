/**
 * Resident memory of the real compiled hub (`node dist/cli/main.js start`) with nothing configured:
 * embedded broker, HTTP API, SQLite, metrics. Read from /proc/<pid>/status after it has settled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { absoluteRow, round, withTimeout, type Result } from './types.js';

const CLI = join(import.meta.dirname, '../dist/cli/main.js');
const START_TIMEOUT_MS = 30_000;
const SETTLE_MS = 5_000;
const STOP_TIMEOUT_MS = 10_000;

/** VmRSS and VmHWM of a process, in MiB. */
function memoryOf(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(m[1]) / 1024;
  };
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

/** Resolves when the process has exited; SIGKILL if SIGTERM was not enough in time. */
async function stopProcess(p: ChildProcess, exited: Promise<number | null>): Promise<number | null> {
  if (p.exitCode !== null || p.signalCode !== null) return p.exitCode;
  p.kill('SIGTERM');
  try {
    return await withTimeout(exited, STOP_TIMEOUT_MS, 'the process to stop on SIGTERM');
  } catch {
    p.kill('SIGKILL');
    await exited;
    throw new Error(`pid ${p.pid} ignored SIGTERM for ${STOP_TIMEOUT_MS} ms and was killed`);
  }
}

/** Spawns `args` under this Node, waits for `ready`, settles, measures, stops. */
async function measure(
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: (line: string) => boolean,
): Promise<{ rss: number; hwm: number; startMs: number; exitCode: number | null }> {
  const t0 = performance.now();
  const p = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => p.once('exit', (code) => resolve(code)));
  let stderr = '';
  p.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const lines = createInterface({ input: p.stdout! });
  try {
    const isReady = new Promise<void>((resolve, reject) => {
      lines.on('line', (line) => {
        if (ready(line)) resolve();
      });
      void exited.then((code) => reject(new Error(`exited with ${code} before it was ready: ${stderr.trim()}`)));
    });
    await withTimeout(isReady, START_TIMEOUT_MS, `${args.join(' ')} to be ready`);
    const startMs = performance.now() - t0;
    await sleep(SETTLE_MS);
    const mem = memoryOf(p.pid!);
    const exitCode = await stopProcess(p, exited);
    return { ...mem, startMs, exitCode };
  } finally {
    // However it went, nothing is left running.
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGKILL');
      await exited;
    }
    lines.close();
  }
}

const isJsonMsg =
  (msg: string) =>
  (line: string): boolean => {
    try {
      return (JSON.parse(line) as { msg?: unknown }).msg === msg;
    } catch {
      return false;
    }
  };

export async function benchHubRss(): Promise<Result> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  const dataDir = mkdtempSync(join(tmpdir(), 'hearth-bench-'));
  try {
    // The caller's own HEARTH_* settings must not leak in (an external broker URL, a config file...).
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HEARTH_')));
    Object.assign(env, {
      HEARTH_DATA_DIR: dataDir,
      HEARTH_BROKER_PORT: '0',
      HEARTH_BROKER_HOST: '127.0.0.1',
      HEARTH_HTTP_PORT: '0',
      HEARTH_HTTP_HOST: '127.0.0.1',
      HEARTH_NODE_ID: 'bench',
      HEARTH_LOG_LEVEL: 'info',
    });
    const hub = await measure([CLI, 'start'], env, isJsonMsg('Hearth is running'));
    // For scale: what an idle Node.js process of the same binary holds, measured the same way.
    const idle = await measure(['-e', 'console.log("ready"); setInterval(() => {}, 1 << 30)'], env, (l) => l === 'ready');
    return {
      name: 'rss',
      rows: [absoluteRow('hub RSS after start + 5 s settle, MiB', 'MiB', round(hub.rss, 1))],
      details: {
        hub_rss_mib: round(hub.rss, 1),
        hub_peak_rss_mib: round(hub.hwm, 1),
        hub_start_to_running_ms: round(hub.startMs, 0),
        hub_exit_code_on_sigterm: hub.exitCode,
        idle_node_rss_mib: round(idle.rss, 1),
        settle_ms: SETTLE_MS,
      },
      notes: [
        `rss: hub ${round(hub.rss, 1)} MiB (peak ${round(hub.hwm, 1)} MiB), started in ${round(hub.startMs, 0)} ms, exit code ${hub.exitCode} on SIGTERM; ` +
          `an idle \`node -e\` of the same binary holds ${round(idle.rss, 1)} MiB (context, not a baseline).`,
      ],
    };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
