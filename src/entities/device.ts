/**
 * A device as a Home Assistant device: connect switch, connected binary_sensor, status, one sensor
 * per telemetry field or register, number/switch for writable registers, a text to send a
 * command, upload progress and the firmware version. What the device reports is available only
 * while it is connected; the controls stay available so it can be connected.
 */
import { DEVICE_STATUSES } from '../hub/devices/schema.js';
import type { DeviceState, FieldSpec } from '../hub/devices/state.js';
import { component, thingDevice, thingDeviceId, valueOrUnknown } from './discovery.js';
import type { Availability, Component, EntityModule, JsonValue } from './types.js';

/** Home Assistant's text entity takes at most 255 characters. */
const TEXT_MAX = 255;

const readField = (name: string): string => `{{ value_json.telemetry['${name}'] if value_json.telemetry['${name}'] is defined and value_json.telemetry['${name}'] is not none else None }}`;

function fieldComponents(dev: string, fieldTopic: (name: string) => string, f: FieldSpec, availability: Availability[]): Record<string, Component> {
  const label = f.name.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
  const common = { name: label, availability, availability_mode: 'all' as const, ...(f.icon ? { icon: f.icon } : {}) };
  if (f.writable && f.kind === 'bool') {
    return {
      [f.name]: component(dev, f.name, 'switch', {
        ...common,
        command_topic: fieldTopic(f.name),
        payload_on: 'ON',
        payload_off: 'OFF',
        value_template: `{{ 'ON' if value_json.telemetry['${f.name}'] else 'OFF' }}`,
        state_on: 'ON',
        state_off: 'OFF',
      }),
    };
  }
  if (f.writable && f.kind === 'number') {
    return {
      [f.name]: component(dev, f.name, 'number', {
        ...common,
        command_topic: fieldTopic(f.name),
        value_template: readField(f.name),
        mode: 'box',
        ...(f.min !== undefined ? { min: f.min } : {}),
        ...(f.max !== undefined ? { max: f.max } : {}),
        ...(f.step !== undefined ? { step: f.step } : {}),
        ...(f.unit ? { unit_of_measurement: f.unit } : {}),
        ...(f.device_class ? { device_class: f.device_class } : {}),
      }),
    };
  }
  if (f.kind === 'bool') {
    return {
      [f.name]: component(dev, f.name, 'binary_sensor', {
        ...common,
        value_template: `{{ 'ON' if value_json.telemetry['${f.name}'] else 'OFF' }}`,
        ...(f.device_class ? { device_class: f.device_class } : {}),
      }),
    };
  }
  return {
    [f.name]: component(dev, f.name, 'sensor', {
      ...common,
      value_template: readField(f.name),
      ...(f.unit ? { unit_of_measurement: f.unit } : {}),
      ...(f.device_class ? { device_class: f.device_class } : {}),
      ...(f.kind === 'number' ? { state_class: (f.state_class as Component['state_class']) ?? 'measurement' } : {}),
    }),
  };
}

export const deviceEntities: EntityModule<DeviceState> = (ctx, id, d) => {
  const dev = thingDeviceId(ctx, 'device', id);
  const stateTopic = `${ctx.base}/device/${id}`;
  const command = `${stateTopic}/set`;
  const connected: Availability = { topic: stateTopic, value_template: "{{ 'online' if value_json.connected else 'offline' }}" };
  const whileConnected = [{ topic: `${ctx.base}/bridge/state` }, connected];
  const c: Record<string, Component> = {
    connection: component(dev, 'connection', 'switch', {
      name: null,
      icon: 'mdi:lan-connect',
      command_topic: command,
      payload_on: 'connect',
      payload_off: 'disconnect',
      value_template: "{{ 'ON' if value_json.desired == 'connected' else 'OFF' }}",
      state_on: 'ON',
      state_off: 'OFF',
    }),
    connected: component(dev, 'connected', 'binary_sensor', {
      name: 'Connected',
      device_class: 'connectivity',
      value_template: "{{ 'ON' if value_json.connected else 'OFF' }}",
      json_attributes_topic: stateTopic,
      json_attributes_template: '{{ {"reason": value_json.reason, "next_attempt_at": value_json.next_attempt_at} | tojson }}',
    }),
    status: component(dev, 'status', 'sensor', {
      name: 'Status',
      device_class: 'enum',
      options: [...DEVICE_STATUSES],
      entity_category: 'diagnostic',
      value_template: '{{ value_json.status }}',
    }),
    problem: component(dev, 'problem', 'binary_sensor', {
      name: 'Problem',
      device_class: 'problem',
      value_template: "{{ 'ON' if value_json.problem else 'OFF' }}",
    }),
    last_seen: component(dev, 'last_seen', 'sensor', {
      name: 'Last seen',
      device_class: 'timestamp',
      entity_category: 'diagnostic',
      value_template: valueOrUnknown('last_seen'),
    }),
    firmware: component(dev, 'firmware', 'sensor', {
      name: 'Firmware',
      entity_category: 'diagnostic',
      icon: 'mdi:chip',
      value_template: valueOrUnknown('firmware_version'),
    }),
  };
  if (d.accepts.command) {
    c.command = component(dev, 'command', 'text', {
      name: 'Command',
      icon: 'mdi:console-line',
      command_topic: command,
      command_template: '{{ {"action": "command", "command": value} | tojson }}',
      max: TEXT_MAX,
      availability: whileConnected,
      availability_mode: 'all',
    });
  }
  if (d.accepts.upload) {
    c.upload_progress = component(dev, 'upload_progress', 'sensor', {
      name: 'Upload progress',
      unit_of_measurement: '%',
      state_class: 'measurement',
      icon: 'mdi:upload',
      value_template: '{{ value_json.upload.progress if value_json.upload else 0 }}',
      json_attributes_topic: stateTopic,
      json_attributes_template: '{{ (value_json.upload or {}) | tojson }}',
    });
  }
  for (const f of d.fields) Object.assign(c, fieldComponents(dev, (name) => `${stateTopic}/${name}/set`, f, whileConnected));
  // The field specs describe the entities; the state on MQTT carries the values.
  const { fields: _fields, ...state } = d;
  return {
    deviceId: dev,
    stateTopic,
    device: thingDevice(ctx, 'device', id, d.name, `Device (${d.type}, ${d.protocol} over ${d.transport})`),
    components: c,
    state: state as unknown as Record<string, JsonValue>,
  };
};
