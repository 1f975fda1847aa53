/** A task as a Home Assistant device: run button, enabled switch, last run and result, next run, progress, events. */
import { JOB_STATUSES } from '../hub/jobs/types.js';
import type { TaskState } from '../hub/tasks/state.js';
import { component, thingDevice, thingDeviceId, valueOf, valueOrUnknown } from './discovery.js';
import type { EntityModule, JsonValue } from './types.js';

export const TASK_EVENTS = ['started', 'succeeded', 'failed'] as const;

export const taskEntities: EntityModule<TaskState> = (ctx, id, t) => {
  const dev = thingDeviceId(ctx, 'task', id);
  const stateTopic = `${ctx.base}/task/${id}`;
  const command = `${stateTopic}/set`;
  return {
    deviceId: dev,
    stateTopic,
    device: thingDevice(ctx, 'task', id, t.name, 'Task'),
    components: {
      run: component(dev, 'run', 'button', { name: 'Run now', icon: 'mdi:play', command_topic: command, payload_press: 'run' }),
      enabled: component(dev, 'enabled', 'switch', {
        name: 'Enabled',
        entity_category: 'config',
        command_topic: command,
        payload_on: 'enable',
        payload_off: 'disable',
        value_template: "{{ 'ON' if value_json.enabled else 'OFF' }}",
        state_on: 'ON',
        state_off: 'OFF',
      }),
      last_run: component(dev, 'last_run', 'sensor', {
        name: 'Last run',
        device_class: 'timestamp',
        value_template: valueOrUnknown('last_run'),
      }),
      last_result: component(dev, 'last_result', 'sensor', {
        name: 'Last result',
        device_class: 'enum',
        options: [...JOB_STATUSES],
        value_template: valueOrUnknown('last_result'),
      }),
      last_duration: component(dev, 'last_duration', 'sensor', {
        name: 'Last duration',
        device_class: 'duration',
        unit_of_measurement: 's',
        state_class: 'measurement',
        entity_category: 'diagnostic',
        value_template: valueOrUnknown('last_duration_s'),
      }),
      next_run: component(dev, 'next_run', 'sensor', {
        name: 'Next run',
        device_class: 'timestamp',
        value_template: valueOrUnknown('next_run'),
      }),
      progress: component(dev, 'progress', 'sensor', {
        name: 'Progress',
        unit_of_measurement: '%',
        state_class: 'measurement',
        icon: 'mdi:progress-clock',
        value_template: valueOf('progress'),
      }),
      problem: component(dev, 'problem', 'binary_sensor', {
        name: 'Problem',
        device_class: 'problem',
        value_template: "{{ 'ON' if value_json.problem else 'OFF' }}",
      }),
      result: component(dev, 'result', 'event', {
        name: 'Result',
        state_topic: `${stateTopic}/event`,
        event_types: [...TASK_EVENTS],
      }),
    },
    state: t as unknown as Record<string, JsonValue>,
  };
};
