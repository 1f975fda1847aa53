/**
 * A full disk under the data directory shows in /api/health, on a real small filesystem (a tmpfs:
 * mounting one needs root; as another user the test says it did not run).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { onCleanup } from './helpers/cleanup.js';
import { testDb } from './helpers/database.js';
import { startHub } from './helpers/hub.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

interface Health {
  status: string;
  healthy: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

/** A tmpfs of `size` at a fresh directory, unmounted when the file ends (after the hubs on it stop). */
function smallDisk(size: string): string | null {
  const dir = tempDir();
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  onCleanup(() => {
    const u = spawnSync('umount', [dir], { encoding: 'utf8' });
    if (u.status !== 0) throw new Error(`umount ${dir}: ${u.stderr}`);
  });
  return dir;
}

/** Writes into `file` until the disk refuses (ENOSPC). */
function fill(file: string): void {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
}

const ROOT = process.getuid?.() === 0;

describe('a full disk in /api/health', { skip: ROOT ? false : 'mounting a small tmpfs needs root' }, () => {
  it('reports degraded with the reason while the data directory\'s disk is full, and ok once there is room', async () => {
    const disk = smallDisk('16m');
    assert.ok(disk, 'a tmpfs could be mounted');
    const dataDir = join(disk, 'data');
    mkdirSync(dataDir);
    // What fails to be written meanwhile (history, logs) may say so.
    const h = await startHub({}, dataDir, { expectErrors: [/SQLITE_FULL|disk is full|ENOSPC|no space/i] });
    assert.equal((await h.api<Health>('GET', '/api/health')).body.status, 'ok');

    const filler = join(disk, 'filler');
    fill(filler);
    const r = await h.api<Health>('GET', '/api/health');
    assert.deepEqual([r.status, r.body.status, r.body.healthy], [503, 'degraded', false], JSON.stringify(r.body));
    assert.deepEqual(r.body.checks.disk, { ok: false, detail: `the disk of the data directory ${dataDir} is full (0 KiB free)` });
    // A young hub's SQLite WAL must grow for the check's write, which the disk refuses; PostgreSQL's disk is another.
    assert.deepEqual(r.body.checks.database, testDb() === 'sqlite' ? { ok: false, detail: 'SQLITE_FULL: database or disk is full' } : { ok: true });

    rmSync(filler);
    await until('healthy again', () => h.api<Health>('GET', '/api/health'), (a) => a.status === 200 && a.body.status === 'ok');
    await h.stop();
  });
});
