/**
 * The hot-path persistence: statements typed by the schema's rows (a wrong column does not compile:
 * `npm test` type-checks this file), encoded as TypeORM stores them, and the one reach under
 * TypeORM (its better-sqlite3 connection) still where src/hub/db/sqlite-handle.ts expects it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openDatabase } from '../src/hub/db/data-source.js';
import { rowWriter } from '../src/hub/db/row-writer.js';
import { Job, Task, type JobRow } from '../src/hub/db/schema.js';
import { sqliteHandle } from '../src/hub/db/sqlite-handle.js';
import { deleteIds, insert, update } from '../src/hub/db/statements.js';
import { newJobRow } from '../src/hub/jobs/record.js';
import { tempDir } from './helpers/tmp.js';

describe('typed statements', () => {
  it('refuses columns and values the schema does not have, at compile time', () => {
    const patch = { status: 'running', colour: 'red' };
    // @ts-expect-error colour is not a column of job, even from a variable
    assert.throws(() => update('job', patch, { id: 1 }), /table job has no column colour/);
    // @ts-expect-error idd is not a column of agent
    assert.throws(() => update('agent', { status: 'running' }, { idd: 'x' }), /table agent has no column idd/);
    // @ts-expect-error enabled is a boolean column
    update('task', { enabled: 'yes' }, { id: 'x' });
    // @ts-expect-error an insert needs every column of the row
    insert('metric_sample', { ts: 1, resolution: 10 });
  });

  it('encodes values as the column stores them', () => {
    const s = update('job', { steps: [{ at: 'now', message: 'hi' }], started_at: 1.6, status: 'running' }, { id: 7 });
    assert.deepEqual(s, { update: 'job', set: { steps: '[{"at":"now","message":"hi"}]', started_at: 2, status: 'running' }, where: { id: 7 } });
    assert.deepEqual(update('task', { enabled: false }, { id: 't' }), { update: 'task', set: { enabled: 0 }, where: { id: 't' } });
  });
});

describe('the row writer on SQLite', () => {
  it("still finds TypeORM's better-sqlite3 connection", async () => {
    const ds = await openDatabase({ dataDir: tempDir(), url: '' });
    try {
      const handle = sqliteHandle(ds);
      assert.equal(typeof handle.prepare, 'function');
      assert.equal(typeof handle.transaction, 'function');
    } finally {
      await ds.destroy();
    }
  });

  it('writes rows that TypeORM reads back as they were', async () => {
    const ds = await openDatabase({ dataDir: tempDir(), url: '' });
    try {
      const w = rowWriter(ds);
      const row: JobRow = { ...newJobRow('task', { task_id: 'backup' }, 'manual', 'running', 1), steps: [{ at: 'x', message: 'step one' }] };
      const [id] = await w.write(() => [insert('job', row)]);
      const [changed] = await w.writeNow(() => [update('job', { status: 'succeeded', stdout_tail: ['done'], ended_at: 1234.4 }, { id: id!, status: 'running' })]);
      assert.equal(changed, 1);
      const back = await ds.getRepository(Job).findOneByOrFail({ id: id! });
      assert.equal(back.status, 'succeeded');
      assert.deepEqual(back.steps, [{ at: 'x', message: 'step one' }]);
      assert.deepEqual(back.stdout_tail, ['done']);
      assert.equal(back.ended_at, 1234);
      const [deleted] = await w.write(() => [deleteIds('job', [id!])]);
      assert.equal(deleted, 1);
      await ds.getRepository(Task).save({ id: 't', name: 't', definition: {}, enabled: true, last_run: null, last_result: null, last_duration_ms: null, last_scheduled: null, created_at: 1, updated_at: 1 });
      await w.write(() => [update('task', { enabled: false }, { id: 't' })]);
      assert.equal((await ds.getRepository(Task).findOneByOrFail({ id: 't' })).enabled, false);
    } finally {
      await ds.destroy();
    }
  });
});
