/**
 * An agent as a Home Assistant device: running switch, restart and reload buttons, status, usage,
 * health, problem, the instance count (a number), and with several instances a status per instance.
 */
import { MAX_INSTANCES } from '../hub/agents/schema.js';
import type { AgentState } from '../hub/agents/state.js';
import { STATUSES } from '../hub/supervisor/spec.js';
import { component, thingDevice, thingDeviceId, valueOf, valueOrUnknown } from './discovery.js';
import type { Component, EntityModule, JsonValue } from './types.js';

export const agentEntities: EntityModule<AgentState> = (ctx, id, a) => {
  const dev = thingDeviceId(ctx, 'agent', id);
  const stateTopic = `${ctx.base}/agent/${id}`;
  const command = `${stateTopic}/set`;
  const c: Record<string, Component> = {
    running: component(dev, 'running', 'switch', {
      name: null,
      icon: 'mdi:play-pause',
      command_topic: command,
      payload_on: 'start',
      payload_off: 'stop',
      value_template: "{{ 'ON' if value_json.status in ['starting', 'running', 'backoff'] else 'OFF' }}",
      state_on: 'ON',
      state_off: 'OFF',
    }),
    restart: component(dev, 'restart', 'button', { name: 'Restart', device_class: 'restart', command_topic: command, payload_press: 'restart' }),
    reload: component(dev, 'reload', 'button', { name: 'Reload', icon: 'mdi:reload', command_topic: command, payload_press: 'reload' }),
    instances: component(dev, 'instances', 'number', {
      name: 'Instances',
      icon: 'mdi:content-copy',
      entity_category: 'config',
      command_topic: `${stateTopic}/instances/set`,
      value_template: valueOf('instances'),
      min: 1,
      max: MAX_INSTANCES,
      step: 1,
      mode: 'box',
    }),
    status: component(dev, 'status', 'sensor', {
      name: 'Status',
      device_class: 'enum',
      options: [...STATUSES],
      value_template: valueOf('status'),
      json_attributes_topic: stateTopic,
      json_attributes_template: '{{ {"reason": value_json.reason, "pid": value_json.pid, "desired": value_json.desired, "reloading": value_json.reloading, "last_reload": value_json.last_reload} | tojson }}',
    }),
    cpu: component(dev, 'cpu', 'sensor', {
      name: 'CPU',
      unit_of_measurement: '%',
      state_class: 'measurement',
      icon: 'mdi:cpu-64-bit',
      suggested_display_precision: 1,
      value_template: '{{ value_json.cpu_percent if value_json.cpu_percent is not none else 0 }}',
    }),
    memory: component(dev, 'memory', 'sensor', {
      name: 'Memory',
      device_class: 'data_size',
      unit_of_measurement: 'MiB',
      state_class: 'measurement',
      suggested_display_precision: 1,
      value_template: '{{ ((value_json.memory_bytes or 0) / 1048576) | round(1) }}',
    }),
    started_at: component(dev, 'started_at', 'sensor', {
      name: 'Started',
      device_class: 'timestamp',
      entity_category: 'diagnostic',
      value_template: valueOrUnknown('started_at'),
    }),
    restarts: component(dev, 'restarts', 'sensor', {
      name: 'Restarts',
      state_class: 'total_increasing',
      entity_category: 'diagnostic',
      icon: 'mdi:restart',
      value_template: valueOf('restarts'),
    }),
    health: component(dev, 'health', 'sensor', {
      name: 'Health',
      unit_of_measurement: '%',
      state_class: 'measurement',
      icon: 'mdi:heart-pulse',
      value_template: valueOf('health'),
    }),
    last_exit_code: component(dev, 'last_exit_code', 'sensor', {
      name: 'Last exit code',
      entity_category: 'diagnostic',
      icon: 'mdi:numeric',
      value_template: valueOrUnknown('last_exit_code'),
    }),
    problem: component(dev, 'problem', 'binary_sensor', {
      name: 'Problem',
      device_class: 'problem',
      value_template: "{{ 'ON' if value_json.problem else 'OFF' }}",
    }),
  };
  if (a.instances > 1) {
    c.instances_running = component(dev, 'instances_running', 'sensor', { name: 'Instances running', icon: 'mdi:content-copy', state_class: 'measurement', value_template: valueOf('instances_running') });
    for (let i = 0; i < a.instances; i++) c[`instance_${i}`] = instanceStatus(dev, stateTopic, i);
  }
  return {
    deviceId: dev,
    stateTopic,
    device: thingDevice(ctx, 'agent', id, a.name, `Agent (${a.type})`),
    components: c,
    state: a as unknown as Record<string, JsonValue>,
  };
};

/** One instance's status, its pid, port, restarts and usage as attributes. */
function instanceStatus(dev: string, stateTopic: string, i: number): Component {
  const it = `value_json.instance_states[${i}]`;
  return component(dev, `instance_${i}`, 'sensor', {
    name: `Instance ${i}`,
    device_class: 'enum',
    options: [...STATUSES],
    icon: 'mdi:application-outline',
    // A state sent before the count grew has no such entry: Jinja's undefined, not an error.
    value_template: `{{ ${it}.status if ${it} is defined else 'stopped' }}`,
    json_attributes_topic: stateTopic,
    json_attributes_template: `{{ (${it} if ${it} is defined else {}) | tojson }}`,
  });
}
