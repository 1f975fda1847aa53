/**
 * The jobs: the single record of every execution. The manager owns the record (status, progress,
 * steps, output files, tails); running code only reports through a JobHandle. No job stays
 * `running`: a run always ends (succeeded, failed, cancelled, interrupted), and a job the hub left
 * running when it was killed becomes `interrupted` at the next start, its process stopped.
 *
 * The path of a run is kept cheap (a task may run every second): launch() writes the job already
 * running in one statement, steps and progress reach the database at most a few times a second
 * (the end writes everything), and the end is one write with whatever the caller adds (its task's
 * record). Writes go through the row writer: bound parameters, one commit per turn of the event
 * loop. Reads (list, get, recovery) stay with TypeORM.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { In, LessThan, type DataSource, type FindOptionsWhere, type Repository } from 'typeorm';
import type { EventBus } from '../bus.js';
import { rowWriter, type Param, type RowWriter, type Statement } from '../db/row-writer.js';
import { Job, type JobRow } from '../db/schema.js';
import { conflict, invalid, notFound } from '../errors.js';
import type { Extension } from '../extension.js';
import type { Logger } from '../logger.js';
import { AgentLogs, type LogLimits, type Stream } from '../supervisor/log-files.js';
import { stopGroup } from '../supervisor/process-group.js';
import { isSameProcess, startTimeOf } from '../supervisor/procfs.js';
import { FINISHED, type JobHandle, type JobKind, type JobStatus, type JobStep, type JobView } from './types.js';

export interface JobManagerDeps {
  db: DataSource;
  bus: EventBus;
  logger: Logger;
  dataDir: string;
}

/** What a run's work answers (an action's outcome). */
export interface WorkOutcome {
  ok: boolean;
  exit_code?: number | null;
  error?: string;
}
export type Work = (job: JobHandle) => Promise<WorkOutcome>;

export interface JobQuery {
  status?: JobStatus;
  task_id?: string;
  kind?: JobKind;
  /** Default 100, at most 1000. */
  limit?: number;
  /** Only jobs with a smaller id (the next page). */
  before_id?: number;
}

/** How a job is run: by run() (a pending job) or launch() (a new one). */
export interface RunOptions {
  timeout_s?: number;
  /**
   * Called once the job has ended, before its final record is written: statements to write in the
   * same transaction (a task's record of its last run).
   */
  onEnd?: (job: JobView) => Statement[];
}

export interface LaunchOptions extends RunOptions {
  /** Written in the same transaction as the new job (a task's last schedule instant). */
  also?: Statement[];
  /** Called once the job exists and runs, before its work begins and before any event of it. */
  onStarted?: (job: JobView) => void;
}

/** Per job: each stream up to 20 MB, plus one rotated file. */
export const JOB_LOG_LIMITS: LogLimits = { maxBytes: 20 * 1024 * 1024, files: 1 };
/** Lines of each stream kept on the record. */
export const TAIL_LINES = 50;
/**
 * Steps and progress are written, and each emitted, at most this often (the first of each is
 * emitted at once; the latest value always lands, and the end writes everything).
 */
const CHANGES_EVERY_MS = 250;
/** After an abort, how long a run's work has to settle before the job ends without it. */
const ABORT_GRACE_MS = 10_000;
/** How long stop() waits for the running jobs to end. */
const STOP_WAIT_MS = 15_000;
/** How long start() gives a leftover process group to go after SIGTERM before SIGKILL. */
const LEFTOVER_STOP_S = 5;
const MAX_STEPS = 500;
const MAX_ERROR = 500;
const MAX_TAIL_LINE = 2000;
const DAY_MS = 86_400_000;
const DELETE_CHUNK = 500;

export const INTERRUPTED_AT_START = 'the hub stopped while it ran';
export const INTERRUPTED_AT_STOP = 'the hub stopped';
export const CANCELLED = 'cancelled';

type AbortReason = 'cancel' | 'timeout' | 'stop';
type Throttled = 'steps' | 'progress';

/** A job this process is running. */
interface Active {
  readonly id: number;
  /** The record as it is now; valid once `loaded` (run() loads it first). */
  row: JobRow;
  loaded: boolean;
  readonly controller: AbortController;
  reason: AbortReason | null;
  timeoutS: number;
  onEnd: RunOptions['onEnd'];
  logs: AgentLogs | null;
  /** Database writes of this job, in call order (the final one last). */
  chain: Promise<void>;
  /** Steps and progress changed since they were last emitted / written. */
  toEmit: Set<Throttled>;
  toWrite: Set<Throttled>;
  lastEmitAt: Record<Throttled, number>;
  lastWriteAt: number;
  changesTimer: NodeJS.Timeout | null;
  ended: boolean;
  /** Resolves with the final view once the job has ended and its record is written. */
  readonly done: Promise<JobView>;
  resolve(v: JobView): void;
  /** Only while run() loads the job: it is not there, or not pending. */
  reject(e: unknown): void;
}

/** A task's finished jobs, oldest first, as far as this process knows them: what prune() works on. */
interface Finished {
  jobs: Array<{ id: number; created_at: number }>;
  /** Resolves once the jobs the database had are in. */
  loaded: Promise<void>;
}

type Settled = { outcome: WorkOutcome } | { thrown: unknown } | { abandoned: true };

export class JobManager implements Extension {
  readonly name = 'jobs';
  private readonly repo: Repository<JobRow>;
  private readonly writer: RowWriter;
  private readonly active = new Map<number, Active>();
  /** Per task, its finished jobs (loaded at its first prune, then kept up to date). */
  private readonly finished = new Map<string, Finished>();
  /** The jobs that have a folder of output files; null until start() has looked (then: all may). */
  private withFiles: Set<number> | null = null;
  /** Between stop() and the next start(): new runs end interrupted at once. */
  private stopped = false;

  constructor(private readonly d: JobManagerDeps) {
    this.repo = d.db.getRepository(Job);
    this.writer = rowWriter(d.db);
  }

  /**
   * Every job the database still has as running or pending is from a hub that died: interrupted.
   * Output folders of jobs the database does not have (deleted, or another database's) go: ids are
   * never reused, so no new job is handed an older one's files.
   */
  async start(): Promise<void> {
    this.stopped = false;
    this.finished.clear();
    const left = await this.repo.find({ where: { status: In(['running', 'pending']) }, order: { id: 'ASC' } });
    await Promise.all(
      left
        .filter((row) => !this.active.has(row.id!))
        .map(async (row) => {
          if (row.pid && row.pid_start_time && isSameProcess(row.pid, row.pid_start_time)) {
            this.d.logger.info({ job: row.id, pid: row.pid }, 'stopping a leftover process of a job from before the hub restarted');
            try {
              await stopGroup(row.pid, 'SIGTERM', LEFTOVER_STOP_S);
            } catch (e) {
              this.d.logger.warn({ job: row.id, pid: row.pid, err: (e as Error).message }, 'could not stop the leftover process of a job');
            }
          }
          const now = Date.now();
          const patch: Partial<JobRow> = {
            status: 'interrupted',
            error: INTERRUPTED_AT_START,
            ended_at: now,
            pid: null,
            pid_start_time: null,
            stdout_tail: await this.tailOfFiles(row.id!, 'stdout'),
            stderr_tail: await this.tailOfFiles(row.id!, 'stderr'),
          };
          await this.repo.update({ id: row.id!, status: In(['running', 'pending']) }, patch);
          const ended = { ...row, ...patch };
          this.d.logger.warn({ job: row.id, task: row.task_id, kind: row.kind }, `job ${row.id} interrupted: ${INTERRUPTED_AT_START}`);
          this.d.bus.emit('job.changed', jobView(ended));
        }),
    );
    await this.sweepFolders();
  }

  /** Aborts every running job and waits (bounded) for them to end as interrupted. */
  async stop(): Promise<void> {
    this.stopped = true;
    const running = [...this.active.values()];
    for (const a of running) this.abort(a, 'stop');
    let timer: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      Promise.allSettled(running.map((a) => a.done)).then(() => true),
      new Promise<false>((r) => (timer = setTimeout(() => r(false), STOP_WAIT_MS))),
    ]);
    clearTimeout(timer);
    if (!settled) {
      for (const a of running) {
        if (a.ended || !a.loaded) continue;
        this.d.logger.warn({ job: a.id }, 'a job did not end in time at stop; recorded as interrupted');
        await this.finish(a, { status: 'interrupted', error: INTERRUPTED_AT_STOP });
      }
    }
    await this.writer.idle();
  }

  /** A pending job, to be run by run(). */
  async create(kind: JobKind, o: { task_id?: string | null; trigger: string; attempt?: number }): Promise<JobView> {
    const row = this.newRow(kind, o.task_id ?? null, o.trigger, 'pending', o.attempt ?? 1);
    [row.id] = await this.writer.write(() => [insertJob(row)]);
    const view = jobView(row);
    this.d.bus.emit('job.changed', view);
    return view;
  }

  /**
   * A job that runs at once: created `running` (with `also` in the same write), then `work` runs.
   * Resolves once it runs, with its view and its end (which never rejects).
   */
  async launch(kind: JobKind, o: { task_id?: string | null; trigger: string; attempt?: number }, work: Work, opts: LaunchOptions = {}): Promise<{ job: JobView; done: Promise<JobView> }> {
    const row = this.newRow(kind, o.task_id ?? null, o.trigger, 'running', o.attempt ?? 1);
    // Started now, as run() marks a pending job: the write that says so is queued now, and the work
    // begins as soon as it has landed.
    row.started_at = row.created_at;
    [row.id] = await this.writer.write(() => [insertJob(row), ...(opts.also ?? [])]);
    const a = this.newActive(row.id!, opts);
    a.row = row;
    a.loaded = true;
    a.lastWriteAt = row.started_at!;
    this.active.set(a.id, a);
    const view = jobView(row);
    try {
      opts.onStarted?.(view);
    } catch (e) {
      this.d.logger.error({ err: e, job: a.id }, 'the start of a job could not be recorded by its owner');
    }
    this.d.bus.emit('job.changed', view);
    void this.execute(a, work);
    return { job: view, done: a.done };
  }

  /** A run that did not happen (a concurrency rule, a disabled task…): created and ended now. */
  async skip(kind: JobKind, o: { task_id: string | null; trigger: string; error: string }, opts: { also?: Statement[] } = {}): Promise<JobView> {
    const row = this.newRow(kind, o.task_id, o.trigger, 'skipped', 1);
    row.ended_at = row.created_at;
    row.error = cut(o.error, MAX_ERROR);
    [row.id] = await this.writer.write(() => [insertJob(row), ...(opts.also ?? [])]);
    this.noteFinished(row);
    const view = jobView(row);
    this.d.bus.emit('job.changed', view);
    return view;
  }

  /**
   * Runs a pending job: marks it running, hands `work` the job's handle, and records how it ended.
   * Resolves with the final view; never rejects once the job is running (a throwing `work` is a
   * failed job). A job cancelled while still pending resolves as it is, without running `work`.
   */
  async run(jobId: number, work: Work, o: RunOptions = {}): Promise<JobView> {
    if (this.active.has(jobId)) throw conflict(`job ${jobId} is already running`);
    const a = this.newActive(jobId, o);
    // Claimed before the first await, so a second run() or a cancel() of this id sees it.
    this.active.set(jobId, a);
    let early: JobView | null = null;
    try {
      const row = await this.repo.findOneBy({ id: jobId });
      if (!row) throw notFound(`no job ${jobId}`);
      if (row.status === 'cancelled') early = jobView(row);
      else if (row.status !== 'pending') throw conflict(`job ${jobId} is ${row.status}, not pending`);
      else {
        const startedAt = Date.now();
        // Conditional: a cancel() of the pending job may have landed meanwhile.
        const [marked] = await this.writer.write(() => [{ update: 'job', set: { status: 'running', started_at: startedAt }, where: { id: jobId, status: 'pending' } }]);
        if (marked === 0) {
          const now = await this.repo.findOneBy({ id: jobId });
          if (now?.status !== 'cancelled') throw conflict(`job ${jobId} is ${now?.status ?? 'gone'}, not pending`);
          early = jobView(now);
        } else {
          a.row = { ...row, status: 'running', started_at: startedAt };
          a.loaded = true;
          a.lastWriteAt = startedAt;
        }
      }
    } catch (e) {
      this.active.delete(jobId);
      a.ended = true;
      a.reject(e);
      throw e;
    }
    if (early || !a.loaded) {
      // Cancelled while it waited: the work never runs.
      this.active.delete(jobId);
      a.ended = true;
      a.resolve(early!);
      return early!;
    }
    this.d.bus.emit('job.changed', jobView(a.row));
    return this.execute(a, work);
  }

  /** Cancels a running job (or a pending one) and resolves once it has ended. */
  async cancel(id: number): Promise<JobView> {
    const a = this.active.get(id);
    if (a) {
      if (a.ended) return a.done;
      this.abort(a, 'cancel');
      return a.done;
    }
    const row = await this.repo.findOneBy({ id });
    if (!row) throw notFound(`no job ${id}`);
    if (row.status === 'pending') {
      const now = Date.now();
      const [changed] = await this.writer.write(() => [
        { update: 'job', set: { status: 'cancelled', ended_at: now, error: CANCELLED }, where: { id, status: 'pending' } },
      ]);
      if (changed === 1) {
        const ended = { ...row, status: 'cancelled', ended_at: now, error: CANCELLED };
        this.noteFinished(ended);
        const view = jobView(ended);
        this.d.bus.emit('job.changed', view);
        return view;
      }
      return this.cancel(id); // it started meanwhile
    }
    throw conflict(`job ${id} is not running (${row.status})`);
  }

  /** Newest first. */
  async list(q: JobQuery = {}): Promise<JobView[]> {
    const limit = Math.min(Math.max(Math.floor(q.limit ?? 100), 1), 1000);
    const where: FindOptionsWhere<JobRow> = {};
    if (q.status) where.status = q.status;
    if (q.task_id !== undefined) where.task_id = q.task_id;
    if (q.kind) where.kind = q.kind;
    if (q.before_id !== undefined) where.id = LessThan(q.before_id);
    const rows = await this.repo.find({ where, order: { id: 'DESC' }, take: limit });
    // A running job's record in memory is newer (steps and progress are written a few times a second).
    return rows.map((r) => {
      const a = this.active.get(r.id!);
      return jobView(a?.loaded && a.row.status === r.status ? a.row : r);
    });
  }

  async get(id: number): Promise<JobView> {
    return jobView(await this.findRow(id));
  }

  /** All a job printed on a stream (the rotated file first), '' if nothing. */
  async output(id: number, stream: Stream): Promise<string> {
    await this.findRow(id);
    const a = this.active.get(id);
    if (a?.logs && !a.ended) await a.logs.tail(stream, 1); // waits for the writes queued so far
    const path = join(this.dir(id), `${stream}.log`);
    const parts = await Promise.all([readText(`${path}.1`), readText(path)]);
    return parts.join('');
  }

  /** The ids of this task's jobs running now. */
  running(task_id: string): number[] {
    return [...this.active.values()].filter((a) => !a.ended && a.loaded && a.row.status === 'running' && a.row.task_id === task_id).map((a) => a.id);
  }

  /**
   * Deletes a task's finished jobs beyond the newest `keep`, and those older than maxAgeDays, with
   * their files. The first call for a task reads its jobs; later ones work from memory and touch
   * the database only when there is something to delete.
   */
  async prune(task_id: string, keep: number, maxAgeDays: number): Promise<number> {
    const f = this.finishedOf(task_id);
    await f.loaded;
    const oldest = Date.now() - maxAgeDays * DAY_MS;
    const kept = Math.max(0, Math.floor(keep));
    const n = f.jobs.length;
    const doomed: number[] = [];
    for (let i = 0; i < n; i++) {
      const j = f.jobs[i]!;
      // Newest first: the job at i is the (n - 1 - i)th newest.
      if ((n - 1 - i >= kept || j.created_at < oldest) && !this.active.has(j.id)) doomed.push(j.id);
    }
    if (doomed.length === 0) return 0;
    await this.deleteJobs(doomed, f);
    return doomed.length;
  }

  /** The task was deleted: its running jobs are cancelled, then every job of it goes, with its files. */
  async forgetTask(task_id: string): Promise<void> {
    await Promise.all(this.running(task_id).map((id) => this.cancel(id).catch(() => undefined)));
    const rows = await this.repo.find({ select: { id: true }, where: { task_id } });
    await this.deleteJobs(rows.map((r) => r.id!).filter((id) => !this.active.has(id)));
    this.finished.delete(task_id);
  }

  // ---- internals

  private newRow(kind: JobKind, task_id: string | null, trigger: string, status: JobStatus, attempt: number): JobRow {
    if (task_id !== null && task_id.length > 100) throw invalid('task_id is longer than 100 characters');
    return {
      kind,
      task_id,
      trigger: cut(trigger, 30),
      status,
      progress: 0,
      attempt,
      created_at: Date.now(),
      started_at: null,
      ended_at: null,
      exit_code: null,
      error: null,
      steps: [],
      stdout_tail: [],
      stderr_tail: [],
      pid: null,
      pid_start_time: null,
    };
  }

  private newActive(id: number, o: RunOptions): Active {
    let resolve!: (v: JobView) => void;
    let reject!: (e: unknown) => void;
    const done = new Promise<JobView>((res, rej) => ((resolve = res), (reject = rej)));
    done.catch(() => undefined); // a cancel() waiting on it sees the rejection; nobody else must
    return {
      id,
      row: undefined as unknown as JobRow,
      loaded: false,
      controller: new AbortController(),
      reason: null,
      timeoutS: o.timeout_s ?? 0,
      onEnd: o.onEnd,
      logs: null,
      chain: Promise.resolve(),
      toEmit: new Set(),
      toWrite: new Set(),
      lastEmitAt: { steps: 0, progress: 0 },
      lastWriteAt: 0,
      changesTimer: null,
      ended: false,
      done,
      resolve,
      reject,
    };
  }

  /** Runs a job marked running (and in `active`): its work, its timeout, its end. */
  private async execute(a: Active, work: Work): Promise<JobView> {
    let timeout: NodeJS.Timeout | null = null;
    if (this.stopped) this.abort(a, 'stop');
    if (a.timeoutS > 0) timeout = setTimeout(() => this.abort(a, 'timeout'), Math.min(a.timeoutS * 1000, 2 ** 31 - 1));

    let grace: NodeJS.Timeout | null = null;
    let result: Settled;
    if (a.controller.signal.aborted) {
      result = { outcome: { ok: false } }; // cancelled or stopped before it began: work never runs
    } else {
      const handle = this.handle(a);
      const settled: Promise<Settled> = Promise.resolve()
        .then(() => work(handle))
        .then(
          (outcome) => ({ outcome: outcome ?? { ok: false, error: 'the work answered nothing' } }),
          (thrown: unknown) => ({ thrown }),
        );
      const abandoned = new Promise<Settled>((r) => {
        const onAbort = (): void => void (grace = setTimeout(() => r({ abandoned: true }), ABORT_GRACE_MS));
        if (a.controller.signal.aborted) onAbort();
        else a.controller.signal.addEventListener('abort', onAbort, { once: true });
      });
      result = await Promise.race([settled, abandoned]);
    }
    if (timeout) clearTimeout(timeout);
    if (grace) clearTimeout(grace);

    if ('abandoned' in result) {
      this.d.logger.warn({ job: a.id }, `job ${a.id}'s work did not stop within ${ABORT_GRACE_MS / 1000} s of being aborted; ending it without`);
      await this.killProcess(a);
    }
    return this.finish(a, this.ending(a, result));
  }

  private async findRow(id: number): Promise<JobRow> {
    const a = this.active.get(id);
    if (a?.loaded) return a.row;
    const row = await this.repo.findOneBy({ id });
    if (!row) throw notFound(`no job ${id}`);
    return row;
  }

  private dir(id: number): string {
    return join(this.d.dataDir, 'jobs', String(id));
  }

  private handle(a: Active): JobHandle {
    return {
      id: a.id,
      signal: a.controller.signal,
      step: (message) => {
        if (a.ended) return;
        const steps: JobStep[] = [...a.row.steps, { at: new Date().toISOString(), message: cut(String(message), MAX_ERROR) }];
        a.row = { ...a.row, steps: steps.length > MAX_STEPS ? steps.slice(-MAX_STEPS) : steps };
        this.changed(a, 'steps');
      },
      progress: (percent) => {
        if (a.ended || !Number.isFinite(percent)) return;
        const p = Math.min(100, Math.max(0, Math.round(percent)));
        if (p === a.row.progress) return;
        a.row = { ...a.row, progress: p };
        this.changed(a, 'progress');
      },
      output: (stream, chunk) => {
        if (a.ended) return;
        if (!a.logs) {
          a.logs = new AgentLogs(this.dir(a.id), JOB_LOG_LIMITS);
          this.withFiles?.add(a.id);
        }
        a.logs.write(stream, chunk);
      },
      process: (pid) => {
        if (a.ended) return;
        const start = pid ? startTimeOf(pid) : null;
        a.row = { ...a.row, pid: start ? pid : null, pid_start_time: start };
        // At once: what crash recovery needs.
        this.save(a, { pid: a.row.pid, pid_start_time: a.row.pid_start_time });
      },
    };
  }

  private changed(a: Active, what: Throttled): void {
    a.toEmit.add(what);
    a.toWrite.add(what);
    this.flushChanges(a);
  }

  /**
   * Emits and writes the steps and progress that changed, each no more often than CHANGES_EVERY_MS
   * (the first step and the first progress are emitted at once); what waits gets a timer.
   */
  private flushChanges(a: Active): void {
    if (a.ended) return;
    const now = Date.now();
    if (a.toEmit.size > 0 && [...a.toEmit].some((k) => now - a.lastEmitAt[k] >= CHANGES_EVERY_MS)) {
      for (const k of a.toEmit) a.lastEmitAt[k] = now;
      a.toEmit.clear();
      this.d.bus.emit('job.changed', jobView(a.row));
    }
    if (a.toWrite.size > 0 && now - a.lastWriteAt >= CHANGES_EVERY_MS) {
      a.lastWriteAt = now;
      const patch: Partial<JobRow> = {};
      if (a.toWrite.has('steps')) patch.steps = a.row.steps;
      if (a.toWrite.has('progress')) patch.progress = a.row.progress;
      a.toWrite.clear();
      this.save(a, patch);
    }
    if ((a.toEmit.size > 0 || a.toWrite.size > 0) && !a.changesTimer) {
      const emitAt = a.toEmit.size > 0 ? Math.min(...[...a.toEmit].map((k) => a.lastEmitAt[k])) + CHANGES_EVERY_MS : Infinity;
      const writeAt = a.toWrite.size > 0 ? a.lastWriteAt + CHANGES_EVERY_MS : Infinity;
      a.changesTimer = setTimeout(
        () => {
          a.changesTimer = null;
          this.flushChanges(a);
        },
        Math.max(0, Math.min(emitAt, writeAt) - now),
      );
    }
  }

  /** Queues a write of this job's fields (and `also`) after the ones already queued. */
  private save(a: Active, patch: Partial<JobRow>, also: Statement[] = []): Promise<void> {
    a.chain = a.chain
      .then(async () => void (await this.writer.write(() => [{ update: 'job', set: encodeJob(patch), where: { id: a.id } }, ...also])))
      .catch((e: unknown) => this.d.logger.error({ err: e, job: a.id }, 'saving a job failed'));
    return a.chain;
  }

  private abort(a: Active, reason: AbortReason): void {
    if (a.ended || a.controller.signal.aborted) return;
    a.reason = reason;
    const why = reason === 'cancel' ? CANCELLED : reason === 'timeout' ? `timed out after ${a.timeoutS} s` : INTERRUPTED_AT_STOP;
    a.controller.abort(new Error(why));
  }

  /** How the job ends, from why it was aborted (first) or what the work said. */
  private ending(a: Active, r: Settled): Partial<JobRow> & { status: JobStatus } {
    const exit_code = 'outcome' in r && typeof r.outcome.exit_code === 'number' ? r.outcome.exit_code : null;
    if (a.reason === 'cancel') return { status: 'cancelled', error: CANCELLED, exit_code };
    if (a.reason === 'timeout') return { status: 'failed', error: `timed out after ${a.timeoutS} s`, exit_code };
    if (a.reason === 'stop') return { status: 'interrupted', error: INTERRUPTED_AT_STOP, exit_code };
    if ('thrown' in r) {
      const message = r.thrown instanceof Error ? r.thrown.message : String(r.thrown);
      return { status: 'failed', error: message || 'the work failed', exit_code: null };
    }
    if ('abandoned' in r) return { status: 'failed', error: 'the work did not end', exit_code: null };
    if (r.outcome.ok) return { status: 'succeeded', error: null, exit_code, progress: 100 };
    const error = r.outcome.error ?? (exit_code !== null ? `exited with code ${exit_code}` : 'failed');
    return { status: 'failed', error, exit_code };
  }

  /** Ends the job once: files closed, tails kept, the record written (one write), the event emitted. */
  private async finish(a: Active, end: Partial<JobRow> & { status: JobStatus }): Promise<JobView> {
    if (a.ended) return a.done;
    a.ended = true;
    if (a.changesTimer) clearTimeout(a.changesTimer);
    a.changesTimer = null;
    let tails: [string[], string[]] = [[], []];
    if (a.logs) {
      try {
        await a.logs.close();
        tails = await Promise.all([a.logs.tail('stdout', TAIL_LINES), a.logs.tail('stderr', TAIL_LINES)]);
      } catch (e) {
        this.d.logger.warn({ job: a.id, err: (e as Error).message }, 'reading the output of a job failed');
      }
    }
    const patch: Partial<JobRow> = {
      progress: a.row.progress,
      steps: a.row.steps,
      ...end,
      error: end.error == null ? null : cut(end.error, MAX_ERROR),
      ended_at: Date.now(),
      pid: null,
      pid_start_time: null,
      stdout_tail: tails[0].map((l) => cut(l, MAX_TAIL_LINE)),
      stderr_tail: tails[1].map((l) => cut(l, MAX_TAIL_LINE)),
    };
    a.row = { ...a.row, ...patch };
    const view = jobView(a.row);
    let also: Statement[] = [];
    try {
      also = a.onEnd?.(view) ?? [];
    } catch (e) {
      this.d.logger.error({ err: e, job: a.id }, 'the end of a job could not be recorded by its owner');
    }
    await this.save(a, patch, also);
    this.active.delete(a.id);
    this.noteFinished(a.row);
    const fields = { job: a.id, task: a.row.task_id, kind: a.row.kind, status: a.row.status, error: a.row.error };
    // A success is routine (a task may run every second); anything else is worth a line.
    if (a.row.status === 'succeeded') this.d.logger.debug(fields, `job ${a.id} succeeded`);
    else this.d.logger.warn(fields, `job ${a.id} ${a.row.status}`);
    this.d.bus.emit('job.changed', view);
    a.resolve(view);
    return view;
  }

  /** The process of a job whose work would not stop: its group is killed, if it is still that process. */
  private async killProcess(a: Active): Promise<void> {
    const { pid, pid_start_time } = a.row;
    if (!pid || !pid_start_time || !isSameProcess(pid, pid_start_time)) return;
    try {
      await stopGroup(pid, 'SIGKILL', 0);
    } catch (e) {
      this.d.logger.warn({ job: a.id, pid, err: (e as Error).message }, 'could not stop the process of a job');
    }
  }

  private async tailOfFiles(id: number, stream: Stream): Promise<string[]> {
    const dir = this.dir(id);
    if (!existsSync(join(dir, `${stream}.log`)) && !existsSync(join(dir, `${stream}.log.1`))) return [];
    const logs = new AgentLogs(dir, JOB_LOG_LIMITS);
    try {
      return (await logs.tail(stream, TAIL_LINES)).map((l) => cut(l, MAX_TAIL_LINE));
    } catch {
      return [];
    } finally {
      await logs.close();
    }
  }

  /** A task's finished jobs, read from the database the first time. */
  private finishedOf(task_id: string): Finished {
    let f = this.finished.get(task_id);
    if (f) return f;
    const entry: Finished = { jobs: [], loaded: Promise.resolve() };
    entry.loaded = this.repo
      .find({ select: { id: true, created_at: true }, where: { task_id, status: In([...FINISHED]) }, order: { id: 'ASC' } })
      .then((rows) => {
        // Jobs that ended while this read ran are in already; merged by id.
        const seen = new Set(entry.jobs.map((j) => j.id));
        for (const r of rows) if (!seen.has(r.id!)) entry.jobs.push({ id: r.id!, created_at: r.created_at });
        entry.jobs.sort((x, y) => x.id - y.id);
      })
      .catch((e: unknown) => {
        this.finished.delete(task_id);
        throw e;
      });
    f = entry;
    this.finished.set(task_id, f);
    return f;
  }

  /** A task's job has ended: prune() counts it (if that task's jobs are known). */
  private noteFinished(row: JobRow): void {
    if (row.task_id === null || row.id === undefined) return;
    const f = this.finished.get(row.task_id);
    if (!f) return;
    const jobs = f.jobs;
    let i = jobs.length;
    while (i > 0 && jobs[i - 1]!.id > row.id) i--;
    if (i > 0 && jobs[i - 1]!.id === row.id) return;
    jobs.splice(i, 0, { id: row.id, created_at: row.created_at });
  }

  /** Deletes jobs (and their files); `of`: the finished jobs of their task, kept up to date. */
  private async deleteJobs(ids: number[], of?: Finished): Promise<void> {
    for (let i = 0; i < ids.length; i += DELETE_CHUNK) {
      const chunk = ids.slice(i, i + DELETE_CHUNK);
      await this.writer.write(() => [{ delete: 'job', ids: chunk }]);
      if (of) {
        const gone = new Set(chunk);
        of.jobs = of.jobs.filter((j) => !gone.has(j.id));
      }
      const files = this.withFiles ? chunk.filter((id) => this.withFiles!.has(id)) : chunk;
      await Promise.all(files.map((id) => rm(this.dir(id), { recursive: true, force: true })));
      for (const id of files) this.withFiles?.delete(id);
    }
  }

  /**
   * Learns which jobs have output folders, and removes the folders of jobs the database does not
   * have: deleted jobs whose removal failed, or a previous database's (a new one counts from 1).
   */
  private async sweepFolders(): Promise<void> {
    const root = join(this.d.dataDir, 'jobs');
    let names: string[];
    try {
      names = await readdir(root);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.d.logger.warn({ err: (e as Error).message }, 'could not list the job output folders');
      this.withFiles = (e as NodeJS.ErrnoException).code === 'ENOENT' ? new Set() : null;
      return;
    }
    const ids = names.filter((n) => /^[1-9][0-9]{0,14}$/.test(n)).map(Number);
    const known = new Set<number>();
    for (let i = 0; i < ids.length; i += DELETE_CHUNK) {
      const rows = await this.repo.find({ select: { id: true }, where: { id: In(ids.slice(i, i + DELETE_CHUNK)) } });
      for (const r of rows) known.add(r.id!);
    }
    const orphans = ids.filter((id) => !known.has(id) && !this.active.has(id));
    if (orphans.length > 0) {
      this.d.logger.info({ folders: orphans.length }, 'removing the output folders of jobs the database does not have');
      await Promise.all(orphans.map((id) => rm(this.dir(id), { recursive: true, force: true }).catch(() => undefined)));
    }
    // Folders of jobs running in this process (a restart) may appear at any time: they count too.
    this.withFiles = new Set([...known, ...[...this.active.keys()]]);
  }
}

/** A job as the API answers it. */
export function jobView(r: JobRow): JobView {
  const iso = (t: number | null): string | null => (t === null || t === undefined ? null : new Date(t).toISOString());
  return {
    id: r.id!,
    kind: r.kind as JobKind,
    task_id: r.task_id,
    trigger: r.trigger,
    status: r.status as JobStatus,
    progress: r.progress,
    attempt: r.attempt,
    created_at: new Date(r.created_at).toISOString(),
    started_at: iso(r.started_at),
    ended_at: iso(r.ended_at),
    duration_s: r.started_at != null && r.ended_at != null ? Math.round(r.ended_at - r.started_at) / 1000 : null,
    exit_code: r.exit_code,
    error: r.error,
    steps: r.steps ?? [],
    stdout_tail: r.stdout_tail ?? [],
    stderr_tail: r.stderr_tail ?? [],
  };
}

/** The columns stored as JSON text (TypeORM's simple-json). */
const JSON_COLUMNS: ReadonlySet<string> = new Set(['steps', 'stdout_tail', 'stderr_tail']);

/** A job's fields as the row writer binds them: as TypeORM would store them. */
function encodeJob(patch: Partial<JobRow>): Record<string, Param> {
  const out: Record<string, Param> = {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === 'id' || v === undefined) continue;
    out[k] = JSON_COLUMNS.has(k) ? JSON.stringify(v) : typeof v === 'number' ? Math.round(v) : (v as Param);
  }
  return out;
}

function insertJob(row: JobRow): Statement {
  return { insert: 'job', values: encodeJob(row) };
}

function cut(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
}
