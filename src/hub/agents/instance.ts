/**
 * One copy of an agent (instance 0..N-1): its Program, log files, health check and usage. A reload
 * replaces its Program by a new one that proved ready (see replace()); everything else stays.
 */
import type { Logger } from '../logger.js';
import { groupListensOn } from '../ports/listening.js';
import type { HaAccess } from '../ha-access.js';
import type { MqttAccess } from '../mqtt-access.js';
import { HealthCheck, type CheckResult } from '../supervisor/health-checks.js';
import { MemoryWatch } from '../supervisor/limits.js';
import { AgentLogs, type LogLimits, type Stream } from '../supervisor/log-files.js';
import { childEnv } from '../supervisor/process-group.js';
import { Program, type ProgramState } from '../supervisor/program.js';
import { envValue } from '../secrets.js';
import { RESTART_DEFAULTS, type ProgramSpec } from '../supervisor/spec.js';
import { READY_TIMEOUT_S, ReadyWait, type Readiness, type ReadyEvent } from './readiness.js';
import type { AgentCreate } from './schema.js';

export type AgentDefinition = Omit<AgentCreate, 'name' | 'type' | 'configuration'>;

export interface Usage {
  cpu_percent: number;
  memory_bytes: number;
}

/** The variable every process of an agent carries: `<id>@<data dir>`, by which a restarted hub finds them all. */
export const AGENT_MARKER = 'HEARTH_AGENT';

/** What a definition means for the kernel, for one instance: defaults filled in, env merged over the hub's own. */
export function programSpec(def: AgentDefinition, instance = 0, port?: number, marker?: string): ProgramSpec {
  const own = Object.fromEntries(Object.entries(def.env ?? {}).map(([k, v]) => [k, envValue(v)]));
  // PM2's variable too, so programs written for PM2 cluster mode find their number.
  const env = childEnv({
    ...own,
    HEARTH_INSTANCE: String(instance),
    NODE_APP_INSTANCE: String(instance),
    ...(port === undefined ? {} : { PORT: String(port) }),
    ...(marker === undefined ? {} : { [AGENT_MARKER]: marker }),
  });
  return {
    command: def.command,
    args: def.args ?? [],
    cwd: def.cwd,
    env,
    stopSignal: def.stop_signal ?? 'SIGTERM',
    stopTimeoutS: def.stop_timeout_s ?? 10,
    restart: { ...RESTART_DEFAULTS, ...def.restart },
    ipc: def.ready_signal?.type === 'ipc',
  };
}

export interface InstanceDeps {
  logsDir: string;
  logLimits: LogLimits;
  mqtt: MqttAccess;
  ha: HaAccess;
  logger: Logger;
  definition: () => AgentDefinition;
  /** The agent's id, for the log. */
  agent: string;
  /** The agent's AGENT_MARKER value. */
  marker: string;
  /** Whether a memory limit is the hub's to enforce (no cgroup): restart when over it. */
  restartOverMemory: () => boolean;
  /** The kernel's count of OOM kills in the agent's cgroup, null without one. */
  oomKills: () => number | null;
  changed: (inst: AgentInstance) => void;
  spawned: (inst: AgentInstance, pid: number) => void;
  line: (inst: AgentInstance, stream: Stream, line: string) => void;
}

export class AgentInstance {
  private current: Program;
  /** A reload's new process, until it takes over or is given up. */
  private incoming: Program | null = null;
  readonly logs: AgentLogs;
  private check: HealthCheck | null = null;
  lastCheck: CheckResult | null = null;
  failures = 0;
  usage: Usage | null = null;
  private memoryWatch: MemoryWatch | null = null;
  /** Why the last exit happened, when the kernel's OOM killer did it; until the next spawn. */
  private oomExit: string | null = null;
  /** Set by abandonReplace(): the reload under way gives its new process up. */
  private abandoned = false;

  constructor(
    readonly index: number,
    public port: number | undefined,
    private readonly deps: InstanceDeps,
    initial: Partial<ProgramState> = {},
  ) {
    this.logs = new AgentLogs(deps.logsDir, deps.logLimits);
    this.logs.onLine((stream, line) => deps.line(this, stream, line));
    this.current = this.newProgram(initial);
    this.applyLimits();
  }

  get program(): Program {
    return this.current;
  }

  /** The program's state, with an exit by the kernel's OOM killer said as such. */
  get snapshot(): ProgramState {
    const s = this.current.snapshot;
    return this.oomExit && (s.reason === 'crashed' || s.reason === 'exited') ? { ...s, reason: this.oomExit } : s;
  }

  get spec(): ProgramSpec {
    return programSpec(this.deps.definition(), this.index, this.port, this.deps.marker);
  }

  /** A new definition or port: the kernel uses it from the next start. */
  redefine(port: number | undefined): void {
    this.port = port;
    this.current.setSpec(this.spec);
    this.applyLimits();
  }

  setUsage(u: Usage | null): boolean {
    const shown = (x: Usage | null): string => (x ? `${Math.round(x.cpu_percent * 10)}/${Math.round(x.memory_bytes / 65536)}` : '-');
    // Only a change a user could see counts (0.1 % CPU, 64 KiB of memory).
    const unchanged = shown(u) === shown(this.usage);
    this.usage = u;
    if (u && this.memoryWatch?.observe(u.memory_bytes)) {
      this.deps.logger.warn({ agent: this.deps.agent, instance: this.index, memory_bytes: u.memory_bytes }, 'agent stayed over its memory limit: restarting it');
      this.memoryWatch.reset();
      void this.current.restart('policy', 'memory_limit');
    }
    return !unchanged;
  }

  /**
   * A reload of this instance: a new process is started beside the running one; once it is ready
   * the old one stops, else the new one stops and the old one keeps running. A stopped instance
   * simply starts.
   */
  async replace(): Promise<Readiness> {
    const old = this.current;
    if (!old.running) {
      await old.restart('user');
      return { ready: true, detail: 'started' };
    }
    const def = this.deps.definition();
    // One spec for the check (programSpec copies the hub's environment each time).
    const spec = this.spec;
    const wait = new ReadyWait({
      signal: def.ready_signal,
      check: def.health_check,
      timeoutS: def.ready_timeout_s ?? READY_TIMEOUT_S,
      checkDeps: { mqtt: this.deps.mqtt, ha: this.deps.ha, cwd: spec.cwd, env: spec.env, port: this.port },
      ...(this.port === undefined ? {} : { port: this.port }),
      listens: groupListensOn,
    });
    const fresh = this.newProgram({ restarts: old.snapshot.restarts + 1, lastExitCode: old.snapshot.lastExitCode, lastSignal: old.snapshot.lastSignal }, (e) => wait.feed(e));
    this.incoming = fresh;
    this.abandoned = false;
    let result: Readiness;
    try {
      await fresh.start();
      result = await wait.result;
    } finally {
      this.incoming = null;
    }
    if (!result.ready || this.abandoned) {
      await fresh.stop();
      return this.abandoned ? { ready: false, detail: 'the reload was called off (the agent was stopped or deleted)' } : result;
    }
    this.current = fresh;
    this.stopCheck();
    await old.stop();
    this.onProgramState(fresh.snapshot);
    return result;
  }

  /** Stops its process, and a reload's new one if there is one. */
  async stop(): Promise<void> {
    await Promise.all([this.abandonReplace(), this.current.stop()]);
  }

  /** A reload under way stops its new process and gives up (the old one is not touched). */
  async abandonReplace(): Promise<void> {
    if (!this.incoming) return;
    this.abandoned = true;
    await this.incoming.stop();
  }

  /** What the instance shows: running states start the health check, and are passed on. */
  private onProgramState(s: ProgramState): void {
    if (s.status === 'running') this.startCheck();
    else this.stopCheck();
    if (s.status !== 'running') this.usage = null;
    this.deps.changed(this);
  }

  /**
   * A Program whose events count only while it is this instance's: during a reload the new one
   * reports to `watch` (readiness) until it takes over, and the old one's stop is nobody's news.
   */
  private newProgram(initial: Partial<ProgramState>, watch?: (e: ReadyEvent) => void): Program {
    let oomBefore: number | null = null;
    const p: Program = new Program(
      this.spec,
      {
        onState: (s) => {
          if (p === this.current) this.onProgramState(s);
          else watch?.({ state: s });
        },
        onOutput: (stream, chunk) => {
          this.logs.write(stream, chunk);
          if (p !== this.current && stream === 'stdout') watch?.({ output: chunk });
        },
        onMessage: (message) => {
          if (p !== this.current) watch?.({ message });
        },
        onSpawn: (pid) => {
          this.deps.spawned(this, pid);
          oomBefore = this.deps.oomKills();
          if (p === this.current) this.oomExit = null;
        },
        onExit: (code, signal) => {
          if (p === this.current) this.oomExit = this.killedOverMemory(code, signal, oomBefore);
        },
      },
      initial,
    );
    return p;
  }

  async close(): Promise<void> {
    this.stopCheck();
    await this.logs.close();
  }

  /**
   * The OOM killer's SIGKILL (or a shell's 137 for its child) while the group's count of OOM kills
   * grew: the kernel stopped it for its memory.
   */
  private killedOverMemory(code: number | null, signal: string | null, before: number | null): string | null {
    if (before === null || !(signal === 'SIGKILL' || code === 137)) return null;
    const now = this.deps.oomKills();
    if (now === null || now <= before) return null;
    const mb = this.deps.definition().limits?.memory_mb;
    this.deps.logger.warn({ agent: this.deps.agent, instance: this.index, memory_mb: mb }, 'agent killed by the kernel: over its memory limit');
    return `killed by the kernel: over its memory limit (memory_mb ${mb})`;
  }

  private applyLimits(): void {
    const mb = this.deps.definition().limits?.memory_mb;
    this.memoryWatch = mb && this.deps.restartOverMemory() ? new MemoryWatch(mb * 1024 * 1024) : null;
  }

  private startCheck(): void {
    this.stopCheck();
    const spec = this.deps.definition().health_check;
    if (!spec) return;
    const ps = this.spec;
    this.check = new HealthCheck(spec, { mqtt: this.deps.mqtt, ha: this.deps.ha, cwd: ps.cwd, env: ps.env, port: this.port });
    this.check.start((r) => {
      this.lastCheck = r;
      this.failures = r.ok ? 0 : this.failures + 1;
      const threshold = spec.failures ?? 3;
      if (this.failures >= threshold && spec.restart !== false) {
        this.deps.logger.warn({ agent: this.deps.agent, instance: this.index, detail: r.detail }, 'agent unhealthy: restarting it');
        this.failures = 0;
        void this.current.restart('policy', 'unhealthy');
      }
      this.deps.changed(this);
    });
  }

  private stopCheck(): void {
    this.check?.stop();
    this.check = null;
    this.failures = 0;
    this.lastCheck = null;
  }
}
