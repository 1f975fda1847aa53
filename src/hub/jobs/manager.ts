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
 *
 * Here: the jobs' lifecycle and queries. One running job is a JobRun (run.ts); the record's mapping
 * is record.ts, output files files.ts, the start's recovery recovery.ts, pruning retention.ts.
 */
import { LessThan, type DataSource, type FindOptionsWhere, type Repository } from 'typeorm';
import type { EventBus } from '../events.js';
import { rowWriter, type RowWriter } from '../db/row-writer.js';
import { insert, type Statement } from '../db/statements.js';
import { Job, type JobRow } from '../db/schema.js';
import { conflict, notFound } from '../errors.js';
import type { Extension } from '../extension.js';
import type { Logger } from '../logger.js';
import type { Stream } from '../supervisor/log-files.js';
import { JobFiles } from './files.js';
import { cut, jobView, MAX_ERROR, newJobRow } from './record.js';
import { interruptLeftovers } from './recovery.js';
import { Retention } from './retention.js';
import { INTERRUPTED_AT_STOP, JobRun, type RunContext, type RunOptions, type Work } from './run.js';
import { JOB_STATUSES, type JobKind, type JobOwner, type JobStatus, type JobView } from './types.js';

export { JOB_LOG_LIMITS, TAIL_LINES } from './files.js';
export { jobView } from './record.js';
export { INTERRUPTED_AT_START } from './recovery.js';
export { CANCELLED, INTERRUPTED_AT_STOP, type Work, type WorkOutcome } from './run.js';

export interface JobManagerDeps {
  db: DataSource;
  bus: EventBus;
  logger: Logger;
  dataDir: string;
}

export interface JobQuery {
  status?: JobStatus;
  task_id?: string;
  device_id?: string;
  kind?: JobKind;
  /** Default 100, at most 1000. */
  limit?: number;
  /** Only jobs with a smaller id (the next page). */
  before_id?: number;
}

export interface LaunchOptions extends RunOptions {
  /** Written in the same transaction as the new job (a task's last schedule instant). */
  also?: Statement[];
  /** Called once the job exists and runs, before its work begins and before any event of it. */
  onStarted?: (job: JobView) => void;
}

/** How long stop() waits for the running jobs to end. */
const STOP_WAIT_MS = 15_000;

export class JobManager implements Extension {
  readonly name = 'jobs';
  private readonly repo: Repository<JobRow>;
  private readonly writer: RowWriter;
  private readonly files: JobFiles;
  private readonly retention: Retention;
  private readonly runs: RunContext;
  private readonly active = new Map<number, JobRun>();
  /** Between stop() and the next start(): new runs end interrupted at once. */
  private stopped = false;

  constructor(private readonly d: JobManagerDeps) {
    this.repo = d.db.getRepository(Job);
    this.writer = rowWriter(d.db);
    this.files = new JobFiles(d.dataDir, d.logger);
    this.retention = new Retention({ repo: this.repo, writer: this.writer, files: this.files, isActive: (id) => this.active.has(id) });
    this.runs = {
      writer: this.writer,
      bus: d.bus,
      logger: d.logger,
      files: this.files,
      ended: (run) => {
        this.active.delete(run.id);
        this.retention.noteFinished(run.row);
      },
    };
  }

  /**
   * Every job the database still has as running (or pending: older hubs queued jobs before running
   * them) is from a hub that died: interrupted.
   * Output folders of jobs the database does not have (deleted, or another database's) go: ids are
   * never reused, so no new job is handed an older one's files.
   */
  async start(): Promise<void> {
    this.stopped = false;
    this.retention.clear();
    await interruptLeftovers({ repo: this.repo, files: this.files, bus: this.d.bus, logger: this.d.logger }, this.active);
    await this.files.sweep(this.repo, this.active);
  }

  /** Aborts every running job and waits (bounded) for them to end as interrupted. */
  async stop(): Promise<void> {
    this.stopped = true;
    const running = [...this.active.values()];
    for (const a of running) a.abort('stop');
    let timer: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      Promise.allSettled(running.map((a) => a.done)).then(() => true),
      new Promise<false>((r) => (timer = setTimeout(() => r(false), STOP_WAIT_MS))),
    ]);
    clearTimeout(timer);
    if (!settled) {
      for (const a of running) {
        if (a.ended) continue;
        this.d.logger.warn({ job: a.id }, 'a job did not end in time at stop; recorded as interrupted');
        await a.finish({ status: 'interrupted', error: INTERRUPTED_AT_STOP });
      }
    }
    await this.writer.idle();
  }

  /**
   * A job that runs at once: created `running` (with `also` in the same write), then `work` runs.
   * Resolves once it runs, with its view and its end (which never rejects).
   */
  async launch(kind: JobKind, o: JobOwner & { trigger: string; attempt?: number }, work: Work, opts: LaunchOptions = {}): Promise<{ job: JobView; done: Promise<JobView> }> {
    const row = newJobRow(kind, o, o.trigger, 'running', o.attempt ?? 1);
    // Started as it is created: the work begins once the insert that says so has landed.
    row.started_at = row.created_at;
    [row.id] = await this.writer.write(() => [insert('job', row), ...(opts.also ?? [])]);
    const a = new JobRun(row, opts, this.runs);
    this.active.set(a.id, a);
    const view = jobView(row);
    try {
      opts.onStarted?.(view);
    } catch (e) {
      this.d.logger.error({ err: e, job: a.id }, 'the start of a job could not be recorded by its owner');
    }
    this.d.bus.emit('job.changed', view);
    if (this.stopped) a.abort('stop');
    void a.execute(work);
    return { job: view, done: a.done };
  }

  /** A run that did not happen (a concurrency rule, a disabled task…): created and ended now. */
  async skip(kind: JobKind, o: { task_id: string | null; trigger: string; error: string }, opts: { also?: Statement[] } = {}): Promise<JobView> {
    const row = newJobRow(kind, o, o.trigger, 'skipped', 1);
    row.ended_at = row.created_at;
    row.error = cut(o.error, MAX_ERROR);
    [row.id] = await this.writer.write(() => [insert('job', row), ...(opts.also ?? [])]);
    this.retention.noteFinished(row);
    const view = jobView(row);
    this.d.bus.emit('job.changed', view);
    return view;
  }

  /** Cancels a running job and resolves once it has ended. */
  async cancel(id: number): Promise<JobView> {
    const a = this.active.get(id);
    // A job whose end is being written is no longer running: like any ended one, a 409.
    if (a && !a.ended) {
      a.abort('cancel');
      return a.done;
    }
    if (a) throw conflict(`job ${id} is not running (${(await a.done).status})`);
    const row = await this.repo.findOneBy({ id });
    if (!row) throw notFound(`no job ${id}`);
    throw conflict(`job ${id} is not running (${row.status})`);
  }

  /** How many jobs are on record in each status (what retention keeps). */
  async countByStatus(): Promise<Record<JobStatus, number>> {
    const rows = await this.repo.createQueryBuilder('j').select('j.status', 'status').addSelect('COUNT(*)', 'n').groupBy('j.status').getRawMany<{ status: JobStatus; n: number | string }>();
    const counts = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
    // PostgreSQL answers a count as text.
    for (const r of rows) counts[r.status] = Number(r.n);
    return counts;
  }

  /** Newest first. */
  async list(q: JobQuery = {}): Promise<JobView[]> {
    const limit = Math.min(Math.max(Math.floor(q.limit ?? 100), 1), 1000);
    const where: FindOptionsWhere<JobRow> = {};
    if (q.status) where.status = q.status;
    if (q.task_id !== undefined) where.task_id = q.task_id;
    if (q.device_id !== undefined) where.device_id = q.device_id;
    if (q.kind) where.kind = q.kind;
    if (q.before_id !== undefined) where.id = LessThan(q.before_id);
    const rows = await this.repo.find({ where, order: { id: 'DESC' }, take: limit });
    // A running job's record in memory is newer (steps and progress are written a few times a second).
    return rows.map((r) => {
      const a = this.active.get(r.id!);
      return jobView(a && a.row.status === r.status ? a.row : r);
    });
  }

  async get(id: number): Promise<JobView> {
    return jobView(await this.findRow(id));
  }

  /** All a job printed on a stream (the rotated file first), '' if nothing. */
  async output(id: number, stream: Stream): Promise<string> {
    await this.findRow(id);
    await this.active.get(id)?.outputWritten(stream);
    return this.files.read(id, stream);
  }

  /** The ids of this task's jobs running now. */
  running(task_id: string): number[] {
    return [...this.active.values()].filter((a) => !a.ended && a.row.task_id === task_id).map((a) => a.id);
  }

  /**
   * Deletes a task's finished jobs beyond the newest `keep`, and those older than maxAgeDays, with
   * their files. The first call for a task reads its jobs; later ones work from memory and touch
   * the database only when there is something to delete.
   */
  prune(task_id: string, keep: number, maxAgeDays: number): Promise<number> {
    return this.retention.prune(task_id, keep, maxAgeDays);
  }

  /** The task was deleted: its running jobs are cancelled, then every job of it goes, with its files. */
  async forgetTask(task_id: string): Promise<void> {
    await Promise.all(this.running(task_id).map((id) => this.cancel(id).catch(() => undefined)));
    await this.retention.forgetTask(task_id);
  }

  private async findRow(id: number): Promise<JobRow> {
    const a = this.active.get(id);
    if (a) return a.row;
    const row = await this.repo.findOneBy({ id });
    if (!row) throw notFound(`no job ${id}`);
    return row;
  }
}
