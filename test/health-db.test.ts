/**
 * /api/health tells the truth about the database: a write read back from the disk, the data
 * directory's free space; and a corrupt SQLite file stops `hearth start` with what to do about it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { runCli, startHub, testEnv } from './helpers/hub.js';
import { testDb } from './helpers/database.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

interface Health {
  status: string;
  healthy: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

const SQLITE_ONLY = testDb() === 'postgres' ? 'corrupts the SQLite file: SQLite only' : false;
const ADVICE = 'move it away with its -wal and -shm files and restore a backup, or start with an empty data dir';
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Two ways a file goes bad: overwritten whole, or its pages garbled behind an intact header. */
const CORRUPTIONS: Array<[string, (good: Buffer) => Buffer, string]> = [
  ['overwritten', (good) => randomBytes(good.length), 'SQLITE_NOTADB: file is not a database'],
  ['pages garbled', (good) => Buffer.concat([good.subarray(0, 100), randomBytes(good.length - 100)]), 'SQLITE_CORRUPT: database disk image is malformed'],
];

/** Writes the WAL back into the file, as SQLite does by itself once a hub has written enough. */
async function checkpoint(file: string): Promise<void> {
  const db = new Database(file);
  try {
    await until('a checkpoint of the whole WAL', () => db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>, (r) => r[0]?.busy === 0);
  } finally {
    db.close();
  }
}

describe('the database in /api/health and at start', { skip: SQLITE_ONLY }, () => {
  // Overwritten while the pages written last still live in the WAL (the file's header tells), and
  // garbled once they are in the file (SQLite tells, reading them from the disk, not its cache).
  for (const [[what, corrupt, said], checkpointed] of [[CORRUPTIONS[0]!, false], [CORRUPTIONS[1]!, true]] as const) {
    it(`reports degraded with the reason when the SQLite file is corrupted under a running hub (${what}), and ok once it is restored`, async () => {
      const h = await startHub({}, tempDir(), { expectErrors: [/SQLITE_NOTADB|SQLITE_CORRUPT|not a database|malformed/] });
      const before = await h.api<Health>('GET', '/api/health');
      assert.deepEqual([before.status, before.body.status], [200, 'ok'], JSON.stringify(before.body));
      const file = join(h.dataDir, 'hearth.db');
      if (checkpointed) await checkpoint(file);
      const good = readFileSync(file);
      writeFileSync(file, corrupt(good));

      const r = await h.api<Health>('GET', '/api/health');
      assert.deepEqual([r.status, r.body.status, r.body.healthy, r.body.checks.database?.ok], [503, 'degraded', false, false], JSON.stringify(r.body));
      assert.equal(r.body.checks.database!.detail, `database ${file} is corrupt (${said}); ${ADVICE}`);

      writeFileSync(file, good);
      await until('healthy again', () => h.api<Health>('GET', '/api/health'), (a) => a.status === 200 && a.body.status === 'ok');
    });
  }

  it('`hearth start` on a corrupt database exits saying what is wrong and how to start from a copy, and starts from that copy', async () => {
    const dir = tempDir();
    const first = await startHub({}, dir);
    assert.equal((await first.api('POST', '/api/agents', { name: 'remembered', command: 'sleep', args: ['4401'], autostart: false })).status, 201);
    await first.stop();
    const file = join(dir, 'hearth.db');
    // A clean stop leaves the whole database in the file: the copy a backup would have.
    const backup = readFileSync(file);
    const env = { ...testEnv(dir), HEARTH_DATABASE_URL: '' };
    for (const [what, corrupt, said] of CORRUPTIONS) {
      writeFileSync(file, corrupt(backup));
      const r = await runCli(['start'], env);
      assert.equal(r.code, 1, `${what}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^hearth: could not start: ${esc(`database ${file} is corrupt (${said}); ${ADVICE}`)}$`, 'm'), what);
    }

    writeFileSync(file, backup);
    const h = await startHub({}, dir);
    assert.equal((await h.api('GET', '/api/agents/remembered')).status, 200, 'what the copy had');
  });
});
