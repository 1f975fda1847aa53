/**
 * The Home Assistant WebSocket bridge against the stand-in Home Assistant (test/helpers/ha-server):
 * connecting, a refused token, Home Assistant away and back, a dropped connection, service calls,
 * triggers Home Assistant evaluates, entities followed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bridgeTo, offBridge } from './helpers/ha-bridge.js';
import { EventBus } from '../src/hub/events.js';
import { startHaServer } from './helpers/ha-server.js';
import { until } from './helpers/wait.js';
import { onCleanup } from './helpers/cleanup.js';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { EntityState } from '../src/hub/ha-access.js';
import type { HaStatus } from '../src/hub/ha-types.js';
import type { HomeAssistantBridge } from '../src/bridges/homeassistant/bridge.js';
import { websocketUrl } from '../src/bridges/homeassistant/target.js';

const stateOf = (b: HomeAssistantBridge, state: string) => until(`the bridge to be ${state}`, () => b.info, (i) => i.state === state);

describe('Home Assistant bridge', { concurrency: true }, () => {
  it('is off without Home Assistant configured, and says so on every call', async () => {
    const b = offBridge();
    await b.start();
    assert.equal(b.info.state, 'off');
    assert.match(b.info.last_error ?? '', /HEARTH_HA_URL and HEARTH_HA_TOKEN/);
    await assert.rejects(b.callService({ domain: 'light', service: 'turn_on' }), /Home Assistant is not configured/);
  });

  it('connects with a long-lived token and knows the version; the URL may be the one a user pastes', async () => {
    const ha = await startHaServer({ haVersion: '2026.11.3' });
    const b = bridgeTo(ha.httpUrl, ha.token);
    await b.start();
    const info = await stateOf(b, 'connected');
    assert.deepEqual([info.version, info.url, info.last_error], ['2026.11.3', ha.url, undefined]);
    assert.equal(ha.authenticated, 1);
    // It asks for batched messages, as Home Assistant's own frontend does.
    await ha.waitForMessage((m) => (m as { type?: string }).type === 'supported_features');
    assert.equal(websocketUrl('https://ha.example:8123/'), 'wss://ha.example:8123/api/websocket');
    assert.equal(websocketUrl('ws://ha.local/api/websocket'), 'ws://ha.local/api/websocket');
    assert.equal(websocketUrl('http://ha.local:8123/#/lovelace'), 'ws://ha.local:8123/api/websocket');
  });

  it('a refused token: auth_failed with Home Assistant\'s words, and no service calls', async () => {
    const ha = await startHaServer();
    const b = bridgeTo(ha.url, 'not-the-token');
    await b.start();
    const info = await stateOf(b, 'auth_failed');
    assert.equal(info.last_error, 'Home Assistant refused the token: Invalid access token or password');
    await assert.rejects(b.callService({ domain: 'light', service: 'turn_on' }), /not connected to Home Assistant \(Home Assistant refused the token/);
    assert.equal(ha.authenticated, 0);
  });

  it('keeps trying while Home Assistant is away, and connects when it comes', async () => {
    const ha = await startHaServer();
    await ha.stop();
    const b = bridgeTo(ha.url, ha.token);
    await b.start();
    const trying = await until('a failed attempt', () => b.info, (i) => i.state === 'connecting' && i.last_error !== undefined);
    assert.equal(trying.last_error, 'ECONNREFUSED');
    await ha.start();
    await stateOf(b, 'connected');
  });

  it('a dropped connection: disconnected, then back by itself, with its triggers made again', async () => {
    const ha = await startHaServer({ states: [{ entity_id: 'binary_sensor.door', state: 'off' }] });
    const bus = new EventBus({ error: () => undefined });
    const states: string[] = [];
    bus.on('homeassistant.status', (s) => void states.push(s.state));
    const b = bridgeTo(ha.url, ha.token, bus);
    let fired = 0;
    b.subscribeTrigger({ platform: 'state', entity_id: 'binary_sensor.door', to: 'on' }, () => fired++, (m) => assert.fail(m));
    await b.start();
    await ha.waitForSubscription((s) => s.kind === 'trigger');
    ha.drop();
    // The library reconnects within milliseconds: the events say what happened, not a poll.
    await until('disconnected, then connected again', () => states.join(' '), (s) => / connected disconnected( connected)+$/.test(s));
    await until('the trigger to be made again', () => ha.subscriptions.filter((s) => s.kind === 'trigger').length, (n) => n === 1);
    ha.setState('binary_sensor.door', 'on');
    await until('the trigger to fire once', () => fired, (n) => n === 1);
    // Dropped again at once: a connection that lasted no time is not made again at once, for ever.
    const signIns = (): number[] => ha.received.filter((r) => (r.message as { type?: string }).type === 'auth').map((r) => r.at);
    const before = signIns().length;
    ha.drop();
    const at = await until('a sign-in after the second drop', signIns, (s) => s.length === before + 1);
    assert.ok(at[before]! - at[before - 1]! >= 1000, `waited ${at[before]! - at[before - 1]!} ms before signing in again`);
  });

  it('calls services: the response when asked for, Home Assistant\'s refusal in its words', async () => {
    const ha = await startHaServer();
    ha.addToggleServices('light');
    ha.setState('light.kitchen', 'off');
    ha.onService('weather.get_forecasts', () => ({ 'weather.home': { forecast: [{ temperature: 21 }] } }), { response: 'only' });
    const b = bridgeTo(ha.url, ha.token);
    await b.start();
    await stateOf(b, 'connected');

    assert.equal(await b.callService({ domain: 'light', service: 'turn_on', target: { entity_id: 'light.kitchen' }, service_data: { brightness: 128 } }), undefined);
    assert.deepEqual([ha.getState('light.kitchen')?.state, ha.getState('light.kitchen')?.attributes.brightness], ['on', 128]);
    const forecast = await b.callService({ domain: 'weather', service: 'get_forecasts', target: { entity_id: 'weather.home' }, return_response: true });
    assert.deepEqual(forecast, { 'weather.home': { forecast: [{ temperature: 21 }] } });
    await assert.rejects(b.callService({ domain: 'light', service: 'nope' }), { message: 'Service light.nope not found. (not_found)' });
    await assert.rejects(b.callService({ domain: 'weather', service: 'get_forecasts' }), /must be called with return_response=True/);
    // A call in flight when the connection drops fails saying so.
    ha.onService('slow.forever', () => new Promise(() => undefined));
    const pending = b.callService({ domain: 'slow', service: 'forever' });
    await ha.waitForCall('slow.forever');
    ha.drop();
    await assert.rejects(pending, { message: 'the connection to Home Assistant was lost' });
  });

  it('a trigger Home Assistant will not take is reported with its reason', async () => {
    const ha = await startHaServer();
    const b = bridgeTo(ha.url, ha.token);
    await b.start();
    const refused = await new Promise<string>((resolve) => b.subscribeTrigger({ platform: 'state' }, () => undefined, resolve));
    assert.match(refused, /required key not provided @ data\['entity_id'\]/);
    assert.equal(ha.subscriptions.length, 0);
  });

  it('follows an entity: its state at connect, its changes, null when it is gone', async () => {
    const ha = await startHaServer({ states: [{ entity_id: 'binary_sensor.ok', state: 'on', attributes: { device_class: 'running' } }] });
    const b = bridgeTo(ha.url, ha.token);
    const seen: Array<EntityState | null> = [];
    const off = b.watchEntity('binary_sensor.ok', (s) => seen.push(s), (m) => assert.fail(m));
    await b.start();
    await until('its state now', () => seen, (s) => s.length === 1);
    assert.deepEqual(seen[0], { state: 'on', attributes: { device_class: 'running' } });
    await ha.waitForSubscription((s) => s.kind === 'trigger');
    ha.setState('binary_sensor.ok', 'off');
    await until('the change', () => seen, (s) => s.length === 2);
    assert.equal(seen[1]?.state, 'off');
    // A second follower of the same entity (a second instance's check) hears its state at once.
    const later: Array<EntityState | null> = [];
    const offLater = b.watchEntity('binary_sensor.ok', (s) => later.push(s), (m) => assert.fail(m));
    assert.deepEqual(later, [{ state: 'off', attributes: {} }]);
    assert.equal(ha.subscriptions.length, 1, 'one trigger for the entity, however many follow it');
    ha.removeState('binary_sensor.ok');
    await until('the removal', () => seen, (s) => s.length === 3);
    assert.deepEqual([seen[2], later[1]], [null, null]);
    off();
    offLater();
    await until('unsubscribed', () => ha.subscriptions.length, (n) => n === 0);
  });

  it('says when Home Assistant will not let it follow an entity (a token without admin rights)', async () => {
    const ha = await startHaServer({ admin: false, states: [{ entity_id: 'binary_sensor.ok', state: 'on' }] });
    const b = bridgeTo(ha.url, ha.token);
    const refusals: string[] = [];
    b.watchEntity('binary_sensor.ok', () => undefined, (m) => refusals.push(m));
    await b.start();
    await until('the refusal', () => refusals, (r) => r.length === 1);
    assert.match(refusals[0]!, /Unauthorized/);
    // A later follower hears the refusal, not a state that could not be kept current.
    await ha.waitForMessage((m) => (m as { type?: string }).type === 'get_states');
    const later: string[] = [];
    b.watchEntity('binary_sensor.ok', () => assert.fail('a state'), (m) => later.push(m));
    assert.deepEqual(later, refusals);
  });

  it('takes malformed messages from something that is not quite Home Assistant without falling over', async () => {
    // A bare server: the stand-in answers as Home Assistant does, this one does not.
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    onCleanup(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    await once(wss, 'listening');
    const answered: string[] = [];
    wss.on('connection', (ws) => {
      ws.send(JSON.stringify({ type: 'auth_required', ha_version: '2026.1.0' }));
      ws.on('message', (data) => {
        const m = JSON.parse(data.toString()) as { id?: number; type: string };
        if (m.type === 'auth') return ws.send(JSON.stringify({ type: 'auth_ok', ha_version: '2026.1.0' }));
        if (m.type === 'subscribe_trigger') {
          ws.send(JSON.stringify({ id: m.id, type: 'result', success: true, result: null }));
          ws.send(JSON.stringify({ id: m.id, type: 'event', event: null }));
          ws.send(JSON.stringify({ id: m.id, type: 'event', event: { variables: { trigger: { to_state: { state: 7 } } } } }));
        }
        if (m.type === 'get_states') ws.send(JSON.stringify({ id: m.id, type: 'result', success: true, result: null }));
        if (m.type === 'call_service') ws.send(JSON.stringify({ id: m.id, type: 'result', success: true, result: 'junk' }));
        answered.push(m.type);
      });
    });
    const port = (wss.address() as AddressInfo).port;
    const bus = new EventBus({ error: () => undefined });
    const states: HaStatus[] = [];
    bus.on('homeassistant.status', (s) => void states.push(s));
    const b = bridgeTo(`ws://127.0.0.1:${port}/api/websocket`, 'any', bus);
    const seen: Array<EntityState | null> = [];
    b.watchEntity('binary_sensor.ok', (s) => seen.push(s), () => undefined);
    await b.start();
    await stateOf(b, 'connected');
    await until('the odd answers sent', () => answered, (a) => a.includes('subscribe_trigger') && a.includes('get_states'));
    assert.equal(await b.callService({ domain: 'light', service: 'turn_on' }), undefined);
    assert.deepEqual(seen, [], 'nothing it could not read reached a follower');
    assert.equal(b.info.state, 'connected');
    // A frame that is not JSON, then one that is null: each ends that connection, not the hub.
    for (const frame of ['{not json', 'null']) {
      const from = states.length;
      for (const ws of wss.clients) ws.send(frame);
      const lost = await until('the connection dropped', () => states.slice(from), (s) => s.some((x) => x.state === 'disconnected'));
      assert.match(lost.find((x) => x.state === 'disconnected')!.last_error ?? '', /^Home Assistant sent a message the hub cannot read/);
      await stateOf(b, 'connected');
    }

    // Not even an authentication phase: a message without a type.
    const odd = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    onCleanup(() => new Promise<void>((resolve) => odd.close(() => resolve())));
    await once(odd, 'listening');
    odd.on('connection', (ws) => ws.send('null'));
    const c = bridgeTo(`ws://127.0.0.1:${(odd.address() as AddressInfo).port}/api/websocket`, 'any');
    await c.start();
    const trying = await until('a failed attempt', () => c.info, (i) => i.last_error !== undefined);
    assert.deepEqual([trying.state, trying.last_error], ['connecting', 'not Home Assistant: a message without a type']);
  });
});
