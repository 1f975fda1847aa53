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

export const ENTITIES = [MetricSample, HiddenDevice];
