/**
 * HEARTH_METRICS_RETENTION_DAYS through the hub: history keeps every sample for a day, then
 * 5-minute averages, and nothing older than the retention. The hub tidies its history when it
 * starts (and hourly after), so the test writes old samples into the hub's database and starts
 * it again on the same data dir.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DataSource } from 'typeorm';
import { MetricSample } from '../src/hub/db/schema.js';
import { startHub, type HubHandle } from './helpers/hub.js';

const MIN = 60_000;
const DAY = 86_400_000;
const BUCKET = 5 * MIN;

interface History {
  step: number;
  points: Array<{ t: string; values: Record<string, number> }>;
}

/** The history answer between two instants, one point per minute, as `[time, cpu]`. */
async function cpuPerMinute(h: HubHandle, since: number, until: number): Promise<Array<[string, number | undefined]>> {
  const r = await h.api<History>('GET', `/api/system-metrics/history?since=${since}&until=${until}&step=60`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.step, 60);
  return r.body.points.map((p) => [p.t, p.values.test_cpu]);
}

const at = (ms: number): string => new Date(ms).toISOString();

describe('metric history retention', () => {
  it('keeps raw samples for a day, then 5-minute averages, and drops what is older than HEARTH_METRICS_RETENTION_DAYS', async () => {
    // One sample for the whole test: the rows it writes are now, far from the ones written here.
    const env = { HEARTH_METRICS_RETENTION_DAYS: '4', HEARTH_METRICS_INTERVAL: '3600' };
    const first = await startHub(env);
    const now = Date.now();
    // Bucket boundaries, so which samples share a 5-minute average is known.
    const recent = Math.floor((now - 2 * 3600_000) / BUCKET) * BUCKET;
    const older = Math.floor((now - 3 * DAY) / BUCKET) * BUCKET;
    const expired = Math.floor((now - 5 * DAY) / BUCKET) * BUCKET;
    const sample = (ts: number, cpu: number) => ({ ts, resolution: 10, values: { test_cpu: cpu } });
    const db = (first.hub as unknown as { db: DataSource }).db;
    await db.getRepository(MetricSample).insert([
      // Past the 4 days kept: gone (the default of 7 days would keep them).
      sample(expired, 91),
      sample(expired + MIN, 92),
      // Three days old: averaged per 5 minutes, the first bucket from 3 samples, the next from 2.
      sample(older, 10),
      sample(older + MIN, 20),
      sample(older + 2 * MIN, 60),
      sample(older + BUCKET + MIN, 40),
      sample(older + BUCKET + 3 * MIN, 50),
      // Two hours old: kept as they are, though they share a 5-minute bucket.
      sample(recent, 70),
      sample(recent + MIN, 80),
    ]);
    // Written as the test means it: every sample is there before the hub tidies.
    assert.equal((await cpuPerMinute(first, expired - BUCKET, expired + BUCKET)).length, 2);
    assert.equal((await cpuPerMinute(first, older - BUCKET, older + 3 * BUCKET)).length, 5);
    await first.stop();

    const h = await startHub(env, first.dataDir);
    assert.deepEqual(await cpuPerMinute(h, expired - BUCKET, expired + BUCKET), [], 'older than the retention: removed');
    assert.deepEqual(
      await cpuPerMinute(h, older - BUCKET, older + 3 * BUCKET),
      [
        [at(older), 30],
        [at(older + BUCKET), 45],
      ],
      'older than a day: one average per 5 minutes, at the start of its bucket',
    );
    assert.deepEqual(
      await cpuPerMinute(h, recent - BUCKET, recent + BUCKET),
      [
        [at(recent), 70],
        [at(recent + MIN), 80],
      ],
      'within a day: every sample',
    );
    await h.stop();
  });
});
