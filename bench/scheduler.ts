/**
 * The task scheduler under load, Hearth vs bare croner, one after the other (never at the same time):
 *
 * 1. Hearth: the real compiled hub (`node dist/cli/main.js start`, temp HEARTH_DATA_DIR, embedded
 *    broker). First its idle CPU over IDLE_MS with no task. Then TASKS tasks created through
 *    POST /api/tasks, each `schedule: "* * * * * *"` with the action
 *    `{ type: "mqtt", topic: "bench/fire/<i>", payload: "x" }`. The window is the WINDOW_S whole
 *    seconds starting at the first whole second at least 1.5 s after the last task was created.
 *    For every run whose cron instant falls in the window:
 *    - the cron instant is the job's created_at truncated to the whole second (croner only fires
 *      once the instant has passed, so created_at is a few ms after it; a created_at more than
 *      half a second after its second is counted as "late or early" and reported);
 *    - created_at, started_at and the "published to" step of the job record
 *      (GET /api/jobs?task_id=…&limit=1000), and the arrival of the message on bench/fire/<i> at
 *      a subscriber of the hub's broker in this process, each minus the instant;
 *    - per task, instants with no run (missed) and extra runs (duplicated).
 *    CPU is utime + stime of /proc/<pid>/stat from 0.5 s before the first instant to 0.5 s before
 *    the end of the window, as % of one core; RSS (VmRSS) at the end of the window.
 * 2. Baseline: a child `node` with TASKS `new Cron('* * * * * *', fn)` (the croner the hub uses),
 *    fn recording Date.now() minus the instant (same truncation), over its own window of
 *    WINDOW_S seconds; its CPU and RSS read the same way.
 *
 * At the end the tasks are disabled, their jobs read, the tasks deleted, the hub stopped with
 * SIGTERM, the temp dir removed. Measurements only: nothing here asserts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { api, assertBuilt, killChild, ROOT, spawnNode, startHub, stopHub, type Exit, type HubProc } from './hub-process.js';
import { CLK_TCK, cpuSeconds, rssMiB } from './proc.js';
import { absoluteRow, round, withTimeout, type Result, type Row } from './types.js';

const CRONER = join(ROOT, 'node_modules/croner/dist/croner.js');

const TASKS = 100;
const WINDOW_S = 60;
const IDLE_MS = 10_000;
/** The window starts at the first whole second at least this long after the setup. */
const LEAD_MS = 1_500;
/** CPU is read this long before the first instant and before the end of the window. */
const CPU_OFFSET_MS = 500;
const WAIT_MS = 30_000;
const GOAL_P99_MS = 10;
const TOPIC = 'bench/fire';

// ---------------------------------------------------------------------------------------------
// Numbers

/** Nearest-rank percentile. */
function pct(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

interface Dist {
  n: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

function dist(xs: number[]): Dist {
  const mean = xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN;
  return { n: xs.length, min: Math.min(...xs), p50: pct(xs, 50), p90: pct(xs, 90), p99: pct(xs, 99), max: Math.max(...xs), mean: round(mean, 2) };
}

async function sleepUntil(epochMs: number): Promise<void> {
  const ms = epochMs - Date.now();
  if (ms > 0) await sleep(ms);
}

const second = (t: number): number => Math.floor(t / 1000) * 1000;

/** CPU of pid from CPU_OFFSET_MS before w0 to CPU_OFFSET_MS before wEnd, and its RSS at the end. */
async function measureWindow(pid: number, w0: number, wEnd: number): Promise<{ cpuPct: number; cpuSeconds: number; rssMiB: number }> {
  await sleepUntil(w0 - CPU_OFFSET_MS);
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  await sleepUntil(wEnd - CPU_OFFSET_MS);
  const cpu1 = cpuSeconds(pid);
  const elapsedS = (performance.now() - t0) / 1000;
  return { cpuPct: ((cpu1 - cpu0) / elapsedS) * 100, cpuSeconds: cpu1 - cpu0, rssMiB: rssMiB(pid) };
}

/** A row with a baseline; the goal (when given) is an absolute maximum of the Hearth figure. */
function compareRow(metric: string, unit: string, hearth: number, baseline: number, max?: number): Row {
  return {
    metric,
    unit,
    hearth,
    baseline,
    ratio: baseline > 0 ? round(hearth / baseline, 2) : null,
    goal: max === undefined ? '-' : `<= ${max} ${unit}`,
    met: max === undefined ? null : hearth <= max,
  };
}

/** Per task: how many of the window's instants had no run, and how many runs were extra. */
function coverage(perTask: Array<Map<number, number>>, w0: number): { runs: number; missed: number; duplicated: number; tasksMissing: number; tasksDuplicated: number } {
  let runs = 0;
  let missed = 0;
  let duplicated = 0;
  let tasksMissing = 0;
  let tasksDuplicated = 0;
  for (const counts of perTask) {
    let m = 0;
    let d = 0;
    for (let k = 0; k < WINDOW_S; k++) {
      const c = counts.get(w0 + k * 1000) ?? 0;
      runs += c;
      if (c === 0) m++;
      if (c > 1) d += c - 1;
    }
    missed += m;
    duplicated += d;
    if (m) tasksMissing++;
    if (d) tasksDuplicated++;
  }
  return { runs, missed, duplicated, tasksMissing, tasksDuplicated };
}

interface JobRecord {
  id: number;
  task_id: string | null;
  trigger: string;
  status: string;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  steps: Array<{ at: string; message: string }>;
}

interface HearthRun {
  idleCpuPct: number;
  cpuPct: number;
  cpuSeconds: number;
  rssMiB: number;
  w0: number;
  created: number[];
  started: number[];
  published: number[];
  arrived: number[];
  jobCoverage: ReturnType<typeof coverage>;
  mqttCoverage: ReturnType<typeof coverage>;
  statuses: Record<string, number>;
  lateOrEarly: number;
  notStarted: number;
  maxJobsPerTask: number;
  createMs: number;
  exit: Exit & { killed: boolean };
  logLines: number;
}

async function runHearth(): Promise<HearthRun> {
  assertBuilt();
  const dataDir = mkdtempSync(join(tmpdir(), 'hearth-bench-sched-'));
  let hub: HubProc | null = null;
  let sub: MqttClient | null = null;
  try {
    hub = await startHub(dataDir);
    const h = hub;

    // Idle: nothing configured yet.
    const idle0 = cpuSeconds(h.pid);
    const tIdle0 = performance.now();
    await sleep(IDLE_MS);
    const idleCpuPct = ((cpuSeconds(h.pid) - idle0) / ((performance.now() - tIdle0) / 1000)) * 100;

    // Arrivals of the actions' messages, by task index.
    const arrivals: Array<Array<number>> = Array.from({ length: TASKS }, () => []);
    sub = await withTimeout(mqtt.connectAsync(h.brokerUrl, { reconnectPeriod: 0, connectTimeout: 5000 }), WAIT_MS, 'the MQTT subscriber to connect');
    sub.on('message', (topic) => {
      const at = Date.now();
      const i = Number(topic.slice(TOPIC.length + 1));
      if (Number.isInteger(i) && i >= 0 && i < TASKS) arrivals[i]!.push(at);
    });
    await sub.subscribeAsync(`${TOPIC}/#`, { qos: 0 });

    const tCreate = performance.now();
    const ids: string[] = [];
    try {
      for (let i = 0; i < TASKS; i++) {
        const t = await api<{ id: string }>(h, 'POST', '/api/tasks', {
          name: `bench sched ${i}`,
          schedule: '* * * * * *',
          action: { type: 'mqtt', topic: `${TOPIC}/${i}`, payload: 'x' },
        });
        ids.push(t.id);
      }
      const createMs = performance.now() - tCreate;

      const w0 = second(Date.now() + LEAD_MS) + 1000;
      const wEnd = w0 + WINDOW_S * 1000;
      const cpu = await measureWindow(h.pid, w0, wEnd);

      // Stop the clocks, then read the records.
      for (const id of ids) await api(h, 'POST', `/api/tasks/${encodeURIComponent(id)}/disable`);
      await sleep(500); // runs fired just before the disable end (an MQTT publish takes ~1 ms)
      const created: number[] = [];
      const started: number[] = [];
      const published: number[] = [];
      const statuses: Record<string, number> = {};
      const perTask: Array<Map<number, number>> = [];
      let lateOrEarly = 0;
      let notStarted = 0;
      let maxJobsPerTask = 0;
      for (const id of ids) {
        const jobs = await api<JobRecord[]>(h, 'GET', `/api/jobs?task_id=${encodeURIComponent(id)}&limit=1000`);
        maxJobsPerTask = Math.max(maxJobsPerTask, jobs.length);
        const counts = new Map<number, number>();
        for (const j of jobs) {
          if (j.trigger !== 'schedule') continue;
          const c = Date.parse(j.created_at);
          const instant = second(c);
          if (instant < w0 || instant >= wEnd) continue;
          counts.set(instant, (counts.get(instant) ?? 0) + 1);
          statuses[j.status] = (statuses[j.status] ?? 0) + 1;
          if (c - instant > 500) lateOrEarly++;
          created.push(c - instant);
          if (j.started_at) started.push(Date.parse(j.started_at) - instant);
          else notStarted++;
          const step = j.steps.find((s) => s.message.startsWith('published to'));
          if (step) published.push(Date.parse(step.at) - instant);
        }
        perTask.push(counts);
      }
      const arrived: number[] = [];
      const perTaskMqtt = arrivals.map((ats) => {
        const counts = new Map<number, number>();
        for (const at of ats) {
          const instant = second(at);
          if (instant < w0 || instant >= wEnd) continue;
          counts.set(instant, (counts.get(instant) ?? 0) + 1);
          arrived.push(at - instant);
        }
        return counts;
      });

      for (const id of ids.splice(0)) await api(h, 'DELETE', `/api/tasks/${encodeURIComponent(id)}`);
      await sub.endAsync(true);
      sub = null;
      const logLines = h.lines;
      const { code, signal, killed } = await stopHub(h);
      const exit = { code, signal, killed };
      hub = null;
      return {
        idleCpuPct,
        ...cpu,
        w0,
        created,
        started,
        published,
        arrived,
        jobCoverage: coverage(perTask, w0),
        mqttCoverage: coverage(perTaskMqtt, w0),
        statuses,
        lateOrEarly,
        notStarted,
        maxJobsPerTask,
        createMs,
        exit,
        logLines,
      };
    } finally {
      // On a failure: the tasks go with the hub (its data dir is removed below).
      if (hub && ids.length) for (const id of ids) await api(hub, 'POST', `/api/tasks/${encodeURIComponent(id)}/disable`).catch(() => undefined);
    }
  } finally {
    if (sub) await sub.endAsync(true).catch(() => undefined);
    if (hub) await stopHub(hub);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// The baseline: bare croner in a child node

const BASELINE_SCRIPT = `
const [url, n, w0, wEnd] = process.argv.slice(1);
const N = Number(n), W0 = Number(w0), WEND = Number(wEnd);
const { Cron } = await import(url);
const lags = [];
const counts = Array.from({ length: N }, () => ({}));
let currentRunIsInstant = 0, currentRunIsFireTime = 0;
const jobs = [];
for (let i = 0; i < N; i++) {
  jobs.push(new Cron('* * * * * *', (self) => {
    const now = Date.now();
    const instant = Math.floor(now / 1000) * 1000;
    if (instant < W0 || instant >= WEND) return;
    lags.push(now - instant);
    counts[i][instant] = (counts[i][instant] ?? 0) + 1;
    const cr = self.currentRun()?.getTime();
    if (cr === instant) currentRunIsInstant++; else if (cr !== undefined && cr % 1000 !== 0) currentRunIsFireTime++;
  }));
}
process.stdout.write('ready\\n');
setTimeout(() => {
  for (const j of jobs) j.stop();
  process.stdout.write(JSON.stringify({ lags, counts, currentRunIsInstant, currentRunIsFireTime }) + '\\n');
}, WEND + 1000 - Date.now());
`;

interface BaselineRun {
  cpuPct: number;
  cpuSeconds: number;
  rssMiB: number;
  lags: number[];
  coverage: ReturnType<typeof coverage>;
  lateOrEarly: number;
  currentRunIsInstant: number;
  currentRunIsFireTime: number;
}

async function runBaseline(): Promise<BaselineRun> {
  const w0 = second(Date.now() + LEAD_MS) + 1000;
  const wEnd = w0 + WINDOW_S * 1000;
  const args = ['--input-type=module', '-e', BASELINE_SCRIPT, pathToFileURL(CRONER).href, String(TASKS), String(w0), String(wEnd)];
  const p = spawnNode(args);
  const lines: string[] = [];
  let onLine: (() => void) | null = null;
  p.stdoutLines.on('line', (l) => {
    lines.push(l);
    onLine?.();
  });
  const line = (k: number): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const check = (): void => {
        if (lines.length > k) resolve(lines[k]!);
      };
      onLine = check;
      check();
      void p.exited.then(({ code }) => reject(new Error(`the croner baseline exited (${code}): ${p.stderr().trim()}`)));
    });
  try {
    await withTimeout(line(0), WAIT_MS, 'the croner baseline to be ready');
    if (Date.now() > w0 - CPU_OFFSET_MS) throw new Error('the croner baseline took too long to start');
    const cpu = await measureWindow(p.pid, w0, wEnd);
    const out = JSON.parse(await withTimeout(line(1), WAIT_MS, 'the croner baseline results')) as {
      lags: number[];
      counts: Array<Record<string, number>>;
      currentRunIsInstant: number;
      currentRunIsFireTime: number;
    };
    await withTimeout(p.exited, WAIT_MS, 'the croner baseline to exit');
    const perTask = out.counts.map((c) => new Map(Object.entries(c).map(([k, v]) => [Number(k), v])));
    return {
      ...cpu,
      lags: out.lags,
      coverage: coverage(perTask, w0),
      lateOrEarly: out.lags.filter((l) => l > 500).length,
      currentRunIsInstant: out.currentRunIsInstant,
      currentRunIsFireTime: out.currentRunIsFireTime,
    };
  } finally {
    await killChild(p);
  }
}

// ---------------------------------------------------------------------------------------------

export async function benchScheduler(): Promise<Result> {
  // Other work on the host skews every figure here: recorded so a noisy run can be told apart.
  const loadBefore = loadavg().map((x) => round(x, 2));
  const hearth = await runHearth();
  const base = await runBaseline();

  const created = dist(hearth.created);
  const started = dist(hearth.started);
  const published = dist(hearth.published);
  const arrived = dist(hearth.arrived);
  const croner = dist(base.lags);
  const expected = TASKS * WINDOW_S;
  const jc = hearth.jobCoverage;
  const mc = hearth.mqttCoverage;

  const rows: Row[] = [
    compareRow('scheduler: job started_at - cron instant, p50 (ms)', 'ms', started.p50, croner.p50),
    compareRow('scheduler: job started_at - cron instant, p99 (ms)', 'ms', started.p99, croner.p99, GOAL_P99_MS),
    compareRow('scheduler: job created_at - cron instant, p50 (ms)', 'ms', created.p50, croner.p50),
    compareRow('scheduler: job created_at - cron instant, p99 (ms)', 'ms', created.p99, croner.p99),
    compareRow('scheduler: MQTT message arrival - cron instant, p99 (ms)', 'ms', arrived.p99, croner.p99),
    compareRow(`scheduler: runs in ${WINDOW_S} s (expected ${expected})`, 'runs', jc.runs, base.coverage.runs),
    compareRow('scheduler: missed instants (all tasks)', 'runs', jc.missed, base.coverage.missed),
    compareRow('scheduler: duplicated runs (all tasks)', 'runs', jc.duplicated, base.coverage.duplicated),
    compareRow(`scheduler: CPU with ${TASKS} tasks/s, % of one core`, '%', round(hearth.cpuPct, 1), round(base.cpuPct, 2)),
    absoluteRow('scheduler: hub CPU idle (no tasks), % of one core', '%', round(hearth.idleCpuPct, 1)),
    absoluteRow(`scheduler: hub RSS after ${WINDOW_S} s of ${TASKS} tasks/s, MiB`, 'MiB', round(hearth.rssMiB, 1)),
  ];

  const fmtD = (d: Dist): string => `p50 ${d.p50} / p90 ${d.p90} / p99 ${d.p99} / max ${d.max} ms (n ${d.n})`;
  const notes = [
    `scheduler: ${TASKS} tasks on "* * * * * *" with an mqtt action, ${WINDOW_S} s window; baseline = ${TASKS} bare croner ${'`'}new Cron('* * * * * *', fn)${'`'} in a child node, fn recording Date.now() - instant. ` +
      `Instant = created_at (or the baseline's Date.now()) truncated to the second.`,
    `scheduler: Hearth created_at ${fmtD(created)}; started_at ${fmtD(started)}; "published" step ${fmtD(published)}; MQTT arrival at a subscriber ${fmtD(arrived)}. ` +
      `Bare croner: ${fmtD(croner)}.`,
    `scheduler: runs ${jc.runs}/${expected} from job records (missed ${jc.missed} in ${jc.tasksMissing} tasks, duplicated ${jc.duplicated} in ${jc.tasksDuplicated} tasks), ` +
      `${mc.runs}/${expected} MQTT messages (missed ${mc.missed}, duplicated ${mc.duplicated}); statuses ${JSON.stringify(hearth.statuses)}; ` +
      `created_at more than 500 ms after its second (late, or early and so counted in the previous second): ${hearth.lateOrEarly}; never started: ${hearth.notStarted}. ` +
      `Croner: ${base.coverage.runs}/${expected} (missed ${base.coverage.missed}, duplicated ${base.coverage.duplicated}).`,
    `scheduler: CPU Hearth ${round(hearth.cpuPct, 1)}% of one core (${round(hearth.cpuSeconds, 2)} s; idle hub ${round(hearth.idleCpuPct, 1)}%) vs bare croner ${round(base.cpuPct, 2)}% ` +
      `(${round(base.cpuSeconds, 2)} s); RSS hub ${round(hearth.rssMiB, 1)} MiB vs croner child ${round(base.rssMiB, 1)} MiB (context: the hub also holds the broker, HTTP and SQLite).`,
  ];
  if (base.currentRunIsFireTime > 0)
    notes.push(
      `scheduler: croner's currentRun() is the time the callback fired, not the cron instant (${base.currentRunIsFireTime} of ${base.lags.length} baseline runs), ` +
        `so the hub's startSchedule hands a "due" (stored as tasks.last_scheduled) a few ms past the instant.`,
    );

  return {
    name: 'scheduler',
    rows,
    details: {
      tasks: TASKS,
      window_s: WINDOW_S,
      clk_tck: CLK_TCK,
      loadavg_before: loadBefore,
      loadavg_after: loadavg().map((x) => round(x, 2)),
      hearth: {
        created_minus_instant_ms: created,
        started_minus_instant_ms: started,
        published_step_minus_instant_ms: published,
        mqtt_arrival_minus_instant_ms: arrived,
        job_coverage: jc,
        mqtt_coverage: mc,
        statuses: hearth.statuses,
        created_more_than_500ms_after_second: hearth.lateOrEarly,
        never_started: hearth.notStarted,
        cpu_pct: round(hearth.cpuPct, 2),
        cpu_s: round(hearth.cpuSeconds, 2),
        idle_cpu_pct: round(hearth.idleCpuPct, 2),
        rss_mib: round(hearth.rssMiB, 1),
        create_tasks_ms: round(hearth.createMs, 0),
        max_jobs_per_task: hearth.maxJobsPerTask,
        log_lines: hearth.logLines,
        exit_on_sigterm: hearth.exit,
      },
      croner: {
        fired_minus_instant_ms: croner,
        coverage: base.coverage,
        more_than_500ms_after_second: base.lateOrEarly,
        cpu_pct: round(base.cpuPct, 3),
        cpu_s: round(base.cpuSeconds, 2),
        rss_mib: round(base.rssMiB, 1),
        current_run_is_instant: base.currentRunIsInstant,
        current_run_is_fire_time: base.currentRunIsFireTime,
      },
    },
    notes,
  };
}
