/** Entities as TypeORM EntitySchemas (no decorators): the same on SQLite and PostgreSQL. */
import { EntitySchema, type ValueTransformer } from 'typeorm';

/**
 * Epoch milliseconds: whole numbers going in (PostgreSQL's bigint refuses a fraction), numbers
 * coming out (PostgreSQL returns bigint as a string).
 */
const epochMs: ValueTransformer = {
  to: (v: number | null | undefined) => (typeof v === 'number' ? Math.round(v) : v),
  from: (v: string | number | null) => (v === null ? null : Number(v)),
};

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
  created_at: number;
  updated_at: number;
}

export const Agent = new EntitySchema<AgentRow>({
  name: 'Agent',
  tableName: 'agent',
  columns: {
    id: { type: String, primary: true, length: 100 },
    name: { type: String, length: 100 },
    type: { type: String, length: 50 },
    definition: { type: 'simple-json' },
    configuration: { type: 'simple-json' },
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
    created_at: { type: 'bigint', transformer: epochMs },
    updated_at: { type: 'bigint', transformer: epochMs },
  },
});

export const ENTITIES = [MetricSample, HiddenDevice, Agent];
