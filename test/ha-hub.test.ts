/**
 * Home Assistant through the real hub and the stand-in Home Assistant: the bridge's state in
 * info, status and the hub's entity; the ha_service action; ha_state and ha_event triggers;
 * hearth_job_finished events; an agent healthy by a Home Assistant entity; a hub without one.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, cliEnv, created, runCli, startHub, type HubHandle } from './helpers/hub.js';
import { startHaServer, type HaServer } from './helpers/ha-server.js';
import { MqttProbe } from './helpers/mqtt-probe.js';
import { taskCalls } from './helpers/tasks.js';
import { until } from './helpers/wait.js';
import type { HubInfo } from '../src/hub/info.js';
import type { AgentView } from '../src/hub/agents/state.js';

describe('Home Assistant, through the hub', () => {
  let ha: HaServer;
  let h: HubHandle;
  const { create, jobsOf, job } = taskCalls(() => h);
  const info = async (): Promise<HubInfo> => (await h.api<HubInfo>('GET', '/api/info')).body;

  before(async () => {
    ha = await startHaServer({ haVersion: '2026.11.3', states: [{ entity_id: 'light.kitchen', state: 'off' }, { entity_id: 'binary_sensor.door', state: 'off' }] });
    ha.addToggleServices('light');
    ha.onService('weather.get_forecasts', () => ({ 'weather.home': { forecast: [{ temperature: 21 }] } }), { response: 'only' });
    h = await startHub({ HEARTH_HA_URL: ha.httpUrl, HEARTH_HA_TOKEN: ha.token });
    await until('the hub to reach Home Assistant', info, (i) => i.home_assistant.state === 'connected');
  });
  after(() => h.stop());

  it('says it is connected, to which Home Assistant: in info, bridge/info, hearth status and the hub\'s entity', async () => {
    const i = await info();
    assert.deepEqual([i.home_assistant.state, i.home_assistant.version, i.home_assistant.url], ['connected', '2026.11.3', ha.url]);
    assert.ok(!JSON.stringify(i).includes(ha.token), 'no token in the answer');
    const probe = await MqttProbe.connect(h.brokerUrl, [`${BASE}/bridge/info`, `${BASE}/metrics`]);
    try {
      const bridgeInfo = await probe.seenOrNext(`${BASE}/bridge/info`, (m) => (JSON.parse(m.payload) as HubInfo).home_assistant?.state === 'connected');
      assert.equal((JSON.parse(bridgeInfo.payload) as HubInfo).home_assistant.version, '2026.11.3');
      const hubState = await probe.seenOrNext(`${BASE}/metrics`);
      assert.equal((JSON.parse(hubState.payload) as { home_assistant: string }).home_assistant, 'connected');
    } finally {
      await probe.close();
    }
    const status = await runCli(['status'], cliEnv(h));
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^Home Assistant connected to ${ha.url.replace(/[.]/g, '\\.')}, version 2026\\.11\\.3$`, 'm'));
  });

  it('ha_service calls the service; with return_response the response is the job\'s output', async () => {
    await create({ name: 'lights on', action: { type: 'ha_service', service: 'light.turn_on', target: { entity_id: 'light.kitchen' }, data: { brightness: 200 } } });
    const from = ha.calls.length;
    assert.equal((await h.api('POST', '/api/tasks/lights_on/run')).status, 202);
    const call = await ha.waitForCall('light.turn_on', from);
    assert.deepEqual([call.target, call.service_data], [{ entity_id: ['light.kitchen'] }, { brightness: 200 }]);
    const [j] = await until('the job to end', () => jobsOf('lights_on'), (js) => js[0]?.status === 'succeeded');
    assert.deepEqual(j!.steps.map((s) => s.message), ['calling light.turn_on', 'light.turn_on done']);
    assert.equal(ha.getState('light.kitchen')?.state, 'on');

    await create({ name: 'forecast', action: { type: 'ha_service', service: 'weather.get_forecasts', target: { entity_id: 'weather.home' }, return_response: true } });
    await h.api('POST', '/api/tasks/forecast/run');
    const [f] = await until('the forecast job', () => jobsOf('forecast'), (js) => js[0]?.status === 'succeeded');
    const out = await h.api<unknown>('GET', `/api/jobs/${f!.id}/stdout`);
    assert.deepEqual(out.body, { 'weather.home': { forecast: [{ temperature: 21 }] } });

    await create({ name: 'typo', action: { type: 'ha_service', service: 'light.turn_onn', target: { entity_id: 'light.kitchen' } } });
    await h.api('POST', '/api/tasks/typo/run');
    const [t] = await until('the failed job', () => jobsOf('typo'), (js) => js[0]?.status === 'failed');
    assert.equal(t!.error, 'light.turn_onn failed: Service light.turn_onn not found. (not_found)');
  });

  it('masks an alarm code or a password in the service data in every answer, and keeps them when masked values come back', async () => {
    ha.onService('alarm_control_panel.alarm_disarm', () => undefined);
    const t = await create({ name: 'disarm', action: { type: 'ha_service', service: 'alarm_control_panel.alarm_disarm', target: { entity_id: 'alarm_control_panel.home' }, data: { code: 4711, password: 'hunter2', mode: 'away' } } });
    assert.deepEqual((t.definition.action as { data?: unknown }).data, { code: '********', password: '********', mode: 'away' });
    assert.equal((await h.api('PUT', '/api/tasks/disarm', { action: t.definition.action })).status, 200);
    const from = ha.calls.length;
    await h.api('POST', '/api/tasks/disarm/run');
    const call = await ha.waitForCall('alarm_control_panel.alarm_disarm', from);
    assert.deepEqual(call.service_data, { code: 4711, password: 'hunter2', mode: 'away' });
  });

  it('ha_state is Home Assistant\'s own state trigger (from, to, for, attribute), and a job says what fired it', async () => {
    await create({ name: 'door opened', trigger: { type: 'ha_state', entity_id: 'binary_sensor.door', from: 'off', to: 'on', for_s: 0.2 }, action: { type: 'ha_service', service: 'light.turn_off', target: { entity_id: 'light.kitchen' } } });
    const sub = await ha.waitForSubscription((s) => s.kind === 'trigger' && JSON.stringify(s.detail).includes('binary_sensor.door'));
    const [config] = (sub.detail as { trigger: Array<Record<string, unknown>> }).trigger;
    assert.deepEqual([config!.platform, config!.entity_id, config!.from, config!.to, config!.for], ['state', 'binary_sensor.door', 'off', 'on', { seconds: 0.2 }]);
    ha.setState('binary_sensor.door', 'on');
    const [j] = await until('the triggered job', () => jobsOf('door_opened'), (js) => js[0]?.status === 'succeeded');
    assert.equal(j!.trigger, 'ha_state');
    assert.equal(ha.getState('light.kitchen')?.state, 'off');
    ha.setState('binary_sensor.door', 'off');
  });

  it('ha_event runs on an event whose data matches, as an event trigger does', async () => {
    await create({ name: 'doorbell', trigger: { type: 'ha_event', event_type: 'doorbell_pressed', data: { button: 'front' } }, action: { type: 'ha_service', service: 'light.toggle', target: { entity_id: 'light.kitchen' } } });
    await ha.waitForSubscription((s) => s.kind === 'trigger' && JSON.stringify(s.detail).includes('doorbell_pressed'));
    // Events reach the hub in order: had the first fired the task, its job would come first.
    ha.fireEvent('doorbell_pressed', { button: 'back' });
    ha.fireEvent('doorbell_pressed', { button: 'front', pressed_for: 1 });
    const jobs = await until('the job of the front button', () => jobsOf('doorbell'), (js) => js.length > 0 && js[0]!.status !== 'running');
    assert.deepEqual(jobs.map((j) => [j.trigger, j.status]), [['ha_event', 'succeeded']]);
  });

  it('fires hearth_job_finished with the task, job, status, duration and result summary', async () => {
    await create({ name: 'report', action: { type: 'command', command: 'sh', args: ['-c', 'echo all fine'] } });
    const from = ha.events.length;
    await h.api('POST', '/api/tasks/report/run');
    const e = await ha.waitForEvent((ev) => ev.event_type === 'hearth_job_finished' && (ev.data as { task?: string }).task === 'report', from);
    const [j] = await jobsOf('report');
    assert.deepEqual(e.data, { node_id: 'testnode', task: 'report', job: j!.id, status: 'succeeded', trigger: 'manual', attempt: 1, duration_s: j!.duration_s, exit_code: 0, result: 'all fine' });
    await create({ name: 'broken', action: { type: 'command', command: 'sh', args: ['-c', 'exit 3'] } });
    await h.api('POST', '/api/tasks/broken/run');
    const failed = await ha.waitForEvent((ev) => ev.event_type === 'hearth_job_finished' && (ev.data as { task?: string }).task === 'broken', from);
    assert.deepEqual([(failed.data as { status: string }).status, (failed.data as { result: string }).result], ['failed', (await job((failed.data as { job: number }).job)).error]);
  });

  it('a task run on hearth_job_finished does not run again on its own result', async () => {
    await create({ name: 'on failure', trigger: { type: 'ha_event', event_type: 'hearth_job_finished', data: { status: 'failed' } }, action: { type: 'command', command: 'false' } });
    await create({ name: 'marker', trigger: { type: 'ha_event', event_type: 'test_marker' }, action: { type: 'command', command: 'true' } });
    await ha.waitForSubscription((s) => JSON.stringify(s.detail).includes('test_marker'));
    await create({ name: 'fails once', action: { type: 'command', command: 'false' } });
    const from = ha.events.length;
    await h.api('POST', '/api/tasks/fails_once/run');
    // Its failure runs "on failure", which fails too: that result must not run it again.
    await ha.waitForEvent((e) => e.event_type === 'hearth_job_finished' && (e.data as { task?: string }).task === 'on_failure', from);
    // Events reach the hub in order: a run of "on failure" on its own result would come before the marker's.
    ha.fireEvent('test_marker');
    await until('the marker run', () => jobsOf('marker'), (js) => js.length === 1);
    assert.deepEqual((await jobsOf('on_failure')).map((j) => [j.trigger, j.status]), [['ha_event', 'failed']]);
  });

  it('an agent\'s health follows a Home Assistant entity: unhealthy while it is off', async () => {
    ha.setState('binary_sensor.bot_ok', 'on');
    await created(h, '/api/agents', { name: 'bot', command: 'sleep', args: ['3471'], health_check: { type: 'ha_entity', entity_id: 'binary_sensor.bot_ok', interval_s: 1, failures: 1, restart: false } });
    const agent = (want: boolean) => until(`the agent ${want ? 'healthy' : 'unhealthy'}`, async () => (await h.api<AgentView>('GET', '/api/agents/bot')).body, (a) => a.health_check?.ok === want);
    assert.equal((await agent(true)).health_check?.detail, 'binary_sensor.bot_ok is on');
    ha.setState('binary_sensor.bot_ok', 'off');
    const sick = await agent(false);
    assert.equal(sick.health_check?.detail, 'binary_sensor.bot_ok is off (healthy: on)');
    assert.equal(sick.status, 'running', 'restart: false keeps it running');
    ha.setState('binary_sensor.bot_ok', 'on');
    await agent(true);
    await h.api('DELETE', '/api/agents/bot');
  });
});

describe('a hub without Home Assistant', () => {
  it('runs as always, says the bridge is off, and an ha_service run fails saying why', async () => {
    const h = await startHub();
    try {
      const i = (await h.api<HubInfo>('GET', '/api/info')).body;
      assert.deepEqual([i.home_assistant.state, i.home_assistant.last_error], ['off', 'Home Assistant is not configured (HEARTH_HA_URL and HEARTH_HA_TOKEN)']);
      await created(h, '/api/tasks', { name: 'lamp', action: { type: 'ha_service', service: 'light.turn_on' } });
      await h.api('POST', '/api/tasks/lamp/run');
      const { jobsOf } = taskCalls(() => h);
      const [j] = await until('the failed job', () => jobsOf('lamp'), (js) => js[0]?.status === 'failed');
      assert.equal(j!.error, 'light.turn_on failed: Home Assistant is not configured (HEARTH_HA_URL and HEARTH_HA_TOKEN)');
      // A trigger that can never fire says so, naming its task.
      await created(h, '/api/tasks', { name: 'door', trigger: { type: 'ha_state', entity_id: 'binary_sensor.door', to: 'on' }, action: { type: 'command', command: 'true' } });
      const warned = h.logs.find((l) => l.task === 'door');
      assert.equal(warned?.msg, 'the ha_state trigger cannot run: Home Assistant is not configured (HEARTH_HA_URL and HEARTH_HA_TOKEN)');
      // A health check on an entity says it cannot follow it.
      await created(h, '/api/agents', { name: 'watched', command: 'sleep', args: ['3472'], health_check: { type: 'ha_entity', entity_id: 'binary_sensor.ok', interval_s: 1, restart: false } });
      const a = await until('a verdict', async () => (await h.api<AgentView>('GET', '/api/agents/watched')).body, (v) => v.health_check !== null);
      assert.deepEqual([a.health_check?.ok, a.health_check?.detail], [false, 'cannot follow binary_sensor.ok: Home Assistant is not configured (HEARTH_HA_URL and HEARTH_HA_TOKEN)']);
      await h.api('DELETE', '/api/agents/watched');
    } finally {
      await h.stop();
    }
  });
});
