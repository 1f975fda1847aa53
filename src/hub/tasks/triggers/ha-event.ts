/** Runs the task when Home Assistant fires an event, its data matched by Home Assistant's event trigger. */
import { Type } from '@sinclair/typebox';
import { JOB_FINISHED_EVENT } from '../../ha-types.js';
import type { TriggerType } from './types.js';

const schema = Type.Object(
  {
    type: Type.Literal('ha_event'),
    event_type: Type.String({ minLength: 1, maxLength: 255 }),
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: "only events whose data has these values (as an event trigger's event_data)" })),
  },
  { additionalProperties: false },
);

export const haEventTrigger: TriggerType<typeof schema> = {
  type: 'ha_event',
  schema,
  start(t, deps, fire) {
    return deps.ha.subscribeTrigger(
      { platform: 'event', event_type: t.event_type, ...(t.data ? { event_data: t.data } : {}) },
      (f) => {
        // A task run on its own results would run again at each of them, without end.
        if (t.event_type === JOB_FINISHED_EVENT && f.eventData?.task === deps.task) return;
        fire('ha_event');
      },
      (message) => deps.warn(`the ha_event trigger cannot run: ${message}`),
    );
  },
};
