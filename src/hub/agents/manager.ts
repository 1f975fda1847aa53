/**
 * The agents: created, changed and deleted from any interface, started and stopped on request,
 * reconciled at start with what is really running, sampled for CPU and memory in one batch.
 * Desired state is written to the database before it is acted on.
 */
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { DataSource, Repository } from 'typeorm';
import type { EventBus } from '../events.js';
import { rowWriter } from '../db/row-writer.js';
import { Agent, type AgentRow } from '../db/schema.js';
import { conflict, HubError } from '../errors.js';
import type { Extension } from '../extension.js';
import { applyDeclared, type Declared } from '../kinds/declared.js';
import { EndOfTurn } from '../kinds/end-of-turn.js';
import { ThingRows } from '../kinds/thing-rows.js';
import { ThingSet } from '../kinds/thing-set.js';
import type { Logger } from '../logger.js';
import type { HaAccess } from '../ha-access.js';
import type { MqttAccess } from '../mqtt-access.js';
import type { ThingRegistry } from '../things.js';
import type { CgroupDetection } from '../supervisor/cgroup-tree.js';
import { CgroupLimits, enforcement } from '../supervisor/limits.js';
import type { LogLimits, Stream } from '../supervisor/log-files.js';
import { stopGroup } from '../supervisor/process-group.js';
import { groupsWithEnv, isSameProcess } from '../supervisor/procfs.js';
import { checkDefinition } from './definition.js';
import { AGENT_MARKER } from './instance.js';
import { AgentRuntime, type AgentDefinition, type ReloadOutcome } from './runtime.js';
import type { AgentCreate, AgentUpdate } from './schema.js';
import { agentView, type AgentView } from './state.js';
import { UsageSampler } from './usage-sampler.js';

/** The port allocator as the agents use it (src/hub/ports). */
export interface AgentPorts {
  assign(owner: { kind: 'agent'; id: string }, count: number): Promise<number[]>;
  release(owner: { kind: 'agent'; id: string }, keep?: number): Promise<void>;
  of(owner: { kind: 'agent'; id: string }): Promise<number[]>;
}

/** Fields that change how the agent is supervised, not what its processes are: taken without a restart. */
const SUPERVISION_FIELDS = ['autostart', 'instances', 'watch', 'watch_ignore', 'watch_debounce_ms', 'cron_restart', 'ready_timeout_s'] as const;

export interface AgentManagerDeps {
  db: DataSource;
  bus: EventBus;
  things: ThingRegistry;
  mqtt: MqttAccess;
  /** Home Assistant, for health checks that follow an entity. */
  ha: HaAccess;
  logger: Logger;
  dataDir: string;
  logLimits: LogLimits;
  sampleIntervalS: number;
  cgroup: CgroupDetection;
  ports: AgentPorts;
  /** Agents from hearth.yaml: created when new, changed to match when they exist (by id). */
  declared: Declared<AgentCreate>;
}

const LIVE: ReadonlySet<string> = new Set(['starting', 'running', 'stopping', 'backoff']);

/** The row of an agent just created: stopped, never run, to run unless autostart is false. */
export function newAgentRow(id: string, name: string, type: AgentRow['type'], definition: AgentDefinition, configuration: Record<string, unknown>): AgentRow {
  const now = Date.now();
  return {
    id,
    name,
    type,
    definition: definition as Record<string, unknown>,
    configuration,
    desired: definition.autostart === false ? 'stopped' : 'running',
    status: 'stopped',
    status_reason: null,
    health: 0,
    last_run: null,
    last_exit_code: null,
    last_signal: null,
    restarts: 0,
    pid: null,
    pid_start_time: null,
    processes: null,
    created_at: now,
    updated_at: now,
  };
}

export class AgentManager implements Extension {
  readonly name = 'agents';
  private readonly repo: Repository<AgentRow>;
  private readonly rows: ThingRows<'agent'>;
  /** `export` is a route word: GET /api/agents/export. */
  private readonly agents = new ThingSet<AgentRuntime>('agent', ['export']);
  private readonly cgroups: CgroupLimits | null;
  private readonly sampler: UsageSampler;
  /** Agents whose 'starting' is shown as of the end of this turn (see publish). */
  private readonly unpublished = new EndOfTurn<AgentRuntime>((due) => {
    // A deleted (or replaced) agent is not shown again.
    for (const rt of due) if (this.agents.get(rt.id) === rt) this.d.things.upsert('agent', rt.id, rt.state());
  });
  /** Agents with a reload asked and not yet answered. */
  private readonly reloads = new Set<string>();
  /** Each agent's changes under way, in order (see exclusive). */
  private readonly queues = new Map<string, Promise<void>>();
  /** Set by stop(): nothing starts after it, even a start already on its way. */
  private closed = false;

  constructor(private readonly d: AgentManagerDeps) {
    this.repo = d.db.getRepository(Agent);
    this.rows = new ThingRows(rowWriter(d.db), 'agent');
    this.cgroups = d.cgroup.usable && d.cgroup.path ? new CgroupLimits(d.cgroup.path) : null;
    d.logger.info({ cgroup: d.cgroup.reason }, this.cgroups ? 'agents\' limits: enforced by the kernel' : 'agents\' limits: memory by restarts, CPU not enforced');
    this.sampler = new UsageSampler(() => this.agents.values(), d.sampleIntervalS, d.logger);
  }

  async start(): Promise<void> {
    this.closed = false;
    for (const row of await this.repo.find({ order: { created_at: 'ASC' } })) {
      await this.stopLeftover(row);
      const rt = this.runtime(row, await this.portsAtStart(row));
      this.publish(rt);
    }
    await applyDeclared(this.d.declared, this);
    for (const rt of this.agents.values()) if (rt.row.desired === 'running' && !rt.running && !this.closed) await this.run(rt);
    this.sampler.start();
  }

  /** Stops every agent and leaves no process behind; agents that do not autostart stay stopped next time. */
  async stop(): Promise<void> {
    this.closed = true;
    this.sampler.stop();
    // What is under way ends first (a reload is called off): nothing may start after the stop.
    for (const rt of this.agents.values()) rt.abandonReload();
    await Promise.all(this.queues.values());
    await Promise.all(
      [...this.agents.values()].map(async (rt) => {
        if (rt.definition.autostart === false && rt.row.desired === 'running') await this.persist(rt, { desired: 'stopped' });
        await rt.stop();
        await this.persist(rt, {});
        await rt.close();
      }),
    );
    this.agents.clear();
    try {
      this.cgroups?.releaseAll();
    } catch (e) {
      this.d.logger.warn({ err: (e as Error).message }, 'removing the agents\' empty cgroups failed');
    }
  }

  list(): AgentView[] {
    return [...this.agents.values()].map((rt) => agentView(rt.row, rt.state()));
  }

  /** Every agent as the body that would create it again, secrets unmasked (the export masks them). */
  bodies(): AgentCreate[] {
    return [...this.agents.values()].map((rt) => {
      const type = rt.row.type === 'process' ? {} : { type: rt.row.type };
      const configuration = Object.keys(rt.row.configuration).length ? { configuration: rt.row.configuration } : {};
      return { name: rt.row.name, ...type, ...rt.definition, ...configuration };
    });
  }

  has(id: string): boolean {
    return this.agents.has(id);
  }

  get(id: string): AgentView {
    const rt = this.agents.find(id);
    return agentView(rt.row, rt.state());
  }

  async create(body: AgentCreate): Promise<AgentView> {
    const { name, type, configuration, ...definition } = body;
    checkDefinition(definition);
    // The runtime joins the set before the id is let go.
    const rt = await this.agents.claim(name, async (id) => {
      const ports = await this.portsOf(id, definition);
      const row = newAgentRow(id, name, type ?? 'process', definition, configuration ?? {});
      try {
        await this.repo.save(row);
      } catch (e) {
        await this.d.ports.release({ kind: 'agent', id });
        throw e;
      }
      return this.runtime(row, ports);
    });
    this.publish(rt);
    if (rt.row.desired === 'running') await this.run(rt);
    return this.get(rt.id);
  }


  /**
   * Changes what was given (with `replace`, the definition becomes exactly the body's); a running
   * agent restarts to take it. Renames keep the id.
   */
  update(id: string, body: AgentUpdate, o: { replace?: boolean } = {}): Promise<AgentView> {
    return this.exclusive(id, () => this.change(id, body, o));
  }

  private async change(id: string, body: AgentUpdate, o: { replace?: boolean }): Promise<AgentView> {
    const rt = this.agents.find(id);
    const { name, type, configuration, ...changes } = body;
    const definition = (o.replace ? changes : { ...rt.definition, ...changes }) as AgentDefinition;
    checkDefinition(definition);
    const before = rt.definition;
    const count = definition.instances ?? 1;
    const ports = await this.portsOf(id, definition);
    const row: AgentRow = {
      ...rt.row,
      name: name ?? rt.row.name,
      type: type ?? rt.row.type,
      configuration: configuration ?? rt.row.configuration,
      definition: definition as Record<string, unknown>,
      updated_at: Date.now(),
    };
    const program = (d: AgentDefinition): string => JSON.stringify(Object.entries(d).filter(([k]) => !(SUPERVISION_FIELDS as readonly string[]).includes(k)).sort());
    const supervision = (d: AgentDefinition): string => JSON.stringify(SUPERVISION_FIELDS.map((k) => d[k]));
    await this.repo.save(row);
    const live = LIVE.has(rt.snapshot.status);
    rt.redefine(row, ports);
    if (count !== (before.instances ?? 1)) await rt.scale(ports, rt.row.desired === 'running');
    if (!definition.port) await this.d.ports.release({ kind: 'agent', id });
    else await this.d.ports.release({ kind: 'agent', id }, count);
    if (program(definition) !== program(before) && live) await rt.restart('user');
    else if (supervision(definition) !== supervision(before) && rt.row.desired === 'running') await rt.startTriggers();
    return this.get(id);
  }

  /** Stops it (after whatever it is doing; a reload is called off), then forgets it everywhere. */
  delete(id: string): Promise<void> {
    this.agents.find(id).abandonReload();
    return this.exclusive(id, () => this.remove(id));
  }

  private async remove(id: string): Promise<void> {
    const rt = this.agents.find(id);
    this.agents.delete(id);
    await rt.stop();
    // Ports before the row: a crash in between leaves an agent that takes them again, not ports held by nobody.
    await this.d.ports.release({ kind: 'agent', id });
    await this.repo.delete({ id });
    this.d.things.remove('agent', id);
    await rt.close();
    // Leftovers of a deleted agent are housekeeping: a failure there is logged, not the user's error.
    try {
      this.cgroups?.release(id);
      await rm(join(this.logsDir, id), { recursive: true, force: true });
    } catch (e) {
      this.d.logger.warn({ agent: id, err: (e as Error).message }, 'cleaning up after a deleted agent failed');
    }
  }

  /** 409 when it runs already; a start during a stop waits for the stop, then starts. */
  startAgent(id: string): Promise<AgentView> {
    return this.exclusive(id, async () => {
      const rt = this.agents.find(id);
      const status = rt.snapshot.status;
      if (status === 'starting' || status === 'running' || status === 'backoff') throw conflict(`agent ${id} is already ${status}`);
      await this.run(rt);
      return this.get(id);
    });
  }

  /** 409 only when it is stopped and meant to be; a failed agent stops trying at the next hub start. */
  stopAgent(id: string): Promise<AgentView> {
    this.agents.find(id).abandonReload();
    return this.exclusive(id, async () => {
      const rt = this.agents.find(id);
      if (!LIVE.has(rt.snapshot.status) && rt.row.desired === 'stopped') throw conflict(`agent ${id} is not running (${rt.snapshot.status})`);
      await this.persist(rt, { desired: 'stopped' });
      await rt.stop();
      return this.get(id);
    });
  }

  restartAgent(id: string): Promise<AgentView> {
    return this.exclusive(id, async () => {
      const rt = this.agents.find(id);
      await this.persist(rt, { desired: 'running', last_run: Date.now() });
      await rt.restart('user');
      await rt.startTriggers();
      return this.get(id);
    });
  }

  /**
   * Each instance in turn: a new process, ready, then the old one stops (409 and the old one kept
   * when the new one is not ready). A stopped agent just starts.
   */
  reloadAgent(id: string): Promise<AgentView & { reload: ReloadOutcome }> {
    this.agents.find(id);
    // Said at once rather than queued behind the reload asked before.
    if (this.reloads.has(id)) throw conflict(`agent ${id} is reloading already`);
    this.reloads.add(id);
    return this.exclusive(id, async () => {
      const rt = this.agents.find(id);
      if (!rt.running) {
        await this.run(rt);
        return { ...this.get(id), reload: { reloaded: 0, detail: 'it was not running: started' } };
      }
      await this.persist(rt, { desired: 'running', last_run: Date.now() });
      const reload = await rt.reload();
      return { ...this.get(id), reload };
    }).finally(() => this.reloads.delete(id));
  }

  /** As many instances as asked, without restarting the ones that run. */
  async scaleAgent(id: string, instances: number): Promise<AgentView> {
    return this.update(id, { instances });
  }

  async logs(id: string, stream: Stream, tail: number, instance = 0): Promise<string[]> {
    return this.agents.find(id).logs(instance).tail(stream, tail);
  }

  private get logsDir(): string {
    return join(this.d.dataDir, 'logs', 'agents');
  }

  /**
   * The changes of one agent run one at a time, each on what the one before left: no lost update,
   * and nothing started on an agent a delete or a stop has just dealt with. None begins once the
   * hub stops.
   */
  private exclusive<T>(id: string, act: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new HubError('unavailable', 'the hub is stopping'));
    const run = (this.queues.get(id) ?? Promise.resolve()).then(act);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(id, tail);
    void tail.then(() => {
      if (this.queues.get(id) === tail) this.queues.delete(id);
    });
    return run;
  }

  /**
   * At the hub's start, an agent whose ports cannot all be had (HEARTH_PORT_RANGE narrowed below
   * what is held) keeps what it holds, and the hub starts all the same.
   */
  private async portsAtStart(row: AgentRow): Promise<number[]> {
    try {
      return await this.portsOf(row.id, row.definition as AgentDefinition);
    } catch (e) {
      if (!(e instanceof HubError)) throw e;
      this.d.logger.warn({ agent: row.id, err: e.message }, 'the agent keeps the ports it holds');
      return await this.d.ports.of({ kind: 'agent', id: row.id });
    }
  }

  /** The ports an agent with `port: true` holds (allocated when missing), else none. */
  private async portsOf(id: string, def: AgentDefinition): Promise<number[]> {
    return def.port ? await this.d.ports.assign({ kind: 'agent', id }, def.instances ?? 1) : [];
  }

  private runtime(row: AgentRow, ports: number[]): AgentRuntime {
    const rt = new AgentRuntime(row, ports, {
      logsDir: this.logsDir,
      logLimits: this.d.logLimits,
      mqtt: this.d.mqtt,
      ha: this.d.ha,
      logger: this.d.logger,
      limits: (def) => enforcement(def.limits, this.d.cgroup),
      changed: (r) => this.onChanged(r),
      spawned: (r, pid) => this.limit(r, pid),
      oomKills: (r) => this.cgroups?.oomKills(r.id) ?? null,
      marker: (id) => this.marker(id),
      line: (r, instance, stream, line) => this.d.bus.emit('log.line', { kind: 'agent', id: r.id, stream, line, ...(instance > 0 ? { instance } : {}) }),
    });
    this.agents.set(row.id, rt);
    return rt;
  }

  /** Desired state first, then the act. */
  private async run(rt: AgentRuntime): Promise<void> {
    if (this.closed) return;
    await this.persist(rt, { desired: 'running', last_run: Date.now() });
    if (this.closed || this.agents.get(rt.id) !== rt) return;
    const starting = rt.start();
    // The new desired state, with the state the start has reached.
    this.publish(rt, true);
    await starting;
  }

  /** cgroup v2 limits for each new process of the agent, when the hub can write them. */
  private limit(rt: AgentRuntime, pid: number): void {
    if (!this.cgroups || !rt.definition.limits) return;
    try {
      this.cgroups.apply(rt.id, pid, rt.definition.limits);
    } catch (e) {
      this.d.logger.warn({ agent: rt.id, err: (e as Error).message }, 'could not apply cgroup limits');
    }
  }

  /**
   * A process of this agent from before the hub restarted (killed -9, say) is still there: it is
   * stopped before a new start, so the agent never runs twice. The pid alone is not proof: the
   * start time must match too.
   */
  private async stopLeftover(row: AgentRow): Promise<void> {
    const def = row.definition as AgentDefinition;
    const known = row.processes ?? (row.pid && row.pid_start_time ? [{ instance: 0, pid: row.pid, pid_start_time: row.pid_start_time }] : []);
    // The recorded processes, and any other that carries the agent's marker (one the hub was
    // killed before it could record): each group once.
    const groups = new Set(known.filter((p) => isSameProcess(p.pid, p.pid_start_time)).map((p) => p.pid));
    for (const pgid of groupsWithEnv(AGENT_MARKER, this.marker(row.id)).keys()) groups.add(pgid);
    await Promise.all(
      [...groups].map(async (pgid) => {
        // pid: the group's leader (an agent's process leads its own group, as a child that left it does).
        this.d.logger.info({ agent: row.id, pid: pgid }, 'stopping a leftover process of this agent from before the hub restarted');
        await stopGroup(pgid, def.stop_signal ?? 'SIGTERM', def.stop_timeout_s ?? 10);
      }),
    );
  }

  private marker(id: string): string {
    return `${id}@${resolve(this.d.dataDir)}`;
  }

  private onChanged(rt: AgentRuntime): void {
    if (this.agents.get(rt.id) !== rt) return;
    const s = rt.snapshot;
    this.publish(rt, s.status === 'starting');
    if (rt.loggedStatus !== s.status) {
      rt.loggedStatus = s.status;
      const level = s.status === 'failed' ? 'warn' : 'info';
      this.d.logger[level]({ agent: rt.id, status: s.status, reason: s.reason, pid: s.pid, exit_code: s.lastExitCode, signal: s.lastSignal }, `agent ${rt.id} ${s.status}`);
    }
    // Transient states (starting, stopping, backoff) are not worth a write: what recovery needs is
    // the pid of a running process and where things settled.
    const settled = s.status === 'running' || s.status === 'stopped' || s.status === 'failed';
    const changed =
      settled &&
      (rt.row.status !== s.status || rt.row.pid !== s.pid || rt.row.restarts !== s.restarts || rt.row.last_exit_code !== s.lastExitCode || JSON.stringify(rt.row.processes ?? []) !== JSON.stringify(rt.processes));
    if (changed) void this.persist(rt, {}).catch((e: unknown) => this.d.logger.error({ err: e, agent: rt.id }, 'saving agent state failed'));
  }

  /**
   * Shows the agent's state. `soon`: as of the end of this turn of the event loop instead, for
   * 'starting', which a start leaves within the same turn (a state nobody could act on is not worth
   * a message, and MQTT sends leave in the next turn at the earliest). Any other state goes at once.
   */
  private publish(rt: AgentRuntime, soon = false): void {
    if (soon) {
      this.unpublished.add(rt);
      return;
    }
    this.unpublished.forget(rt);
    this.d.things.upsert('agent', rt.id, rt.state());
  }

  /**
   * Writes the kernel's current view of the process, plus `patch` (desired, last_run), through
   * ThingRows: landed before the act that follows (what crash recovery needs). The definition is
   * written by create and update. A change of desired is published by the act that follows it.
   */
  private async persist(rt: AgentRuntime, patch: Partial<Pick<AgentRow, 'desired' | 'last_run'>>): Promise<void> {
    const s = rt.snapshot;
    const state = {
      status: s.status,
      status_reason: s.reason,
      health: rt.state().health,
      last_exit_code: s.lastExitCode,
      last_signal: s.lastSignal,
      restarts: s.restarts,
      pid: s.pid,
      pid_start_time: s.pidStartTime,
      processes: rt.processes,
      ...patch,
      updated_at: Date.now(),
    };
    rt.row = { ...rt.row, ...state };
    await this.rows.write(rt.id, state);
  }
}
