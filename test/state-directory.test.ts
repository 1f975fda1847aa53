/**
 * Under systemd (StateDirectory=hearth) the hub keeps its data in $STATE_DIRECTORY when nothing
 * else names a data directory; HEARTH_DATA_DIR and --data-dir still win; of a list, the first.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { spawnHub, type HubProcess } from './helpers/hub.js';
import { tempDir } from './helpers/tmp.js';

/** The hub's data is in `dir`: it said so, and its token and lock are there. */
function keepsItsDataIn(h: HubProcess, dir: string): void {
  const said = h.lines.find((l) => typeof l.file === 'string' && String(l.msg).startsWith('admin token'));
  assert.equal(said?.file, join(dir, 'admin-token'));
  assert.ok(existsSync(join(dir, 'hub.lock')), 'the data directory lock is there');
}

describe('STATE_DIRECTORY (systemd) as the data directory', () => {
  it('is the data directory when neither HEARTH_DATA_DIR nor --data-dir is set', async () => {
    const state = tempDir();
    const h = await spawnHub({ HEARTH_DATA_DIR: '', STATE_DIRECTORY: state }, [], state);
    keepsItsDataIn(h, state);
    assert.deepEqual(await h.kill('SIGTERM'), { code: 0, signal: null });
  });

  it('gives way to HEARTH_DATA_DIR, and to --data-dir', async () => {
    const state = tempDir();
    const fromEnv = tempDir();
    const h = await spawnHub({ STATE_DIRECTORY: state }, [], fromEnv);
    keepsItsDataIn(h, fromEnv);
    assert.deepEqual(await h.kill('SIGTERM'), { code: 0, signal: null });

    const fromFlag = tempDir();
    const f = await spawnHub({ HEARTH_DATA_DIR: '', STATE_DIRECTORY: state }, ['--data-dir', fromFlag], fromFlag);
    keepsItsDataIn(f, fromFlag);
    assert.deepEqual(await f.kill('SIGTERM'), { code: 0, signal: null });
    assert.deepEqual(readdirSync(state), [], 'nothing written to the state directory');
  });

  it('of several (StateDirectory=hearth other), takes the first', async () => {
    const [first, second] = [tempDir(), tempDir()];
    const h = await spawnHub({ HEARTH_DATA_DIR: '', STATE_DIRECTORY: `${first}:${second}` }, [], first);
    keepsItsDataIn(h, first);
    assert.deepEqual(await h.kill('SIGTERM'), { code: 0, signal: null });
    assert.deepEqual(readdirSync(second), []);
  });
});
