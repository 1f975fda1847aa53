/**
 * Resident memory of the real compiled hub (`node dist/cli/main.js start`) with nothing configured:
 * embedded broker, HTTP API, SQLite, metrics. Read from /proc/<pid>/status after it has settled.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertBuilt, CLI, HUB_RUNNING_MSG, hubEnv, jsonLine, killChild, spawnNode, stopChild } from './hub-process.js';
import { statusMiB } from './proc.js';
import { absoluteRow, round, withTimeout, type Result } from './types.js';

const START_TIMEOUT_MS = 30_000;
const SETTLE_MS = 5_000;
const STOP_TIMEOUT_MS = 10_000;

/** Spawns `args` under this Node, waits for `ready`, settles, measures, stops. */
async function measure(
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: (line: string) => boolean,
): Promise<{ rss: number; hwm: number; startMs: number; exitCode: number | null }> {
  const t0 = performance.now();
  const c = spawnNode(args, env);
  try {
    const isReady = new Promise<void>((resolve, reject) => {
      c.stdoutLines.on('line', (line) => {
        if (ready(line)) resolve();
      });
      void c.exited.then(({ code }) => reject(new Error(`exited with ${code} before it was ready: ${c.stderr().trim()}`)));
    });
    await withTimeout(isReady, START_TIMEOUT_MS, `${args.join(' ')} to be ready`);
    const startMs = performance.now() - t0;
    await sleep(SETTLE_MS);
    const { VmRSS: rss, VmHWM: hwm } = statusMiB(c.pid, 'VmRSS', 'VmHWM');
    const stopped = await stopChild(c, STOP_TIMEOUT_MS);
    if (stopped.killed) throw new Error(`pid ${c.pid} ignored SIGTERM for ${STOP_TIMEOUT_MS} ms and was killed`);
    return { rss, hwm, startMs, exitCode: stopped.code };
  } finally {
    // However it went, nothing is left running.
    await killChild(c);
    c.stdoutLines.close();
  }
}

export async function benchHubRss(): Promise<Result> {
  assertBuilt();
  const dataDir = mkdtempSync(join(tmpdir(), 'hearth-bench-'));
  try {
    const env = hubEnv(dataDir);
    const hub = await measure([CLI, 'start'], env, (line) => jsonLine(line)?.msg === HUB_RUNNING_MSG);
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
