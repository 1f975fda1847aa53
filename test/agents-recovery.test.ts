/** The hub as a real process: killed -9 and started again, stopped cleanly, configured from hearth.yaml, driven by the CLI. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { AgentView } from '../src/hub/agents/state.js';
import { api, runCli, spawnHub } from './helpers/hub.js';
import { pidsWith } from './helpers/procs.js';
import { tempDir } from './helpers/tmp.js';
import { until, untilTrue } from './helpers/wait.js';

describe('agents across hub restarts', () => {
  it('after kill -9 and a new start, every agent that should run runs exactly once; stopped ones stay stopped', async () => {
    const dir = tempDir();
    const first = await spawnHub({}, [], dir);
    const call = <T>(hub: { http: string; token: string }, method: string, path: string, body?: unknown) => api<T>(hub.http, hub.token, method, path, body);
    for (const [name, n] of [['keep a', 4101], ['keep b', 4102], ['parked', 4103]] as const) {
      const r = await call<AgentView>(first, 'POST', '/api/agents', { name, command: 'sh', args: ['-c', `n=${n}; exec sleep $n`] });
      assert.equal(r.status, 201);
    }
    assert.equal((await call(first, 'POST', '/api/agents/parked/stop')).status, 200);
    await untilTrue('both running', () => pidsWith('sleep 4101').length === 1 && pidsWith('sleep 4102').length === 1);
    const before = [pidsWith('sleep 4101')[0], pidsWith('sleep 4102')[0]];

    await first.kill('SIGKILL');
    // The agents live on in their own sessions: leftovers the next start must deal with.
    assert.deepEqual([pidsWith('sleep 4101')[0], pidsWith('sleep 4102')[0]], before);

    const second = await spawnHub({}, [], dir);
    const list = (await call<AgentView[]>(second, 'GET', '/api/agents')).body;
    const byId = Object.fromEntries(list.map((a) => [a.id, a]));
    assert.deepEqual([byId.parked!.status, byId.parked!.pid], ['stopped', null], 'stopped by the user: stays stopped');
    for (const [id, marker, old] of [['keep_a', 'sleep 4101', before[0]], ['keep_b', 'sleep 4102', before[1]]] as const) {
      assert.equal(byId[id]!.status, 'running');
      assert.notEqual(byId[id]!.pid, old, 'the leftover was stopped, a new one started');
      // The shell execs its sleep a moment after it is running; a surviving leftover would make two.
      await until(`exactly one ${id}, the new one`, () => pidsWith(marker), (p) => p.length === 1 && p[0] === byId[id]!.pid);
    }
    assert.equal(pidsWith('sleep 4103').length, 0);
    assert.ok(second.lines.some((l) => l.msg === 'stopping a leftover process of this agent from before the hub restarted' && l.agent === 'keep_a'));

    // A clean stop leaves nothing behind.
    const end = await second.kill('SIGTERM');
    assert.deepEqual(end, { code: 0, signal: null });
    assert.deepEqual([...pidsWith('sleep 4101'), ...pidsWith('sleep 4102')], []);
  });

  it('after kill -9, the leftovers of every instance are stopped and each instance runs once', async () => {
    const dir = tempDir();
    const first = await spawnHub({}, [], dir);
    const r = await api<AgentView>(first.http, first.token, 'POST', '/api/agents', { name: 'many', command: 'sh', args: ['-c', 'n=4107; exec sleep $n'], instances: 3 });
    assert.equal(r.status, 201);
    const before = await until('three leftovers-to-be', () => pidsWith('sleep 4107'), (p) => p.length === 3);
    await first.kill('SIGKILL');
    assert.deepEqual(pidsWith('sleep 4107').sort(), before.sort(), 'they outlive the hub');

    const second = await spawnHub({}, [], dir);
    const now = (await api<AgentView>(second.http, second.token, 'GET', '/api/agents/many')).body;
    assert.equal(now.instances_running, 3);
    const pids = now.instance_states.map((i) => i.pid!);
    assert.deepEqual(pids.filter((p) => before.includes(p)), [], 'every old process was stopped');
    await until('exactly the three new ones', () => pidsWith('sleep 4107').sort(), (p) => JSON.stringify(p) === JSON.stringify([...pids].sort()));
    assert.equal(second.lines.filter((l) => l.msg === 'stopping a leftover process of this agent from before the hub restarted' && l.agent === 'many').length, 3);
    assert.deepEqual(await second.kill('SIGTERM'), { code: 0, signal: null });
    assert.deepEqual(pidsWith('sleep 4107'), []);
  });

  it('after kill -9, a process of an agent that left its group (setsid) is found by the marker every agent process carries, and stopped', async () => {
    const dir = tempDir();
    const first = await spawnHub({}, [], dir);
    // The agent starts a child in a session of its own: out of the agent's process group, never recorded by the hub.
    const r = await api<AgentView>(first.http, first.token, 'POST', '/api/agents', { name: 'escaper', command: 'sh', args: ['-c', 'setsid sleep 4108 & exec sleep 4109'] });
    assert.equal(r.status, 201);
    const escaped = await until('the escaped child', () => pidsWith('sleep 4108'), (p) => p.length === 1);
    await first.kill('SIGKILL');
    const second = await spawnHub({}, [], dir);
    try {
      await until('the escaped child of the earlier hub stopped', () => pidsWith('sleep 4108').filter((p) => p === escaped[0]), (p) => p.length === 0);
      assert.ok(second.lines.some((l) => l.msg === 'stopping a leftover process of this agent from before the hub restarted' && l.pid === escaped[0]));
    } finally {
      assert.deepEqual(await second.kill('SIGTERM'), { code: 0, signal: null });
      // The new agent's own escaped child is left by a clean stop as by PM2 (it left the group): this test's to end.
      for (const pid of pidsWith('sleep 4108')) process.kill(pid, 'SIGKILL');
    }
  });

  it('creates the agents listed in hearth.yaml, and refuses a bad entry with exit 2', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'hearth.yaml'), ['agents:', '  - name: From Yaml', '    command: sleep', '    args: ["4104"]', ''].join('\n'));
    const hub = await spawnHub({}, [], dir);
    const a = await api<AgentView>(hub.http, hub.token, 'GET', '/api/agents/from_yaml');
    assert.equal(a.body.status, 'running');
    assert.equal(pidsWith('sleep 4104').length, 1);
    await hub.kill('SIGTERM');

    const bad = tempDir();
    writeFileSync(join(bad, 'hearth.yaml'), 'agents:\n  - name: broken\n    args: [1]\n');
    const r = await runCli(['start'], { HEARTH_DATA_DIR: bad, HEARTH_HTTP_PORT: '0', HEARTH_BROKER_PORT: '0' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /agents in .*hearth\.yaml, entry 1 \(broken\): payload: missing field "command"/);
  });

  it('is driven by the CLI: create, list, stop, start, logs, delete, and PM2 import', async () => {
    const hub = await spawnHub();
    const env = { HEARTH_URL: hub.http, HEARTH_ADMIN_TOKEN: hub.token };
    const created = await runCli(['agent', 'create', 'cli bot', 'sh', '--env', 'GREETING=hi', '--', '-c', 'echo $GREETING; n=4105; exec sleep $n'], env);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /created agent cli_bot \(running\)/);
    const list = await runCli(['agent', 'list'], env);
    assert.match(list.stdout, /^ID +STATUS +INSTANCES +PID/m);
    assert.match(list.stdout, /^cli_bot +running +1\/1 +\d+/m);
    const logs = await until('the greeting', () => runCli(['agent', 'logs', 'cli_bot'], env), (r) => r.code === 0 && r.stdout.length > 0);
    assert.equal(logs.stdout, 'hi\n');
    assert.match((await runCli(['agent', 'stop', 'cli_bot'], env)).stdout, /cli_bot: stopped/);
    const again = await runCli(['agent', 'stop', 'cli_bot'], env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /409 agent cli_bot is not running/);
    assert.match((await runCli(['agent', 'start', 'cli_bot'], env)).stdout, /cli_bot: running/);
    assert.match((await runCli(['agent', 'delete', 'cli_bot'], env)).stdout, /deleted agent cli_bot/);
    assert.equal(pidsWith('sleep 4105').length, 0);

    const dir = tempDir();
    const file = join(dir, 'ecosystem.config.js');
    writeFileSync(
      file,
      `module.exports = { apps: [{ name: 'pm2 app', script: 'sleep', interpreter: 'none', args: '4106', max_memory_restart: '200M', autorestart: true, out_file: './app.log', color: 'blue' }] };\n`,
    );
    const imported = await runCli(['import', 'pm2', file], env);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /pm2_app/);
    assert.match(imported.stdout, /out_file/);
    assert.match(imported.stdout, /color/);
    const a = await api<AgentView>(hub.http, hub.token, 'GET', '/api/agents/pm2_app');
    assert.equal(a.body.status, 'running');
    assert.equal(a.body.definition.limits?.memory_mb, 200);
    assert.equal(pidsWith('sleep 4106').length, 1);
  });

  it('follows an agent\'s output live with `hearth agent logs -f`, and keeps secrets out of the hub\'s log', async () => {
    const hub = await spawnHub();
    const env = { HEARTH_URL: hub.http, HEARTH_ADMIN_TOKEN: hub.token };
    const r = await api<AgentView>(hub.http, hub.token, 'POST', '/api/agents', {
      name: 'ticker',
      command: 'sh',
      args: ['-c', 'i=0; while true; do i=$((i+1)); echo tick$i; sleep 0.2; done'],
      env: { SERVICE_TOKEN: 'zz-secret-99' },
    });
    assert.equal(r.status, 201);
    const follower = spawn(process.execPath, [join(import.meta.dirname, '../dist/cli/main.js'), 'agent', 'logs', '-f', '-n', '1', 'ticker'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    follower.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => follower.once('exit', (code) => resolve(code)));
    try {
      // The tail, then lines that arrive while following.
      await untilTrue('the tail and three followed lines', () => (out.match(/^tick\d+$/gm) ?? []).length >= 4);
      const ticks = (out.match(/^tick(\d+)$/gm) ?? []).map((l) => Number(l.slice(4)));
      for (let i = 1; i < ticks.length; i++) assert.equal(ticks[i], ticks[i - 1]! + 1, `in order, none lost: ${ticks.join(' ')}`);
    } finally {
      follower.kill('SIGINT');
    }
    assert.equal(await exited, 0);
    await hub.kill('SIGTERM');
    const everything = JSON.stringify(hub.lines) + hub.stderr.join('');
    assert.ok(everything.includes('ticker'), 'the hub did log about the agent');
    assert.ok(!everything.includes('zz-secret-99'), 'but never its secret');
  });
});

