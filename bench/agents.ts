/**
 * Supervising agents, Hearth vs PM2, side by side in one run. Each has its own temp home (the hub's
 * HEARTH_DATA_DIR, PM2's PM2_HOME) and nothing is shared. Every supervised program is `sleep`; its
 * argument is the marker that tells, in /proc, whose process is which:
 *
 * 1. Idle: 50 `sleep 100000` on each. Once all 50 run on both, 30 s to settle (the CPU each uses in
 *    them is reported: V8 compacts the heap a few times after a burst of work such as creating 50
 *    programs), then the RSS of the hub process and of the PM2 daemon ("PM2 v… God Daemon", pid in
 *    $PM2_HOME/pm2.pid), and the CPU seconds each uses over the same 60 s, to the nanosecond from
 *    the threads' schedstat (utime + stime, in 10 ms ticks, are kept in the details). For scale, not
 *    as baselines: a Node process that only loads the libraries the hub runs on, and one that only
 *    calls pidusage for the hub's 50 pids every 10 s (the sampling the agents issue asks for).
 * 2. Respawn: kill -9 of an agent's process until its replacement runs (a new child of the
 *    supervisor with the marker in /proc/<pid>/cmdline); restart delay 0 on both, crash-loop limits
 *    set generously on both. Repetitions alternate Hearth / PM2. For scale, the same is measured on
 *    the least a Node supervisor can do (spawn again in the 'exit' handler): not a baseline.
 * 3. Command latency: MQTT `start` on `hearth/bench/agent/<id>/set` (the agent stopped before via
 *    REST) until the state on `hearth/bench/agent/<id>` says running, vs a bare child_process.spawn
 *    of the same program until its 'spawn' event. Repetitions alternate.
 *
 * Everything is stopped at the end (the hub with SIGTERM, which stops its agents; `pm2 kill`), the
 * temp homes removed, and a `pgrep -f 'sleep 100000'` reports anything left over.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, delimiter, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { api, assertBuilt, exitOf, HUB_NODE_ID, ROOT, startHub, stopChild, stopHub, type Exit, type HubProc } from './hub-process.js';
import { pm2DaemonPid, pm2Kill, pm2Start, PM2_BIN } from './pm2.js';
import { argvOf, CLK_TCK, killLeftoverSleeps, pidsNow, ppidOf, rssMiB, statOf, threadCpuSeconds, type Stat } from './proc.js';
import { median, ratioRow, round, withTimeout, type Result } from './types.js';

const AGENTS = 50;
const SETTLE_MS = 30_000;
const WINDOW_MS = 60_000;
const RESPAWN_WARMUP = 1;
const RESPAWN_REPS = 10;
const COMMAND_WARMUP = 2;
const COMMAND_REPS = 20;
/** Fixed pause after each repetition, so the supervisor's bookkeeping is done before the next one. */
const BETWEEN_REPS_MS = 300;
const POLL_MS = 1;
const WAIT_MS = 30_000;

/** The argument of `sleep`: the marker of each role. All of them match `pgrep -f 'sleep 100000'`. */
const MARK = {
  idle: '100000',
  hearthRespawn: '100000.1',
  pm2Respawn: '100000.2',
  command: '100000.3',
  baseline: '100000.4',
  floor: '100000.5',
} as const;
const PGREP_PATTERN = 'sleep 100000';

const GOAL = { memory: 1.0, cpu: 0.5, respawn: 0.5, command: 2 } as const;

// ---------------------------------------------------------------------------------------------
// /proc

function findSleep(): string {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const p = join(dir, 'sleep');
    if (dir && existsSync(p)) return p;
  }
  throw new Error('no sleep in PATH');
}

/** `sleep <mark>` exactly, and (when given) a child of parent. */
function isMarked(pid: number, mark: string, parent?: number): boolean {
  const argv = argvOf(pid);
  if (!argv || argv.length !== 2 || basename(argv[0]!) !== 'sleep' || argv[1] !== mark) return false;
  return parent === undefined || ppidOf(pid) === parent;
}

function findMarked(mark: string, parent?: number): number[] {
  return pidsNow().filter((pid) => isMarked(pid, mark, parent));
}

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined | null | false): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

/** A process that was not there in `before`, running `sleep <mark>` as a child of parent. */
function waitForNew(mark: string, parent: number, before: Set<number>): Promise<number> {
  return until(`a new sleep ${mark} under pid ${parent}`, 10_000, () => pidsNow().find((pid) => !before.has(pid) && isMarked(pid, mark, parent)));
}

// ---------------------------------------------------------------------------------------------
// The agent's state on MQTT

class StateWatch {
  status: string | null = null;
  pid: number | null = null;
  private waiters: Array<{ want: string; resolve: (v: { at: number; pid: number | null }) => void }> = [];

  constructor(
    readonly client: MqttClient,
    readonly topic: string,
  ) {
    client.on('message', (t, payload) => {
      if (t !== topic || payload.length === 0) return;
      const at = performance.now();
      let doc: { status?: string; pid?: number | null };
      try {
        doc = JSON.parse(payload.toString()) as typeof doc;
      } catch {
        return;
      }
      this.status = doc.status ?? null;
      this.pid = doc.pid ?? null;
      this.waiters = this.waiters.filter((w) => {
        if (w.want !== this.status) return true;
        w.resolve({ at, pid: this.pid });
        return false;
      });
    });
  }

  /** Resolves when the state says `want` (at once if it already does). */
  until(want: string): Promise<{ at: number; pid: number | null }> {
    if (this.status === want) return Promise.resolve({ at: performance.now(), pid: this.pid });
    const p = new Promise<{ at: number; pid: number | null }>((resolve) => this.waiters.push({ want, resolve }));
    return withTimeout(p, 10_000, `${this.topic} to say ${want}`);
  }
}

// ---------------------------------------------------------------------------------------------

interface CpuWindow {
  seconds: number;
  childrenSeconds: number;
}

function cpuDelta(a: Stat, b: Stat, tick: number): CpuWindow {
  return { seconds: (b.own - a.own) / tick, childrenSeconds: (b.children - a.children) / tick };
}

async function respawnOnce(mark: string, parent: number): Promise<number> {
  const [old] = await until(`sleep ${mark} under pid ${parent}`, 10_000, () => {
    const found = findMarked(mark, parent);
    return found.length === 1 ? found : undefined;
  });
  const before = new Set(pidsNow());
  const t0 = performance.now();
  process.kill(old!, 'SIGKILL');
  await waitForNew(mark, parent, before);
  return performance.now() - t0;
}

/** The least a Node supervisor can do: spawn again in the 'exit' handler. For scale only. */
const FLOOR_SRC = `
const { spawn } = require('node:child_process');
const [cmd, mark] = process.argv.slice(1);
let child = null;
let stopping = false;
const go = () => {
  child = spawn(cmd, [mark]);
  child.once('exit', () => { if (!stopping) go(); else process.exit(0); });
};
process.on('SIGTERM', () => { stopping = true; child.kill('SIGKILL'); setTimeout(() => process.exit(0), 2000); });
go();
`;

const FLOOR_STOP_MS = 5000;

/** Dependencies the hub loads only when asked: a serial or Modbus device, PostgreSQL, a host other than Linux. */
const LOADED_ON_DEMAND = new Set(['serialport', '@serialport/stream', '@serialport/bindings-cpp', 'modbus-serial', 'pg', 'systeminformation']);
/** The libraries `hearth start` loads and keeps (package.json's dependencies, the design's choices), and nothing of Hearth's. */
const HUB_LIBRARIES = Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies).filter(
  (name) => !LOADED_ON_DEMAND.has(name),
);
/** Loads them with the V8 setting `hearth start` uses, then idles. */
const LIBRARIES_SRC = `for (const m of ${JSON.stringify(HUB_LIBRARIES)}) await import(m); setInterval(() => {}, 1 << 30);`;
/** One pidusage call every 10 s for the pids given, as the hub's sampler makes. */
const SAMPLER_SRC = `const pidusage = require('pidusage'); const pids = process.argv.slice(1).map(Number);
const sample = () => pidusage(pids, () => {}); sample(); setInterval(sample, 10000);`;

async function bareSpawn(sleepPath: string): Promise<number> {
  const t0 = performance.now();
  const child = spawn(sleepPath, [MARK.baseline]);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const err = await new Promise<Error | null>((resolve) => {
    child.once('spawn', () => resolve(null));
    child.once('error', (e) => resolve(e));
  });
  const ms = performance.now() - t0;
  if (err) throw err;
  child.kill('SIGKILL');
  await withTimeout(exited, 5000, 'the bare sleep to exit');
  return ms;
}

export async function benchAgents(): Promise<Result> {
  assertBuilt();
  if (!existsSync(PM2_BIN)) throw new Error(`${PM2_BIN} is missing: npm install`);
  const sleepPath = findSleep();
  const tick = CLK_TCK;
  const pm2Version = (JSON.parse(readFileSync(join(ROOT, 'node_modules/pm2/package.json'), 'utf8')) as { version: string }).version;
  const preexisting = new Set(pidsNow().filter((pid) => (argvOf(pid) ?? []).join(' ').includes(PGREP_PATTERN)));

  const hubDir = mkdtempSync(join(tmpdir(), 'hearth-bench-agents-'));
  const pm2Home = mkdtempSync(join(tmpdir(), 'pm2-bench-agents-'));
  let hub: HubProc | null = null;
  let pm2Started = false;
  let client: MqttClient | null = null;
  // Node processes started for scale (not baselines); whatever still runs is stopped in `finally`.
  const helpers = new Set<{ proc: ChildProcess; exited: Promise<Exit> }>();
  const startHelper = (args: string[]): { proc: ChildProcess; exited: Promise<Exit> } => {
    const proc = spawn(process.execPath, args, { cwd: ROOT, stdio: 'ignore' });
    const helper = { proc, exited: exitOf(proc) };
    helpers.add(helper);
    return helper;
  };
  const stopHelpers = async (...which: Array<{ proc: ChildProcess; exited: Promise<Exit> }>): Promise<void> => {
    for (const helper of which) {
      helpers.delete(helper);
      await stopChild(helper, FLOOR_STOP_MS);
    }
  };
  const cleanup: Record<string, unknown> = {};
  const notes: string[] = [];
  const details: Record<string, unknown> = { agents: AGENTS, settle_ms: SETTLE_MS, window_ms: WINDOW_MS, clk_tck: tick, pm2_version: pm2Version, program: sleepPath };

  try {
    // --- 1. Idle: 50 agents on each -----------------------------------------------------------
    let t = performance.now();
    hub = await startHub(hubDir, { dropPrefixes: ['PM2_'], extraEnv: { HEARTH_METRICS_INTERVAL: '10' } });
    details.hub_start_ms = round(performance.now() - t, 0);
    const h = hub;
    t = performance.now();
    for (let i = 0; i < AGENTS; i++) {
      await api(h, 'POST', '/api/agents', { name: `idle ${i}`, command: sleepPath, args: [MARK.idle] });
    }
    details.hub_create_50_ms = round(performance.now() - t, 0);

    t = performance.now();
    pm2Started = true;
    await pm2Start(
      pm2Home,
      'idle.json',
      Array.from({ length: AGENTS }, (_, i) => ({ name: `idle_${i}`, script: sleepPath, args: [MARK.idle], interpreter: 'none', autorestart: true })),
    );
    details.pm2_start_50_ms = round(performance.now() - t, 0);
    const daemon = pm2DaemonPid(pm2Home);
    const daemonName = (argvOf(daemon) ?? []).join(' ').trim();
    details.pm2_daemon = daemonName;

    await until('50 idle sleeps under each supervisor', WAIT_MS, () => findMarked(MARK.idle, h.pid).length === AGENTS && findMarked(MARK.idle, daemon).length === AGENTS);
    const libraries = startHelper(['--semi-space-growth-factor=1', '--input-type=module', '-e', LIBRARIES_SRC]).proc;
    const sampler = startHelper(['-e', SAMPLER_SRC, ...findMarked(MARK.idle, h.pid).map(String)]);
    const settleCpu0 = { hearth: threadCpuSeconds(h.pid), pm2: threadCpuSeconds(daemon) };
    await sleep(SETTLE_MS);

    const rss0 = { hearth: rssMiB(h.pid), pm2: rssMiB(daemon), libraries: rssMiB(libraries.pid!) };
    const cpu0 = { hearth: statOf(h.pid), pm2: statOf(daemon) };
    const ns0 = { hearth: threadCpuSeconds(h.pid), pm2: threadCpuSeconds(daemon), sampler: threadCpuSeconds(sampler.proc.pid!) };
    const settleCpu = { hearth: ns0.hearth - settleCpu0.hearth, pm2: ns0.pm2 - settleCpu0.pm2 };
    const w0 = performance.now();
    const rssTrace: Array<{ at_s: number; hearth: number; pm2: number }> = [];
    for (let s = 10_000; s <= WINDOW_MS; s += 10_000) {
      await sleep(w0 + s - performance.now());
      rssTrace.push({ at_s: s / 1000, hearth: round(rssMiB(h.pid), 1), pm2: round(rssMiB(daemon), 1) });
    }
    const cpu1 = { hearth: statOf(h.pid), pm2: statOf(daemon) };
    const ns1 = { hearth: threadCpuSeconds(h.pid), pm2: threadCpuSeconds(daemon), sampler: threadCpuSeconds(sampler.proc.pid!) };
    const windowS = (performance.now() - w0) / 1000;
    const cpu = { hearth: ns1.hearth - ns0.hearth, pm2: ns1.pm2 - ns0.pm2, sampler: ns1.sampler - ns0.sampler };
    await stopHelpers(...helpers);
    const cpuH = cpuDelta(cpu0.hearth, cpu1.hearth, tick);
    const cpuP = cpuDelta(cpu0.pm2, cpu1.pm2, tick);
    const stillRunning = { hearth: findMarked(MARK.idle, h.pid).length, pm2: findMarked(MARK.idle, daemon).length };
    Object.assign(details, {
      rss_after_settle_mib: { hearth: round(rss0.hearth, 1), pm2: round(rss0.pm2, 1), libraries_only: round(rss0.libraries, 1) },
      rss_every_10s_mib: rssTrace,
      cpu_settle_seconds: { hearth: round(settleCpu.hearth, 4), pm2: round(settleCpu.pm2, 4) },
      cpu_window_s: round(windowS, 2),
      cpu_thread_seconds: { hearth: round(cpu.hearth, 4), pm2: round(cpu.pm2, 4), pidusage_sampler_only: round(cpu.sampler, 4) },
      cpu_tick_seconds: { hearth: round(cpuH.seconds, 2), pm2: round(cpuP.seconds, 2) },
      cpu_children_seconds: { hearth: round(cpuH.childrenSeconds, 2), pm2: round(cpuP.childrenSeconds, 2) },
      idle_running_after_window: stillRunning,
    });

    // --- 2. Respawn after kill -9 -------------------------------------------------------------
    await api(h, 'POST', '/api/agents', {
      name: 'respawn',
      command: sleepPath,
      args: [MARK.hearthRespawn],
      restart: { policy: 'always', delay_ms: 0, backoff: false, max_restarts: 10_000, window_s: 60, min_uptime_s: 0.1 },
    });
    await pm2Start(pm2Home, 'respawn.json', [
      { name: 'respawn', script: sleepPath, args: [MARK.pm2Respawn], interpreter: 'none', autorestart: true, restart_delay: 0, min_uptime: 100, max_restarts: 10_000 },
    ]);
    const floor = startHelper(['-e', FLOOR_SRC, sleepPath, MARK.floor]);
    const fl = floor.proc;
    await sleep(BETWEEN_REPS_MS);
    const respawn = { hearth: [] as number[], pm2: [] as number[], floor: [] as number[] };
    const parentOf = { hearth: h.pid, pm2: daemon, floor: fl.pid! };
    const markOf = { hearth: MARK.hearthRespawn, pm2: MARK.pm2Respawn, floor: MARK.floor };
    for (let r = 0; r < RESPAWN_WARMUP + RESPAWN_REPS; r++) {
      const order = (['hearth', 'pm2', 'floor'] as const).map((_, i, all) => all[(i + r) % all.length]!);
      for (const who of order) {
        const ms = await respawnOnce(markOf[who], parentOf[who]);
        if (r >= RESPAWN_WARMUP) respawn[who].push(round(ms, 2));
        await sleep(BETWEEN_REPS_MS);
      }
    }
    await stopHelpers(floor);
    const respawnAgent = await api<{ status: string; restarts: number }>(h, 'GET', '/api/agents/respawn');
    details.respawn_ms = respawn;
    details.respawn_hearth_after = { status: respawnAgent.status, restarts: respawnAgent.restarts };

    // --- 3. Command latency: MQTT start -> state running, vs a bare spawn -----------------------
    await api(h, 'POST', '/api/agents', { name: 'command', command: sleepPath, args: [MARK.command] });
    const c = await withTimeout(mqtt.connectAsync(h.brokerUrl, { clientId: 'bench_agents', reconnectPeriod: 0, connectTimeout: 5000 }), WAIT_MS, 'MQTT connect');
    client = c;
    const topic = `hearth/${HUB_NODE_ID}/agent/command`;
    const watch = new StateWatch(c, topic);
    await c.subscribeAsync(topic, { qos: 1 });
    await watch.until('running');
    const command = { hearth: [] as number[], baseline: [] as number[] };
    const notMarked: number[] = [];
    for (let r = 0; r < COMMAND_WARMUP + COMMAND_REPS; r++) {
      const order = r % 2 === 0 ? (['hearth', 'baseline'] as const) : (['baseline', 'hearth'] as const);
      for (const who of order) {
        let ms: number;
        if (who === 'hearth') {
          await api(h, 'POST', '/api/agents/command/stop');
          await watch.until('stopped');
          await sleep(BETWEEN_REPS_MS);
          const t0 = performance.now();
          const running = watch.until('running');
          void c.publishAsync(`${topic}/set`, 'start', { qos: 1 });
          const got = await running;
          ms = got.at - t0;
          if (got.pid === null || !isMarked(got.pid, MARK.command, h.pid)) notMarked.push(r);
        } else {
          ms = await bareSpawn(sleepPath);
          await sleep(BETWEEN_REPS_MS);
        }
        if (r >= COMMAND_WARMUP) command[who].push(round(ms, 2));
      }
    }
    details.command_ms = command;
    details.command_state_pid_not_a_marked_process = notMarked;

    // --- Results ------------------------------------------------------------------------------
    const medRespawn = { hearth: median(respawn.hearth), pm2: median(respawn.pm2), floor: median(respawn.floor) };
    const medCommand = { hearth: median(command.hearth), baseline: median(command.baseline) };
    const spread = (xs: number[]): string => `${round(Math.min(...xs), 1)}-${round(Math.max(...xs), 1)}`;
    const rows = [
      ratioRow(`${AGENTS} idle agents: supervisor RSS after ${SETTLE_MS / 1000} s settle, MiB (vs PM2 daemon)`, 'MiB', round(rss0.hearth, 1), round(rss0.pm2, 1), GOAL.memory),
      ratioRow(`${AGENTS} idle agents: supervisor CPU s over the next ${Math.round(windowS)} s (vs PM2 daemon)`, 's', round(cpu.hearth, 3), round(cpu.pm2, 3), GOAL.cpu),
      ratioRow(`respawn after kill -9 until the new process runs, median ms (vs PM2, restart_delay 0)`, 'ms', round(medRespawn.hearth, 1), round(medRespawn.pm2, 1), GOAL.respawn),
      ratioRow(`MQTT start until state running, median ms (vs bare child_process.spawn)`, 'ms', round(medCommand.hearth, 1), round(medCommand.baseline, 2), GOAL.command),
    ];
    notes.push(
      `agents: PM2 ${pm2Version} ("${daemonName}"), each program \`${sleepPath} <marker>\`; hub started in ${details.hub_start_ms} ms, 50 agents created over REST in ${details.hub_create_50_ms} ms; ` +
        `\`pm2 start\` of 50 apps took ${details.pm2_start_50_ms} ms.`,
      `agents idle: RSS ${round(rss0.hearth, 1)} vs ${round(rss0.pm2, 1)} MiB after settling, ${rssTrace.at(-1)?.hearth} vs ${rssTrace.at(-1)?.pm2} MiB at the end of the window; ` +
        `for scale, a Node process that only loads the libraries the hub runs on (${HUB_LIBRARIES.length}, under the hub's V8 setting) has ${round(rss0.libraries, 1)} MiB, ${round(rss0.libraries / rss0.pm2, 2)}x PM2's daemon. ` +
        `CPU over ${round(windowS, 1)} s (threads' schedstat): hub ${round(cpu.hearth, 3)} s, PM2 daemon ${round(cpu.pm2, 3)} s ` +
        `(in clock ticks: ${round(cpuH.seconds, 2)} s and ${round(cpuP.seconds, 2)} s, +${round(cpuH.childrenSeconds, 2)} / +${round(cpuP.childrenSeconds, 2)} s in reaped children); ` +
        `for scale, a Node process that only calls pidusage for the hub's ${AGENTS} pids every 10 s uses ${round(cpu.sampler, 3)} s, ${round(cpu.sampler / cpu.pm2, 2)}x PM2's daemon. ` +
        `In the ${SETTLE_MS / 1000} s settle before (after creating the ${AGENTS}): hub ${round(settleCpu.hearth, 3)} s, PM2 daemon ${round(settleCpu.pm2, 3)} s. ` +
        `Sleeps still running after the window: ${stillRunning.hearth} / ${stillRunning.pm2}.`,
      `agents respawn: ${RESPAWN_REPS} kills each (after ${RESPAWN_WARMUP} warm-up), in rotating order, ${BETWEEN_REPS_MS} ms apart; range Hearth ${spread(respawn.hearth)} ms, PM2 ${spread(respawn.pm2)} ms; ` +
        `for scale, a minimal Node respawner (spawn again in 'exit') takes ${round(medRespawn.floor, 1)} ms (${spread(respawn.floor)}), ${round(medRespawn.floor / medRespawn.pm2, 2)}x PM2's; ` +
        `new process detected by polling /proc every ~${POLL_MS} ms; Hearth agent afterwards: ${respawnAgent.status}, ${respawnAgent.restarts} restarts.`,
      `agents command: ${COMMAND_REPS} starts each (after ${COMMAND_WARMUP} warm-up), agent stopped via REST first; range Hearth ${spread(command.hearth)} ms, bare spawn ${spread(command.baseline)} ms` +
        (notMarked.length ? `; ${notMarked.length} running states named a pid that was not the marked sleep` : '') +
        '.',
    );
    return { name: 'agents', rows, details, notes };
  } finally {
    // However it went: nothing left running, nothing left on disk.
    if (client) await client.endAsync(true).catch(() => undefined);
    await stopHelpers(...helpers);
    if (hub) {
      const s = await stopHub(hub);
      cleanup.hub_stop = { code: s.code, signal: s.signal, ms: round(s.ms, 0), killed_after_timeout: s.killed };
    }
    if (pm2Started) Object.assign(cleanup, await pm2Kill(pm2Home));
    // Our own markers only, and not a process that was there before this bench began.
    const leftovers = await killLeftoverSleeps(preexisting, Object.values(MARK));
    cleanup.leftover_sleeps_killed = leftovers;
    let pgrep = '';
    try {
      pgrep = execFileSync('pgrep', ['-af', PGREP_PATTERN], { encoding: 'utf8' }).trim();
    } catch {
      pgrep = ''; // exit 1: nothing matched
    }
    cleanup.pgrep_after = pgrep === '' ? [] : pgrep.split('\n');
    cleanup.pgrep_preexisting = [...preexisting];
    rmSync(hubDir, { recursive: true, force: true });
    rmSync(pm2Home, { recursive: true, force: true });
    cleanup.temp_dirs_removed = !existsSync(hubDir) && !existsSync(pm2Home);
    details.cleanup = cleanup;
    notes.push(
      `agents cleanup: hub stopped by SIGTERM with ${JSON.stringify(cleanup.hub_stop ?? null)}, pm2 kill ${JSON.stringify(cleanup.pm2_kill ?? null)}; ` +
        `leftover sleeps killed: ${leftovers.length}; \`pgrep -f '${PGREP_PATTERN}'\` afterwards: ${pgrep === '' ? 'nothing' : pgrep.split('\n').length + ' process(es)'}; temp homes removed: ${cleanup.temp_dirs_removed}.`,
    );
    process.stderr.write(`bench: agents cleanup: ${JSON.stringify(cleanup)}\n`);
  }
}
