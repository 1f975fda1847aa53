/**
 * The jobs: the single record of every execution. The manager owns the record (status, progress,
 * steps, output files, tails); running code only reports through a JobHandle. No job stays
 * `running`: a run always ends (succeeded, failed, cancelled, interrupted), and a job the hub left
 * running when it was killed becomes `interrupted` at the next start, its process stopped.
 */
import { readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { In, LessThan, type DataSource, type FindOptionsWhere, type Repository } from 'typeorm';
import type { EventBus } from '../bus.js';
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

/** Per job: each stream up to 20 MB, plus one rotated file. */
export const JOB_LOG_LIMITS: LogLimits = { maxBytes: 20 * 1024 * 1024, files: 1 };
/** Lines of each stream kept on the record. */
export const TAIL_LINES = 50;
/** Progress is written and emitted at most this often (the latest value always lands at the end). */
const PROGRESS_EVERY_MS = 250;
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

export const INTERRUPTED_AT_START = 'the hub stopped while it ran';
export const INTERRUPTED_AT_STOP = 'the hub stopped';
export const CANCELLED = 'cancelled';

type AbortReason = 'cancel' | 'timeout' | 'stop';

/** A job this process is running. */
interface Active {
  readonly id: number;
  /** The record as it is now; valid once `loaded` (run() loads it first). */
  row: JobRow;
  loaded: boolean;
  readonly controller: AbortController;
  reason: AbortReason | null;
  timeoutS: number;
  logs: AgentLogs | null;
  /** Database writes of this job, in call order (the final one last). */
  chain: Promise<void>;
  progressTimer: NodeJS.Timeout | null;
  lastProgressAt: number;
  ended: boolean;
  /** Resolves with the final view once the job has ended and its record is written. */
  readonly done: Promise<JobView>;
  resolve(v: JobView): void;
}

export class JobManager implements Extension {
  readonly name = 'jobs';
  private readonly repo: Repository<JobRow>;
  private readonly active = new Map<number, Active>();
  /** Between stop() and the next start(): new runs end interrupted at once. */
  private stopped = false;

  constructor(private readonly d: JobManagerDeps) {
    this.repo = d.db.getRepository(Job);
  }

  /** Every job the database still has as running or pending is from a hub that died: interrupted. */
  async start(): Promise<void> {
    this.stopped = false;
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
  }

  async create(kind: JobKind, o: { task_id?: string | null; trigger: string; attempt?: number }): Promise<JobView> {
    const row = this.newRow(kind, o.task_id ?? null, o.trigger, 'pending', o.attempt ?? 1);
    await this.repo.save(row);
    // A database that reuses ids must not hand the new job an older one's files.
    await rm(this.dir(row.id!), { recursive: true, force: true });
    const view = jobView(row);
    this.d.bus.emit('job.changed', view);
    return view;
  }

  /** A run that did not happen (a concurrency rule, a disabled task…): created and ended now. */
  async skip(kind: JobKind, o: { task_id: string | null; trigger: string; error: string }): Promise<JobView> {
    const row = this.newRow(kind, o.task_id, o.trigger, 'skipped', 1);
    row.ended_at = row.created_at;
    row.error = cut(o.error, MAX_ERROR);
    await this.repo.save(row);
    const view = jobView(row);
    this.d.bus.emit('job.changed', view);
    return view;
  }

  /**
   * Runs a pending job: marks it running, hands `work` the job's handle, and records how it ended.
   * Resolves with the final view; never rejects once the job is running (a throwing `work` is a
   * failed job). A job cancelled while still pending resolves as it is, without running `work`.
   */
  async run(jobId: number, work: Work, o: { timeout_s?: number } = {}): Promise<JobView> {
    if (this.active.has(jobId)) throw conflict(`job ${jobId} is already running`);
    let resolve!: (v: JobView) => void;
    let reject!: (e: unknown) => void;
    const done = new Promise<JobView>((res, rej) => ((resolve = res), (reject = rej)));
    done.catch(() => undefined); // a cancel() waiting on it sees the rejection; nobody else must
    const a: Active = {
      id: jobId,
      row: undefined as unknown as JobRow,
      loaded: false,
      controller: new AbortController(),
      reason: null,
      timeoutS: o.timeout_s ?? 0,
      logs: null,
      chain: Promise.resolve(),
      progressTimer: null,
      lastProgressAt: 0,
      ended: false,
      done,
      resolve,
    };
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
        const marked = await this.repo.update({ id: jobId, status: 'pending' }, { status: 'running', started_at: startedAt });
        if (marked.affected === 0) {
          const now = await this.repo.findOneBy({ id: jobId });
          if (now?.status !== 'cancelled') throw conflict(`job ${jobId} is ${now?.status ?? 'gone'}, not pending`);
          early = jobView(now);
        } else {
          a.row = { ...row, status: 'running', started_at: startedAt };
          a.loaded = true;
        }
      }
    } catch (e) {
      this.active.delete(jobId);
      a.ended = true;
      reject(e);
      throw e;
    }
    if (early || !a.loaded) {
      // Cancelled while it waited: the work never runs.
      this.active.delete(jobId);
      a.ended = true;
      resolve(early!);
      return early!;
    }
    this.d.bus.emit('job.changed', jobView(a.row));

    let timeout: NodeJS.Timeout | null = null;
    if (this.stopped) this.abort(a, 'stop');
    if (a.timeoutS > 0) timeout = setTimeout(() => this.abort(a, 'timeout'), Math.min(a.timeoutS * 1000, 2 ** 31 - 1));

    type Settled = { outcome: WorkOutcome } | { thrown: unknown } | { abandoned: true };
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
      this.d.logger.warn({ job: jobId }, `job ${jobId}'s work did not stop within ${ABORT_GRACE_MS / 1000} s of being aborted; ending it without`);
      await this.killProcess(a);
    }
    return this.finish(a, this.ending(a, result));
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
      const r = await this.repo.update({ id, status: 'pending' }, { status: 'cancelled', ended_at: now, error: CANCELLED });
      if (r.affected === 1) {
        const view = jobView({ ...row, status: 'cancelled', ended_at: now, error: CANCELLED });
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
    // A running job's record in memory is newer (progress is written at most 4 times a second).
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

  /** Deletes a task's finished jobs beyond the newest `keep`, and those older than maxAgeDays, with their files. */
  async prune(task_id: string, keep: number, maxAgeDays: number): Promise<number> {
    const finished = await this.repo.find({
      select: { id: true, created_at: true },
      where: { task_id, status: In([...FINISHED]) },
      order: { id: 'DESC' },
    });
    const oldest = Date.now() - maxAgeDays * DAY_MS;
    const doomed = finished
      .filter((r, i) => i >= Math.max(0, Math.floor(keep)) || r.created_at < oldest)
      .map((r) => r.id!)
      .filter((id) => !this.active.has(id));
    await this.deleteJobs(doomed);
    return doomed.length;
  }

  /** The task was deleted: its running jobs are cancelled, then every job of it goes, with its files. */
  async forgetTask(task_id: string): Promise<void> {
    await Promise.all(this.running(task_id).map((id) => this.cancel(id).catch(() => undefined)));
    const rows = await this.repo.find({ select: { id: true }, where: { task_id } });
    await this.deleteJobs(rows.map((r) => r.id!).filter((id) => !this.active.has(id)));
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
        a.row = { ...a.row, steps: steps.slice(-MAX_STEPS) };
        this.save(a, { steps: a.row.steps });
        this.d.bus.emit('job.changed', jobView(a.row));
      },
      progress: (percent) => {
        if (a.ended || !Number.isFinite(percent)) return;
        const p = Math.min(100, Math.max(0, Math.round(percent)));
        if (p === a.row.progress) return;
        a.row = { ...a.row, progress: p };
        const wait = a.lastProgressAt + PROGRESS_EVERY_MS - Date.now();
        if (wait <= 0) this.flushProgress(a);
        else a.progressTimer ??= setTimeout(() => this.flushProgress(a), wait);
      },
      output: (stream, chunk) => {
        if (a.ended) return;
        a.logs ??= new AgentLogs(this.dir(a.id), JOB_LOG_LIMITS);
        a.logs.write(stream, chunk);
      },
      process: (pid) => {
        if (a.ended) return;
        const start = pid ? startTimeOf(pid) : null;
        a.row = { ...a.row, pid: start ? pid : null, pid_start_time: start };
        this.save(a, { pid: a.row.pid, pid_start_time: a.row.pid_start_time });
      },
    };
  }

  private flushProgress(a: Active): void {
    if (a.progressTimer) clearTimeout(a.progressTimer);
    a.progressTimer = null;
    if (a.ended) return;
    a.lastProgressAt = Date.now();
    this.save(a, { progress: a.row.progress });
    this.d.bus.emit('job.changed', jobView(a.row));
  }

  /** Queues a write of this job's fields after the ones already queued. */
  private save(a: Active, patch: Partial<JobRow>): Promise<void> {
    a.chain = a.chain
      .then(async () => void (await this.repo.update({ id: a.id }, patch)))
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
  private ending(a: Active, r: { outcome: WorkOutcome } | { thrown: unknown } | { abandoned: true }): Partial<JobRow> & { status: JobStatus } {
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

  /** Ends the job once: files closed, tails kept, the record written, the event emitted. */
  private async finish(a: Active, end: Partial<JobRow> & { status: JobStatus }): Promise<JobView> {
    if (a.ended) return a.done;
    a.ended = true;
    if (a.progressTimer) clearTimeout(a.progressTimer);
    a.progressTimer = null;
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
      ...end,
      error: end.error == null ? null : cut(end.error, MAX_ERROR),
      ended_at: Date.now(),
      pid: null,
      pid_start_time: null,
      stdout_tail: tails[0].map((l) => cut(l, MAX_TAIL_LINE)),
      stderr_tail: tails[1].map((l) => cut(l, MAX_TAIL_LINE)),
    };
    a.row = { ...a.row, ...patch };
    await this.save(a, patch);
    this.active.delete(a.id);
    const view = jobView(a.row);
    const level = a.row.status === 'succeeded' ? 'info' : 'warn';
    this.d.logger[level]({ job: a.id, task: a.row.task_id, kind: a.row.kind, status: a.row.status, error: a.row.error }, `job ${a.id} ${a.row.status}`);
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

  private async deleteJobs(ids: number[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      await this.repo.delete({ id: In(chunk) });
      await Promise.all(chunk.map((id) => rm(this.dir(id), { recursive: true, force: true })));
    }
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
