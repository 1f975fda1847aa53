/**
 * The Home Assistant WebSocket bridge against the stand-in Home Assistant (test/helpers/ha-server):
 * connecting, a refused token, Home Assistant away and back, a dropped connection, service calls,
 * triggers Home Assistant evaluates, entities followed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bridgeTo, offBridge } from './helpers/ha-bridge.js';
import { startHaServer } from './helpers/ha-server.js';
import { until } from './helpers/wait.js';
import type { EntityState } from '../src/hub/ha-access.js';
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
    const b = bridgeTo(ha.url, ha.token);
    const fired: Array<Record<string, unknown>> = [];
    b.subscribeTrigger({ platform: 'state', entity_id: 'binary_sensor.door', to: 'on' }, (t) => fired.push(t), (m) => assert.fail(m));
    await b.start();
    await ha.waitForSubscription((s) => s.kind === 'trigger');
    ha.drop();
    await until('the drop to be seen', () => b.info, (i) => i.state !== 'connected' || ha.authenticated === 0);
    await stateOf(b, 'connected');
    await until('the trigger to be made again', () => ha.subscriptions.filter((s) => s.kind === 'trigger').length, (n) => n === 1);
    ha.setState('binary_sensor.door', 'on');
    const t = await until('the trigger to fire', () => fired, (f) => f.length === 1);
    assert.equal(t[0]!.entity_id, 'binary_sensor.door');
    assert.equal((t[0]!.to_state as { state: string }).state, 'on');
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
    const off = b.watchEntity('binary_sensor.ok', (s) => seen.push(s));
    await b.start();
    await until('its state now', () => seen, (s) => s.length === 1);
    assert.deepEqual(seen[0], { state: 'on', attributes: { device_class: 'running' } });
    await ha.waitForSubscription((s) => s.kind === 'trigger');
    ha.setState('binary_sensor.ok', 'off');
    await until('the change', () => seen, (s) => s.length === 2);
    assert.equal(seen[1]?.state, 'off');
    ha.removeState('binary_sensor.ok');
    await until('the removal', () => seen, (s) => s.length === 3);
    assert.equal(seen[2], null);
    off();
    await until('unsubscribed', () => ha.subscriptions.length, (n) => n === 0);
  });
});
