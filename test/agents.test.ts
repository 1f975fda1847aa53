/** Agents with real processes: every interface, process groups, policies, logs, secrets, bad input. */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { AgentView } from '../src/hub/agents/state.js';
import { DiscoveryRegistry } from './helpers/ha-rules.js';
import { BASE, created, NODE, startHub, type HubHandle } from './helpers/hub.js';
import { MqttProbe, type BridgeAnswer } from './helpers/mqtt-probe.js';
import { pidsWith } from './helpers/procs.js';
import { detectCgroupV2 } from '../src/hub/supervisor/cgroup-tree.js';
import { until, untilTrue } from './helpers/wait.js';

let h: HubHandle;
let probe: MqttProbe;

const agent = (id: string): AgentView => h.hub.things.get('agent', id) as unknown as AgentView;
const waitFor = async (id: string, what: string, test: (a: AgentView) => boolean, timeoutMs = 10_000): Promise<AgentView> =>
  (await until(`agent ${id}: ${what}`, () => agent(id), (a) => a !== undefined && test(a), { timeoutMs }))!;
/** A bridge request; these tests read `data` only of answers that are ok. */
const request = <T>(path: string, body: Record<string, unknown>) => probe.ask<T>(BASE, path, body) as Promise<BridgeAnswer<T> & { data: T }>;
const create = (body: Record<string, unknown>): Promise<AgentView> => created(h, '/api/agents', body);

describe('agents', () => {
  before(async () => {
    h = await startHub();
    probe = await MqttProbe.connect(h.brokerUrl);
  });

  it('runs a program and shows it in Home Assistant as its own device', async () => {
    const m = probe.mark();
    const a = await create({ name: 'Solar Reader', command: 'sleep', args: ['3001'] });
    assert.equal(a.id, 'solar_reader');
    assert.equal(a.status, 'running');
    assert.deepEqual(pidsWith('sleep 3001'), [a.pid]);
    const config = await probe.next(`homeassistant/device/hearth_${NODE}_agent_solar_reader/config`, undefined, { since: m });
    const registry = new DiscoveryRegistry();
    registry.assertValid(config.topic, config.payload);
    const d = JSON.parse(config.payload) as { dev: { name: string; via_device: string }; cmps: Record<string, { p: string; command_topic?: string }> };
    assert.equal(d.dev.name, 'Solar Reader');
    assert.equal(d.dev.via_device, `hearth_${NODE}`);
    for (const f of ['running', 'restart', 'status', 'cpu', 'memory', 'started_at', 'restarts', 'health', 'last_exit_code', 'problem']) assert.ok(d.cmps[f], f);
    assert.equal(d.cmps.running!.command_topic, `${BASE}/agent/solar_reader/set`);
    await probe.next(`${BASE}/agent/solar_reader`, (s) => JSON.parse(s.payload).status === 'running', { since: m });
    const later = await MqttProbe.connect(h.brokerUrl, [`${BASE}/agent/solar_reader`]);
    try {
      const retained = await later.seenOrNext(`${BASE}/agent/solar_reader`);
      assert.equal(retained.retain, true, 'the state is retained for whoever subscribes later');
      assert.equal(JSON.parse(retained.payload).status, 'running');
    } finally {
      await later.close();
    }
    // The hub's count follows.
    const count = (await h.api<AgentView[]>('GET', '/api/agents')).body.length;
    await probe.next(`${BASE}/metrics`, (s) => JSON.parse(s.payload).agents === count);
  });

  it('starts, stops and restarts from REST, MQTT set and the bridge API', async () => {
    await create({ name: 'cmd target', command: 'sleep', args: ['3002'] });
    const stop = await h.api<AgentView>('POST', '/api/agents/cmd_target/stop');
    assert.equal(stop.body.status, 'stopped');
    assert.deepEqual(pidsWith('sleep 3002'), []);
    assert.equal((await h.api('POST', '/api/agents/cmd_target/stop')).status, 409, 'stopping a stopped agent is a conflict');

    await probe.publish(`${BASE}/agent/cmd_target/set`, 'start');
    const running = await waitFor('cmd_target', 'running', (a) => a.status === 'running');
    await probe.publish(`${BASE}/agent/cmd_target/set`, '{"action": "restart"}');
    const again = await waitFor('cmd_target', 'restarted', (a) => a.status === 'running' && a.pid !== running.pid);
    assert.equal(again.restarts, 1);
    assert.deepEqual(pidsWith('sleep 3002'), [again.pid]);

    const r = await request<AgentView>('agent/stop', { id: 'cmd_target' });
    assert.equal(r.status, 'ok');
    assert.equal(r.data.status, 'stopped');
    assert.deepEqual(pidsWith('sleep 3002'), []);
    const list = await request<AgentView[]>('agent/list', {});
    assert.equal(list.data.find((a) => a.id === 'cmd_target')?.status, 'stopped');
  });

  it('creates, renames (same id) and deletes through the bridge API; delete removes the device', async () => {
    const created = await request<AgentView>('agent/create', { name: 'via mqtt', command: 'sleep', args: ['3003'] });
    assert.equal(created.data.id, 'via_mqtt');
    const m = probe.mark();
    const r = (await request<AgentView>('agent/update', { id: 'via_mqtt', name: 'Renamed Bot' })).data;
    assert.equal(r.id, 'via_mqtt');
    assert.equal(r.name, 'Renamed Bot');
    const config = `homeassistant/device/hearth_${NODE}_agent_via_mqtt/config`;
    await probe.next(config, (c) => c.payload !== '' && JSON.parse(c.payload).dev.name === 'Renamed Bot', { since: m });
    const beforeDelete = probe.mark();
    assert.equal((await request('agent/delete', { id: 'via_mqtt' })).status, 'ok');
    await probe.next(config, (c) => c.payload === '', { since: beforeDelete });
    await probe.next(`${BASE}/agent/via_mqtt`, (c) => c.payload === '', { since: beforeDelete });
    assert.deepEqual(pidsWith('sleep 3003'), []);
    assert.equal((await h.api('GET', '/api/agents/via_mqtt')).status, 404);
  });

  it('stops the whole process group: no grandchild survives, even one that ignores SIGTERM', async () => {
    const a = await create({
      name: 'family',
      command: 'sh',
      // Durations through variables, so the shell's own command line does not match the markers.
      args: ['-c', 'a=3004 b=3005 c=3006; sleep $a & (trap "" TERM; exec sleep $b) & sleep $c; wait'],
      stop_timeout_s: 1,
    });
    await untilTrue('three descendants', () => ['sleep 3004', 'sleep 3005', 'sleep 3006'].every((m) => pidsWith(m).length === 1));
    const stopped = await h.api<AgentView>('POST', `/api/agents/${a.id}/stop`);
    assert.equal(stopped.body.status, 'stopped');
    for (const m of ['sleep 3004', 'sleep 3005', 'sleep 3006']) assert.deepEqual(pidsWith(m), [], `${m} is gone`);
  });

  it('restarts by policy with exponential backoff, then calls a crash loop a crash loop', async () => {
    const events: Array<{ status: string; announced: number | null }> = [];
    const off = h.hub.bus.on('thing.changed', (t) => {
      if (t.kind !== 'agent' || t.id !== 'crasher') return;
      const next = (t.state as AgentView).next_start_at;
      // next_start_at is set in the same synchronous turn that sends this state, so next − now is
      // the delay the hub announces (not a measured duration).
      events.push({ status: t.state.status, announced: next ? Date.parse(next) - Date.now() : null });
    });
    const m = probe.mark();
    await create({ name: 'crasher', command: 'sh', args: ['-c', 'exit 3'], restart: { delay_ms: 100, backoff: true, max_restarts: 4, window_s: 60 } });
    const failed = await waitFor('crasher', 'crash loop', (a) => a.status === 'failed');
    off();
    assert.equal(failed.reason, 'crash_loop');
    assert.equal(failed.problem, true);
    assert.equal(failed.last_exit_code, 3);
    assert.equal(failed.restarts, 4);
    // In order: created, four runs each followed by a wait, the fifth run ends it.
    const settled = events.map((e) => e.status).filter((s) => s !== 'starting').filter((s, i, all) => s !== all[i - 1]);
    assert.deepEqual(settled, ['stopped', ...Array(4).fill(['running', 'backoff']).flat(), 'running', 'failed']);
    // Each wait is twice the one before: 100, 200, 400, 800 ms (rounded to the nominal value the
    // announced delay is at most a few ms under).
    const announced = events.filter((e) => e.status === 'backoff').map((e) => e.announced!);
    assert.deepEqual(announced.map((d) => Math.ceil(d / 100) * 100), [100, 200, 400, 800], `announced delays ${announced.join(', ')}`);
    // The hub's problem sensor says so too.
    await probe.next(`${BASE}/metrics`, (s) => (JSON.parse(s.payload).problems as string[]).includes('agent/crasher'), { since: m });
    await probe.next(`${BASE}/agent/crasher`, (s) => JSON.parse(s.payload).problem === true, { since: m });
  });

  it('keeps on-failure and never policies', async () => {
    await create({ name: 'done ok', command: 'sh', args: ['-c', 'exit 0'], restart: { policy: 'on-failure', delay_ms: 10 } });
    const ok = await waitFor('done_ok', 'completed', (a) => a.status === 'stopped');
    assert.equal(ok.reason, 'completed');
    assert.equal(ok.restarts, 0);
    await create({ name: 'once', command: 'sh', args: ['-c', 'exit 7'], restart: { policy: 'never' } });
    const once = await waitFor('once', 'failed', (a) => a.status === 'failed');
    assert.equal(once.reason, 'exited');
    assert.equal(once.last_exit_code, 7);
    assert.equal(once.restarts, 0);
  });

  it('keeps output in log files, answers the tail and streams it live', async () => {
    const lines: string[] = [];
    const off = h.hub.bus.on('log.line', (l) => {
      if (l.id === 'talker') lines.push(`${l.stream}:${l.line}`);
    });
    await create({ name: 'talker', command: 'sh', args: ['-c', 'for i in 1 2 3; do echo out$i; echo err$i >&2; done; sleep 3007'] });
    await until('six lines', () => lines, (l) => l.length >= 6);
    off();
    assert.deepEqual(lines.filter((l) => l.startsWith('stdout')), ['stdout:out1', 'stdout:out2', 'stdout:out3']);
    const tail = await h.api<{ lines: string[] }>('GET', '/api/agents/talker/logs?stream=stderr&tail=2');
    assert.deepEqual(tail.body.lines, ['err2', 'err3']);
    assert.equal((await h.api('GET', '/api/agents/talker/logs?stream=stdin')).status, 400);
  });

  it('never shows secret env values in answers or MQTT state, and passes them to the program', async () => {
    const a = await create({
      name: 'keeper',
      command: 'sh',
      args: ['-c', 'echo "$API_TOKEN/$PLAIN/$MARKED"; sleep 3008'],
      env: { API_TOKEN: 'tok-123', PLAIN: 'visible', MARKED: { value: 'mark-456', secret: true } },
    });
    assert.deepEqual(a.definition.env, { API_TOKEN: '********', PLAIN: 'visible', MARKED: { value: '********', secret: true } });
    const got = await h.api<AgentView>('GET', '/api/agents/keeper');
    assert.ok(!JSON.stringify(got.body).includes('tok-123'));
    assert.ok(!JSON.stringify(got.body).includes('mark-456'));
    const out = await until('output', async () => (await h.api<{ lines: string[] }>('GET', '/api/agents/keeper/logs')).body.lines, (l) => l.length > 0);
    assert.deepEqual(out, ['tok-123/visible/mark-456']);
    assert.ok(!probe.messages.some((m) => m.payload.includes('tok-123') || m.payload.includes('mark-456')));
  });

  it('never runs anything through a shell: names and args with metacharacters are data', async () => {
    const a = await create({ name: '../../etc; rm -rf $(whoami)', command: 'echo', args: ['$(whoami); `id` && echo pwned > /tmp/pwned'] });
    assert.equal(a.id, 'etc_rm_rf_whoami');
    const out = await until('echo output', async () => (await h.api<{ lines: string[] }>('GET', `/api/agents/${a.id}/logs`)).body.lines, (l) => l.length > 0);
    assert.deepEqual(out, ['$(whoami); `id` && echo pwned > /tmp/pwned']);
  });

  it('refuses bad input clearly and changes nothing', async () => {
    const before = (await h.api<AgentView[]>('GET', '/api/agents')).body.length;
    const cases: Array<[string, string, unknown, number, RegExp]> = [
      ['POST', '/api/agents', { name: 'x' }, 400, /missing field "command"/],
      ['POST', '/api/agents', { name: 'x', command: 'sleep', args: 'not-a-list' }, 400, /args/],
      ['POST', '/api/agents', { name: 'x', command: 'sleep', restart: { policy: 'sometimes' } }, 400, /restart\.policy/],
      ['POST', '/api/agents', { name: 'x', command: 'sleep', health_check: { type: 'ping' } }, 400, /health_check\.type: must be one of http, tcp, command, mqtt, ha_entity/],
      ['POST', '/api/agents', { name: 'x', command: 'sleep', health_check: { type: 'http' } }, 400, /health_check: missing field "url"/],
      ['POST', '/api/agents', { name: 'x', command: 'sleep', stop_signal: 'SIGFOO' }, 400, /stop_signal/],
      ['POST', '/api/agents', { name: 'x', command: 'sleep', bogus: 1 }, 400, /unknown field "bogus"/],
      ['GET', '/api/agents/nope', undefined, 404, /no agent "nope"/],
      ['POST', '/api/agents/nope/start', undefined, 404, /no agent/],
      ['PUT', '/api/agents/nope', { name: 'y' }, 404, /no agent/],
      ['DELETE', '/api/agents/nope', undefined, 404, /no agent/],
    ];
    for (const [method, path, body, status, message] of cases) {
      const r = await h.api<{ error: string }>(method, path, body);
      assert.equal(r.status, status, `${method} ${path} ${JSON.stringify(body)}`);
      assert.match(r.body.error, message);
    }
    assert.equal((await h.api<AgentView[]>('GET', '/api/agents')).body.length, before);
  });

  it('reports garbage on the command topic as command_rejected, and keeps running', async () => {
    await create({ name: 'steady', command: 'sleep', args: ['3009'] });
    for (const [topic, payload, message] of [
      [`${BASE}/agent/steady/set`, 'explode', /must be one of start, stop, restart|action/],
      [`${BASE}/agent/steady/set`, '{"action": 5}', /action/],
      [`${BASE}/agent/steady/set`, '{broken', /not valid JSON/],
      [`${BASE}/agent/steady/set`, 'rm -rf /', /must be a word/],
      [`${BASE}/agent/nope/set`, 'start', /no agent "nope"/],
      [`${BASE}/agent/steady/set`, 'start', /already running/],
    ] as const) {
      const m = probe.mark();
      await probe.publish(topic, payload);
      const ev = await probe.next(`${BASE}/bridge/event`, (e) => JSON.parse(e.payload).type === 'command_rejected', { since: m });
      assert.match(JSON.parse(ev.payload).data.error as string, message, payload);
    }
    assert.equal(agent('steady').status, 'running');
    assert.equal((await h.api('GET', '/api/health')).status, 200);
  });

  it('restarts an agent whose health check keeps failing, and scores its health', async () => {
    await create({
      name: 'unwell',
      command: 'sleep',
      args: ['3010'],
      health_check: { type: 'tcp', port: 1, interval_s: 1, timeout_s: 0.5, failures: 2 },
    });
    const hurt = await waitFor('unwell', 'a failed check', (a) => a.health_check?.ok === false && a.health < 100);
    assert.equal(hurt.health, 50, 'one failure of two: half the score');
    await waitFor('unwell', 'restarted for being unhealthy', (a) => a.restarts >= 1, 15_000);
    assert.ok(h.logs.some((l) => l.agent === 'unwell' && l.msg === 'agent unhealthy: restarting it'), 'restarted because of its checks');
  });

  it('measures CPU and memory of the whole group in one sample', async () => {
    // The leader is a shell (about 1 MiB, no CPU): what is measured is its node child's.
    await create({ name: 'burner', command: 'sh', args: ['-c', 'node -e "for(;;){}" & sleep 3011'] });
    const hot = await waitFor('burner', 'CPU and memory measured', (a) => (a.cpu_percent ?? 0) > 0 && (a.memory_bytes ?? 0) > 10 * 1024 * 1024, 15_000);
    assert.ok(hot.cpu_percent! <= 250, `${hot.cpu_percent} % of at most two busy cores`);
    await h.api('POST', '/api/agents/burner/stop');
    assert.deepEqual(pidsWith('for(;;)'), []);
  });

  it('enforces a memory limit the way its `limits` says: cgroup memory.max, or a restart after three samples over', async () => {
    const a = await create({
      name: 'hungry',
      command: 'node',
      args: ['-e', 'const b = Buffer.alloc(80 * 1024 * 1024, 1); setInterval(() => b[0]++, 100)'],
      limits: { memory_mb: 40 },
    });
    assert.deepEqual(a.limits, { memory: detectCgroupV2().usable ? 'cgroup' : 'restart', cpu: 'none' });
    const over = await waitFor('hungry', 'restarted for its memory', (x) => x.restarts >= 1, 20_000);
    if (a.limits.memory === 'cgroup') {
      // memory.max: the kernel kills it the moment it goes over, and the policy restarts it.
      assert.equal(over.last_signal, 'SIGKILL');
    } else {
      // Stopped by the hub (its stop signal) because of its memory, not killed or crashed.
      assert.equal(over.last_signal, 'SIGTERM');
      assert.ok(h.logs.some((l) => l.agent === 'hungry' && l.msg === 'agent stayed over its memory limit: restarting it'), 'the hub says why');
    }
    await h.api('POST', '/api/agents/hungry/stop');
  });

  it('takes an MQTT heartbeat as its health, through the hub\'s own broker connection', async () => {
    await create({
      name: 'beater',
      command: 'sleep',
      args: ['3012'],
      health_check: { type: 'mqtt', topic: 'test/heartbeat/beater', interval_s: 1, timeout_s: 0.3, failures: 2, restart: false },
    });
    const beat = setInterval(() => void probe.publish('test/heartbeat/beater', 'alive'), 200);
    try {
      const ok = await waitFor('beater', 'a good heartbeat verdict', (a) => a.health_check?.ok === true);
      assert.equal(ok.health, 100);
    } finally {
      clearInterval(beat);
    }
    const silent = await waitFor('beater', 'missing heartbeats noticed', (a) => a.health_check?.ok === false, 10_000);
    assert.ok(silent.health < 100);
    assert.equal(silent.status, 'running', 'restart: false keeps it running');
  });

  it('carries out commands that arrive together one after another: never two processes, never an orphan', async () => {
    // Slow to stop, so the second command arrives mid-way.
    const slow = (n: number) => ({ command: 'sh', args: ['-c', `trap 'sleep 0.3; exit 0' TERM; m=${n}; sleep $m & wait`], stop_timeout_s: 5 });
    await create({ name: 'racer one', ...slow(3101) });
    await Promise.all([h.api('POST', '/api/agents/racer_one/restart'), h.api('POST', '/api/agents/racer_one/restart')]);
    await waitFor('racer_one', 'running', (a) => a.status === 'running');
    // The shell forks its sleep just after it is running: wait for it; two would never become one.
    await untilTrue('two restarts at once: one process', () => pidsWith('sleep 3101').length === 1);
    assert.equal(pidsWith('sleep 3101').length, 1, 'two restarts at once: one process');

    await create({ name: 'racer two', ...slow(3102), autostart: false });
    const starts = await Promise.all([h.api('POST', '/api/agents/racer_two/start'), h.api('POST', '/api/agents/racer_two/start')]);
    assert.ok(starts.some((r) => r.status === 200));
    await untilTrue('one racer two', () => pidsWith('sleep 3102').length === 1);

    await create({ name: 'racer three', ...slow(3103), autostart: false });
    const [, stopped] = await Promise.all([h.api('POST', '/api/agents/racer_three/start'), h.api('POST', '/api/agents/racer_three/stop')]);
    assert.equal(stopped.status, 200);
    assert.equal(agent('racer_three').status, 'stopped', 'start then stop: it ends stopped');
    assert.deepEqual(pidsWith('sleep 3103'), []);

    const [a, b] = await Promise.all([create({ name: 'twin', command: 'sleep', args: ['3104'] }), create({ name: 'twin', command: 'sleep', args: ['3104'] })]);
    assert.deepEqual([a.id, b.id].sort(), ['twin', 'twin_2']);

    await h.api('DELETE', '/api/agents/racer_one');
    await h.api('DELETE', '/api/agents/twin');
    await h.api('DELETE', '/api/agents/twin_2');
    assert.deepEqual([...pidsWith('sleep 3101'), ...pidsWith('sleep 3104')], []);
  });

  it('gives a crash-looped agent a fresh start when the user restarts it', async () => {
    await create({ name: 'looper', command: 'sh', args: ['-c', 'exit 2'], restart: { delay_ms: 20, backoff: false, max_restarts: 2, window_s: 60 } });
    await waitFor('looper', 'crash loop', (a) => a.reason === 'crash_loop');
    const before = agent('looper').restarts;
    await h.api('POST', '/api/agents/looper/restart');
    const again = await waitFor('looper', 'crash loop again', (a) => a.reason === 'crash_loop' && a.restarts > before + 1);
    assert.ok(again.restarts >= before + 3, `a full round of restarts again (${before} -> ${again.restarts})`);
    assert.equal((await h.api('POST', '/api/agents/looper/stop')).status, 200, 'a failed agent can be told to stay stopped');
    assert.equal(agent('looper').desired, 'stopped');
  });
});

