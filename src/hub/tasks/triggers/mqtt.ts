/** Runs the task when a message arrives on a topic (wildcards allowed), optionally only with a given payload. */
import { Type } from '@sinclair/typebox';
import type { TriggerType } from './types.js';

const schema = Type.Object(
  {
    type: Type.Literal('mqtt'),
    topic: Type.String({ minLength: 1, maxLength: 500 }),
    payload: Type.Optional(Type.String({ description: 'only this payload (compared after trimming)' })),
  },
  { additionalProperties: false },
);

export const mqttTrigger: TriggerType<typeof schema> = {
  type: 'mqtt',
  schema,
  start(t, deps, fire) {
    return deps.mqtt.subscribe(t.topic, (topic, payload) => {
      if (t.payload === undefined || payload.trim() === t.payload.trim()) fire(`mqtt ${topic}`);
    });
  },
};
