/** Entities as TypeORM EntitySchemas (no decorators): the same on SQLite and PostgreSQL. */
import { EntitySchema } from 'typeorm';
import { epochMs } from './columns.js';
import { ApiToken, AuditEntry, HearthUser, HubMeta } from './users-schema.js';


export interface MetricSampleRow {
  id?: number;
  /** Epoch milliseconds of the sample, or of the bucket's start once compacted. */
  ts: number;
  /** Seconds this row stands for: the sample interval, or the compaction bucket. */
  resolution: number;
  /** flattenMetrics() of the sample(s), averaged when compacted. */
  values: Record<string, number>;
}

export const MetricSample = new EntitySchema<MetricSampleRow>({
  name: 'MetricSample',
  tableName: 'metric_sample',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    ts: { type: 'bigint', transformer: epochMs },
    resolution: { type: 'integer' },
    values: { type: 'simple-json' },
  },
  indices: [{ name: 'idx_metric_sample_ts', columns: ['ts'] }],
});

export interface HiddenDeviceRow {
  /** The discovery object id Home Assistant deleted (hearth_<node>_<kind>_<id>). */
  device_id: string;
  /** Epoch milliseconds. */
  hidden_at: number;
}

export const HiddenDevice = new EntitySchema<HiddenDeviceRow>({
  name: 'HiddenDevice',
  tableName: 'hidden_device',
  columns: {
    device_id: { type: String, primary: true, length: 200 },
    hidden_at: { type: 'bigint', transformer: epochMs },
  },
});

/** The columns of a thing the user defines (agent, device): its id, name, label and definition. */
const definedThing = {
  id: { type: String, primary: true, length: 100 },
  name: { type: String, length: 100 },
  type: { type: String, length: 50 },
  definition: { type: 'simple-json' },
  configuration: { type: 'simple-json' },
} as const;

/** An agent as stored (the Myntrix agent columns: status, health, last_run, configuration). */
export interface AgentRow {
  id: string;
  name: string;
  type: string;
  /** The definition as the user gave it (AgentCreate without name, type and configuration). */
  definition: Record<string, unknown>;
  configuration: Record<string, unknown>;
  /** What the user last asked: written before it is acted on, so a crash cannot lose it. */
  desired: 'running' | 'stopped';
  status: string;
  status_reason: string | null;
  health: number;
  last_run: number | null;
  last_exit_code: number | null;
  last_signal: string | null;
  restarts: number;
  pid: number | null;
  /** With pid, tells the agent's process from a later one that reuses the pid. */
  pid_start_time: string | null;
  /** Every instance's process (instance 0 is also pid and pid_start_time): what a restarted hub stops. */
  processes: AgentProcessRow[] | null;
  created_at: number;
  updated_at: number;
}

/** One instance's process as stored, for crash recovery. */
export interface AgentProcessRow {
  instance: number;
  pid: number;
  pid_start_time: string;
}

export const Agent = new EntitySchema<AgentRow>({
  name: 'Agent',
  tableName: 'agent',
  columns: {
    ...definedThing,
    desired: { type: String, length: 10 },
    status: { type: String, length: 20 },
    status_reason: { type: String, length: 200, nullable: true },
    health: { type: 'integer' },
    last_run: { type: 'bigint', nullable: true, transformer: epochMs },
    last_exit_code: { type: 'integer', nullable: true },
    last_signal: { type: String, length: 20, nullable: true },
    restarts: { type: 'integer' },
    pid: { type: 'integer', nullable: true },
    pid_start_time: { type: String, length: 30, nullable: true },
    processes: { type: 'simple-json', nullable: true },
    created_at: { type: 'bigint', transformer: epochMs },
    updated_at: { type: 'bigint', transformer: epochMs },
  },
});

/** One execution (a task run now; app runs, installs, deploys, uploads later). See jobs/types.ts. */
export interface JobRow {
  id?: number;
  kind: string;
  task_id: string | null;
  device_id: string | null;
  trigger: string;
  status: string;
  progress: number;
  attempt: number;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  exit_code: number | null;
  error: string | null;
  steps: Array<{ at: string; message: string }>;
  stdout_tail: string[];
  stderr_tail: string[];
  /** The process the job's action started, while it runs: stopped at the next start if the hub died. */
  pid: number | null;
  /** With pid, tells that process from a later one that reuses the pid. */
  pid_start_time: string | null;
}

export const Job = new EntitySchema<JobRow>({
  name: 'Job',
  tableName: 'job',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    kind: { type: String, length: 20 },
    task_id: { type: String, length: 100, nullable: true },
    device_id: { type: String, length: 100, nullable: true },
    trigger: { type: String, length: 30 },
    status: { type: String, length: 20 },
    progress: { type: 'integer' },
    attempt: { type: 'integer' },
    created_at: { type: 'bigint', transformer: epochMs },
    started_at: { type: 'bigint', nullable: true, transformer: epochMs },
    ended_at: { type: 'bigint', nullable: true, transformer: epochMs },
    exit_code: { type: 'integer', nullable: true },
    error: { type: String, length: 500, nullable: true },
    steps: { type: 'simple-json' },
    stdout_tail: { type: 'simple-json' },
    stderr_tail: { type: 'simple-json' },
    pid: { type: 'integer', nullable: true },
    pid_start_time: { type: String, length: 30, nullable: true },
  },
  indices: [
    { name: 'idx_job_task_id', columns: ['task_id'] },
    { name: 'idx_job_device_id', columns: ['device_id'] },
    { name: 'idx_job_status', columns: ['status'] },
    { name: 'idx_job_created_at', columns: ['created_at'] },
  ],
});

export interface TaskRow {
  id: string;
  name: string;
  /** The task as given, without its name. */
  definition: Record<string, unknown>;
  enabled: boolean;
  last_run: number | null;
  last_result: string | null;
  last_duration_ms: number | null;
  /** The last schedule instant the hub handled: what catch-up compares against. */
  last_scheduled: number | null;
  created_at: number;
  updated_at: number;
}

export const Task = new EntitySchema<TaskRow>({
  name: 'Task',
  tableName: 'task',
  columns: {
    id: { type: String, primary: true, length: 100 },
    name: { type: String, length: 100 },
    definition: { type: 'simple-json' },
    enabled: { type: Boolean },
    last_run: { type: 'bigint', nullable: true, transformer: epochMs },
    last_result: { type: String, length: 20, nullable: true },
    last_duration_ms: { type: 'bigint', nullable: true, transformer: epochMs },
    last_scheduled: { type: 'bigint', nullable: true, transformer: epochMs },
    created_at: { type: 'bigint', transformer: epochMs },
    updated_at: { type: 'bigint', transformer: epochMs },
  },
});

/** A device as stored (the Myntrix device columns: status, last_seen, firmware_version, configuration). */
export interface DeviceRow {
  id: string;
  name: string;
  type: string;
  /** The definition as the user gave it (DeviceCreate without name, type and configuration). */
  definition: Record<string, unknown>;
  configuration: Record<string, unknown>;
  /** Whether the user wants it connected: written before it is acted on. */
  desired: 'connected' | 'disconnected';
  status: string;
  status_reason: string | null;
  last_seen: number | null;
  firmware_version: string | null;
  created_at: number;
  updated_at: number;
}

export const Device = new EntitySchema<DeviceRow>({
  name: 'Device',
  tableName: 'device',
  columns: {
    ...definedThing,
    desired: { type: String, length: 15 },
    status: { type: String, length: 20 },
    status_reason: { type: String, length: 300, nullable: true },
    last_seen: { type: 'bigint', nullable: true, transformer: epochMs },
    firmware_version: { type: String, length: 200, nullable: true },
    created_at: { type: 'bigint', transformer: epochMs },
    updated_at: { type: 'bigint', transformer: epochMs },
  },
});

/** A port the hub gave one instance of an agent (or app) as its PORT: kept across restarts, until released. */
export interface PortAllocationRow {
  /** The primary key: no two owners can ever hold one port, whatever races. */
  port: number;
  owner_kind: 'agent' | 'app';
  owner_id: string;
  instance: number;
  allocated_at: number;
}

export const PortAllocation = new EntitySchema<PortAllocationRow>({
  name: 'PortAllocation',
  tableName: 'port_allocation',
  columns: {
    port: { type: 'integer', primary: true },
    owner_kind: { type: String, length: 10 },
    owner_id: { type: String, length: 100 },
    instance: { type: 'integer' },
    allocated_at: { type: 'bigint', transformer: epochMs },
  },
  uniques: [{ name: 'uq_port_allocation_owner', columns: ['owner_kind', 'owner_id', 'instance'] }],
});

export const ENTITIES = [MetricSample, HiddenDevice, Agent, Job, Task, Device, HearthUser, ApiToken, AuditEntry, HubMeta, PortAllocation];
