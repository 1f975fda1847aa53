/**
 * The database layer on both backends it supports, with the same cases: SQLite in a temp data dir
 * and a private, real PostgreSQL cluster.
 */
import { MIGRATIONS } from '../src/hub/db/migrations/index.js';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DataSource } from 'typeorm';
import { openDatabase, type DatabaseOptions } from '../src/hub/db/data-source.js';
import { HiddenDevice, MetricSample, type MetricSampleRow } from '../src/hub/db/schema.js';
import { COMPACT_BUCKET_S, MAX_POINTS, MetricHistory, RAW_KEEP_MS, bucketAverage } from '../src/hub/metrics/history.js';
import { DiscoveryVisibility } from '../src/hub/discovery-visibility.js';
import { EventBus, type BusEvents } from '../src/hub/events.js';
import { createLogger } from '../src/hub/logger.js';
import { createDatabase, startPostgres } from './helpers/postgres.js';
import { tempDir } from './helpers/tmp.js';

const base = tempDir('hearth-db-test-');
const MIN = 60_000;
const DAY = 86_400_000;
/** A fixed, 5-minute-aligned "now" so bucket edges are known. */
const NOW = Date.UTC(2025, 5, 1, 12, 0, 0);

interface Backend {
  name: 'sqlite' | 'postgres';
  setup(): Promise<void>;
  /** Options for a database nobody has opened yet. */
  fresh(): Promise<DatabaseOptions>;
}

const sqlite: Backend = {
  name: 'sqlite',
  async setup() {},
  async fresh() {
    return { dataDir: mkdtempSync(join(base, 'sqlite-')), url: '' };
  },
};

let pgUrl = '';
let pgDbs = 0;
const postgres: Backend = {
  name: 'postgres',
  async setup() {
    const t0 = performance.now();
    pgUrl = (await startPostgres()).url;
    console.log(`postgres started in ${Math.round(performance.now() - t0)} ms`);
  },
  async fresh() {
    // One database per test: every test starts from an empty, unmigrated schema.
    const name = `hearth_case_${++pgDbs}`;
    return { dataDir: base, url: await createDatabase(pgUrl, name) };
  },
};

/** Every DataSource a test opened is closed when the file ends, even after a failure. */
const open = new Set<DataSource>();
async function openDb(o: DatabaseOptions): Promise<DataSource> {
  const ds = await openDatabase(o);
  open.add(ds);
  return ds;
}
async function closeDb(ds: DataSource): Promise<void> {
  open.delete(ds);
  if (ds.isInitialized) await ds.destroy();
}
after(async () => {
  for (const ds of [...open]) await closeDb(ds);
});

async function allSamples(ds: DataSource): Promise<MetricSampleRow[]> {
  return ds.getRepository(MetricSample).find({ order: { ts: 'ASC', id: 'ASC' } });
}

for (const b of [sqlite, postgres]) {
  describe(`database on ${b.name}`, () => {
    before(() => b.setup());

    it('runs the migrations on open, and opening again is a no-op that keeps the data', async () => {
      const o = await b.fresh();
      const ds = await openDb(o);
      assert.equal(await ds.showMigrations(), false, 'no migration pending after open');
      const applied = (await ds.query('SELECT name FROM migrations')) as Array<{ name: string }>;
      assert.deepEqual(
        applied.map((r) => r.name),
        MIGRATIONS.map((m) => new m().name),
      );
      await new MetricHistory(ds, 7).record(NOW, 10, { cpu_percent: 12.5, 'disk./': 40 });
      await ds.getRepository(HiddenDevice).insert({ device_id: 'hearth_n1_program_web', hidden_at: NOW });
      await closeDb(ds);

      const again = await openDb(o);
      assert.equal(await again.showMigrations(), false);
      assert.equal(((await again.query('SELECT name FROM migrations')) as unknown[]).length, MIGRATIONS.length, 'each migration ran once');
      const rows = await allSamples(again);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.ts, NOW);
      assert.equal(typeof rows[0]!.ts, 'number', 'bigint comes back as a number');
      assert.equal(rows[0]!.resolution, 10);
      assert.deepEqual(rows[0]!.values, { cpu_percent: 12.5, 'disk./': 40 });
      assert.deepEqual(await again.getRepository(HiddenDevice).find(), [{ device_id: 'hearth_n1_program_web', hidden_at: NOW }]);
      await closeDb(again);

      const third = await openDb(o);
      assert.equal((await allSamples(third)).length, 1);
      await closeDb(third);
    });

    if (b.name === 'sqlite') {
      it('is in WAL mode, with the busy timeout and synchronous=NORMAL', async () => {
        const ds = await openDb(await b.fresh());
        assert.deepEqual(await ds.query('PRAGMA journal_mode'), [{ journal_mode: 'wal' }]);
        assert.deepEqual(await ds.query('PRAGMA busy_timeout'), [{ timeout: 5000 }]);
        assert.deepEqual(await ds.query('PRAGMA synchronous'), [{ synchronous: 1 }]);
        await closeDb(ds);
      });
    }

    describe('MetricHistory', () => {
      it('records, then averages into step buckets from `since`, within [since, until]', async () => {
        const ds = await openDb(await b.fresh());
        const h = new MetricHistory(ds, 7);
        const since = NOW - 10 * MIN + 7_000; // not aligned to anything: buckets start at `since`
        const until = since + 180_000;
        const at = (s: number): number => since + s * 1000;
        await h.record(since - 1, 10, { a: 1000 }); // before since: ignored
        await h.record(at(0), 10, { a: 1, b: 10 });
        await h.record(at(10), 10, { a: 3 });
        await h.record(at(30), 10, { a: 5, b: 20 });
        await h.record(at(59), 10, { a: 7 });
        await h.record(at(60), 10, { a: 1, c: 0.1 });
        await h.record(at(70), 10, { a: 2, c: 0.2 });
        await h.record(at(119), 10, { a: 2, b: 4 });
        await h.record(at(180), 10, { a: 100 }); // exactly until: included
        await h.record(until + 1, 10, { a: 2000 }); // after until: ignored

        const ans = await h.query(since, until, 60);
        assert.equal(ans.step, 60);
        assert.equal(ans.since, new Date(since).toISOString());
        assert.equal(ans.until, new Date(until).toISOString());
        assert.deepEqual(ans.series, ['a', 'b', 'c']);
        assert.deepEqual(ans.points, [
          { t: new Date(at(0)).toISOString(), values: { a: 4, b: 15 } },
          { t: new Date(at(60)).toISOString(), values: { a: 1.67, b: 4, c: 0.15 } },
          { t: new Date(at(180)).toISOString(), values: { a: 100 } },
        ]);

        // No step asked: span / 300, so 180 s -> 1 s buckets, one per sample.
        const fine = await h.query(since, until, undefined);
        assert.equal(fine.step, 1);
        assert.equal(fine.points.length, 8);
        // A step wider than the span: one bucket.
        const one = await h.query(since, until, 3600);
        assert.equal(one.step, 3600);
        assert.deepEqual(one.points, [{ t: new Date(since).toISOString(), values: { a: 15.13, b: 11.33, c: 0.15 } }]);
        // Nothing in range.
        const none = await h.query(until + 10_000, until + 20_000, 1);
        assert.deepEqual(none.series, []);
        assert.deepEqual(none.points, []);
        await closeDb(ds);
      });

      it(`widens the step so an answer never has more than MAX_POINTS (${MAX_POINTS}) points`, async () => {
        const ds = await openDb(await b.fresh());
        const h = new MetricHistory(ds, 30);
        const since = NOW - 10 * DAY;
        const until = NOW;
        // 2100 samples, 400 s apart: more points than MAX_POINTS at any step below 400 s.
        const rows = Array.from({ length: 2100 }, (_, i) => ({ ts: since + i * 400_000, resolution: 10, values: { a: i } }));
        const repo = ds.getRepository(MetricSample);
        for (let i = 0; i < rows.length; i += 300) await repo.insert(rows.slice(i, i + 300));
        assert.equal(bucketAverage(rows, 1, since).length, 2100, 'the data would give 2100 points at 1 s');

        const minStep = Math.ceil((10 * DAY) / 1000 / MAX_POINTS); // 432
        for (const requested of [1, 60, 431]) {
          const ans = await h.query(since, until, requested);
          assert.equal(ans.step, minStep, `requested ${requested}`);
          assert.ok(ans.points.length <= MAX_POINTS, `${ans.points.length} points`);
          assert.ok(ans.points.length > 1900);
          for (const p of ans.points) assert.equal((Date.parse(p.t) - since) % (minStep * 1000), 0);
        }
        // No step asked: span / 300, already above the minimum.
        assert.equal((await h.query(since, until, undefined)).step, 2880);
        // Wider than the minimum stays as asked: 2100 samples over 839,600 s -> 234 hours.
        const hourly = await h.query(since, until, 3600);
        assert.equal(hourly.step, 3600);
        assert.equal(hourly.points.length, 234);
        // A short span keeps a 1 s step.
        assert.equal((await h.query(since, since + 100_000, 1)).step, 1);
        await closeDb(ds);
      });

      it('maintain(now) deletes past retention, compacts day-old samples into 300 s averages, leaves recent ones', async () => {
        const ds = await openDb(await b.fresh());
        const retentionDays = 7;
        const h = new MetricHistory(ds, retentionDays);
        const repo = ds.getRepository(MetricSample);
        const retentionEdge = NOW - retentionDays * DAY;
        const cutoff = NOW - RAW_KEEP_MS;
        const B = NOW - 2 * DAY; // 300 s aligned (NOW is)
        assert.equal(B % (COMPACT_BUCKET_S * 1000), 0);

        // Past retention: deleted, raw or compacted.
        await h.record(NOW - 8 * DAY, 10, { a: 1 });
        await h.record(retentionEdge - 1, COMPACT_BUCKET_S, { a: 2 });
        // Exactly at the retention edge, already compacted: kept as is.
        await h.record(retentionEdge, COMPACT_BUCKET_S, { a: 3 });
        // Already compacted, day-old: not compacted again.
        await h.record(B - 300_000, COMPACT_BUCKET_S, { a: 99 });
        // Day-old raw samples in two 5-minute buckets.
        await h.record(B, 10, { a: 1, b: 2 });
        await h.record(B + 10_000, 10, { a: 2 });
        await h.record(B + 290_000, 10, { a: 6, b: 4 });
        await h.record(B + 300_000, 10, { a: 10 });
        await h.record(B + 599_999, 10, { a: 20, c: 0.5 });
        // Not older than a day: untouched.
        await h.record(cutoff, 10, { a: 40 });
        await h.record(cutoff + 1000, 10, { a: 50 });
        await h.record(NOW - 1000, 10, { a: 60 });
        const before = await allSamples(ds);
        assert.equal(before.length, 12);
        const recentBefore = before.filter((r) => r.ts >= cutoff);

        assert.deepEqual(await h.maintain(NOW), { compacted: 5, deleted: 2 });
        const afterRows = await allSamples(ds);
        assert.deepEqual(
          afterRows.map(({ ts, resolution, values }) => ({ ts, resolution, values })),
          [
            { ts: retentionEdge, resolution: 300, values: { a: 3 } },
            { ts: B - 300_000, resolution: 300, values: { a: 99 } },
            { ts: B, resolution: 300, values: { a: 3, b: 3 } },
            { ts: B + 300_000, resolution: 300, values: { a: 15, c: 0.5 } },
            { ts: cutoff, resolution: 10, values: { a: 40 } },
            { ts: cutoff + 1000, resolution: 10, values: { a: 50 } },
            { ts: NOW - 1000, resolution: 10, values: { a: 60 } },
          ],
        );
        // The recent rows are the very same rows (ids too).
        assert.deepEqual(
          afterRows.filter((r) => r.ts >= cutoff),
          recentBefore,
        );
        assert.equal(await repo.count(), 7);

        // Idempotent: nothing more to do at the same time.
        assert.deepEqual(await h.maintain(NOW), { compacted: 0, deleted: 0 });
        assert.equal(await repo.count(), 7);

        // Queries read compacted rows like any other.
        const ans = await h.query(B, B + 600_000, 300);
        assert.deepEqual(ans.points, [
          { t: new Date(B).toISOString(), values: { a: 3, b: 3 } },
          { t: new Date(B + 300_000).toISOString(), values: { a: 15, c: 0.5 } },
        ]);
        await closeDb(ds);
      });
    });

    describe('DiscoveryVisibility', () => {
      it('hide() persists across a reopen; show() is false for an unknown id, then true, removes it and emits discovery.shown', async () => {
        const o = await b.fresh();
        const ds = await openDb(o);
        const bus = new EventBus(createLogger('silent'));
        const shown: Array<BusEvents['discovery.shown']> = [];
        const bridge: Array<BusEvents['bridge.event']> = [];
        bus.on('discovery.shown', (e) => void shown.push(e));
        bus.on('bridge.event', (e) => void bridge.push(e));
        const id = 'hearth_n1_program_web';

        const v = new DiscoveryVisibility(ds, bus);
        await v.load();
        assert.equal(v.isHidden(id), false);
        const t0 = Date.now();
        await v.hide(id);
        assert.equal(v.isHidden(id), true);
        assert.deepEqual(bridge, [{ type: 'device_hidden', data: { device_id: id } }]);
        const listed = v.list();
        assert.equal(listed.length, 1);
        assert.equal(listed[0]!.device_id, id);
        assert.ok(Date.parse(listed[0]!.hidden_at) >= t0 - 1000);
        await v.hide(id); // hiding again is an update, not a duplicate key
        const listedAgain = v.list();
        await closeDb(ds);

        const ds2 = await openDb(o);
        const v2 = new DiscoveryVisibility(ds2, bus);
        await v2.load();
        assert.equal(v2.isHidden(id), true, 'a new instance on the reopened database sees it');
        assert.deepEqual(v2.list(), listedAgain);

        assert.equal(await v2.show('hearth_n1_program_unknown'), false);
        assert.deepEqual(shown, []);
        assert.equal(await v2.show(id), true);
        assert.deepEqual(shown, [{ device_id: id }]);
        assert.equal(v2.isHidden(id), false);
        assert.deepEqual(v2.list(), []);
        assert.equal(await v2.show(id), false, 'already shown');
        assert.equal(shown.length, 1);
        await closeDb(ds2);

        const ds3 = await openDb(o);
        const v3 = new DiscoveryVisibility(ds3, bus);
        await v3.load();
        assert.equal(v3.isHidden(id), false, 'show() removed it from the database');
        assert.equal(await ds3.getRepository(HiddenDevice).count(), 0);
        await closeDb(ds3);
      });
    });
  });
}

describe('bucketAverage', () => {
  const row = (ts: number, values: Record<string, number>): MetricSampleRow => ({ ts, resolution: 10, values });

  it('is empty for no rows', () => {
    assert.deepEqual(bucketAverage([], 60, 0), []);
  });

  it('averages per series (a series counts only where present), rounds to 2 decimals, sorts buckets', () => {
    const origin = 1_000_500; // buckets start at the origin, not at epoch multiples
    const pts = bucketAverage(
      [
        row(origin + 65_000, { x: 5 }),
        row(origin, { x: 1, y: 1 }),
        row(origin + 59_999, { x: 2 }),
        row(origin + 30_000, { x: 2, y: 0.5 }),
        row(origin + 60_000, { z: -3 }),
      ],
      60,
      origin,
    );
    assert.deepEqual(pts, [
      { t: new Date(origin).toISOString(), values: { x: 1.67, y: 0.75 } },
      { t: new Date(origin + 60_000).toISOString(), values: { x: 5, z: -3 } },
    ]);
  });

  it('puts rows before the origin in earlier buckets (floor, not truncation)', () => {
    const pts = bucketAverage([row(9_500, { x: 1 }), row(10_000, { x: 3 })], 1, 10_000);
    assert.deepEqual(pts, [
      { t: new Date(9_000).toISOString(), values: { x: 1 } },
      { t: new Date(10_000).toISOString(), values: { x: 3 } },
    ]);
  });
});
