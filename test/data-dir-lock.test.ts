/**
 * One data directory, one hub: a second `hearth start` there refuses before it touches anything,
 * and a hub binds its ports before it starts an agent, so one that cannot bind them leaves the
 * agents (and their pids in the database) as they were.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { AgentView } from '../src/hub/agents/state.js';
import { startTimeOf } from '../src/hub/supervisor/procfs.js';
import { onCleanup } from './helpers/cleanup.js';
import { databaseEnv } from './helpers/database.js';
import { api, spawnHub, startHub, type HubProcess } from './helpers/hub.js';
import { freePort } from './helpers/ports.js';
import { pidsWith } from './helpers/procs.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

const COULD_NOT_START = /the hub could not start/;
const LEFTOVER = 'stopping a leftover process of this agent from before the hub restarted';

/** Resolves once a TCP connection to the port is accepted. */
function accepts(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve()));
    socket.once('error', reject);
  });
}

/** The pid the database has for an agent (what the next start looks for), read beside the hub. */
async function pidInDatabase(dir: string, id: string): Promise<number | null> {
  const url = (await databaseEnv(dir)).HEARTH_DATABASE_URL;
  if (url) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const r = await client.query<{ pid: number | null }>('SELECT pid FROM agent WHERE id = $1', [id]);
      return r.rows[0]?.pid ?? null;
    } finally {
      await client.end();
    }
  }
  const db = new Database(join(dir, 'hearth.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT pid FROM agent WHERE id = ?').get(id) as { pid: number | null } | undefined)?.pid ?? null;
  } finally {
    db.close();
  }
}

/** Creates an agent on a spawned hub and waits for its one process: its pid. */
async function agentOn(hub: HubProcess, body: Record<string, unknown>, marker: string): Promise<number> {
  const r = await api<AgentView>(hub.http, hub.token, 'POST', '/api/agents', body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const [pid] = await until(`${marker} running`, () => pidsWith(marker), (p) => p.length === 1);
  return pid!;
}

describe('one hub per data directory', () => {
  it('a second `hearth start` on a running hub\'s data directory exits naming its pid, and its agents run on untouched', async () => {
    const first = await spawnHub();
    const pid = await agentOn(first, { name: 'keeper', command: 'sh', args: ['-c', 'n=4201; exec sleep $n'] }, 'sleep 4201');

    // Its own ports are free (0: any): only the data directory stands in its way.
    await assert.rejects(spawnHub({}, [], first.dataDir, { expectErrors: [COULD_NOT_START] }), (e: Error) => {
      assert.match(e.message, new RegExp(`hub exited \\(2\\) before running: hearth: could not start: the data directory ${first.dataDir} is in use by another hub \\(pid ${first.proc.pid}\\)`));
      return true;
    });

    assert.deepEqual(pidsWith('sleep 4201'), [pid], 'the agent still runs, once');
    const keeper = (await api<AgentView>(first.http, first.token, 'GET', '/api/agents/keeper')).body;
    assert.deepEqual([keeper.status, keeper.pid, keeper.restarts], ['running', pid, 0]);
    assert.ok(!first.lines.some((l) => l.msg === LEFTOVER), 'nothing of the first hub was taken for a leftover');
    // The first hub still owns its data directory: it goes on working.
    assert.equal((await api(first.http, first.token, 'POST', '/api/agents/keeper/restart')).status, 200);
    await until('the agent restarted by its hub', () => pidsWith('sleep 4201'), (p) => p.length === 1 && p[0] !== pid);
  });

  it('a hub that cannot bind its HTTP or broker port starts no agent, and the next start finds the running ones in the database', async () => {
    const dir = tempDir();
    const killed = await spawnHub({}, [], dir);
    const pid = await agentOn(killed, { name: 'survivor', command: 'sh', args: ['-c', 'n=4202; exec sleep $n'] }, 'sleep 4202');
    // The pid is written just after the start: killed before that, no hub could find the agent.
    await until('the pid in the database', () => pidInDatabase(dir, 'survivor'), (p) => p === pid);
    // Its agent runs on, its lock stays behind: a dead hub's lock is taken over.
    await killed.kill('SIGKILL');

    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as AddressInfo).port;
    try {
      for (const setting of ['HEARTH_HTTP_PORT', 'HEARTH_BROKER_PORT']) {
        await assert.rejects(spawnHub({ [setting]: String(port) }, [], dir, { expectErrors: [COULD_NOT_START] }), (e: Error) => {
          assert.match(e.message, /hub exited \(2\) before running: hearth: could not start: .*EADDRINUSE/, setting);
          return true;
        });
        assert.deepEqual(pidsWith('sleep 4202'), [pid], `${setting} in use: the agent of the killed hub runs on, alone`);
        assert.equal(await pidInDatabase(dir, 'survivor'), pid, `${setting} in use: the database still has its pid`);
      }
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }

    const next = await spawnHub({}, [], dir);
    // The database still had the pid: the leftover is found and stopped, and the agent runs once.
    assert.ok(next.lines.some((l) => l.msg === LEFTOVER && l.agent === 'survivor' && l.pid === pid), 'the leftover found by its pid');
    const survivor = (await api<AgentView>(next.http, next.token, 'GET', '/api/agents/survivor')).body;
    assert.equal(survivor.status, 'running');
    await until('one survivor, the new one', () => pidsWith('sleep 4202'), (p) => p.length === 1 && p[0] === survivor.pid && p[0] !== pid);
  });

  it('answers 503 while its agents start, its HTTP and broker ports bound already', async () => {
    const dir = tempDir();
    const gate = join(tempDir(), 'go');
    const killed = await spawnHub({}, [], dir);
    // A leftover that ignores SIGTERM until the gate opens holds the next start in its agents.
    const body = {
      name: 'slow',
      command: 'sh',
      args: ['-c', `trap "" TERM; while [ ! -e ${gate} ]; do sleep 0.05; done; n=4203`],
      stop_timeout_s: 60,
      restart: { policy: 'on-failure' },
    };
    const pid = await agentOn(killed, body, 'n=4203');
    await until('the pid in the database', () => pidInDatabase(dir, 'slow'), (p) => p === pid);
    await killed.kill('SIGKILL');

    const [httpPort, brokerPort] = [await freePort(), await freePort()];
    const starting = startHub({ HEARTH_HTTP_PORT: String(httpPort), HEARTH_BROKER_PORT: String(brokerPort) }, dir);
    const meanwhile = (async () => {
      const http = `http://127.0.0.1:${httpPort}`;
      const headers = { authorization: `Bearer ${readFileSync(join(dir, 'admin-token'), 'utf8').trim()}` };
      const agents = await until('the API answering', () => fetch(`${http}/api/agents`, { headers }).catch(() => null), (r) => r !== null);
      assert.deepEqual([agents!.status, await agents!.json()], [503, { error: 'the hub is starting or stopping' }]);
      // The health check says so too (no token needed), and the streams beside the operations.
      const health = await fetch(`${http}/api/health`);
      assert.deepEqual([health.status, await health.json()], [503, { error: 'the hub is starting or stopping' }]);
      assert.equal((await fetch(`${http}/api/jobs/1/stdout`, { headers })).status, 503);
      const form = new FormData();
      form.append('file', new Blob(['G28\n']), 'part.gcode');
      assert.equal((await fetch(`${http}/api/devices/printer/upload`, { method: 'POST', headers, body: form })).status, 503);
      await accepts(brokerPort);
      // (Its shell forks for each sleep: a fork has the same command line for a moment.)
      assert.ok(pidsWith('n=4203').includes(pid), 'the hub is still stopping the leftover');
    })();
    const failed = await meanwhile.then(() => null, (e: unknown) => e);
    // Opened whatever was seen, so that the start ends (and the file with it) either way.
    writeFileSync(gate, '');
    const h = await starting;
    if (failed) throw failed;
    const slow = await h.api<AgentView>('GET', '/api/agents/slow');
    assert.equal(slow.status, 200);
    assert.ok(!pidsWith('n=4203').includes(pid), 'the leftover is gone');
  });

  it('refuses a lock held by a live process, takes one over whose pid a later process reuses, and lets it go at stop', async () => {
    const dir = tempDir();
    const lock = join(dir, 'hub.lock');
    const other = spawn('sleep', ['4204'], { stdio: 'ignore' });
    onCleanup(() => other.kill('SIGKILL'));
    const alive = await until('the other process started', () => startTimeOf(other.pid!), (t) => t !== null);
    writeFileSync(lock, JSON.stringify({ pid: other.pid, start_time: alive }));
    await assert.rejects(startHub({}, dir), new RegExp(`in use by another hub \\(pid ${other.pid}\\)`));

    // The same pid, but a process started later than the hub that wrote the lock: that hub is gone.
    writeFileSync(lock, JSON.stringify({ pid: other.pid, start_time: String(Number(alive) - 1) }));
    const h = await startHub({}, dir);
    assert.deepEqual(JSON.parse(readFileSync(lock, 'utf8')), { pid: process.pid, start_time: startTimeOf(process.pid) });
    await h.stop();
    assert.equal(existsSync(lock), false, 'let go at stop');
  });
});
