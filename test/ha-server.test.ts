/**
 * The stand-in Home Assistant the bridge's tests use, held to Home Assistant's WebSocket protocol
 * with a bare client: the auth phase, command ids, error codes and texts, events, state and event
 * triggers (with `for`), service calls and responses, coalesced messages, a server that drops its
 * clients and comes back; and home-assistant-js-websocket working against it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { callService, createConnection, type HaWebSocket } from 'home-assistant-js-websocket';
import { RawHaClient, type Msg } from './helpers/ha-raw-client.js';
import { HomeAssistantError, startHaServer } from './helpers/ha-server.js';
import { until } from './helpers/wait.js';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$/;
const err = (id: unknown, code: string, message: string) => ({ id, type: 'result', success: false, error: { code, message } });
const obj = (v: unknown) => v as Msg;

describe('stand-in Home Assistant: the auth phase', () => {
  it('asks for auth with its version, answers auth_ok to the token, and auth_invalid then a close to a wrong one', async () => {
    const ha = await startHaServer({ token: 'good', haVersion: '2025.12.3' });
    const bad = await RawHaClient.connect(ha.url);
    assert.deepEqual(await bad.frame(0), { type: 'auth_required', ha_version: '2025.12.3' });
    bad.send({ type: 'auth', access_token: 'wrong' });
    assert.deepEqual(await bad.frame(1), { type: 'auth_invalid', message: 'Invalid access token or password' });
    assert.equal((await bad.closed).code, 1000);
    await ha.waitForConnections(0);

    const ok = await RawHaClient.connect(ha.url);
    assert.deepEqual(await ok.login('good'), { type: 'auth_ok', ha_version: '2025.12.3' });
    assert.equal(ha.authenticated, 1);
    assert.deepEqual(
      ha.received.map((r) => r.message),
      [{ type: 'auth', access_token: '<redacted>' }, { type: 'auth', access_token: '<redacted>' }],
      'the log never keeps a token',
    );
  });

  it('answers a command sent before auth as Home Assistant does (auth_invalid saying what is wrong) and closes', async () => {
    const ha = await startHaServer();
    const c = await RawHaClient.connect(ha.url);
    await c.frame(0);
    c.send({ id: 1, type: 'ping' });
    assert.deepEqual(await c.frame(1), {
      type: 'auth_invalid',
      message: "Auth message incorrectly formatted: extra keys not allowed @ data['id']. Got 1\nnot a valid value for dictionary value @ data['type']. Got 'ping'",
    });
    assert.equal((await c.closed).code, 1000);
  });

  it('closes a client that does not authenticate in time, and serves only /api/websocket', async () => {
    const ha = await startHaServer({ authTimeoutMs: 100 });
    const c = await RawHaClient.connect(ha.url);
    assert.equal((await c.closed).code, 1000);
    await assert.rejects(RawHaClient.connect(ha.url.replace('/api/websocket', '/api/other')), /404/);
    await assert.rejects(RawHaClient.connect(ha.supervisorUrl), /404/, 'no Supervisor proxy unless asked for');
  });

  it("serves the Supervisor's proxy at /core/websocket with the add-on's token", async () => {
    const ha = await startHaServer({ supervisorToken: 'addon' });
    const bad = await RawHaClient.connect(ha.supervisorUrl);
    assert.deepEqual(await bad.login(ha.token), { type: 'auth_invalid', message: 'Invalid access' });
    const c = await RawHaClient.signedIn(ha.supervisorUrl, 'addon');
    const fired = await c.command({ type: 'fire_event', event_type: 'hearth_job_finished' });
    assert.equal(obj(obj(fired.result).context).user_id !== ha.user.id, true, "the Supervisor's own user");
  });
});

describe('stand-in Home Assistant: commands', () => {
  it('wants increasing ids and answers bad commands with Home Assistant codes and texts', async () => {
    const ha = await startHaServer();
    const c = await RawHaClient.signedIn(ha.url, ha.token);
    c.send({ id: 5, type: 'ping' });
    assert.deepEqual(await c.waitFor((m) => m.id === 5), { id: 5, type: 'pong' });
    const from = c.messages.length;
    for (const m of [
      { id: 5, type: 'ping' },
      { id: 4, type: 'get_states' },
      { type: 'ping' },
      { id: 6, type: 'no_such_command' },
      { id: 7, type: 'ping', extra: true },
      { id: 8, type: 'call_service', domain: 'light' },
      { id: 8, type: 'ping' },
    ]) {
      c.send(m);
    }
    await c.waitFor(() => c.messages.length >= from + 7);
    assert.deepEqual(c.messages.slice(from), [
      err(5, 'id_reuse', 'Identifier values have to increase.'),
      err(4, 'id_reuse', 'Identifier values have to increase.'),
      err(null, 'invalid_format', 'Message incorrectly formatted.'),
      err(6, 'unknown_command', 'Unknown command.'),
      err(7, 'invalid_format', "extra keys not allowed. Got {'id': 7, 'type': 'ping', 'extra': True}"),
      err(8, 'invalid_format', "required key not provided @ data['service']. Got None"),
      // A command that failed its schema still used its id.
      err(8, 'id_reuse', 'Identifier values have to increase.'),
    ]);
  });

  it('gives states as State.as_dict, and keeps last_changed on an attribute-only change', async () => {
    const ha = await startHaServer();
    const c = await RawHaClient.signedIn(ha.url, ha.token);
    const first = ha.setState('sensor.temperature', '21.5', { unit_of_measurement: '°C' });
    const states = obj(await c.command({ type: 'get_states' }));
    assert.equal(states.success, true);
    const [s] = states.result as Msg[];
    assert.deepEqual(Object.keys(s ?? {}), ['entity_id', 'state', 'attributes', 'last_changed', 'last_reported', 'last_updated', 'context']);
    assert.deepEqual([s?.entity_id, s?.state, s?.attributes], ['sensor.temperature', '21.5', { unit_of_measurement: '°C' }]);
    for (const k of ['last_changed', 'last_reported', 'last_updated']) assert.match(String(s?.[k]), ISO);
    assert.deepEqual(Object.keys(obj(s?.context)), ['id', 'parent_id', 'user_id']);
    const second = ha.setState('sensor.temperature', '21.5', { unit_of_measurement: '°C', friendly_name: 'Temp' });
    assert.equal(second.last_changed, first.last_changed);
  });

  it('refuses admin-only commands and other event types to a non-admin user', async () => {
    const ha = await startHaServer({ admin: false });
    const c = await RawHaClient.signedIn(ha.url, ha.token);
    const trigger = await c.command({ type: 'subscribe_trigger', trigger: { platform: 'state', entity_id: 'light.a' } });
    assert.deepEqual(trigger, err(trigger.id, 'unauthorized', 'Unauthorized'));
    const fire = await c.command({ type: 'fire_event', event_type: 'x' });
    assert.deepEqual(fire, err(fire.id, 'unauthorized', 'Unauthorized'));
    assert.equal((await c.command({ type: 'subscribe_events', event_type: 'state_changed' })).success, true);
    const other = await c.command({ type: 'subscribe_events', event_type: 'hearth_job_finished' });
    assert.deepEqual(other, err(other.id, 'unauthorized', 'Unauthorized'));
  });
});

describe('stand-in Home Assistant: events', () => {
  it('sends events to subscribers (one type or all), fires client events, and stops after unsubscribe_events', async () => {
    const ha = await startHaServer();
    const c = await RawHaClient.signedIn(ha.url, ha.token);
    const changes = await c.command({ type: 'subscribe_events', event_type: 'state_changed' });
    const all = await c.command({ type: 'subscribe_events' });
    assert.deepEqual(changes, { id: changes.id, type: 'result', success: true, result: null });

    const state = ha.setState('light.hall', 'on', { brightness: 10 });
    const ev = obj((await c.waitFor((m) => m.type === 'event' && m.id === changes.id)).event);
    assert.deepEqual(Object.keys(ev), ['event_type', 'data', 'origin', 'time_fired', 'context']);
    assert.deepEqual([ev.event_type, ev.data, ev.origin], ['state_changed', { entity_id: 'light.hall', old_state: null, new_state: state }, 'LOCAL']);
    assert.match(String(ev.time_fired), ISO);
    assert.deepEqual(ev.context, state.context);
    await c.waitFor((m) => m.type === 'event' && m.id === all.id && obj(m.event).event_type === 'state_changed');

    const fired = await c.command({ type: 'fire_event', event_type: 'hearth_job_finished', event_data: { task: 'backup' } });
    const context = obj(obj(fired.result).context);
    assert.equal(context.user_id, ha.user.id);
    const job = obj((await c.waitFor((m) => m.type === 'event' && m.id === all.id && obj(m.event).event_type === 'hearth_job_finished')).event);
    assert.deepEqual([job.data, job.context], [{ task: 'backup' }, context]);

    assert.equal((await c.command({ type: 'unsubscribe_events', subscription: changes.id })).success, true);
    const after = c.messages.length;
    ha.setState('light.hall', 'off');
    await c.command({ type: 'ping' }); // the state change's events are queued before this pong
    assert.equal(c.messages.slice(after).filter((m) => m.id === changes.id).length, 0, 'no event after unsubscribe');
    assert.equal(c.messages.slice(after).filter((m) => m.id === all.id).length, 1, 'the other subscription still gets it');
    const again = await c.command({ type: 'unsubscribe_events', subscription: changes.id });
    assert.deepEqual(again, err(again.id, 'not_found', 'Subscription not found.'));
  });
});

describe('stand-in Home Assistant: subscribe_trigger', () => {
  it('fires a state trigger with `for` once the state held that long, and not when it changed back first', async () => {
    const ha = await startHaServer();
    const c = await RawHaClient.signedIn(ha.url, ha.token);
    ha.setState('binary_sensor.door', 'off');
    ha.setState('binary_sensor.window', 'off');
    const door = await c.command({ type: 'subscribe_trigger', trigger: { platform: 'state', entity_id: 'binary_sensor.door', to: 'on', for: { seconds: 0.2 } } });
    const window = await c.command({ type: 'subscribe_trigger', trigger: { trigger: 'state', entity_id: ['binary_sensor.window'], from: 'off', to: 'on', for: '00:00:00.3', id: 'w' } });
    assert.equal(door.success && window.success, true, JSON.stringify([door, window]));

    const start = Date.now();
    ha.setState('binary_sensor.door', 'on');
    const held = ha.setState('binary_sensor.window', 'on');
    ha.setState('binary_sensor.door', 'off'); // the door's 0.2 s is cut short
    const fired = obj(await c.waitFor((m) => m.type === 'event' && m.id === window.id));
    assert.ok(Date.now() - start >= 295, `fired after ${Date.now() - start} ms`);
    assert.equal(c.messages.filter((m) => m.id === door.id && m.type === 'event').length, 0, 'the door trigger was cancelled');
    const { variables, context } = obj(fired.event);
    const trigger = obj(obj(variables).trigger);
    assert.deepEqual(Object.keys(trigger), ['id', 'idx', 'alias', 'platform', 'entity_id', 'from_state', 'to_state', 'for', 'attribute', 'description']);
    assert.deepEqual(
      [trigger.id, trigger.idx, trigger.alias, trigger.platform, trigger.entity_id, obj(trigger.from_state).state, trigger.to_state, trigger.for, trigger.attribute, trigger.description],
      ['w', '0', null, 'state', 'binary_sensor.window', 'off', held, { __type: "<class 'datetime.timedelta'>", total_seconds: 0.3 }, null, 'state of binary_sensor.window'],
    );
    assert.deepEqual(context, held.context);

    ha.setState('binary_sensor.door', 'on');
    const door2 = obj(obj(obj((await c.waitFor((m) => m.type === 'event' && m.id === door.id)).event).variables).trigger);
    assert.deepEqual(door2.for, { __type: "<class 'datetime.timedelta'>", total_seconds: 0.2 });
  });

  it('fires on attribute changes only without from/to (not with to: null), and compares an attribute when given one', async () => {
    const ha = await startHaServer();
    const c = await RawHaClient.signedIn(ha.url, ha.token);
    ha.setState('light.desk', 'on', { brightness: 10 });
    const sub = async (t: Msg) => (await c.command({ type: 'subscribe_trigger', trigger: { platform: 'state', entity_id: 'light.desk', ...t } })).id;
    const ids = { any: await sub({}), toOn: await sub({ to: 'on' }), toNull: await sub({ to: null }), attr: await sub({ attribute: 'brightness', to: 200 }) };
    const firedBy = async (change: () => void) => {
      const from = c.messages.length;
      change();
      await c.command({ type: 'ping' }); // triggers without `for` fire before this pong
      const fired = new Set(c.messages.slice(from).filter((m) => m.type === 'event').map((m) => m.id));
      return Object.entries(ids).filter(([, id]) => fired.has(id)).map(([name]) => name);
    };
    assert.deepEqual(await firedBy(() => ha.setState('light.desk', 'on', { brightness: 200 })), ['any', 'attr']);
    assert.deepEqual(await firedBy(() => ha.setState('light.desk', 'off', { brightness: 200 })), ['any', 'toNull']);
    assert.deepEqual(await firedBy(() => ha.setState('light.desk', 'off', { brightness: 200 })), [], 'nothing changed');
  });

  it('runs an event trigger whose event_data matches, until unsubscribed', async () => {
    const ha = await startHaServer();
    const c = await RawHaClient.signedIn(ha.url, ha.token);
    const sub = await c.command({ type: 'subscribe_trigger', trigger: { platform: 'event', event_type: 'hearth_job_finished', event_data: { status: 'ok' }, alias: 'jobs' } });
    await c.command({ type: 'fire_event', event_type: 'hearth_job_finished', event_data: { status: 'failed' } });
    await c.command({ type: 'fire_event', event_type: 'hearth_job_finished', event_data: { status: 'ok', task: 'backup' } });
    const events = c.messages.filter((m) => m.id === sub.id && m.type === 'event').map((m) => obj(obj(obj(m.event).variables).trigger));
    assert.equal(events.length, 1, JSON.stringify(events));
    const t = obj(events[0]);
    assert.deepEqual([t.id, t.idx, t.alias, t.platform, t.description], ['0', '0', 'jobs', 'event', "event 'hearth_job_finished'"]);
    assert.deepEqual([obj(t.event).event_type, obj(t.event).data], ['hearth_job_finished', { status: 'ok', task: 'backup' }]);

    assert.equal((await c.command({ type: 'unsubscribe_events', subscription: sub.id })).success, true);
    await c.command({ type: 'fire_event', event_type: 'hearth_job_finished', event_data: { status: 'ok' } });
    assert.equal(c.messages.filter((m) => m.id === sub.id && m.type === 'event').length, 1);
  });

  it("refuses a bad trigger with Home Assistant's error", async () => {
    const ha = await startHaServer();
    const c = await RawHaClient.signedIn(ha.url, ha.token);
    const error = async (trigger: unknown) => obj((await c.command({ type: 'subscribe_trigger', trigger })).error);
    assert.deepEqual(await error({ platform: 'state' }), { code: 'invalid_format', message: "required key not provided @ data['entity_id']. Got None" });
    assert.deepEqual(await error({ platform: 'state', trigger: 'state', entity_id: 'light.a' }), {
      code: 'invalid_format',
      message: "Cannot specify both 'platform' and 'trigger'. Please use 'trigger' only. @ data['trigger'][0]. Got None",
    });
    assert.deepEqual(await error({ platform: 'state', entity_id: 'light.a', from: 'on', not_from: 'off' }), {
      code: 'invalid_format',
      message: "two or more values in the same group of exclusion 'from' @ data[<from>]. Got None",
    });
    const unknown = await error({ platform: 'nope' });
    assert.equal(unknown.code, 'invalid_format');
    assert.match(String(unknown.message), /^Invalid trigger 'nope' specified\. Got \{'id': \d+, 'type': 'subscribe_trigger', 'trigger': \[\{'platform': 'nope'\}\]\}$/);
    assert.equal(ha.subscriptions.length, 0);
  });
});

describe('stand-in Home Assistant: call_service', () => {
  it('calls registered services in the caller context, answers unknown services and responses as Home Assistant does', async () => {
    const ha = await startHaServer();
    ha.setState('light.kitchen', 'off');
    ha.addToggleServices('light');
    ha.onService('weather.get_forecasts', () => ({ 'weather.home': { forecast: [{ temperature: 20 }] } }), { response: 'only' });
    ha.onService('script.backup', () => ({ done: true }), { response: 'optional' });
    ha.onService('notify.mail', () => {
      throw new HomeAssistantError('Mail server down');
    });
    const c = await RawHaClient.signedIn(ha.url, ha.token);
    const call = (m: Msg) => c.command({ type: 'call_service', ...m });

    const on = await call({ domain: 'light', service: 'turn_on', target: { entity_id: 'light.kitchen' }, service_data: { brightness: 100 } });
    assert.deepEqual(Object.keys(obj(on.result)), ['context']);
    const context = obj(obj(on.result).context);
    assert.equal(context.user_id, ha.user.id);
    const kitchen = ha.getState('light.kitchen');
    assert.deepEqual([kitchen?.state, kitchen?.attributes, kitchen?.context], ['on', { brightness: 100 }, context]);
    const recorded = await ha.waitForCall('light.turn_on');
    assert.deepEqual(recorded, {
      connection: 1,
      domain: 'light',
      service: 'turn_on',
      return_response: false,
      context,
      service_data: { brightness: 100 },
      target: { entity_id: ['light.kitchen'] },
      outcome: { success: true, result: { context } },
    });

    const nope = await call({ domain: 'light', service: 'nope' });
    assert.deepEqual(obj(nope.error), {
      code: 'not_found',
      message: 'Service light.nope not found.',
      translation_key: 'service_not_found',
      translation_placeholders: { domain: 'light', service: 'nope' },
      translation_domain: 'homeassistant',
    });
    const forecast = await call({ domain: 'weather', service: 'get_forecasts', target: { entity_id: 'weather.home' }, return_response: true });
    assert.deepEqual(Object.keys(obj(forecast.result)), ['context', 'response']);
    assert.deepEqual(obj(forecast.result).response, { 'weather.home': { forecast: [{ temperature: 20 }] } });
    const lacking = await call({ domain: 'weather', service: 'get_forecasts' });
    assert.deepEqual([obj(lacking.error).code, obj(lacking.error).message], ['service_validation_error', 'Validation error: The action requires responses and must be called with return_response=True.']);
    const unsupported = await call({ domain: 'light', service: 'turn_on', target: { entity_id: 'light.kitchen' }, return_response: true });
    assert.deepEqual(
      [obj(unsupported.error).code, obj(unsupported.error).message],
      ['service_validation_error', "Validation error: An action which does not return responses can't be called with return_response=True."],
    );
    assert.deepEqual(Object.keys(obj((await call({ domain: 'script', service: 'backup' })).result)), ['context'], 'a response only when asked for');
    assert.deepEqual(obj((await call({ domain: 'notify', service: 'mail' })).error), { code: 'home_assistant_error', message: 'Mail server down' });
    assert.deepEqual(obj((await call({ domain: 'light', service: 'turn_on' })).error), {
      code: 'invalid_format',
      message: 'must contain at least one of entity_id, device_id, area_id, floor_id, label_id.',
    });
  });
});

describe('stand-in Home Assistant: the writer', () => {
  it('sends one message a frame until the client asks for coalesce_messages, then what is waiting as one array', async () => {
    const ha = await startHaServer();
    const c = await RawHaClient.signedIn(ha.url, ha.token);
    const n = c.frames.length;
    c.send([{ id: 1, type: 'ping' }, { id: 2, type: 'ping' }]);
    assert.deepEqual([await c.frame(n), await c.frame(n + 1)], [{ id: 1, type: 'pong' }, { id: 2, type: 'pong' }]);
    c.send({ id: 3, type: 'supported_features', features: { coalesce_messages: 1 } });
    assert.deepEqual(await c.frame(n + 2), { id: 3, type: 'result', success: true, result: null }, 'a lone message stays an object');
    c.send([{ id: 4, type: 'ping' }, { id: 5, type: 'ping' }, { id: 6, type: 'ping' }]);
    assert.deepEqual(await c.frame(n + 3), [{ id: 4, type: 'pong' }, { id: 5, type: 'pong' }, { id: 6, type: 'pong' }]);
  });
});

describe('stand-in Home Assistant: outages', () => {
  it('drops clients and stays up; stops, refuses connections, comes back on the same port with its states; revokes a token', async () => {
    const ha = await startHaServer();
    ha.setState('sensor.kept', '1');
    const c1 = await RawHaClient.signedIn(ha.url, ha.token);
    await c1.command({ type: 'subscribe_events' });
    assert.equal(ha.subscriptions.length, 1);
    ha.drop();
    assert.equal((await c1.closed).code, 1006, 'no close frame');
    await ha.waitForConnections(0);
    assert.equal(ha.subscriptions.length, 0);

    const c2 = await RawHaClient.signedIn(ha.url, ha.token);
    const port = ha.port;
    await ha.stop();
    assert.equal((await c2.closed).code, 1000);
    await assert.rejects(RawHaClient.connect(ha.url), /ECONNREFUSED/);
    await ha.start();
    assert.equal(ha.port, port);
    const c3 = await RawHaClient.signedIn(ha.url, ha.token);
    const states = (await c3.command({ type: 'get_states' })).result as Msg[];
    assert.deepEqual(states.map((s) => s.entity_id), ['sensor.kept']);
    await ha.restart();
    assert.equal((await c3.closed).code, 1000);

    const old = ha.token;
    const c4 = await RawHaClient.signedIn(ha.url, old);
    ha.revokeToken();
    assert.equal((await c4.closed).code, 1000);
    const c5 = await RawHaClient.connect(ha.url);
    assert.equal((await c5.login(old)).type, 'auth_invalid');
  });

  it('works with home-assistant-js-websocket, which resubscribes its trigger after a drop', async () => {
    const ha = await startHaServer();
    ha.setState('light.kitchen', 'off');
    ha.addToggleServices('light');
    const conn = await createConnection({ createSocket: () => openSocket(ha.url, ha.token), setupRetry: 0 });
    try {
      assert.equal(conn.haVersion, ha.haVersion);
      const fired: unknown[] = [];
      await conn.subscribeMessage((e) => fired.push(e), { type: 'subscribe_trigger', trigger: { platform: 'state', entity_id: 'light.kitchen', to: 'on' } });
      const r = obj(await callService(conn, 'light', 'turn_on', { brightness: 50 }, { entity_id: 'light.kitchen' }));
      assert.equal(obj(r.context).user_id, ha.user.id);
      await until('the trigger fired', () => fired.length, (n) => n === 1);

      ha.drop();
      await ha.waitForSubscription((s) => s.kind === 'trigger' && s.connection === 2);
      ha.setState('light.kitchen', 'off');
      ha.setState('light.kitchen', 'on');
      await until('the trigger fired again', () => fired.length, (n) => n === 2);
      assert.deepEqual(obj(obj(obj(fired[1]).variables).trigger).entity_id, 'light.kitchen');
    } finally {
      conn.close();
    }
  });
});

/** A socket as the library's own createSocket makes one (it needs a browser WebSocket; Node 20 has none). */
async function openSocket(url: string, token: string): Promise<HaWebSocket> {
  const ws = new WebSocket(url);
  return new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('message', function onMessage(data) {
      const msg = JSON.parse(data.toString()) as Msg;
      if (msg.type === 'auth_required') ws.send(JSON.stringify({ type: 'auth', access_token: token }));
      else if (msg.type === 'auth_invalid') reject(new Error(String(msg.message)));
      else if (msg.type === 'auth_ok') {
        ws.off('message', onMessage);
        ws.send(JSON.stringify({ type: 'supported_features', id: 1, features: { coalesce_messages: 1 } }));
        resolve(Object.assign(ws, { haVersion: String(msg.ha_version) }) as unknown as HaWebSocket);
      }
    });
  });
}
