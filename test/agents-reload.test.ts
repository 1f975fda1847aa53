/**
 * Reload without downtime: each instance in turn, a new process started beside the old one, the old
 * one stopped only once the new one is ready (a line on stdout, `process.send('ready')`, a passing
 * health check); a new process that is never ready is stopped and the old one keeps running.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { AgentView } from '../src/hub/agents/state.js';
import { BASE, created, startHub, type HubHandle } from './helpers/hub.js';
import { MqttProbe } from './helpers/mqtt-probe.js';
import { alive } from './helpers/procs.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

let h: HubHandle;
let probe: MqttProbe;

const agent = (id: string): AgentView => h.hub.things.get('agent', id) as unknown as AgentView;
const waitFor = async (id: string, what: string, test: (a: AgentView) => boolean): Promise<AgentView> =>
  (await until(`agent ${id}: ${what}`, () => agent(id), (a) => a !== undefined && test(a)))!;

/**
 * A server-like program: reads its version from version.txt, logs start, ready and stop to
 * events.log, and says it is ready (a stdout line, or over IPC) a moment after it starts, unless
 * its version is "broken".
 */
const server = (how: 'stdout' | 'ipc'): string[] => [
  '-e',
  `const fs = require('fs');
   const v = fs.readFileSync('version.txt', 'utf8').trim();
   const log = (w) => fs.appendFileSync('events.log', w + ' ' + process.pid + ' ' + process.env.HEARTH_INSTANCE + ' ' + v + '\\n');
   log('start');
   process.on('SIGTERM', () => { log('stop'); process.exit(0); });
   setTimeout(() => {
     if (v === 'broken') return;
     log('ready');
     ${how === 'ipc' ? "process.send('ready');" : "console.log('listening, version ' + v);"}
   }, 200);
   setInterval(() => {}, 1e6);`,
];

interface Event {
  what: string;
  pid: number;
  instance: number;
  version: string;
}
const events = (dir: string): Event[] =>
  (existsSync(join(dir, 'events.log')) ? readFileSync(join(dir, 'events.log'), 'utf8') : '')
    .trim()
    .split('\n')
    .map((l) => {
      const [what, pid, instance, version] = l.split(' ');
      return { what: what!, pid: Number(pid), instance: Number(instance), version: version! };
    });
const at = (ev: Event[], what: string, pid: number | null): number => ev.findIndex((e) => e.what === what && e.pid === pid);

describe('agent reload', () => {
  before(async () => {
    // A range of its own (below the kernel's ephemeral ports): other test hubs hand out ports too.
    const first = 20_000 + Math.floor(Math.random() * 9000);
    h = await startHub({ HEARTH_PORT_RANGE: `${first}-${first + 9}` });
    probe = await MqttProbe.connect(h.brokerUrl, [`${BASE}/#`]);
  });

  it('replaces each instance in turn: the new process is ready before the old one stops, and the next instance waits for that', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'version.txt'), 'one');
    await created(h, '/api/agents', { name: 'Web', command: process.execPath, args: server('stdout'), cwd: dir, instances: 2, ready_signal: { type: 'stdout', contains: 'listening' } });
    const old = await waitFor('web', 'both running', (a) => a.instances_running === 2);
    await until('both ready', () => events(dir).filter((e) => e.what === 'ready').length, (n) => n === 2);

    writeFileSync(join(dir, 'version.txt'), 'two');
    const r = await h.api<AgentView & { reload: { reloaded: number; detail: string } }>('POST', '/api/agents/web/reload');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.reload, { reloaded: 2, detail: '2 of 2 reloaded' });
    assert.deepEqual([r.body.status, r.body.instances_running, r.body.last_reload?.ok], ['running', 2, true]);

    const ev = events(dir);
    const oldPids = old.instance_states.map((i) => i.pid!);
    const newPids = r.body.instance_states.map((i) => i.pid!);
    for (const i of [0, 1]) {
      assert.notEqual(newPids[i], oldPids[i]);
      assert.equal(ev.find((e) => e.pid === newPids[i])?.version, 'two', 'the new process runs the new version');
      assert.ok(at(ev, 'ready', newPids[i]!) >= 0 && at(ev, 'ready', newPids[i]!) < at(ev, 'stop', oldPids[i]!), `instance ${i}: the old process stopped only after the new one was ready`);
      assert.ok(!alive(oldPids[i]!) && alive(newPids[i]!));
    }
    assert.ok(at(ev, 'stop', oldPids[0]!) < at(ev, 'start', newPids[1]!), 'instance 1 was replaced after instance 0 was done');
  });

  it('keeps the old process, and says so, when the new one is never ready', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'version.txt'), 'good');
    await created(h, '/api/agents', { name: 'Fragile', command: process.execPath, args: server('stdout'), cwd: dir, ready_signal: { type: 'stdout', contains: 'listening' }, ready_timeout_s: 1.5 });
    const old = await waitFor('fragile', 'running', (a) => a.status === 'running');
    // It has read its version once it is ready.
    await until('ready', () => at(events(dir), 'ready', old.pid), (i) => i >= 0);
    writeFileSync(join(dir, 'version.txt'), 'broken');
    const r = await h.api<{ error: string }>('POST', '/api/agents/fragile/reload');
    assert.equal(r.status, 409);
    assert.match(r.body.error, /instance 0: not ready within 1\.5 s \(no line with "listening"\); the old process keeps running/);
    const now = agent('fragile');
    assert.deepEqual([now.status, now.pid, now.last_reload?.ok], ['running', old.pid, false]);
    assert.ok(alive(old.pid!));
    const fresh = events(dir).find((e) => e.what === 'start' && e.version === 'broken');
    assert.ok(fresh, 'a new process was tried');
    await until('the new process is gone', () => alive(fresh!.pid), (x) => !x);
  });

  it('a stop calls off a reload under way: its new process stops, nothing is started after, a second reload is refused meanwhile', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'version.txt'), 'good');
    await created(h, '/api/agents', { name: 'Halted', command: process.execPath, args: server('stdout'), cwd: dir, instances: 2, ready_signal: { type: 'stdout', contains: 'listening' } });
    const old = await waitFor('halted', 'both running', (a) => a.instances_running === 2);
    await until('both ready', () => events(dir).filter((e) => e.what === 'ready').length, (n) => n === 2);
    writeFileSync(join(dir, 'version.txt'), 'broken');
    const reload = h.api<{ error: string }>('POST', '/api/agents/halted/reload');
    // The new process of instance 0 is there, waiting to be ready (it never will).
    const fresh = await until('a new process', () => events(dir).find((e) => e.what === 'start' && e.version === 'broken'), (e) => e !== undefined);
    const second = await h.api<{ error: string }>('POST', '/api/agents/halted/reload');
    assert.equal(second.status, 409);
    assert.match(second.body.error, /reloading already/);
    const stop = await h.api<AgentView>('POST', '/api/agents/halted/stop');
    assert.deepEqual([stop.status, stop.body.status, stop.body.desired], [200, 'stopped', 'stopped']);
    const r = await reload;
    assert.equal(r.status, 409);
    assert.match(r.body.error, /called off/);
    for (const pid of [fresh!.pid, ...old.instance_states.map((i) => i.pid!)]) assert.ok(!alive(pid), `pid ${pid} is gone`);
    assert.deepEqual([agent('halted').status, agent('halted').instances_running], ['stopped', 0]);
  });

  it("takes process.send('ready') as PM2's wait_ready does, and reloads from MQTT", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'version.txt'), 'a');
    await created(h, '/api/agents', { name: 'Ipc', command: process.execPath, args: server('ipc'), cwd: dir, ready_signal: { type: 'ipc' } });
    const old = await waitFor('ipc', 'running', (a) => a.status === 'running');
    await until('ready', () => at(events(dir), 'ready', old.pid), (i) => i >= 0);
    writeFileSync(join(dir, 'version.txt'), 'b');
    await probe.publish(`${BASE}/agent/ipc/set`, 'reload');
    const now = await waitFor('ipc', 'reloaded', (a) => a.last_reload?.ok === true);
    assert.notEqual(now.pid, old.pid);
    const ev = events(dir);
    assert.ok(at(ev, 'ready', now.pid) < at(ev, 'stop', old.pid), 'the old one stopped after the new one said ready');
  });

  it('starts an agent that was not running', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'version.txt'), 'x');
    await created(h, '/api/agents', { name: 'Parked', command: process.execPath, args: server('stdout'), cwd: dir, autostart: false });
    const r = await h.api<AgentView & { reload: { detail: string } }>('POST', '/api/agents/parked/reload');
    assert.equal(r.status, 200);
    assert.deepEqual([r.body.status, r.body.reload.detail], ['running', 'it was not running: started']);
  });

  it('waits for the health check on the instance\'s own PORT, which old and new share with SO_REUSEPORT', async () => {
    await created(h, '/api/agents', {
      name: 'Api',
      command: '/usr/bin/python3',
      args: [join(import.meta.dirname, 'fixtures', 'http-reuseport.py')],
      port: true,
      health_check: { type: 'http', url: 'http://127.0.0.1:${PORT}/', interval_s: 1 },
    });
    const old = await waitFor('api', 'healthy', (a) => a.status === 'running' && a.health_check?.ok === true);
    const r = await h.api<AgentView & { reload: { detail: string } }>('POST', '/api/agents/api/reload');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.notEqual(r.body.pid, old.pid);
    assert.equal(r.body.port, old.port, 'the instance keeps its port');
    assert.ok(!alive(old.pid!));
    await waitFor('api', 'healthy again', (a) => a.health_check?.ok === true);
  });

  it('with port: true, a new process that never listens on its PORT is not ready, though the old one answers the check', async () => {
    const cwd = tempDir();
    await created(h, '/api/agents', {
      name: 'Hangs',
      command: '/usr/bin/python3',
      args: [join(import.meta.dirname, 'fixtures', 'http-reuseport.py')],
      cwd,
      port: true,
      health_check: { type: 'tcp', interval_s: 1 },
      ready_timeout_s: 2,
    });
    const old = await waitFor('hangs', 'healthy', (a) => a.status === 'running' && a.health_check?.ok === true);
    writeFileSync(join(cwd, 'broken'), '');
    const r = await h.api<{ error: string }>('POST', '/api/agents/hangs/reload');
    assert.equal(r.status, 409);
    assert.match(r.body.error, new RegExp(`not ready within 2 s \\(it did not listen on its PORT ${old.port}\\)`));
    assert.deepEqual([agent('hangs').pid, agent('hangs').status], [old.pid, 'running']);
    assert.ok(alive(old.pid!));
  });
});
