/** Agents with real processes: every interface, process groups, policies, logs, secrets, bad input. */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { AgentView } from '../src/hub/agents/state.js';
import { DiscoveryRegistry } from './helpers/ha-rules.js';
import { BASE, NODE, startHub, type HubHandle } from './helpers/hub.js';
import { MqttProbe } from './helpers/mqtt-probe.js';
import { pidsWith } from './helpers/procs.js';
import { until } from './helpers/wait.js';

let h: HubHandle;
let probe: MqttProbe;

const agent = (id: string): AgentView => h.hub.things.get('agent', id) as unknown as AgentView;
const waitFor = (id: string, what: string, test: (a: AgentView) => boolean, ms = 10_000): Promise<AgentView> =>
  until(`agent ${id}: ${what}`, () => {
    const a = agent(id);
    return a && test(a) ? a : undefined;
  }, ms);
async function create(body: Record<string, unknown>): Promise<AgentView> {
  const r = await h.api<AgentView>('POST', '/api/agents', body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

describe('agents', () => {
  before(async () => {
    h = await startHub();
    probe = await MqttProbe.connect(h.brokerUrl);
  });

  it('runs a program and shows it in Home Assistant as its own device', async () => {
    const a = await create({ name: 'Solar Reader', command: 'sleep', args: ['3001'] });
    assert.equal(a.id, 'solar_reader');
    assert.equal(a.status, 'running');
    assert.deepEqual(pidsWith('sleep 3001'), [a.pid]);
    const config = await probe.next(`homeassistant/device/hearth_${NODE}_agent_solar_reader/config`);
    const registry = new DiscoveryRegistry();
    registry.assertValid(config.topic, config.payload);
    const d = JSON.parse(config.payload) as { dev: { name: string; via_device: string }; cmps: Record<string, { p: string; command_topic?: string }> };
    assert.equal(d.dev.name, 'Solar Reader');
    assert.equal(d.dev.via_device, `hearth_${NODE}`);
    for (const f of ['running', 'restart', 'status', 'cpu', 'memory', 'started_at', 'restarts', 'health', 'last_exit_code', 'problem']) assert.ok(d.cmps[f], f);
    assert.equal(d.cmps.running!.command_topic, `${BASE}/agent/solar_reader/set`);
    await probe.next(`${BASE}/agent/solar_reader`, (m) => JSON.parse(m.payload).status === 'running');
    const later = await MqttProbe.connect(h.brokerUrl, [`${BASE}/agent/solar_reader`]);
    try {
      const retained = await later.next(`${BASE}/agent/solar_reader`);
      assert.equal(retained.retain, true, 'the state is retained for whoever subscribes later');
      assert.equal(JSON.parse(retained.payload).status, 'running');
    } finally {
      await later.close();
    }
    // The hub's count follows.
    await probe.next(`${BASE}/metrics`, (m) => JSON.parse(m.payload).agents >= 1);
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

    const reply = probe.upcoming(`${BASE}/bridge/response/agent/stop`);
    await probe.publish(`${BASE}/bridge/request/agent/stop`, JSON.stringify({ id: 'cmd_target', transaction: 't1' }));
    const r = JSON.parse((await reply).payload) as { status: string; data: AgentView; transaction: string };
    assert.equal(r.status, 'ok');
    assert.equal(r.data.status, 'stopped');
    assert.equal(r.transaction, 't1');
    const list = probe.upcoming(`${BASE}/bridge/response/agent/list`);
    await probe.publish(`${BASE}/bridge/request/agent/list`, '{}');
    assert.ok((JSON.parse((await list).payload).data as AgentView[]).some((a) => a.id === 'cmd_target'));
  });

  it('creates, renames (same id) and deletes through the bridge API; delete removes the device', async () => {
    const created = probe.upcoming(`${BASE}/bridge/response/agent/create`);
    await probe.publish(`${BASE}/bridge/request/agent/create`, JSON.stringify({ name: 'via mqtt', command: 'sleep', args: ['3003'] }));
    assert.equal(JSON.parse((await created).payload).data.id, 'via_mqtt');
    const renamed = probe.upcoming(`${BASE}/bridge/response/agent/update`);
    await probe.publish(`${BASE}/bridge/request/agent/update`, JSON.stringify({ id: 'via_mqtt', name: 'Renamed Bot' }));
    const r = JSON.parse((await renamed).payload).data as AgentView;
    assert.equal(r.id, 'via_mqtt');
    assert.equal(r.name, 'Renamed Bot');
    const config = `homeassistant/device/hearth_${NODE}_agent_via_mqtt/config`;
    await probe.next(config, (m) => m.payload !== '' && JSON.parse(m.payload).dev.name === 'Renamed Bot');
    const cleared = probe.upcoming(config, (m) => m.payload === '');
    const stateCleared = probe.upcoming(`${BASE}/agent/via_mqtt`, (m) => m.payload === '');
    const del = probe.upcoming(`${BASE}/bridge/response/agent/delete`);
    await probe.publish(`${BASE}/bridge/request/agent/delete`, JSON.stringify({ id: 'via_mqtt' }));
    assert.equal(JSON.parse((await del).payload).status, 'ok');
    await cleared;
    await stateCleared;
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
    await until('three descendants', () => ['sleep 3004', 'sleep 3005', 'sleep 3006'].every((m) => pidsWith(m).length === 1));
    const stopped = await h.api<AgentView>('POST', `/api/agents/${a.id}/stop`);
    assert.equal(stopped.body.status, 'stopped');
    for (const m of ['sleep 3004', 'sleep 3005', 'sleep 3006']) assert.deepEqual(pidsWith(m), [], `${m} is gone`);
  });

  it('restarts by policy with exponential backoff, then calls a crash loop a crash loop', async () => {
    const events: Array<{ status: string; at: number; next: number | null }> = [];
    const off = h.hub.bus.on('thing.changed', (t) => {
      if (t.kind === 'agent' && t.id === 'crasher') events.push({ status: t.state.status, at: Date.now(), next: (t.state as { next_start_at?: string | null }).next_start_at ? Date.parse((t.state as { next_start_at: string }).next_start_at) : null });
    });
    await create({ name: 'crasher', command: 'sh', args: ['-c', 'exit 3'], restart: { delay_ms: 50, backoff: true, max_restarts: 4, window_s: 60 } });
    const failed = await waitFor('crasher', 'crash loop', (a) => a.status === 'failed');
    off();
    assert.equal(failed.reason, 'crash_loop');
    assert.equal(failed.problem, true);
    assert.equal(failed.last_exit_code, 3);
    assert.equal(failed.restarts, 4);
    const delays = events.filter((e) => e.status === 'backoff' && e.next).map((e) => e.next! - e.at);
    assert.equal(delays.length, 4);
    for (let i = 1; i < delays.length; i++) assert.ok(delays[i]! >= delays[i - 1]! * 1.8, `backoff doubles: ${delays.join(', ')}`);
    // The hub's problem sensor says so too.
    await probe.next(`${BASE}/metrics`, (m) => (JSON.parse(m.payload).problems as string[]).includes('agent/crasher'));
    await probe.next(`${BASE}/agent/crasher`, (m) => JSON.parse(m.payload).problem === true);
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
    await until('six lines', () => lines.length >= 6);
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
    const out = await until('output', async () => (await h.api<{ lines: string[] }>('GET', '/api/agents/keeper/logs')).body.lines[0]);
    assert.equal(out, 'tok-123/visible/mark-456');
    assert.ok(!probe.messages.some((m) => m.payload.includes('tok-123') || m.payload.includes('mark-456')));
  });

  it('never runs anything through a shell: names and args with metacharacters are data', async () => {
    const a = await create({ name: '../../etc; rm -rf $(whoami)', command: 'echo', args: ['$(whoami); `id` && echo pwned > /tmp/pwned'] });
    assert.equal(a.id, 'etc_rm_rf_whoami');
    const out = await until('echo output', async () => (await h.api<{ lines: string[] }>('GET', `/api/agents/${a.id}/logs`)).body.lines[0]);
    assert.equal(out, '$(whoami); `id` && echo pwned > /tmp/pwned');
  });

  it('refuses bad input clearly and changes nothing', async () => {
    const before = (await h.api<AgentView[]>('GET', '/api/agents')).body.length;
    const cases: Array<[string, string, unknown, number, RegExp]> = [
      ['POST', '/api/agents', { name: 'x' }, 400, /missing field "command"/],
      ['POST', '/api/agents', { name: 'x', command: 'sleep', args: 'not-a-list' }, 400, /args/],
      ['POST', '/api/agents', { name: 'x', command: 'sleep', restart: { policy: 'sometimes' } }, 400, /restart\.policy/],
      ['POST', '/api/agents', { name: 'x', command: 'sleep', health_check: { type: 'ping' } }, 400, /health_check\.type: must be one of http, tcp, command, mqtt/],
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
      const ev = probe.upcoming(`${BASE}/bridge/event`, (m) => JSON.parse(m.payload).type === 'command_rejected');
      await probe.publish(topic, payload);
      assert.match(JSON.parse((await ev).payload).data.error as string, message, payload);
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
    const restarted = await waitFor('unwell', 'restarted for being unhealthy', (a) => a.restarts >= 1, 15_000);
    assert.ok(restarted.restarts >= 1);
  });

  it('measures CPU and memory of the whole group in one sample', async () => {
    await create({ name: 'burner', command: 'sh', args: ['-c', 'node -e "for(;;){}" & sleep 3011'] });
    const hot = await waitFor('burner', 'CPU measured', (a) => (a.cpu_percent ?? 0) > 20 && (a.memory_bytes ?? 0) > 10 * 1024 * 1024, 15_000);
    assert.ok(hot.cpu_percent! <= 250);
    await h.api('POST', '/api/agents/burner/stop');
    assert.deepEqual(pidsWith('for(;;)'), []);
  });

  it('restarts an agent that stays over its memory limit when cgroups are not usable, and says so', async () => {
    const a = await create({
      name: 'hungry',
      command: 'node',
      args: ['-e', 'const b = Buffer.alloc(80 * 1024 * 1024, 1); setInterval(() => b[0]++, 100)'],
      limits: { memory_mb: 40 },
    });
    assert.ok(a.limits.memory === 'restart' || a.limits.memory === 'cgroup');
    if (a.limits.memory === 'restart') {
      const r = await waitFor('hungry', 'restarted over its limit', (x) => x.restarts >= 1, 20_000);
      assert.ok(r.restarts >= 1);
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
    await until('two restarts at once: one process', () => pidsWith('sleep 3101').length === 1);
    assert.equal(pidsWith('sleep 3101').length, 1, 'two restarts at once: one process');

    await create({ name: 'racer two', ...slow(3102), autostart: false });
    const starts = await Promise.all([h.api('POST', '/api/agents/racer_two/start'), h.api('POST', '/api/agents/racer_two/start')]);
    assert.ok(starts.some((r) => r.status === 200));
    await until('one racer two', () => pidsWith('sleep 3102').length === 1);

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

