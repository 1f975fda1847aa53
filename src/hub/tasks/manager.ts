/**
 * The tasks: a trigger (schedule, interval, MQTT message, manual) plus an action. Each run is a
 * job. Overlap policy, retries with delay, timeouts, catch-up of a missed run, history retention.
 *
 * A run is kept cheap (a task may run every second): its job is written already running, together
 * with the schedule instant it handles; its end is one write with the task's record of it; the
 * task's state is published once per turn of the event loop, its next run time cached.
 */
import type { DataSource, Repository } from 'typeorm';
import type { AgentManager } from '../agents/manager.js';
import type { EventBus } from '../events.js';
import { rowWriter, type RowWriter } from '../db/row-writer.js';
import { update, type Statement } from '../db/statements.js';
import { Task, type TaskRow } from '../db/schema.js';
import { conflict, invalid } from '../errors.js';
import type { Extension } from '../extension.js';
import { applyDeclared, type Declared } from '../kinds/declared.js';
import { EndOfTurn } from '../kinds/end-of-turn.js';
import { ThingRows } from '../kinds/thing-rows.js';
import { ThingSet } from '../kinds/thing-set.js';
import type { JobManager } from '../jobs/manager.js';
import { FINISHED, type JobView } from '../jobs/types.js';
import type { Logger } from '../logger.js';
import type { HaAccess } from '../ha-access.js';
import type { MqttAccess } from '../mqtt-access.js';
import type { ThingRegistry } from '../things.js';
import { parseAction, runAction } from './actions/index.js';
import type { Action, ActionDeps } from './actions/types.js';
import { maskAction, restoreMasked } from './secrets.js';
import { checkSchedule, nextRuns, previousRun, startSchedule, type Schedule } from './schedule.js';
import type { TaskCreate, TaskUpdate } from './schema.js';
import type { TaskState, TaskView } from './state.js';
import { parseTrigger, startTrigger } from './triggers/index.js';
import type { Trigger } from './triggers/types.js';

export interface TaskManagerDeps {
  db: DataSource;
  bus: EventBus;
  things: ThingRegistry;
  logger: Logger;
  mqtt: MqttAccess;
  ha: HaAccess;
  jobs: JobManager;
  agents: AgentManager;
  /** Tasks from hearth.yaml: created when new, changed to match when they exist (by id). */
  declared: Declared<TaskCreate>;
}

type Definition = Omit<TaskCreate, 'name'>;

const QUEUE_MAX = 10;

/** Something that happened to a task, for `<base>/task/<id>/event`. */
interface TaskEvent {
  t: Live;
  payload: Record<string, unknown>;
}

interface Live {
  row: TaskRow;
  stop: Array<() => void>;
  /** The clock (schedule or interval) while enabled: when it fires next. */
  schedule: Schedule | null;
  running: Set<number>;
  /** Runs whose job is being written (the overlap policy counts them as running). */
  starting: number;
  /** Runs waiting for the one in progress (overlap: queue). */
  queued: string[];
  progress: number;
  retry: NodeJS.Timeout | null;
  /** The history's pruning under way, and whether runs ended meanwhile (one more prune then, not one each). */
  pruning: Promise<void> | null;
  pruneAgain: boolean;
}

export class TaskManager implements Extension {
  readonly name = 'tasks';
  private readonly repo: Repository<TaskRow>;
  private readonly writer: RowWriter;
  private readonly rows: ThingRows<'task'>;
  // "history" would be shadowed by GET /api/tasks/history.
  private readonly tasks = new ThingSet<Live>('task', ['history']);
  /** What actions may use of the hub; built once. */
  private readonly actionDeps: Omit<ActionDeps, 'run'>;
  /**
   * What the tasks tell the world, sent at the end of the turn (after the actions that started in
   * it): events in order, then each changed state once, however often it changed in the turn.
   */
  private readonly outbox = new EndOfTurn<Live | TaskEvent>((items) => {
    const live = (t: Live): boolean => this.tasks.get(t.row.id) === t;
    for (const e of items) if ('payload' in e && live(e.t)) this.d.bus.emit('thing.event', { kind: 'task', id: e.t.row.id, payload: e.payload });
    for (const t of items) if (!('payload' in t) && live(t)) this.d.things.upsert('task', t.row.id, this.state(t));
  });
  private offJobs: (() => void) | null = null;
  private stopping = false;

  constructor(private readonly d: TaskManagerDeps) {
    this.repo = d.db.getRepository(Task);
    this.writer = rowWriter(d.db);
    this.rows = new ThingRows(this.writer, 'task');
    const a = d.agents;
    this.actionDeps = {
      mqtt: d.mqtt,
      ha: d.ha,
      agents: { start: (id) => a.startAgent(id), stop: (id) => a.stopAgent(id), restart: (id) => a.restartAgent(id), exists: (id) => a.has(id) },
    };
  }

  async start(): Promise<void> {
    this.stopping = false;
    this.offJobs = this.d.bus.on('job.changed', (j) => this.onJob(j));
    for (const row of await this.repo.find({ order: { created_at: 'ASC' } })) this.load(row);
    await applyDeclared(this.d.declared, this);
    for (const t of this.tasks.values()) await this.catchUp(t);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.offJobs?.();
    for (const t of this.tasks.values()) {
      this.unschedule(t);
      this.dropPending(t);
    }
    this.tasks.clear();
    this.outbox.clear();
    await this.writer.idle();
  }

  list(): TaskView[] {
    return [...this.tasks.values()].map((t) => this.view(t));
  }

  has(id: string): boolean {
    return this.tasks.has(id);
  }

  get(id: string): TaskView {
    return this.view(this.tasks.find(id));
  }

  async create(body: TaskCreate): Promise<TaskView> {
    const { name, ...def } = body;
    const definition = this.validate(def);
    // The id is held while the row is saved, and the task is in the set before it is let go.
    const t = await this.tasks.claim(name, async (id) => {
      const now = Date.now();
      const row: TaskRow = {
        id,
        name,
        definition: definition as Record<string, unknown>,
        enabled: definition.enabled !== false,
        last_run: null,
        last_result: null,
        last_duration_ms: null,
        last_scheduled: null,
        created_at: now,
        updated_at: now,
      };
      await this.repo.save(row);
      return this.load(row);
    });
    return this.view(t);
  }

  /** Changes what was given (with `replace`, the definition becomes exactly the body's). */
  async update(id: string, body: TaskUpdate, o: { replace?: boolean } = {}): Promise<TaskView> {
    const t = this.tasks.find(id);
    const { name, ...changes } = body;
    // A masked secret sent back (from a GET) keeps the stored value.
    if (changes.action) changes.action = restoreMasked(changes.action, (t.row.definition as Definition).action) as Definition['action'];
    const definition = this.validate((o.replace ? changes : { ...(t.row.definition as Definition), ...changes }) as Definition);
    const patch = {
      name: name ?? t.row.name,
      definition: definition as Record<string, unknown>,
      enabled: o.replace ? changes.enabled !== false : (changes.enabled ?? t.row.enabled),
      updated_at: Date.now(),
    };
    t.row = { ...t.row, ...patch };
    // Only these columns: a run ending meanwhile writes its own (last_run, last_result).
    await this.rows.write(id, patch);
    this.reschedule(t);
    return this.get(id);
  }

  async delete(id: string): Promise<void> {
    const t = this.tasks.find(id);
    this.unschedule(t);
    this.dropPending(t);
    this.tasks.delete(id);
    await Promise.all([...t.running].map((job) => this.d.jobs.cancel(job).catch(() => undefined)));
    await this.repo.delete({ id });
    await this.d.jobs.forgetTask(id);
    this.d.things.remove('task', id);
  }

  async setEnabled(id: string, enabled: boolean): Promise<TaskView> {
    const t = this.tasks.find(id);
    if (t.row.enabled === enabled) throw conflict(`task ${id} is already ${enabled ? 'enabled' : 'disabled'}`);
    const patch = { enabled, definition: { ...t.row.definition, enabled }, updated_at: Date.now() };
    t.row = { ...t.row, ...patch };
    await this.rows.write(id, patch);
    if (!enabled) this.dropPending(t);
    this.reschedule(t);
    return this.get(id);
  }

  /** Run now, whether enabled or not; resolves with the job as created (it runs on). */
  /** The started (or skipped) job, or where the run waits (overlap: queue). */
  async runNow(id: string, trigger = 'manual'): Promise<JobView | { queued: true; position: number }> {
    const t = this.tasks.find(id);
    if (this.stopping) throw conflict('the hub is stopping');
    const job = await this.fire(t, trigger);
    if (job === 'full') throw conflict(`task ${id}: the queue of runs is full (${QUEUE_MAX})`);
    if (job) return job;
    return { queued: true, position: t.queued.length };
  }

  /** Runs the history retention of every task (the job manager keeps the records). */
  async prune(): Promise<void> {
    for (const t of this.tasks.values()) await this.pruneTask(t);
  }

  /** Everything beyond the body's schema: action, trigger, schedule, time zone. */
  private validate(def: Definition): Definition {
    const action = parseAction(def.action, this.actionDeps);
    if (!action.ok) throw invalid(action.error);
    if (def.trigger) {
      const trigger = parseTrigger(def.trigger);
      if (!trigger.ok) throw invalid(trigger.error);
    }
    checkSchedule(def);
    return { ...def, action: action.value };
  }

  private load(row: TaskRow): Live {
    const t: Live = { row, stop: [], schedule: null, running: new Set(), starting: 0, queued: [], progress: 0, retry: null, pruning: null, pruneAgain: false };
    this.tasks.set(row.id, t);
    this.reschedule(t);
    return t;
  }

  private reschedule(t: Live): void {
    this.unschedule(t);
    const def = t.row.definition as Definition;
    if (t.row.enabled) {
      const trigger = def.schedule ? 'schedule' : 'interval';
      const schedule = startSchedule(def, (due) => {
        t.row = { ...t.row, last_scheduled: due.getTime() };
        this.fire(t, trigger, 1, due.getTime()).catch((e: unknown) => this.d.logger.error({ err: e, task: t.row.id }, 'starting a scheduled run failed'));
      });
      t.schedule = schedule;
      t.stop.push(() => schedule.stop());
      if (def.trigger) {
        const fire = (detail: string): void =>
          void this.fire(t, detail.split(' ')[0] ?? 'trigger').catch((e: unknown) => this.d.logger.error({ err: e, task: t.row.id }, 'starting a triggered run failed'));
        const warn = (message: string): void => this.d.logger.warn({ task: t.row.id }, message);
        t.stop.push(startTrigger(def.trigger as Trigger, { mqtt: this.d.mqtt, ha: this.d.ha, warn, task: t.row.id }, fire));
      }
    }
    this.publish(t);
  }

  private unschedule(t: Live): void {
    t.stop.splice(0).forEach((stop) => stop());
    t.schedule = null;
  }

  /** What is waiting to run (a retry, queued runs) is dropped: the task was disabled, deleted or stopped. */
  private dropPending(t: Live): void {
    if (t.retry) clearTimeout(t.retry);
    t.retry = null;
    t.queued.length = 0;
  }

  /** A scheduled run missed while the hub was down runs once now (catch_up: true). */
  private async catchUp(t: Live): Promise<void> {
    const def = t.row.definition as Definition;
    if (!def.catch_up || !t.row.enabled || !def.schedule) return;
    const missed = previousRun(def, new Date());
    const handled = t.row.last_scheduled ?? t.row.created_at;
    if (missed && missed.getTime() > handled) {
      this.d.logger.info({ task: t.row.id, missed: missed.toISOString() }, 'catching up a run missed while the hub was down');
      t.row = { ...t.row, last_scheduled: missed.getTime() };
      await this.fire(t, 'catch_up', 1, missed.getTime());
    }
  }

  /**
   * The overlap policy decides; resolves with the started (or skipped) job, null when queued, or
   * 'full' when the queue had no room (the run is dropped).
   * `scheduled`: the schedule instant this run handles, written with whatever this run writes.
   */
  private async fire(t: Live, trigger: string, attempt = 1, scheduled: number | null = null): Promise<JobView | null | 'full'> {
    const also: Statement[] = scheduled === null ? [] : [taskUpdate(t.row.id, { last_scheduled: scheduled })];
    if (this.stopping) return null;
    const def = t.row.definition as Definition;
    if (t.running.size + t.starting > 0 && attempt === 1) {
      const overlap = def.overlap ?? 'skip';
      if (overlap === 'skip') {
        const skipped = await this.d.jobs.skip('task', { task_id: t.row.id, trigger, error: 'the previous run was still running (overlap: skip)' }, { also });
        const record = this.recordRun(t, skipped);
        if (record.length > 0) await this.writer.write(() => record);
        this.publish(t);
        await this.pruneTask(t);
        return skipped;
      }
      if (overlap === 'queue') {
        const room = t.queued.length < QUEUE_MAX;
        if (room) t.queued.push(trigger);
        else this.d.logger.warn({ task: t.row.id }, `task queue full (${QUEUE_MAX}); run dropped`);
        if (also.length > 0) await this.writer.write(() => also);
        return room ? null : 'full';
      }
    }
    t.starting++;
    let launched: { job: JobView; done: Promise<JobView> };
    try {
      launched = await this.d.jobs.launch('task', { task_id: t.row.id, trigger, attempt }, (h) => runAction(def.action as Action, h, this.actionDeps), {
        ...(def.timeout_s ? { timeout_s: def.timeout_s } : {}),
        also,
        onStarted: (job) => {
          t.running.add(job.id);
          t.progress = 0;
          this.event(t, 'started', { job: job.id, trigger, attempt });
          this.publish(t);
        },
        // The task's record of the run lands with the job's end, in one write; by the time anyone
        // can read that the job ended, the task is no longer running it (a run asked for then starts).
        onEnd: (job) => {
          t.running.delete(job.id);
          return this.recordRun(t, job);
        },
      });
    } finally {
      t.starting--;
    }
    void this.afterRun(t, launched.job, launched.done, def, attempt);
    return launched.job;
  }

  private async afterRun(t: Live, job: JobView, ending: Promise<JobView>, def: Definition, attempt: number): Promise<void> {
    let done: JobView;
    try {
      done = await ending;
    } catch (e) {
      this.d.logger.error({ err: e, task: t.row.id }, 'running the task failed');
      done = { ...job, status: 'failed', error: (e as Error).message };
    }
    t.running.delete(job.id);
    if (this.tasks.get(t.row.id) !== t) return;
    this.publish(t);
    const ok = done.status === 'succeeded';
    this.event(t, ok ? 'succeeded' : 'failed', { job: done.id, status: done.status, exit_code: done.exit_code, error: done.error, duration_s: done.duration_s, attempt });
    const retries = def.retries ?? 0;
    if (done.status === 'failed' && attempt <= retries && !this.stopping) {
      t.retry = setTimeout(() => {
        t.retry = null;
        void this.fire(t, 'retry', attempt + 1).catch((e: unknown) => this.d.logger.error({ err: e, task: t.row.id }, 'starting a retry failed'));
      }, (def.retry_delay_s ?? 10) * 1000);
    } else {
      const next = t.queued.shift();
      if (next) void this.fire(t, next).catch((e: unknown) => this.d.logger.error({ err: e, task: t.row.id }, 'starting a queued run failed'));
    }
    await this.pruneTask(t);
  }

  /** The task's record of a run that ended: kept in memory, and the write of it (none once the task is gone). */
  private recordRun(t: Live, job: JobView): Statement[] {
    if (this.tasks.get(t.row.id) !== t) return [];
    t.row = {
      ...t.row,
      last_run: Date.parse(job.started_at ?? job.created_at),
      last_result: job.status,
      last_duration_ms: job.duration_s === null ? null : Math.round(job.duration_s * 1000),
    };
    return [taskUpdate(t.row.id, { last_run: t.row.last_run, last_result: t.row.last_result, last_duration_ms: t.row.last_duration_ms })];
  }

  /** Keeps the task's history to history.keep and max_age_days (a skipped run is history too). */
  /**
   * One prune at a time per task: a burst of runs (a trigger firing thousands of times, each a
   * skipped job) would otherwise start thousands of prunes that each delete the same old jobs.
   */
  private pruneTask(t: Live): Promise<void> {
    if (t.pruning) {
      t.pruneAgain = true;
      return t.pruning;
    }
    t.pruning = (async () => {
      do {
        t.pruneAgain = false;
        const h = (t.row.definition as Definition).history;
        try {
          await this.d.jobs.prune(t.row.id, h?.keep ?? 100, h?.max_age_days ?? 30);
        } catch (e) {
          this.d.logger.error({ err: e, task: t.row.id }, 'pruning the history of a task failed');
        }
      } while (t.pruneAgain);
    })().finally(() => (t.pruning = null));
    return t.pruning;
  }

  private onJob(j: JobView): void {
    if (j.kind !== 'task' || !j.task_id) return;
    const t = this.tasks.get(j.task_id);
    if (!t || !t.running.has(j.id) || FINISHED.has(j.status)) return;
    if (j.progress !== t.progress) {
      t.progress = j.progress;
      this.publish(t);
    }
  }

  /** Not retained: Home Assistant's event entity ignores retained events. */
  private event(t: Live, event_type: 'started' | 'succeeded' | 'failed', data: Record<string, unknown>): void {
    this.outbox.add({ t, payload: { event_type, ...data } });
  }

  private state(t: Live): TaskState {
    const def = t.row.definition as Definition;
    const next = t.row.enabled ? (t.schedule?.next() ?? null) : null;
    const current = [...t.running].at(-1) ?? null;
    return {
      id: t.row.id,
      name: t.row.name,
      enabled: t.row.enabled,
      when: def.schedule ?? (def.interval_s ? `every ${def.interval_s} s` : def.trigger ? `on ${String(def.trigger.type)}` : 'manual'),
      next_run: next ? next.toISOString() : null,
      last_run: t.row.last_run === null ? null : new Date(t.row.last_run).toISOString(),
      last_result: t.row.last_result as TaskState['last_result'],
      last_duration_s: t.row.last_duration_ms === null ? null : t.row.last_duration_ms / 1000,
      running: t.running.size > 0,
      progress: current !== null ? t.progress : t.row.last_result === 'succeeded' ? 100 : 0,
      current_job: current,
      problem: t.row.last_result === 'failed' || t.row.last_result === 'interrupted',
    };
  }

  private view(t: Live): TaskView {
    const { enabled: _, ...def } = t.row.definition as Definition;
    return {
      ...this.state(t),
      definition: { ...def, action: maskAction(def.action) as Definition['action'], enabled: t.row.enabled },
      next_runs: t.row.enabled ? this.nextRuns(t, 5).map((d) => d.toISOString()) : [],
      created_at: new Date(t.row.created_at).toISOString(),
      updated_at: new Date(t.row.updated_at).toISOString(),
    };
  }

  /** The next `n` run times: from the running clock (an interval counts from its timer). */
  private nextRuns(t: Live, n: number): Date[] {
    const def = t.row.definition as Definition;
    if (def.interval_s && t.schedule) {
      const first = t.schedule.next();
      return first ? Array.from({ length: n }, (_, i) => new Date(first.getTime() + i * def.interval_s! * 1000)) : [];
    }
    return nextRuns(def, n, new Date(), t.row.last_run ? new Date(t.row.last_run) : null);
  }

  /** The task's state changed: published at the end of this turn, once however often it changed in it. */
  private publish(t: Live): void {
    this.outbox.add(t);
  }
}

function taskUpdate(id: string, set: Partial<Pick<TaskRow, 'last_run' | 'last_result' | 'last_duration_ms' | 'last_scheduled'>>): Statement {
  return update('task', set, { id });
}
