/**
 * SIGHUP restarts the hub in place, as the Restart button does (systemd's ExecReload, `docker kill
 * -s HUP`): the same process stops and starts everything again, its agents run again, the API
 * answers on the same port. A second SIGHUP during the restart joins it; a restart that cannot
 * start again ends the process (exit 1), for systemd or Docker to start afresh.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { AgentView } from '../src/hub/agents/state.js';
import { testDb } from './helpers/database.js';
import { api, spawnHub, type HubProcess } from './helpers/hub.js';
import { freePort } from './helpers/ports.js';
import { tempDir } from './helpers/tmp.js';
import { until, untilTrue } from './helpers/wait.js';

const count = (h: HubProcess, msg: string): number => h.lines.filter((l) => l.msg === msg).length;

/** A hub on a fixed HTTP port: a restart binds it again, so the same URL answers before and after. */
async function hubOnFixedPort(): Promise<HubProcess> {
  return spawnHub({ HEARTH_HTTP_PORT: String(await freePort()) });
}

async function runningAgent(h: HubProcess, body: Record<string, unknown>): Promise<AgentView> {
  const r = await api<AgentView>(h.http, h.token, 'POST', '/api/agents', body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return until(`${r.body.id} running`, async () => (await api<AgentView>(h.http, h.token, 'GET', `/api/agents/${r.body.id}`)).body, (a) => a.status === 'running' && a.pid !== null);
}

/**
 * An agent whose stop waits until the test creates `release`: the restart stays under way, with
 * the hub's stop half done, for as long as the test needs.
 */
function heldOnStop(release: string): Record<string, unknown> {
  return {
    name: 'held',
    command: 'sh',
    args: ['-c', `trap 'while [ ! -e "${release}" ]; do sleep 0.05; done; exit 0' TERM; while :; do sleep 1; done`],
    stop_timeout_s: 60,
  };
}

describe('SIGHUP: the in-process restart', () => {
  it('restarts the same process: logged, the API answers on the same address, its agent runs again; SIGTERM still exits 0', async () => {
    const h = await hubOnFixedPort();
    const before = await runningAgent(h, { name: 'sleeper', command: 'sleep', args: ['3600'] });
    const startedAt = (await api<{ started_at: string }>(h.http, h.token, 'GET', '/api/info')).body.started_at;

    h.proc.kill('SIGHUP');
    await untilTrue('the hub to say it runs again', () => count(h, 'Hearth is running') === 2);
    assert.deepEqual([h.proc.exitCode, h.proc.signalCode], [null, null], 'the same process, still running');
    assert.ok(h.lines.some((l) => l.msg === 'restarting in place' && l.signal === 'SIGHUP' && l.joining === false));
    assert.equal(count(h, 'restarting the hub'), 1);

    const info = await api<{ started_at: string }>(h.http, h.token, 'GET', '/api/info');
    assert.equal(info.status, 200);
    assert.equal(info.body.started_at, startedAt, 'the process was not replaced');
    const after = await until(
      'the agent running again, in a new process',
      async () => (await api<AgentView>(h.http, h.token, 'GET', `/api/agents/${before.id}`)).body,
      (a) => a.status === 'running' && a.pid !== null && a.pid !== before.pid,
    );
    assert.equal(after.restarts, before.restarts, 'a restart of the hub, not a crash of the agent');

    assert.deepEqual(await h.kill('SIGTERM'), { code: 0, signal: null });
  });

  it('a second SIGHUP during the restart joins it: one restart', async () => {
    const h = await hubOnFixedPort();
    const release = join(tempDir(), 'release');
    await runningAgent(h, heldOnStop(release));

    h.proc.kill('SIGHUP');
    await untilTrue('the restart under way', () => count(h, 'restarting the hub') === 1);
    h.proc.kill('SIGHUP');
    await untilTrue('the second SIGHUP seen', () => h.lines.some((l) => l.msg === 'restarting in place' && l.joining === true));
    writeFileSync(release, '');
    await untilTrue('the hub to say it runs again', () => count(h, 'Hearth is running') === 2);
    assert.equal((await api(h.http, h.token, 'GET', '/api/info')).status, 200);

    // Counted once the process has ended: a second restart queued behind the first would show by then.
    assert.deepEqual(await h.kill('SIGTERM'), { code: 0, signal: null });
    assert.equal(count(h, 'restarting the hub'), 1);
    assert.equal(count(h, 'Hearth is running'), 2);
  });

  it('a restart that cannot start again ends the process with exit 1, saying why', async (t) => {
    if (testDb() === 'postgres') return t.skip('breaks the SQLite file under the restart; PostgreSQL has none');
    const h = await hubOnFixedPort();
    h.expectErrors(/the hub could not restart/);
    const release = join(tempDir(), 'release');
    await runningAgent(h, heldOnStop(release));

    h.proc.kill('SIGHUP');
    await untilTrue('the restart under way', () => count(h, 'restarting the hub') === 1);
    // The open database stays whole for the stop (SQLite holds its files open); the start opens
    // what is now at its name, with no write-ahead log beside it to read pages from.
    const db = join(h.dataDir, 'hearth.db');
    for (const f of [db, `${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });
    writeFileSync(db, 'not a database');
    writeFileSync(release, '');

    const end = await until('the hub to end', () => ({ code: h.proc.exitCode, signal: h.proc.signalCode }), (e) => e.code !== null || e.signal !== null, { timeoutMs: 30_000 });
    assert.deepEqual(end, { code: 1, signal: null });
    const fatal = h.lines.find((l) => l.msg === 'the hub could not restart');
    assert.match(JSON.stringify(fatal?.err), /is corrupt \(SQLITE_NOTADB/);
    assert.match(h.stderr.join(''), /hearth: could not restart: database .*hearth\.db is corrupt/);
  });
});
