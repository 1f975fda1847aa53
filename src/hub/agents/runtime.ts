/**
 * One agent while the hub runs: its definition, the kernel's Program, its log files, its health
 * check, and its usage. It turns all of that into the agent's state; the manager persists it.
 */
import { join } from 'node:path';
import type { AgentRow } from '../db/schema.js';
import type { Logger } from '../logger.js';
import type { MqttAccess } from '../mqtt-access.js';
import { HealthCheck, type CheckResult } from '../supervisor/health-checks.js';
import { healthScore } from '../supervisor/health-score.js';
import { MemoryWatch } from '../supervisor/limits.js';
import { AgentLogs, type LogLimits, type Stream } from '../supervisor/log-files.js';
import { childEnv } from '../supervisor/process-group.js';
import { Program, type ProgramState } from '../supervisor/program.js';
import { envValue } from '../secrets.js';
import { RESTART_DEFAULTS, type ProgramSpec } from '../supervisor/spec.js';
import type { AgentCreate } from './schema.js';
import type { AgentState, LimitEnforcement } from './state.js';

export type AgentDefinition = Omit<AgentCreate, 'name' | 'type' | 'configuration'>;

export interface RuntimeDeps {
  logsDir: string;
  logLimits: LogLimits;
  mqtt: MqttAccess;
  logger: Logger;
  limits: (def: AgentDefinition) => LimitEnforcement;
  /** Called on every change of what the agent shows. */
  changed: (rt: AgentRuntime) => void;
  /** A new process of the agent is up (every start and restart). */
  spawned: (rt: AgentRuntime, pid: number) => void;
  line: (rt: AgentRuntime, stream: Stream, line: string) => void;
}

/** What a definition means for the kernel: defaults filled in, env merged over the hub's own. */
export function programSpec(def: AgentDefinition): ProgramSpec {
  const env = childEnv(Object.fromEntries(Object.entries(def.env ?? {}).map(([k, v]) => [k, envValue(v)])));
  return {
    command: def.command,
    args: def.args ?? [],
    cwd: def.cwd,
    env,
    stopSignal: def.stop_signal ?? 'SIGTERM',
    stopTimeoutS: def.stop_timeout_s ?? 10,
    restart: { ...RESTART_DEFAULTS, ...def.restart },
  };
}

export class AgentRuntime {
  readonly program: Program;
  readonly logs: AgentLogs;
  private check: HealthCheck | null = null;
  private lastCheck: CheckResult | null = null;
  private failures = 0;
  private usage: { cpu_percent: number; memory_bytes: number } | null = null;
  private memoryWatch: MemoryWatch | null = null;
  /** The status last written to the hub's log. */
  loggedStatus: string | null = null;

  constructor(
    public row: AgentRow,
    private readonly deps: RuntimeDeps,
  ) {
    this.logs = new AgentLogs(join(deps.logsDir, row.id), deps.logLimits);
    this.logs.onLine((stream, line) => deps.line(this, stream, line));
    this.program = new Program(
      programSpec(this.definition),
      {
        onState: (s) => this.onProgramState(s),
        onOutput: (stream, chunk) => this.logs.write(stream, chunk),
        onSpawn: (pid) => deps.spawned(this, pid),
      },
      {
        restarts: row.restarts,
        lastExitCode: row.last_exit_code,
        lastSignal: row.last_signal,
      },
    );
    this.applyLimits();
  }

  get id(): string {
    return this.row.id;
  }

  get definition(): AgentDefinition {
    return this.row.definition as AgentDefinition;
  }

  /** A new definition: the kernel uses it from the next start. */
  redefine(row: AgentRow): void {
    this.row = row;
    this.program.setSpec(programSpec(this.definition));
    this.applyLimits();
    this.deps.changed(this);
  }

  /** From the sampler: CPU and memory of the whole process group. */
  setUsage(u: { cpu_percent: number; memory_bytes: number } | null): void {
    const shown = (x: typeof u): string => (x ? `${Math.round(x.cpu_percent * 10)}/${Math.round(x.memory_bytes / 65536)}` : '-');
    // Only a change a user could see goes out (0.1 % CPU, 64 KiB of memory).
    const unchanged = shown(u) === shown(this.usage);
    this.usage = u;
    if (u && this.memoryWatch?.observe(u.memory_bytes)) {
      this.deps.logger.warn({ agent: this.id, memory_bytes: u.memory_bytes }, 'agent stayed over its memory limit: restarting it');
      this.memoryWatch.reset();
      void this.program.restart('policy', 'memory_limit');
    }
    if (!unchanged) this.deps.changed(this);
  }

  state(): AgentState {
    const p = this.program.snapshot;
    const running = p.status === 'running';
    const check = this.definition.health_check;
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
      health: healthScore({
        running,
        consecutiveFailures: this.failures,
        failuresThreshold: check ? (check.failures ?? 3) : null,
        recentRestarts: this.program.recentRestartCount,
      }),
      health_check: this.lastCheck ? { ok: this.lastCheck.ok, detail: this.lastCheck.detail, at: new Date(this.lastCheck.at).toISOString() } : null,
      cpu_percent: running && this.usage ? Math.round(this.usage.cpu_percent * 10) / 10 : null,
      memory_bytes: running && this.usage ? this.usage.memory_bytes : null,
      problem: p.status === 'failed',
      limits: this.deps.limits(this.definition),
    };
  }

  async close(): Promise<void> {
    this.stopCheck();
    await this.logs.close();
  }

  private applyLimits(): void {
    const mb = this.definition.limits?.memory_mb;
    this.memoryWatch = mb && this.deps.limits(this.definition).memory === 'restart' ? new MemoryWatch(mb * 1024 * 1024) : null;
  }

  private onProgramState(s: ProgramState): void {
    if (s.status === 'running') this.startCheck();
    else this.stopCheck();
    if (s.status !== 'running') this.usage = null;
    this.deps.changed(this);
  }

  private startCheck(): void {
    this.stopCheck();
    const spec = this.definition.health_check;
    if (!spec) return;
    const ps = programSpec(this.definition);
    this.check = new HealthCheck(spec, { mqtt: this.deps.mqtt, cwd: ps.cwd, env: ps.env });
    this.check.start((r) => {
      this.lastCheck = r;
      this.failures = r.ok ? 0 : this.failures + 1;
      const threshold = spec.failures ?? 3;
      if (this.failures >= threshold && spec.restart !== false) {
        this.deps.logger.warn({ agent: this.id, detail: r.detail }, 'agent unhealthy: restarting it');
        this.failures = 0;
        void this.program.restart('policy', 'unhealthy');
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
