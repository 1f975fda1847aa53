/**
 * Metric history in the database: every sample for a day, then averaged into 5-minute rows, and
 * nothing older than the retention. Queries average again into the step the caller asks for.
 */
import { Between, LessThan, type DataSource, type Repository } from 'typeorm';
import { rowWriter, type RowWriter } from '../db/row-writer.js';
import { insert } from '../db/statements.js';
import { MetricSample, type MetricSampleRow } from '../db/schema.js';
import { invalid } from '../errors.js';

export const RAW_KEEP_MS = 24 * 3600_000;
export const COMPACT_BUCKET_S = 300;
/** At most this many points in one answer; a smaller step is widened to fit. */
export const MAX_POINTS = 2000;

export interface HistoryPoint {
  /** ISO time of the bucket's start. */
  t: string;
  values: Record<string, number>;
}

export interface HistoryAnswer {
  since: string;
  until: string;
  step: number;
  series: string[];
  points: HistoryPoint[];
}

/** Averages rows into buckets of `stepS` seconds, per series, each row weighted by the time it stands for. */
export function bucketAverage(rows: MetricSampleRow[], stepS: number, originMs: number): HistoryPoint[] {
  const stepMs = stepS * 1000;
  const buckets = new Map<number, { sums: Record<string, number>; counts: Record<string, number> }>();
  for (const row of rows) {
    const start = originMs + Math.floor((row.ts - originMs) / stepMs) * stepMs;
    let b = buckets.get(start);
    if (!b) buckets.set(start, (b = { sums: {}, counts: {} }));
    const weight = Math.max(1, row.resolution);
    for (const [k, v] of Object.entries(row.values)) {
      b.sums[k] = (b.sums[k] ?? 0) + v * weight;
      b.counts[k] = (b.counts[k] ?? 0) + weight;
    }
  }
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([start, b]) => ({
      t: new Date(start).toISOString(),
      values: Object.fromEntries(Object.keys(b.sums).map((k) => [k, Math.round((b.sums[k]! / b.counts[k]!) * 100) / 100])),
    }));
}

export class MetricHistory {
  private readonly repo: Repository<MetricSampleRow>;
  private readonly writer: RowWriter;

  constructor(
    private readonly db: DataSource,
    private readonly retentionDays: number,
  ) {
    this.repo = db.getRepository(MetricSample);
    this.writer = rowWriter(db);
  }

  /** Every sample: a prepared statement, not TypeORM's insert (which plans it anew each time). */
  async record(ts: number, resolution: number, values: Record<string, number>): Promise<void> {
    await this.writer.write(() => [insert('metric_sample', { ts, resolution, values })]);
  }

  /**
   * History between two instants as people write them: ISO time, epoch milliseconds, or a
   * duration before now (`6h`); since defaults to an hour ago, until to now.
   */
  async between(since: string | undefined, until: string | undefined, step: number | undefined): Promise<HistoryAnswer> {
    const now = Date.now();
    const from = parseInstant('since', since ?? '1h', now);
    const to = until === undefined ? now : parseInstant('until', until, now);
    if (from >= to) throw invalid('since must be before until');
    return this.query(from, to, step);
  }

  async query(sinceMs: number, untilMs: number, requestedStep: number | undefined): Promise<HistoryAnswer> {
    const span = Math.max(1, (untilMs - sinceMs) / 1000);
    const minStep = Math.ceil(span / MAX_POINTS);
    const step = Math.max(requestedStep ?? Math.ceil(span / 300), minStep, 1);
    const rows = await this.repo.find({ where: { ts: Between(sinceMs, untilMs) }, order: { ts: 'ASC' } });
    const points = bucketAverage(rows, step, sinceMs);
    const series = [...new Set(points.flatMap((p) => Object.keys(p.values)))].sort();
    return { since: new Date(sinceMs).toISOString(), until: new Date(untilMs).toISOString(), step, series, points };
  }

  /** Averages day-old samples into 5-minute rows and deletes what is past retention. */
  async maintain(now: number): Promise<{ compacted: number; deleted: number }> {
    const deleted = (await this.repo.delete({ ts: LessThan(now - this.retentionDays * 86400_000) })).affected ?? 0;
    // On a bucket boundary, so no bucket is split between two compactions.
    const bucketMs = COMPACT_BUCKET_S * 1000;
    const cutoff = Math.floor((now - RAW_KEEP_MS) / bucketMs) * bucketMs;
    const raw = { ts: LessThan(cutoff), resolution: LessThan(COMPACT_BUCKET_S) };
    const old = await this.repo.find({ where: raw, order: { ts: 'ASC' } });
    if (old.length === 0) return { compacted: 0, deleted };
    const points = bucketAverage(old, COMPACT_BUCKET_S, 0);
    await this.db.transaction(async (tx) => {
      const repo = tx.getRepository(MetricSample);
      await repo.delete(raw);
      await repo.insert(points.map((p) => ({ ts: Date.parse(p.t), resolution: COMPACT_BUCKET_S, values: p.values })));
    });
    return { compacted: old.length, deleted };
  }
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000, d: 86400_000 };

/** since/until: an ISO time, epoch milliseconds, or a duration before now. */
export function parseInstant(name: string, raw: string, now: number): number {
  const ago = /^-?(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(raw);
  if (ago) return now - Number(ago[1]) * UNITS[ago[2]!]!;
  if (/^\d{10,}$/.test(raw)) return Number(raw);
  const t = Date.parse(raw);
  if (Number.isNaN(t)) throw invalid(`${name}: "${raw}" is not a time (ISO 8601, epoch ms, or a duration like 6h)`);
  return t;
}
