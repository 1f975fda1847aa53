/** Publishes one MQTT message, through the hub's MqttAccess (the bridge, never imported). */
import { Type } from '@sinclair/typebox';
import type { ActionOutcome, ActionType } from './types.js';
import { stopReason, untilAborted } from './stop-reason.js';

export const MqttAction = Type.Object(
  {
    type: Type.Literal('mqtt'),
    topic: Type.String({ minLength: 1, maxLength: 65535, pattern: '^[^#+]+$', description: 'no wildcards' }),
    // Its type is checked in check(), so the error can name every form allowed.
    payload: Type.Unknown({ description: 'text as it is; a number, boolean, object or array is sent as JSON' }),
    retain: Type.Optional(Type.Boolean({ description: 'default false' })),
    qos: Type.Optional(Type.Unsafe<0 | 1 | 2>(Type.Integer({ enum: [0, 1, 2], description: 'default 0' }))),
  },
  { additionalProperties: false },
);

export const mqtt: ActionType<typeof MqttAction> = {
  type: 'mqtt',
  schema: MqttAction,

  check(a) {
    const p = a.payload;
    const fits = typeof p === 'string' || typeof p === 'number' || typeof p === 'boolean' || (typeof p === 'object' && p !== null);
    return fits ? null : 'action.payload: must be a string, a number, a boolean, an object or an array';
  },

  async run(a, job, deps): Promise<ActionOutcome> {
    if (job.signal.aborted) return { ok: false, error: stopReason(job.signal) };
    if (!deps.mqtt.connected) return { ok: false, error: 'not connected to the MQTT broker' };
    const text = typeof a.payload === 'string' ? a.payload : JSON.stringify(a.payload);
    try {
      const r = await untilAborted(deps.mqtt.publish(a.topic, text, { retain: a.retain ?? false, qos: a.qos ?? 0 }), job.signal);
      if (r === 'aborted') return { ok: false, error: stopReason(job.signal) };
    } catch (e) {
      return { ok: false, error: `publish to ${a.topic} failed: ${e instanceof Error ? e.message : String(e)}` };
    }
    job.step(`published to ${a.topic}`);
    return { ok: true };
  },
};
