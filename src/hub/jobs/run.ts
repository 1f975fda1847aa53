/**
 * One job running in this process: its work, timeout and abort, what its handle reports (steps and
 * progress throttled, output to files), and its end, written once.
 */
import type { EventBus } from '../events.js';
import type { RowWriter } from '../db/row-writer.js';
import { update, type Statement } from '../db/statements.js';
import type { JobRow } from '../db/schema.js';
import type { Logger } from '../logger.js';
import type { AgentLogs, Stream } from '../supervisor/log-files.js';
import { stopGroup } from '../supervisor/process-group.js';
import { isSameProcess, startTimeOf } from '../supervisor/procfs.js';
import { tailLines, type JobFiles } from './files.js';
import { cut, jobView, MAX_ERROR } from './record.js';
import type { JobHandle, JobStatus, JobStep, JobView } from './types.js';

/** What a run's work answers (an action's outcome). */
export interface WorkOutcome {
  ok: boolean;
  exit_code?: number | null;
  error?: string;
}
export type Work = (job: JobHandle) => Promise<WorkOutcome>;

/** How a job runs, besides its work. */
export interface RunOptions {
  timeout_s?: number;
  /**
   * Called once the job has ended, before its final record is written: statements to write in the
   * same transaction (a task's record of its last run).
   */
  onEnd?: (job: JobView) => Statement[];
}

export const INTERRUPTED_AT_STOP = 'the hub stopped';
export const CANCELLED = 'cancelled';

/**
 * Steps and progress are written, and each emitted, at most this often (the first of each is
 * emitted at once; the latest value always lands, and the end writes everything).
 */
const CHANGES_EVERY_MS = 250;
/** After an abort, how long a run's work has to settle before the job ends without it. */
const ABORT_GRACE_MS = 10_000;
const MAX_STEPS = 500;

type AbortReason = 'cancel' | 'timeout' | 'stop';
type Throttled = 'steps' | 'progress';
type Settled = { outcome: WorkOutcome } | { thrown: unknown } | { abandoned: true };

/** What every run shares: the manager's pieces. */
export interface RunContext {
  writer: RowWriter;
  bus: EventBus;
  logger: Logger;
  files: JobFiles;
  /** Its end is written, before the event: no longer active, counted by retention. */
  ended(run: JobRun): void;
}

export class JobRun {
  readonly id: number;
  /** The record as it is now. */
  row: JobRow;
  ended = false;
  /** Resolves with the final view once the job has ended and its record is written. */
  readonly done: Promise<JobView>;
  private resolve!: (v: JobView) => void;
  private readonly controller = new AbortController();
  private reason: AbortReason | null = null;
  private readonly timeoutS: number;
  private readonly onEnd: RunOptions['onEnd'];
  private logs: AgentLogs | null = null;
  /** Database writes of this job, in call order (the final one last). */
  private chain: Promise<void> = Promise.resolve();
  /** Steps and progress changed since they were last emitted / written. */
  private readonly toEmit = new Set<Throttled>();
  private readonly toWrite = new Set<Throttled>();
  private readonly lastEmitAt: Record<Throttled, number> = { steps: 0, progress: 0 };
  private lastWriteAt = 0;
  private changesTimer: NodeJS.Timeout | null = null;

  /** `row`: the job's record, stored as running. */
  constructor(
    row: JobRow,
    o: RunOptions,
    private readonly c: RunContext,
  ) {
    this.id = row.id!;
    this.row = row;
    this.lastWriteAt = row.started_at!;
    this.timeoutS = o.timeout_s ?? 0;
    this.onEnd = o.onEnd;
    this.done = new Promise<JobView>((res) => (this.resolve = res));
  }

  /** Waits for the output written so far to be in its files. */
  async outputWritten(stream: Stream): Promise<void> {
    if (this.logs && !this.ended) await this.logs.tail(stream, 1);
  }

  abort(reason: AbortReason): void {
    if (this.ended || this.controller.signal.aborted) return;
    this.reason = reason;
    const why = reason === 'cancel' ? CANCELLED : reason === 'timeout' ? `timed out after ${this.timeoutS} s` : INTERRUPTED_AT_STOP;
    this.controller.abort(new Error(why));
  }

  /** Runs the work of a job marked running: its timeout, its end. */
  async execute(work: Work): Promise<JobView> {
    let timeout: NodeJS.Timeout | null = null;
    if (this.timeoutS > 0) timeout = setTimeout(() => this.abort('timeout'), Math.min(this.timeoutS * 1000, 2 ** 31 - 1));

    let grace: NodeJS.Timeout | null = null;
    let result: Settled;
    const signal = this.controller.signal;
    if (signal.aborted) {
      result = { outcome: { ok: false } }; // cancelled or stopped before it began: work never runs
    } else {
      const handle = this.handle();
      const settled: Promise<Settled> = Promise.resolve()
        .then(() => work(handle))
        .then(
          (outcome) => ({ outcome: outcome ?? { ok: false, error: 'the work answered nothing' } }),
          (thrown: unknown) => ({ thrown }),
        );
      const abandoned = new Promise<Settled>((r) => {
        const onAbort = (): void => void (grace = setTimeout(() => r({ abandoned: true }), ABORT_GRACE_MS));
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      });
      result = await Promise.race([settled, abandoned]);
    }
    if (timeout) clearTimeout(timeout);
    if (grace) clearTimeout(grace);

    if ('abandoned' in result) {
      this.c.logger.warn({ job: this.id }, `job ${this.id}'s work did not stop within ${ABORT_GRACE_MS / 1000} s of being aborted; ending it without`);
      await this.killProcess();
    }
    return this.finish(this.ending(result));
  }

  /** Ends the job once: files closed, tails kept, the record written (one write), the event emitted. */
  async finish(end: Partial<JobRow> & { status: JobStatus }): Promise<JobView> {
    if (this.ended) return this.done;
    this.ended = true;
    if (this.changesTimer) clearTimeout(this.changesTimer);
    this.changesTimer = null;
    let tails: [string[], string[]] = [[], []];
    if (this.logs) {
      try {
        await this.logs.close();
        tails = await Promise.all([tailLines(this.logs, 'stdout'), tailLines(this.logs, 'stderr')]);
      } catch (e) {
        this.c.logger.warn({ job: this.id, err: (e as Error).message }, 'reading the output of a job failed');
      }
    }
    const patch: Partial<JobRow> = {
      progress: this.row.progress,
      steps: this.row.steps,
      ...end,
      error: end.error == null ? null : cut(end.error, MAX_ERROR),
      ended_at: Date.now(),
      pid: null,
      pid_start_time: null,
      stdout_tail: tails[0],
      stderr_tail: tails[1],
    };
    this.row = { ...this.row, ...patch };
    const view = jobView(this.row);
    let also: Statement[] = [];
    try {
      also = this.onEnd?.(view) ?? [];
    } catch (e) {
      this.c.logger.error({ err: e, job: this.id }, 'the end of a job could not be recorded by its owner');
    }
    await this.save(patch, also);
    this.c.ended(this);
    const fields = { job: this.id, task: this.row.task_id, kind: this.row.kind, status: this.row.status, error: this.row.error };
    // A success is routine (a task may run every second); anything else is worth a line.
    if (this.row.status === 'succeeded') this.c.logger.debug(fields, `job ${this.id} succeeded`);
    else this.c.logger.warn(fields, `job ${this.id} ${this.row.status}`);
    this.c.bus.emit('job.changed', view);
    this.resolve(view);
    return view;
  }

  private handle(): JobHandle {
    return {
      id: this.id,
      signal: this.controller.signal,
      step: (message) => {
        if (this.ended) return;
        const steps: JobStep[] = [...this.row.steps, { at: new Date().toISOString(), message: cut(String(message), MAX_ERROR) }];
        this.row = { ...this.row, steps: steps.length > MAX_STEPS ? steps.slice(-MAX_STEPS) : steps };
        this.changed('steps');
      },
      progress: (percent) => {
        if (this.ended || !Number.isFinite(percent)) return;
        const p = Math.min(100, Math.max(0, Math.round(percent)));
        if (p === this.row.progress) return;
        this.row = { ...this.row, progress: p };
        this.changed('progress');
      },
      output: (stream, chunk) => {
        if (this.ended) return;
        this.logs ??= this.c.files.open(this.id);
        this.logs.write(stream, chunk);
      },
      process: (pid) => {
        if (this.ended) return;
        const start = pid ? startTimeOf(pid) : null;
        this.row = { ...this.row, pid: start ? pid : null, pid_start_time: start };
        // At once, not at the end of the turn: a hub killed right after the spawn must still find it.
        void this.c.writer
          .writeNow(() => [update('job', { pid: this.row.pid, pid_start_time: this.row.pid_start_time }, { id: this.id })])
          .catch((e: unknown) => this.c.logger.error({ err: e, job: this.id }, 'saving the job\'s process failed'));
      },
    };
  }

  private changed(what: Throttled): void {
    this.toEmit.add(what);
    this.toWrite.add(what);
    this.flushChanges();
  }

  /**
   * Emits and writes the steps and progress that changed, each no more often than CHANGES_EVERY_MS
   * (the first step and the first progress are emitted at once); what waits gets a timer.
   */
  private flushChanges(): void {
    if (this.ended) return;
    const now = Date.now();
    if (this.toEmit.size > 0 && [...this.toEmit].some((k) => now - this.lastEmitAt[k] >= CHANGES_EVERY_MS)) {
      for (const k of this.toEmit) this.lastEmitAt[k] = now;
      this.toEmit.clear();
      this.c.bus.emit('job.changed', jobView(this.row));
    }
    if (this.toWrite.size > 0 && now - this.lastWriteAt >= CHANGES_EVERY_MS) {
      this.lastWriteAt = now;
      const patch: Partial<JobRow> = {};
      if (this.toWrite.has('steps')) patch.steps = this.row.steps;
      if (this.toWrite.has('progress')) patch.progress = this.row.progress;
      this.toWrite.clear();
      void this.save(patch);
    }
    if ((this.toEmit.size > 0 || this.toWrite.size > 0) && !this.changesTimer) {
      const emitAt = this.toEmit.size > 0 ? Math.min(...[...this.toEmit].map((k) => this.lastEmitAt[k])) + CHANGES_EVERY_MS : Infinity;
      const writeAt = this.toWrite.size > 0 ? this.lastWriteAt + CHANGES_EVERY_MS : Infinity;
      this.changesTimer = setTimeout(
        () => {
          this.changesTimer = null;
          this.flushChanges();
        },
        Math.max(0, Math.min(emitAt, writeAt) - now),
      );
    }
  }

  /** Queues a write of this job's fields (and `also`) after the ones already queued. */
  private save(patch: Partial<JobRow>, also: Statement[] = []): Promise<void> {
    this.chain = this.chain
      .then(async () => void (await this.c.writer.write(() => [update('job', patch, { id: this.id }), ...also])))
      .catch((e: unknown) => this.c.logger.error({ err: e, job: this.id }, 'saving a job failed'));
    return this.chain;
  }

  /** How the job ends, from why it was aborted (first) or what the work said. */
  private ending(r: Settled): Partial<JobRow> & { status: JobStatus } {
    const exit_code = 'outcome' in r && typeof r.outcome.exit_code === 'number' ? r.outcome.exit_code : null;
    if (this.reason === 'cancel') return { status: 'cancelled', error: CANCELLED, exit_code };
    if (this.reason === 'timeout') return { status: 'failed', error: `timed out after ${this.timeoutS} s`, exit_code };
    if (this.reason === 'stop') return { status: 'interrupted', error: INTERRUPTED_AT_STOP, exit_code };
    if ('thrown' in r) {
      const message = r.thrown instanceof Error ? r.thrown.message : String(r.thrown);
      return { status: 'failed', error: message || 'the work failed', exit_code: null };
    }
    if ('abandoned' in r) return { status: 'failed', error: 'the work did not end', exit_code: null };
    if (r.outcome.ok) return { status: 'succeeded', error: null, exit_code, progress: 100 };
    const error = r.outcome.error ?? (exit_code !== null ? `exited with code ${exit_code}` : 'failed');
    return { status: 'failed', error, exit_code };
  }

  /** The process of a job whose work would not stop: its group is killed, if it is still that process. */
  private async killProcess(): Promise<void> {
    const { pid, pid_start_time } = this.row;
    if (!pid || !pid_start_time || !isSameProcess(pid, pid_start_time)) return;
    try {
      await stopGroup(pid, 'SIGKILL', 0);
    } catch (e) {
      this.c.logger.warn({ job: this.id, pid, err: (e as Error).message }, 'could not stop the process of a job');
    }
  }
}
