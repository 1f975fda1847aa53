/**
 * The job manager against a real database (SQLite, or PostgreSQL with HEARTH_TEST_DB=postgres) and
 * a real event bus: a job's life, failures, timeouts, cancel, skip, recovery after the hub was
 * killed mid-job (with a real leftover process group), pruning, listing; and the /api/jobs routes
 * on a bare Fastify.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import type { DataSource } from 'typeorm';
import { EventBus } from '../src/hub/events.js';
import { openDatabase } from '../src/hub/db/data-source.js';
import { Job, type JobRow } from '../src/hub/db/schema.js';
import { HubError } from '../src/hub/errors.js';
import type { ApiContext } from '../src/bridges/http/context.js';
import { installErrorHandling } from '../src/bridges/http/errors.js';
import { operationRoutes } from '../src/bridges/http/operation-routes.js';
import { jobOutputRoutes } from '../src/bridges/http/routes/job-output.js';
import type { OperationContext } from '../src/hub/operations/context.js';
import { JOB_OPERATIONS } from '../src/hub/operations/jobs.js';
import { OperationTable } from '../src/hub/operations/table.js';
import { JobManager, type Work } from '../src/hub/jobs/manager.js';
import { newJobRow } from '../src/hub/jobs/record.js';
import type { JobHandle, JobView } from '../src/hub/jobs/types.js';
import { createLogger } from '../src/hub/logger.js';
import { startTimeOf } from '../src/hub/supervisor/procfs.js';
import { ajv, ajvText } from '../src/hub/validate.js';
import { onCleanup } from './helpers/cleanup.js';
import { databaseEnv } from './helpers/database.js';
import { pidsWith } from './helpers/procs.js';
import { tempDir } from './helpers/tmp.js';
import { until, untilTrue } from './helpers/wait.js';

const DAY = 86_400_000;

interface Setup {
  ds: DataSource;
  bus: EventBus;
  jobs: JobManager;
  dataDir: string;
  events: JobView[];
  /** A new manager on the same database and data dir (a restarted hub). */
  another(): JobManager;
}

async function setup(): Promise<Setup> {
  const dataDir = tempDir('hearth-jobs-test-');
  // SQLite in the data dir, or this run's PostgreSQL (HEARTH_TEST_DB=postgres).
  const ds = await openDatabase({ dataDir, url: (await databaseEnv(dataDir)).HEARTH_DATABASE_URL ?? '' });
  onCleanup(() => ds.destroy());
  const logger = createLogger('silent');
  const bus = new EventBus(logger);
  const events: JobView[] = [];
  bus.on('job.changed', (v) => void events.push(v));
  const another = (): JobManager => new JobManager({ db: ds, bus, logger, dataDir });
  return { ds, bus, jobs: another(), dataDir, events, another };
}

/** Work that waits until its job is aborted, then answers like a killed process would. */
function waitForAbort(seen?: (job: JobHandle) => void) {
  return (job: JobHandle) =>
    new Promise<{ ok: boolean; exit_code: number | null; error: string }>((resolve) => {
      seen?.(job);
      if (job.signal.aborted) resolve({ ok: false, exit_code: null, error: 'killed by SIGTERM' });
      job.signal.addEventListener('abort', () => resolve({ ok: false, exit_code: null, error: 'killed by SIGTERM' }), { once: true });
    });
}

/**
 * Work the test holds open: `handle` resolves with the job's handle once it runs; the work ends
 * with `outcome` when the test calls `release`. What the test checks meanwhile fails the test, not
 * the job.
 */
function heldWork(outcome: { ok: boolean; exit_code?: number }) {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let gotHandle!: (job: JobHandle) => void;
  const handle = new Promise<JobHandle>((r) => (gotHandle = r));
  const work = async (job: JobHandle) => {
    gotHandle(job);
    await released;
    return outcome;
  };
  return { work, handle, release };
}

async function rejectsWith(p: Promise<unknown>, kind: HubError['kind'], message: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof HubError, `a HubError, not ${String(e)}`);
    assert.equal(e.kind, kind);
    assert.match(e.message, message);
    return true;
  });
}

/** The `sleep <n>` processes themselves (the shell that started them has the text in its command line too). */
function sleeps(n: string): number[] {
  return pidsWith(`sleep ${n}`).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep';
    } catch {
      return false;
    }
  });
}

async function row(ds: DataSource, id: number): Promise<JobRow | null> {
  return ds.getRepository(Job).findOneBy({ id });
}

/** Launches a job of task `task_id` and answers its end. */
async function ran(jobs: JobManager, task_id: string, work: Work, o: { trigger?: string; attempt?: number; timeout_s?: number } = {}): Promise<JobView> {
  const { done } = await jobs.launch('task', { task_id, trigger: o.trigger ?? 'manual', attempt: o.attempt }, work, { timeout_s: o.timeout_s });
  return done;
}

/** A record as a hub that died left it; `pending` is what hubs before launch() queued. */
async function leftover(ds: DataSource, task_id: string, status: 'running' | 'pending', fields: Partial<JobRow> = {}): Promise<number> {
  const r: JobRow = { ...newJobRow('task', { task_id }, 'schedule', status, 1), ...fields };
  return (await ds.getRepository(Job).save(r)).id!;
}

describe('JobManager', () => {
  it('launches a job: running at once -> succeeded, with steps, progress, output, tails and job.changed events', async () => {
    const { ds, jobs, events, dataDir } = await setup();
    let eventsAtStart = -1;
    let handleId = 0;
    let runningInside: number[] = [];
    const { job: started, done } = await jobs.launch(
      'task',
      { task_id: 'backup', trigger: 'manual' },
      async (job) => {
        handleId = job.id;
        runningInside = jobs.running('backup');
        job.step('copying');
        job.progress(42.4);
        job.output('stdout', Buffer.from('line 1\nline 2\n'));
        job.output('stderr', Buffer.from('warn: partial'));
        job.step('done copying');
        return { ok: true, exit_code: 0 };
      },
      { onStarted: () => (eventsAtStart = events.length) },
    );
    assert.equal(started.status, 'running');
    assert.equal(started.task_id, 'backup');
    assert.equal(started.attempt, 1);
    assert.equal(started.started_at, started.created_at, 'started as it is created');
    assert.equal(eventsAtStart, 0, 'onStarted comes before any event of the job');

    const final = await done;
    assert.equal(handleId, started.id);
    assert.deepEqual(runningInside, [started.id], 'listed as running while its work runs');
    assert.equal(final.status, 'succeeded');
    assert.equal(final.progress, 100);
    assert.equal(final.exit_code, 0);
    assert.equal(final.error, null);
    assert.deepEqual(final.steps.map((s) => s.message), ['copying', 'done copying']);
    assert.ok(final.steps.every((s) => !Number.isNaN(Date.parse(s.at))));
    assert.deepEqual(final.stdout_tail, ['line 1', 'line 2']);
    assert.deepEqual(final.stderr_tail, ['warn: partial'], 'a last line without newline is kept');
    assert.ok(final.started_at && final.ended_at);
    assert.equal(final.duration_s, (Date.parse(final.ended_at) - Date.parse(final.started_at)) / 1000);
    assert.deepEqual(jobs.running('backup'), []);

    assert.deepEqual(events[0], started);
    assert.ok(events.slice(0, -1).every((e) => e.status === 'running'));
    assert.equal(events.at(-1)?.status, 'succeeded');
    assert.ok(events.some((e) => e.status === 'running' && e.steps.length === 1), 'a step is emitted');
    assert.ok(events.some((e) => e.status === 'running' && e.progress === 42), 'progress is emitted, rounded');
    assert.deepEqual(events.at(-1), final);
    assert.deepEqual(await jobs.get(started.id), final, 'the record is stored as answered');

    assert.equal(await jobs.output(started.id, 'stdout'), 'line 1\nline 2\n');
    assert.equal(await jobs.output(started.id, 'stderr'), 'warn: partial\n');
    assert.ok(existsSync(join(dataDir, 'jobs', String(started.id), 'stdout.log')));
    const stored = await row(ds, started.id);
    assert.equal(stored?.pid, null);
  });

  it('throttles progress to a few writes a second, yet stores and emits the latest value; clamps it', async () => {
    const { ds, jobs, events } = await setup();
    const held = heldWork({ ok: false, exit_code: 1 });
    const { job: started, done } = await jobs.launch('task', { task_id: 't', trigger: 'manual' }, held.work);
    const id = started.id;
    const job = await held.handle;
    for (let p = 1; p <= 97; p++) job.progress(p);
    // The latest value lands within the throttle window, in the database and on the bus.
    await until('progress 97 stored', () => row(ds, id), (r) => r?.progress === 97);
    await until('progress 97 on the bus', () => events.at(-1)?.progress, (p) => p === 97);
    assert.ok(events.filter((e) => e.status === 'running').length <= 3, `${events.length} events for 97 progress calls`);
    job.progress(250);
    await until('progress clamped to 100', () => row(ds, id), (r) => r?.progress === 100);
    job.progress(-5);
    job.progress(Number.NaN);
    held.release();
    const final = await done;
    assert.equal(final.status, 'failed');
    assert.equal(final.progress, 0, 'the last value (clamped) is what is stored at the end');
    assert.equal((await row(ds, id))?.progress, 0);
  });

  it('records a failure with its exit code, and the error the work gave', async () => {
    const { jobs } = await setup();
    const failed = await ran(
      jobs,
      't',
      async (job) => {
        job.progress(30);
        return { ok: false, exit_code: 3 };
      },
      { trigger: 'schedule' },
    );
    assert.equal(failed.status, 'failed');
    assert.equal(failed.exit_code, 3);
    assert.equal(failed.error, 'exited with code 3');
    assert.equal(failed.progress, 30, 'progress is not forced to 100 on failure');

    const said = await ran(jobs, 't', async () => ({ ok: false, exit_code: null, error: 'agent web does not exist' }), { trigger: 'retry', attempt: 2 });
    assert.equal(said.status, 'failed');
    assert.equal(said.exit_code, null);
    assert.equal(said.error, 'agent web does not exist');
    assert.equal(said.attempt, 2);
  });

  it('records work that throws as failed with its message', async () => {
    const { jobs, events } = await setup();
    const v = await ran(jobs, 't', async () => {
      throw new Error('boom: no such file');
    });
    assert.equal(v.status, 'failed');
    assert.equal(v.error, 'boom: no such file');
    assert.equal(events.at(-1)?.status, 'failed');
    const v2 = await ran(jobs, 't', () => {
      throw new Error('thrown before any promise');
    });
    assert.equal(v2.status, 'failed');
    assert.equal(v2.error, 'thrown before any promise');
  });

  it('aborts the signal on timeout and fails the job with "timed out after N s"', async () => {
    const { jobs } = await setup();
    let signal: AbortSignal | null = null;
    const t0 = Date.now();
    const v = await ran(
      jobs,
      't',
      waitForAbort((job) => (signal = job.signal)),
      { timeout_s: 0.3 },
    );
    assert.ok(Date.now() - t0 >= 290, 'not before the timeout');
    assert.equal((signal as AbortSignal | null)?.aborted, true);
    assert.equal(v.status, 'failed');
    assert.match(v.error ?? '', /^timed out after 0\.3 s$/);
  });

  it('cancels a running job (404 for an unknown one, 409 for a finished one)', async () => {
    const { ds, jobs } = await setup();
    const { job: started, done } = await jobs.launch('task', { task_id: 't', trigger: 'manual' }, waitForAbort());
    const id = started.id;
    const cancelled = await jobs.cancel(id);
    assert.equal(cancelled.status, 'cancelled');
    assert.equal(cancelled.error, 'cancelled');
    assert.deepEqual(await done, cancelled);
    assert.equal((await row(ds, id))?.status, 'cancelled');

    await rejectsWith(jobs.cancel(9999), 'not_found', /no job 9999/);
    await rejectsWith(jobs.cancel(id), 'conflict', /not running \(cancelled\)/);
  });

  it('stores the pid and start time of the process a job runs, and clears them at the end', async () => {
    const { ds, jobs } = await setup();
    const held = heldWork({ ok: true });
    const { job: started, done } = await jobs.launch('task', { task_id: 't', trigger: 'manual' }, held.work);
    const id = started.id;
    (await held.handle).process(process.pid);
    const stored = await until('pid stored', () => row(ds, id), (r) => r?.pid === process.pid);
    assert.equal(stored?.pid_start_time, startTimeOf(process.pid));
    held.release();
    assert.equal((await done).status, 'succeeded');
    const r = await row(ds, id);
    assert.equal(r?.pid, null);
    assert.equal(r?.pid_start_time, null);
  });

  it('records a skipped run: created and ended now, with why', async () => {
    const { jobs, events } = await setup();
    const v = await jobs.skip('task', { task_id: 't', trigger: 'interval', error: 'still running (concurrency: skip)' });
    assert.equal(v.status, 'skipped');
    assert.equal(v.error, 'still running (concurrency: skip)');
    assert.equal(v.ended_at, v.created_at);
    assert.equal(v.started_at, null);
    assert.equal(v.duration_s, null);
    assert.deepEqual(events, [v]);
    assert.deepEqual(await jobs.get(v.id), v);
  });

  it('stop() ends running jobs as interrupted; a launch after stop() ends at once', async () => {
    const { jobs } = await setup();
    const { done } = await jobs.launch('task', { task_id: 't', trigger: 'manual' }, waitForAbort());
    assert.equal(jobs.running('t').length, 1);
    await jobs.stop();
    const v = await done;
    assert.equal(v.status, 'interrupted');
    assert.equal(v.error, 'the hub stopped');
    let called = false;
    const lv = await ran(jobs, 't', async () => ((called = true), { ok: true }));
    assert.equal(called, false);
    assert.equal(lv.status, 'interrupted');
  });

  it('after a hub killed mid-job, start() stops the leftover process group and marks its jobs interrupted', async () => {
    const { ds, jobs: first, another, dataDir, events } = await setup();
    // The process group a job had started, left behind by a hub that died.
    // This process's own sleeps: the same test runs at the same time on PostgreSQL (test/on-postgres).
    const mine = `.${process.pid} `;
    const child: ChildProcess = spawn('sh', ['-c', `sleep 4201${mine}& sleep 4202${mine}`], { detached: true, stdio: 'ignore' });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    onCleanup(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    });
    await untilTrue('both sleeps', () => sleeps(`4201${mine}`).length === 1 && sleeps(`4202${mine}`).length === 1);

    const startTime = startTimeOf(child.pid!);
    assert.ok(startTime);
    const id = await leftover(ds, 'nightly', 'running', { started_at: Date.now(), pid: child.pid!, pid_start_time: startTime });
    mkdirSync(join(dataDir, 'jobs', String(id)), { recursive: true });
    writeFileSync(join(dataDir, 'jobs', String(id), 'stdout.log'), 'before the crash\n');
    // A pending job, and a running one whose pid is now someone else's (start time differs): no kill.
    const pending = await leftover(ds, 'nightly', 'pending');
    const reused = await leftover(ds, 'other', 'running', { started_at: Date.now(), pid: process.pid, pid_start_time: '1' });
    const done = await first.skip('task', { task_id: 'nightly', trigger: 'manual', error: 'x' });

    const second = another();
    events.length = 0;
    await second.start();
    assert.deepEqual(pidsWith(mine), [], 'the leftover group is gone, the shell too');
    await exited;

    const v = await second.get(id);
    assert.equal(v.status, 'interrupted');
    assert.equal(v.error, 'the hub stopped while it ran');
    assert.ok(v.ended_at);
    assert.deepEqual(v.stdout_tail, ['before the crash']);
    const r = await row(ds, id);
    assert.equal(r?.pid, null);
    assert.equal((await second.get(pending)).status, 'interrupted');
    assert.equal((await second.get(reused)).status, 'interrupted');
    assert.equal((await second.get(done.id)).status, 'skipped', 'finished jobs are left alone');
    assert.deepEqual(events.map((e) => [e.id, e.status]).sort(), [
      [id, 'interrupted'],
      [pending, 'interrupted'],
      [reused, 'interrupted'],
    ]);
    assert.deepEqual(await second.list({ status: 'running' }), []);
    await second.stop();
  });

  it('prunes a task’s finished jobs by count and by age, with their files; forgetTask cancels and removes all of them', async () => {
    const { ds, jobs, dataDir } = await setup();
    const repo = ds.getRepository(Job);
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      const v = await ran(jobs, 't', async (job) => {
        job.output('stdout', Buffer.from(`run ${i}\n`));
        return { ok: true };
      });
      ids.push(v.id);
    }
    const [j1, j2, j3, j4, j5] = ids as [number, number, number, number, number];
    await repo.update({ id: j4 }, { created_at: Date.now() - 40 * DAY }); // old, though among the newest
    const live = await jobs.launch('task', { task_id: 't', trigger: 'manual' }, waitForAbort());
    const otherTask = await jobs.skip('task', { task_id: 'u', trigger: 'manual', error: 'x' });
    const file = (id: number): string => join(dataDir, 'jobs', String(id), 'stdout.log');
    assert.ok(ids.every((id) => existsSync(file(id))));

    assert.equal(await jobs.prune('t', 3, 30), 3);
    const left = (await jobs.list({ task_id: 't' })).map((j) => j.id);
    assert.deepEqual(left, [live.job.id, j5, j3], 'keeps the newest 3 finished, minus the old one; never a running one');
    for (const id of [j1, j2, j4]) assert.equal(existsSync(join(dataDir, 'jobs', String(id))), false, `files of ${id} removed`);
    for (const id of [j3, j5]) assert.ok(existsSync(file(id)));
    assert.equal(await jobs.output(j5, 'stdout'), 'run 4\n');
    await rejectsWith(jobs.output(j1, 'stdout'), 'not_found', /no job/);
    assert.equal(await jobs.prune('t', 3, 30), 0, 'nothing more');

    await jobs.forgetTask('t');
    assert.equal((await live.done).status, 'cancelled', 'its running job is cancelled first');
    assert.deepEqual(await jobs.list({ task_id: 't' }), []);
    for (const id of [j3, j5]) assert.equal(existsSync(join(dataDir, 'jobs', String(id))), false);
    assert.deepEqual((await jobs.list()).map((j) => j.id), [otherTask.id], 'other tasks are untouched');
  });

  it('lists newest first, filtered by status, task, kind, with limit and before_id', async () => {
    const { jobs } = await setup();
    const a = (await jobs.launch('task', { task_id: 'a', trigger: 'manual' }, waitForAbort())).job;
    const b = await jobs.skip('task', { task_id: 'b', trigger: 'manual', error: 'x' });
    const c = await (await jobs.launch('install', { task_id: null, trigger: 'manual' }, async () => ({ ok: false }))).done;
    const d = await ran(jobs, 'a', async () => ({ ok: true }), { trigger: 'schedule' });

    assert.deepEqual((await jobs.list()).map((j) => j.id), [d.id, c.id, b.id, a.id]);
    assert.deepEqual((await jobs.list({ task_id: 'a' })).map((j) => j.id), [d.id, a.id]);
    assert.deepEqual((await jobs.list({ status: 'running' })).map((j) => j.id), [a.id]);
    assert.deepEqual((await jobs.list({ status: 'skipped' })).map((j) => j.id), [b.id]);
    assert.deepEqual((await jobs.list({ kind: 'install' })).map((j) => j.id), [c.id]);
    assert.deepEqual((await jobs.list({ kind: 'task', status: 'succeeded', task_id: 'a' })).map((j) => j.id), [d.id]);
    assert.deepEqual((await jobs.list({ limit: 2 })).map((j) => j.id), [d.id, c.id]);
    assert.deepEqual((await jobs.list({ limit: 2, before_id: c.id })).map((j) => j.id), [b.id, a.id]);
    assert.equal((await jobs.list({ limit: 0 })).length, 1, 'at least one');
    await rejectsWith(jobs.get(12345), 'not_found', /no job 12345/);
    await jobs.cancel(a.id);
  });
});

describe('/api/jobs routes', () => {
  it('lists, gets, serves output as text, cancels, and refuses bad input', async () => {
    const { jobs } = await setup();
    const app = Fastify();
    app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? ajv : ajvText).compile(schema));
    installErrorHandling(app);
    // Past the auth hook (test/users.test.ts covers it): the admin, whose calls the audit would record.
    app.decorateRequest('principal', undefined);
    app.addHook('onRequest', async (req) => void (req.principal = { username: 'admin', role: 'admin', via: 'admin_token' }));
    const audit = { record: async () => undefined };
    // The job operations and their output routes, on a job manager of this test's own.
    await app.register(operationRoutes(new OperationTable(JOB_OPERATIONS, () => ({ jobs, audit }) as unknown as OperationContext)));
    await app.register(async (scope) => jobOutputRoutes(scope, { jobs } as unknown as ApiContext));
    onCleanup(() => app.close());

    const done = await ran(jobs, 'web', async (job) => {
      job.output('stdout', Buffer.from('hello\n'));
      return { ok: true, exit_code: 0 };
    });
    const { job: live, done: running } = await jobs.launch('task', { task_id: 'web', trigger: 'manual' }, waitForAbort());

    const list = await app.inject({ method: 'GET', url: '/api/jobs?task_id=web&status=succeeded' });
    assert.equal(list.statusCode, 200);
    assert.deepEqual((list.json() as JobView[]).map((j) => j.id), [done.id]);
    const all = await app.inject({ method: 'GET', url: '/api/jobs?limit=1' });
    assert.deepEqual((all.json() as JobView[]).map((j) => [j.id, j.status]), [[live.id, 'running']]);
    const page = await app.inject({ method: 'GET', url: `/api/jobs?before_id=${live.id}` });
    assert.deepEqual((page.json() as JobView[]).map((j) => j.id), [done.id]);

    const one = await app.inject({ method: 'GET', url: `/api/jobs/${done.id}` });
    assert.equal(one.statusCode, 200);
    assert.deepEqual(one.json(), await jobs.get(done.id));

    const out = await app.inject({ method: 'GET', url: `/api/jobs/${done.id}/stdout` });
    assert.equal(out.statusCode, 200);
    assert.match(String(out.headers['content-type']), /^text\/plain/);
    assert.equal(out.body, 'hello\n');
    const err = await app.inject({ method: 'GET', url: `/api/jobs/${done.id}/stderr` });
    assert.equal(err.statusCode, 200);
    assert.equal(err.body, '');

    const bad = await app.inject({ method: 'GET', url: '/api/jobs?status=exploded' });
    assert.equal(bad.statusCode, 400);
    assert.match((bad.json() as { error: string }).error, /status/);
    assert.equal((await app.inject({ method: 'GET', url: '/api/jobs?limit=5000' })).statusCode, 400);
    assert.equal((await app.inject({ method: 'GET', url: '/api/jobs/abc' })).statusCode, 400);
    const missing = await app.inject({ method: 'GET', url: '/api/jobs/999999' });
    assert.equal(missing.statusCode, 404);
    assert.deepEqual(missing.json(), { error: 'no job 999999' });
    assert.equal((await app.inject({ method: 'GET', url: '/api/jobs/999999/stdout' })).statusCode, 404);

    const notRunning = await app.inject({ method: 'POST', url: `/api/jobs/${done.id}/cancel` });
    assert.equal(notRunning.statusCode, 409);
    const cancel = await app.inject({ method: 'POST', url: `/api/jobs/${live.id}/cancel` });
    assert.equal(cancel.statusCode, 200);
    assert.equal((cancel.json() as JobView).status, 'cancelled');
    assert.equal((await running).status, 'cancelled');
  });
});
