/**
 * Reload without downtime, Hearth vs PM2, side by side in one run: an HTTP server is reloaded while
 * a client sends it one request after another (a new connection each), and the failed requests are
 * counted, with how long the reload took.
 *
 * - Hearth: one agent with `port: true`, a Python HTTP server on $PORT that sets SO_REUSEPORT (what
 *   a server needs so that the new process can listen beside the old one), its readiness an http
 *   health check on `${PORT}`; `POST /api/agents/{id}/reload`. As the floor a reload improves on,
 *   `POST /api/agents/{id}/restart` of the same agent (stop, then start).
 * - PM2: the same kind of server in Node, in cluster mode with one instance (PM2's master holds the
 *   port and hands connections to the workers), `pm2 reload`, which starts a new worker, waits for
 *   it to listen, then stops the old one.
 * Repetitions alternate. Requests go to 127.0.0.1 with a 2 s timeout each.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { api, assertBuilt, startHub, stopHub } from './hub-process.js';
import { pm2, pm2Kill, pm2Version } from './pm2.js';
import { absoluteRow, round, withTimeout, type Result } from './types.js';

const REPS = 3;
/** The Python server the tests reload too (SO_REUSEPORT). */
const PYTHON_SERVER = join(import.meta.dirname, '..', 'test', 'fixtures', 'http-reuseport.py');
const NODE_SERVER = "require('http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');";

/** One GET on a new connection: did it answer 200? */
function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** Requests one after another while `act` runs: how many failed, of how many, and how long act took. */
async function underLoad(port: number, act: () => Promise<unknown>): Promise<{ failed: number; sent: number; ms: number }> {
  let done = false;
  let failed = 0;
  let sent = 0;
  const load = (async () => {
    while (!done) {
      sent++;
      if (!(await probe(port))) failed++;
    }
  })();
  const t0 = performance.now();
  try {
    await act();
  } finally {
    done = true;
  }
  const ms = performance.now() - t0;
  await load;
  return { failed, sent, ms: Math.round(ms) };
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  await withTimeout(
    (async () => {
      while (!(await check())) await sleep(50);
    })(),
    30_000,
    what,
  );
}

export async function benchReload(): Promise<Result> {
  assertBuilt();
  const version = pm2Version();
  const home = mkdtempSync(join(tmpdir(), 'hearth-bench-reload-'));
  const dataDir = join(home, 'hub');
  const pm2Home = join(home, 'pm2');
  const first = 21_000 + Math.floor(Math.random() * 8000);
  const pm2Port = first + 50;
  const hub = await startHub(dataDir, { extraEnv: { HEARTH_PORT_RANGE: `${first}-${first + 9}` } });
  const runs: Record<string, Array<{ failed: number; sent: number; ms: number }>> = { hearth_reload: [], hearth_restart: [], pm2_reload: [] };
  try {
    const agent = await api<{ port: number }>(hub, 'POST', '/api/agents', {
      name: 'web',
      command: '/usr/bin/python3',
      args: [PYTHON_SERVER],
      port: true,
      health_check: { type: 'http', url: 'http://127.0.0.1:${PORT}/', interval_s: 1 },
    });
    const port = agent.port;
    await until('the Hearth agent to answer', () => probe(port));

    writeFileSync(join(home, 'server.js'), NODE_SERVER);
    const eco = join(home, 'ecosystem.json');
    writeFileSync(eco, JSON.stringify({ apps: [{ name: 'web', script: join(home, 'server.js'), exec_mode: 'cluster', instances: 1, env: { PORT: String(pm2Port) } }] }));
    await pm2(pm2Home, ['start', eco]);
    await until('the PM2 app to answer', () => probe(pm2Port));

    for (let i = 0; i < REPS; i++) {
      runs.hearth_reload!.push(await underLoad(port, () => api(hub, 'POST', '/api/agents/web/reload')));
      runs.pm2_reload!.push(await underLoad(pm2Port, () => pm2(pm2Home, ['reload', 'web'])));
      runs.hearth_restart!.push(
        await underLoad(port, async () => {
          await api(hub, 'POST', '/api/agents/web/restart');
          await until('the restarted agent to answer', () => probe(port));
        }),
      );
    }
  } finally {
    await pm2Kill(pm2Home);
    await stopHub(hub);
    rmSync(home, { recursive: true, force: true });
  }
  const sum = (k: string, f: 'failed' | 'sent' | 'ms'): number => runs[k]!.reduce((n, r) => n + r[f], 0);
  const failed = (k: string): number => sum(k, 'failed');
  const row = (metric: string, unit: string, hearth: number, baseline: number): Result['rows'][number] => ({
    metric,
    unit,
    hearth,
    baseline,
    ratio: baseline === 0 ? null : round(hearth / baseline),
    goal: 'Hearth <= PM2',
    met: hearth <= baseline,
  });
  return {
    name: 'reload',
    rows: [
      row(`reload under load: failed requests over ${REPS} reloads (Hearth vs PM2 ${version} cluster reload)`, 'requests', failed('hearth_reload'), failed('pm2_reload')),
      row(`reload: mean duration, ms (Hearth waits for a passing health check; PM2 for 'listening')`, 'ms', round(sum('hearth_reload', 'ms') / REPS, 0), round(sum('pm2_reload', 'ms') / REPS, 0)),
      absoluteRow(`for scale: failed requests over ${REPS} restarts (stop, then start) of the same Hearth agent`, 'requests', failed('hearth_restart')),
    ],
    details: runs,
    notes: [
      `requests sent during the reloads: Hearth ${sum('hearth_reload', 'sent')}, PM2 ${sum('pm2_reload', 'sent')}; during the restarts ${sum('hearth_restart', 'sent')}`,
      "Hearth's server is Python with SO_REUSEPORT (Node 20 cannot share a port that way); PM2's is Node in cluster mode, its master holding the port",
    ],
  };
}
