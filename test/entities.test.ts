/** The pure entity layer: the hub's Home Assistant device, built from synthetic hub states. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { discoveryMessage, discoveryTopic } from '../src/entities/discovery.js';
import { hubEntities, mountField } from '../src/entities/hub.js';
import type { Component, DiscoveryMessage, EntityContext, JsonValue, ThingView } from '../src/entities/types.js';
import { LOG_LEVELS } from '../src/hub/config/types.js';
import type { HubState } from '../src/hub/thing-types.js';
import type { HostMetrics } from '../src/hub/metrics/types.js';
import { DiscoveryRegistry, discoveryViolations } from './helpers/ha-rules.js';

const ctx: EntityContext = { nodeId: 'testnode', base: 'hearth/testnode', discoveryPrefix: 'homeassistant', version: '1.2.3' };

function metrics(over: Partial<HostMetrics> = {}): HostMetrics {
  return {
    timestamp: '2025-06-01T12:00:00.000Z',
    cpu_percent: 12.5,
    load_1: 0.71,
    load_5: 0.52,
    load_15: 0.33,
    memory_used_percent: 41.2,
    memory_used_bytes: 3 * 1048576 * 1024,
    memory_total_bytes: 8 * 1048576 * 1024,
    swap_used_percent: 3.5,
    swap_total_bytes: 2 * 1048576 * 1024,
    disks: [
      { mount: '/', type: 'ext4', size_bytes: 100e9, used_bytes: 61e9, used_percent: 61 },
      { mount: '/mnt/data', type: 'xfs', size_bytes: 2e12, used_bytes: 5e11, used_percent: 25.3 },
    ],
    temperatures: [
      { name: 'cpu', celsius: 48.5 },
      { name: 'core_0', celsius: 47 },
    ],
    network_rx_bytes_per_s: 125000,
    network_tx_bytes_per_s: 42000,
    booted_at: '2025-05-30T08:15:00.000Z',
    ...over,
  };
}

function hubState(over: Partial<HubState> = {}): HubState {
  return { version: '1.2.3', log_level: 'info', metrics: metrics(), counts: { agent: 3, task: 5, device: 1 }, problems: [], home_assistant: 'connected', ...over };
}

const view = (state: HubState = hubState()): ThingView => hubEntities(ctx, 'hub', state);
const components = (v: ThingView): Record<string, Component> => v.components;
const comp = (v: ThingView, field: string): Component => {
  const c = v.components[field];
  assert.ok(c, `no component ${field}; have ${Object.keys(v.components).join(', ')}`);
  return c;
};

/** What a `{{ value_json.<key>[ '<sub>' ] ... }}` template reads from the state, or undefined if it reads nothing there. */
function templateRead(template: string, state: Record<string, JsonValue>): JsonValue | undefined {
  const m = /value_json\.([A-Za-z_][A-Za-z0-9_]*)(?:\[\s*'((?:[^'\\]|\\.)*)'\s*\])?/.exec(template);
  assert.ok(m, `template reads no value_json field: ${template}`);
  const top = state[m[1] ?? ''];
  if (m[2] === undefined) return top;
  const sub = m[2].replace(/\\(.)/g, '$1');
  return top !== null && typeof top === 'object' && !Array.isArray(top) ? top[sub] : undefined;
}

describe('hub discovery message', () => {
  it('passes the Home Assistant rules, with and without temperatures, problems and removals', () => {
    const reg = new DiscoveryRegistry();
    const topic = discoveryTopic(ctx, 'hearth_testnode');
    assert.equal(topic, 'homeassistant/device/hearth_testnode/config');
    const states = [hubState(), hubState({ metrics: metrics({ temperatures: [] }) }), hubState({ problems: ['agent/a', 'task/b'] })];
    for (const s of states) {
      const v = view(s);
      assert.equal(discoveryTopic(ctx, v.deviceId), topic);
      reg.assertValid(topic, discoveryMessage(ctx, v));
      // What goes on the wire is JSON: check that form too.
      assert.deepEqual(discoveryViolations(topic, JSON.stringify(discoveryMessage(ctx, v, { old_field: 'sensor' }))), []);
    }
  });

  it('has one disk sensor per mount, named disk_root and disk_mnt_data', () => {
    const v = view();
    const disks = Object.keys(components(v)).filter((k) => k.startsWith('disk_')).sort();
    assert.deepEqual(disks, ['disk_mnt_data', 'disk_root']);
    assert.equal(comp(v, 'disk_root').unit_of_measurement, '%');
    assert.equal(comp(v, 'disk_root').p, 'sensor');
    assert.equal(mountField('/'), 'root');
    assert.equal(mountField('/mnt/data'), 'mnt_data');
    const one = view(hubState({ metrics: metrics({ disks: [{ mount: '/', type: 'ext4', size_bytes: 1, used_bytes: 1, used_percent: 1 }] }) }));
    assert.deepEqual(Object.keys(components(one)).filter((k) => k.startsWith('disk_')), ['disk_root']);
  });

  it('has a temperature sensor per reading, and none when the host has none', () => {
    const v = view();
    const temps = Object.keys(components(v)).filter((k) => k.startsWith('temperature'));
    assert.deepEqual(temps.sort(), ['temperature_core_0', 'temperature_cpu']);
    const cpu = comp(v, 'temperature_cpu');
    assert.equal(cpu.device_class, 'temperature');
    assert.equal(cpu.unit_of_measurement, '°C');
    const none = view(hubState({ metrics: metrics({ temperatures: [] }) }));
    assert.deepEqual(Object.keys(components(none)).filter((k) => k.includes('temperature')), []);
    assert.deepEqual(none.state.temperature, {});
  });

  it('every value_template reads a value the state payload has', () => {
    const v = view();
    for (const [field, c] of Object.entries(components(v))) {
      if (!c.value_template || c.state_topic) continue; // own topic (log level reads bridge/info)
      assert.notEqual(templateRead(c.value_template, v.state), undefined, `${field}: ${c.value_template} reads nothing`);
    }
  });

  it('the templates read the right values', () => {
    const m = metrics();
    const v = view(hubState({ metrics: m }));
    const read = (field: string): JsonValue | undefined => templateRead(comp(v, field).value_template ?? '', v.state);
    assert.equal(read('disk_root'), 61);
    assert.equal(read('disk_mnt_data'), 25.3);
    assert.equal(read('cpu'), m.cpu_percent);
    assert.equal(read('memory'), m.memory_used_percent);
    assert.equal(read('memory_used'), m.memory_used_bytes);
    assert.equal(read('swap'), m.swap_used_percent);
    assert.equal(read('load_5'), m.load_5);
    assert.equal(read('last_boot'), m.booted_at);
    assert.equal(read('temperature_core_0'), 47);
    assert.equal(read('network_rx'), m.network_rx_bytes_per_s);
    assert.deepEqual([read('agents'), read('tasks'), read('devices')], [3, 5, 1]);
    assert.equal(read('problem'), false);
    assert.equal(read('home_assistant'), 'connected');
    assert.equal(v.state.cpu_percent, 12.5);
    assert.equal(v.state.booted_at, '2025-05-30T08:15:00.000Z');
    assert.deepEqual(v.state.disk, { '/': 61, '/mnt/data': 25.3 });
  });

  it('problem is true exactly when problems is non-empty', () => {
    assert.equal(view(hubState({ problems: [] })).state.problem, false);
    const bad = view(hubState({ problems: ['agent/web'] }));
    assert.equal(bad.state.problem, true);
    assert.deepEqual(bad.state.problems, ['agent/web']);
    const p = comp(bad, 'problem');
    assert.equal(p.p, 'binary_sensor');
    assert.equal(p.device_class, 'problem');
    assert.match(p.value_template ?? '', /'ON' if value_json\.problem else 'OFF'/);
  });

  it('unique_ids are hearth_<node>_<field>, stable across states', () => {
    const a = view();
    const b = view(hubState({ version: '9.9.9', log_level: 'debug', problems: ['x/y'], metrics: metrics({ cpu_percent: 99, booted_at: 'later' }) }));
    for (const [field, c] of Object.entries(components(a))) {
      assert.equal(c.unique_id, `hearth_testnode_${field}`);
      assert.equal(c.default_entity_id, `${c.p}.hearth_testnode_${field}`);
      assert.equal(comp(b, field).unique_id, c.unique_id);
    }
    assert.deepEqual(Object.keys(components(b)).sort(), Object.keys(components(a)).sort());
    assert.equal(a.deviceId, 'hearth_testnode');
    assert.deepEqual(a.device.identifiers, ['hearth_testnode']);
  });

  it('is available on <base>/bridge/state and publishes on <base>/metrics', () => {
    const msg: DiscoveryMessage = discoveryMessage(ctx, view());
    assert.deepEqual(msg.availability, [{ topic: 'hearth/testnode/bridge/state' }]);
    assert.equal(msg.availability_mode, undefined);
    assert.equal(msg.state_topic, 'hearth/testnode/metrics');
    assert.deepEqual(msg.o, { name: 'Hearth', sw_version: '1.2.3' });
  });

  it('the log-level select commands through <base>/bridge/request/options', () => {
    const c = comp(view(), 'log_level');
    assert.equal(c.p, 'select');
    assert.equal(c.command_topic, 'hearth/testnode/bridge/request/options');
    assert.deepEqual(c.options, [...LOG_LEVELS]);
    assert.equal(c.entity_category, 'config');
    assert.deepEqual(JSON.parse((c.command_template ?? '').replace('{{ value }}', 'debug')), { log_level: 'debug' });
    assert.equal(comp(view(), 'restart').command_topic, 'hearth/testnode/bridge/request/restart');
  });

  it('a removed field is sent once as { p }, and never replaces a live one', () => {
    const v = view();
    const msg = discoveryMessage(ctx, v, { old_field: 'sensor', cpu: 'sensor' });
    assert.deepEqual(msg.cmps.old_field, { p: 'sensor' });
    assert.equal(Object.keys(msg.cmps).filter((k) => k === 'old_field').length, 1);
    assert.equal((msg.cmps.cpu as Component).unique_id, 'hearth_testnode_cpu');
    assert.equal(discoveryMessage(ctx, v).cmps.old_field, undefined);
    assert.equal(Object.keys(msg.cmps).length, Object.keys(v.components).length + 1);
  });

  it('technical sensors are diagnostic; CPU, memory and disk are not', () => {
    const v = view();
    for (const f of ['load_1', 'load_5', 'load_15', 'swap', 'network_rx', 'network_tx', 'last_boot', 'agents', 'tasks', 'devices']) {
      assert.equal(comp(v, f).entity_category, 'diagnostic', f);
    }
    for (const f of ['cpu', 'memory', 'disk_root', 'disk_mnt_data', 'temperature_cpu', 'problem']) {
      assert.equal(comp(v, f).entity_category, undefined, f);
    }
  });

  it('names entities by their field, never by the device name', () => {
    const v = view();
    assert.equal(v.device.name, 'Hearth testnode');
    assert.equal(comp(v, 'cpu').name, 'CPU');
    assert.equal(comp(v, 'disk_mnt_data').name, 'Disk usage /mnt/data');
    for (const c of Object.values(components(v))) assert.ok(!String(c.name).startsWith('Hearth'), String(c.name));
  });
});
