/** The hub itself as a Home Assistant device: host metrics, counts, problem, log level, restart. */
import { LOG_LEVELS } from '../hub/config/types.js';
import { HA_STATES } from '../hub/ha-types.js';
import type { HubState } from '../hub/thing-types.js';
import { COUNTED_KINDS } from '../hub/thing-types.js';
import { component, hubDeviceId, valueOf } from './discovery.js';
import type { Component, EntityModule, JsonValue } from './types.js';

/** "/" -> root, "/mnt/data" -> mnt_data: a field name for a mount point. */
export function mountField(mount: string): string {
  const s = mount.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '').toLowerCase();
  return s === '' ? 'root' : s;
}

const PLURAL: Record<(typeof COUNTED_KINDS)[number], string> = { agent: 'Agents', task: 'Tasks', device: 'Devices' };
const COUNT_ICON: Record<(typeof COUNTED_KINDS)[number], string> = {
  agent: 'mdi:robot',
  task: 'mdi:calendar-clock',
  device: 'mdi:serial-port',
};

/** A key of the state's JSON, quoted for a Jinja template. */
const key = (k: string): string => `'${k.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export const hubEntities: EntityModule<HubState> = (ctx, _id, hub) => {
  const dev = hubDeviceId(ctx);
  const m = hub.metrics;
  const c: Record<string, Component> = {};
  const percent = (field: string, name: string, path: string, extra: Partial<Component> = {}): void => {
    c[field] = component(dev, field, 'sensor', {
      name,
      unit_of_measurement: '%',
      state_class: 'measurement',
      value_template: valueOf(path),
      suggested_display_precision: 1,
      ...extra,
    });
  };

  percent('cpu', 'CPU', 'cpu_percent', { icon: 'mdi:cpu-64-bit' });
  for (const n of [1, 5, 15]) {
    c[`load_${n}`] = component(dev, `load_${n}`, 'sensor', {
      name: `Load (${n} min)`,
      state_class: 'measurement',
      entity_category: 'diagnostic',
      icon: 'mdi:gauge',
      value_template: valueOf(`load_${n}`),
      suggested_display_precision: 2,
    });
  }
  percent('memory', 'Memory usage', 'memory_used_percent', { icon: 'mdi:memory' });
  c.memory_used = component(dev, 'memory_used', 'sensor', {
    name: 'Memory used',
    device_class: 'data_size',
    unit_of_measurement: 'MiB',
    state_class: 'measurement',
    entity_category: 'diagnostic',
    value_template: '{{ (value_json.memory_used_bytes / 1048576) | round(1) }}',
    suggested_display_precision: 0,
  });
  percent('swap', 'Swap usage', 'swap_used_percent', { entity_category: 'diagnostic', icon: 'mdi:harddisk' });
  for (const d of m.disks) {
    // "/" and "/root" slug alike: a later mount gets a numbered field instead of replacing one.
    let field = `disk_${mountField(d.mount)}`;
    for (let n = 2; field in c; n++) field = `disk_${mountField(d.mount)}_${n}`;
    percent(field, `Disk usage ${d.mount}`, `disk[${key(d.mount)}]`, { icon: 'mdi:harddisk' });
  }
  for (const t of m.temperatures) {
    const field = `temperature_${t.name}`;
    c[field] = component(dev, field, 'sensor', {
      name: `Temperature ${t.name.replace(/_/g, ' ')}`,
      device_class: 'temperature',
      unit_of_measurement: '°C',
      state_class: 'measurement',
      value_template: valueOf(`temperature[${key(t.name)}]`),
    });
  }
  for (const [field, name, path] of [
    ['network_rx', 'Network receive', 'network_rx_bytes_per_s'],
    ['network_tx', 'Network transmit', 'network_tx_bytes_per_s'],
  ] as const) {
    c[field] = component(dev, field, 'sensor', {
      name,
      device_class: 'data_rate',
      unit_of_measurement: 'kB/s',
      state_class: 'measurement',
      entity_category: 'diagnostic',
      value_template: `{{ (value_json.${path} / 1000) | round(1) }}`,
    });
  }
  c.last_boot = component(dev, 'last_boot', 'sensor', {
    name: 'Last boot',
    device_class: 'timestamp',
    entity_category: 'diagnostic',
    value_template: valueOf('booted_at'),
  });
  for (const kind of COUNTED_KINDS) {
    const field = `${kind}s`;
    c[field] = component(dev, field, 'sensor', {
      name: PLURAL[kind],
      state_class: 'measurement',
      entity_category: 'diagnostic',
      icon: COUNT_ICON[kind],
      value_template: valueOf(field),
    });
  }
  c.problem = component(dev, 'problem', 'binary_sensor', {
    name: 'Problem',
    device_class: 'problem',
    value_template: "{{ 'ON' if value_json.problem else 'OFF' }}",
    json_attributes_topic: `${ctx.base}/metrics`,
    json_attributes_template: '{{ {"problems": value_json.problems} | tojson }}',
  });
  c.home_assistant = component(dev, 'home_assistant', 'sensor', {
    name: 'Home Assistant link',
    device_class: 'enum',
    options: [...HA_STATES],
    entity_category: 'diagnostic',
    icon: 'mdi:home-assistant',
    value_template: valueOf('home_assistant'),
  });
  c.log_level = component(dev, 'log_level', 'select', {
    name: 'Log level',
    entity_category: 'config',
    icon: 'mdi:format-list-bulleted',
    options: [...LOG_LEVELS],
    state_topic: `${ctx.base}/bridge/info`,
    value_template: valueOf('log_level'),
    command_topic: `${ctx.base}/bridge/request/options`,
    command_template: '{"log_level": "{{ value }}"}',
  });
  c.restart = component(dev, 'restart', 'button', {
    name: 'Restart',
    device_class: 'restart',
    entity_category: 'config',
    command_topic: `${ctx.base}/bridge/request/restart`,
    payload_press: '{}',
  });

  const state: Record<string, JsonValue> = {
    timestamp: m.timestamp,
    cpu_percent: m.cpu_percent,
    load_1: m.load_1,
    load_5: m.load_5,
    load_15: m.load_15,
    memory_used_percent: m.memory_used_percent,
    memory_used_bytes: m.memory_used_bytes,
    memory_total_bytes: m.memory_total_bytes,
    swap_used_percent: m.swap_used_percent,
    disk: Object.fromEntries(m.disks.map((d) => [d.mount, d.used_percent])),
    temperature: Object.fromEntries(m.temperatures.map((t) => [t.name, t.celsius])),
    network_rx_bytes_per_s: m.network_rx_bytes_per_s,
    network_tx_bytes_per_s: m.network_tx_bytes_per_s,
    booted_at: m.booted_at,
    problem: hub.problems.length > 0,
    problems: hub.problems,
    home_assistant: hub.home_assistant,
  };
  for (const kind of COUNTED_KINDS) state[`${kind}s`] = hub.counts[kind];

  return {
    deviceId: dev,
    stateTopic: `${ctx.base}/metrics`,
    device: { identifiers: [dev], name: `Hearth ${ctx.nodeId}`, manufacturer: 'Hearth', model: 'Hub', sw_version: hub.version },
    components: c,
    state,
  };
};
