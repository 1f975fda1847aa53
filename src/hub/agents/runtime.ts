/**
 * One agent while the hub runs: its instances (each a Program with logs, health check and usage),
 * the file watch and the scheduled restart that act on all of them, and the rolling reload. It
 * turns all of that into the agent's state; the manager persists it.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentProcessRow, AgentRow } from '../db/schema.js';
import { conflict, notFound } from '../errors.js';
import type { Logger } from '../logger.js';
import type { HaAccess } from '../ha-access.js';
import type { MqttAccess } from '../mqtt-access.js';
import { FileWatch } from '../supervisor/file-watch.js';
import { healthScore } from '../supervisor/health-score.js';
import type { AgentLogs, LogLimits, Stream } from '../supervisor/log-files.js';
import type { ProgramState } from '../supervisor/program.js';
import type { ProgramStatus } from '../supervisor/spec.js';
import { startSchedule, type Schedule } from '../tasks/schedule.js';
import { watchSpec } from './definition.js';
import { AgentInstance, type AgentDefinition, type Usage } from './instance.js';
import type { AgentState, InstanceState, LimitEnforcement } from './state.js';

export type { AgentDefinition } from './instance.js';

export interface RuntimeDeps {
  /** The agents' log folder: instance 0 writes in `<id>/`, instance i in `<id>/instance-<i>/`. */
  logsDir: string;
  logLimits: LogLimits;
  mqtt: MqttAccess;
  ha: HaAccess;
  logger: Logger;
  limits: (def: AgentDefinition) => LimitEnforcement;
  /** Called on every change of what the agent shows. */
  changed: (rt: AgentRuntime) => void;
  /** A new process of the agent is up (every start, restart and reload). */
  spawned: (rt: AgentRuntime, pid: number) => void;
  /** The kernel's count of OOM kills in the agent's cgroup, null without one. */
  oomKills: (rt: AgentRuntime) => number | null;
  line: (rt: AgentRuntime, instance: number, stream: Stream, line: string) => void;
  /** The value of AGENT_MARKER for an agent. */
  marker: (id: string) => string;
}

/** How long a start waits for its file watch to be in place (it goes on after, in the background). */
const WATCH_START_WAIT_MS = 2000;

/** The statuses, most telling first: what a set of instances in different states shows as one. */
const PRECEDENCE: readonly ProgramStatus[] = ['running', 'starting', 'stopping', 'backoff', 'failed', 'stopped'];

export interface ReloadOutcome {
  reloaded: number;
  detail: string;
}

export class AgentRuntime {
  private instances: AgentInstance[] = [];
  private watch: FileWatch | null = null;
  private cron: Schedule | null = null;
  /** The reload under way: which instance, of how many. */
  private reloading: { instance: number; of: number } | null = null;
  private lastReload: { at: string; ok: boolean; detail: string } | null = null;
  /** Set by abandonReload(): the reload under way replaces no further instance. */
  private abandoned = false;
  /** The status last written to the hub's log. */
  loggedStatus: string | null = null;

  constructor(
    public row: AgentRow,
    ports: number[],
    private readonly deps: RuntimeDeps,
  ) {
    // What a restarted hub knew of the agent (its columns) carries on in instance 0.
    this.instances = [this.instance(0, ports[0], { restarts: row.restarts, lastExitCode: row.last_exit_code, lastSignal: row.last_signal })];
    this.resize(ports);
  }

  get id(): string {
    return this.row.id;
  }

  get definition(): AgentDefinition {
    return this.row.definition as AgentDefinition;
  }

  get count(): number {
    return this.definition.instances ?? 1;
  }

  /** Any process of the agent is up. */
  get running(): boolean {
    return this.instances.some((i) => i.program.running);
  }

  /** The agent as one program: instance 0's process, every instance's status folded into one. */
  get snapshot(): ProgramState {
    const all = this.instances.map((i) => i.snapshot);
    const first = all[0]!;
    if (all.length === 1) return first;
    const status = PRECEDENCE.find((s) => all.some((x) => x.status === s)) ?? 'stopped';
    const up = all.filter((x) => x.status === 'running').length;
    const reason = all.every((x) => x.status === status) ? first.reason : `${up} of ${all.length} running`;
    const next = all.map((x) => x.nextStartAt).filter((t): t is number => t !== null);
    return { ...first, status, reason, restarts: all.reduce((n, x) => n + x.restarts, 0), nextStartAt: next.length ? Math.min(...next) : null };
  }

  /** Every instance's process, for crash recovery. */
  get processes(): AgentProcessRow[] {
    return this.instances.flatMap((i) => {
      const s = i.program.snapshot;
      return s.pid && s.pidStartTime ? [{ instance: i.index, pid: s.pid, pid_start_time: s.pidStartTime }] : [];
    });
  }

  /** The live processes' pids, each with what to do with its usage. */
  get livePids(): Array<{ pid: number; set: (u: Usage | null) => void }> {
    return this.instances.flatMap((i) => {
      const s = i.program.snapshot;
      return s.status === 'running' && s.pid ? [{ pid: s.pid, set: (u: Usage | null) => i.setUsage(u) && this.deps.changed(this) }] : [];
    });
  }

  /** A new definition (and the ports it holds): the kernel uses it from the next start. */
  redefine(row: AgentRow, ports: number[]): void {
    this.row = row;
    for (const i of this.instances) i.redefine(ports[i.index]);
    this.deps.changed(this);
  }

  /** Starts every instance, the file watch and the scheduled restart. */
  async start(): Promise<void> {
    // The processes do not wait for the watch to read the tree.
    await Promise.all([this.startTriggers(), ...this.instances.map((i) => i.program.start())]);
  }

  /** The file watch and the scheduled restart, (re)started as the definition says. */
  async startTriggers(): Promise<void> {
    await this.startWatch();
    this.startCron();
  }

  /** An instance's log files (404 for one it does not have). */
  logs(instance: number): AgentLogs {
    const i = this.instances[instance];
    if (!i) throw notFound(`agent ${this.id} has no instance ${instance} (it has ${this.instances.length}: 0 to ${this.instances.length - 1})`);
    return i.logs;
  }

  async stop(): Promise<void> {
    this.abandonReload();
    await this.stopTriggers();
    await Promise.all(this.instances.map((i) => i.stop()));
  }

  /** Calls off a reload under way: its new processes stop, and no further instance is replaced. */
  abandonReload(): void {
    if (!this.reloading) return;
    this.abandoned = true;
    for (const i of this.instances) void i.abandonReplace();
  }

  async restart(why: 'user' | 'policy' = 'user', reason: string | null = null): Promise<void> {
    await Promise.all(this.instances.map((i) => i.program.restart(why, reason)));
  }

  /**
   * Instances as many as the definition says: new ones (with their ports) start when `start`,
   * surplus ones stop and go.
   */
  async scale(ports: number[], start: boolean): Promise<void> {
    const surplus = this.instances.slice(this.count);
    const before = this.instances.length;
    this.resize(ports);
    await Promise.all(
      surplus.map(async (i) => {
        await i.stop();
        await i.close();
      }),
    );
    if (start) await Promise.all(this.instances.slice(before).map((i) => i.program.start()));
    this.deps.changed(this);
  }

  /** Each instance in turn: a new process, ready, then the old one stops. The first that fails ends it. */
  /** The manager runs one at a time (a second is refused there). */
  async reload(): Promise<ReloadOutcome> {
    const of = this.instances.length;
    let reloaded = 0;
    this.abandoned = false;
    try {
      for (const inst of [...this.instances]) {
        if (this.abandoned) throw conflict(`reload of ${this.id} called off after ${reloaded} of ${of}: the agent was stopped or deleted`);
        this.reloading = { instance: inst.index, of };
        this.deps.changed(this);
        const r = await inst.replace();
        if (!r.ready) {
          const detail = `instance ${inst.index}: ${r.detail}; the old process keeps running`;
          this.lastReload = { at: new Date().toISOString(), ok: false, detail };
          this.deps.logger.warn({ agent: this.id, instance: inst.index, detail: r.detail }, 'reload failed: the new process was not ready, the old one keeps running');
          throw conflict(`reload of ${this.id} stopped at ${detail}${reloaded ? ` (${reloaded} of ${of} reloaded)` : ''}`);
        }
        reloaded++;
      }
      const detail = `${reloaded} of ${of} reloaded`;
      this.lastReload = { at: new Date().toISOString(), ok: true, detail };
      this.deps.logger.info({ agent: this.id, instances: of }, 'agent reloaded');
      return { reloaded, detail };
    } finally {
      this.reloading = null;
      this.deps.changed(this);
    }
  }

  state(): AgentState {
    const p = this.snapshot;
    const running = p.status === 'running';
    const check = this.definition.health_check;
    const threshold = check ? (check.failures ?? 3) : null;
    const views = this.instances.map((i) => this.instanceState(i, threshold));
    const usage = (k: 'cpu_percent' | 'memory_bytes'): number | null =>
      views.some((v) => v[k] !== null) ? views.reduce((n, v) => n + (v[k] ?? 0), 0) : null;
    const cpu = usage('cpu_percent');
    const first = this.instances[0]!;
    return {
      id: this.row.id,
      name: this.row.name,
      type: this.row.type,
      status: p.status,
      reason: p.reason,
      desired: this.row.desired,
      pid: p.pid,
      started_at: running && p.startedAt ? new Date(p.startedAt).toISOString() : null,
      next_start_at: p.nextStartAt ? new Date(p.nextStartAt).toISOString() : null,
      restarts: p.restarts,
      last_exit_code: p.lastExitCode,
      last_signal: p.lastSignal,
      health: Math.min(...views.map((v) => v.health)),
      health_check: first.lastCheck ? { ok: first.lastCheck.ok, detail: first.lastCheck.detail, at: new Date(first.lastCheck.at).toISOString() } : null,
      cpu_percent: running && cpu !== null ? Math.round(cpu * 10) / 10 : null,
      memory_bytes: running ? usage('memory_bytes') : null,
      problem: this.instances.some((i) => i.program.snapshot.status === 'failed'),
      limits: this.deps.limits(this.definition),
      instances: this.instances.length,
      instances_running: views.filter((v) => v.status === 'running').length,
      instance_states: views,
      port: first.port ?? null,
      reloading: this.reloading,
      last_reload: this.lastReload,
    };
  }

  async close(): Promise<void> {
    await this.stopTriggers();
    await Promise.all(this.instances.map((i) => i.close()));
  }

  private instanceState(i: AgentInstance, threshold: number | null): InstanceState {
    const s = i.snapshot;
    const running = s.status === 'running';
    return {
      instance: i.index,
      status: s.status,
      reason: s.reason,
      pid: s.pid,
      port: i.port ?? null,
      started_at: running && s.startedAt ? new Date(s.startedAt).toISOString() : null,
      restarts: s.restarts,
      last_exit_code: s.lastExitCode,
      health: healthScore({ running, consecutiveFailures: i.failures, failuresThreshold: threshold, recentRestarts: i.program.recentRestartCount }),
      cpu_percent: running && i.usage ? Math.round(i.usage.cpu_percent * 10) / 10 : null,
      memory_bytes: running && i.usage ? i.usage.memory_bytes : null,
    };
  }

  /** Instances 0..count-1, the existing ones kept (with their new ports). */
  private resize(ports: number[]): void {
    const keep = this.instances.slice(0, this.count);
    for (const i of keep) i.redefine(ports[i.index]);
    for (let n = keep.length; n < this.count; n++) keep.push(this.instance(n, ports[n]));
    this.instances = keep;
  }

  private instance(index: number, port: number | undefined, initial: Partial<ProgramState> = {}): AgentInstance {
    const dir = index === 0 ? join(this.deps.logsDir, this.id) : join(this.deps.logsDir, this.id, `instance-${index}`);
    return new AgentInstance(index, port, {
      logsDir: dir,
      logLimits: this.deps.logLimits,
      mqtt: this.deps.mqtt,
      ha: this.deps.ha,
      logger: this.deps.logger,
      agent: this.id,
      marker: this.deps.marker(this.id),
      definition: () => this.definition,
      restartOverMemory: () => this.deps.limits(this.definition).memory === 'restart',
      oomKills: () => this.deps.oomKills(this),
      changed: () => this.deps.changed(this),
      spawned: (_i, pid) => this.deps.spawned(this, pid),
      line: (i, stream, line) => this.deps.line(this, i.index, stream, line),
    }, initial);
  }

  private async startWatch(): Promise<void> {
    await this.watch?.close();
    this.watch = null;
    const spec = watchSpec(this.definition, join(this.deps.logsDir, this.id));
    if (!spec) return;
    const watch = new FileWatch(
      spec,
      ({ file, count }) => {
        if (!this.running) return;
        this.deps.logger.info({ agent: this.id, file, changes: count }, `agent ${this.id}: ${file} changed: restarting it`);
        void this.restart('user').catch((e: unknown) => this.deps.logger.warn({ agent: this.id, err: (e as Error).message }, 'restart after a file change failed'));
      },
      (message) => this.deps.logger.warn({ agent: this.id }, `watching files: ${message}`),
    );
    this.watch = watch;
    // A huge tree (polled) takes a while to read: the agent's start waits for it a moment only.
    const ac = new AbortController();
    await Promise.race([watch.start(), sleep(WATCH_START_WAIT_MS, undefined, { signal: ac.signal }).catch(() => undefined)]);
    ac.abort();
  }

  private startCron(): void {
    this.cron?.stop();
    this.cron = null;
    const schedule = this.definition.cron_restart;
    if (!schedule) return;
    this.cron = startSchedule({ schedule }, () => {
      if (!this.running) return;
      this.deps.logger.info({ agent: this.id, cron_restart: schedule }, `agent ${this.id}: scheduled restart`);
      void this.restart('user').catch((e: unknown) => this.deps.logger.warn({ agent: this.id, err: (e as Error).message }, 'scheduled restart failed'));
    });
  }

  private async stopTriggers(): Promise<void> {
    this.cron?.stop();
    this.cron = null;
    await this.watch?.close();
    this.watch = null;
  }
}
