/**
 * Runs the task when an entity's state changes, as a Home Assistant state trigger means it: Home
 * Assistant evaluates it (`subscribe_trigger`), from, to, for and attribute included.
 */
import { Type } from '@sinclair/typebox';
import type { TriggerType } from './types.js';

const EntityId = Type.String({ pattern: '^[a-z0-9_]+\\.[a-z0-9_]+$', maxLength: 255 });
/** A state, several (any of them), or null (Home Assistant's "no state": created or removed). */
const States = Type.Union([Type.String({ maxLength: 255 }), Type.Array(Type.String({ maxLength: 255 }), { minItems: 1, maxItems: 100 }), Type.Null()]);

const schema = Type.Object(
  {
    type: Type.Literal('ha_state'),
    entity_id: Type.Union([EntityId, Type.Array(EntityId, { minItems: 1, maxItems: 100 })]),
    from: Type.Optional(States),
    to: Type.Optional(States),
    for_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 7 * 86400, description: 'only when the new state has held this long' })),
    attribute: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: "follow this attribute instead of the state" })),
  },
  { additionalProperties: false },
);

export const haStateTrigger: TriggerType<typeof schema> = {
  type: 'ha_state',
  schema,
  start(t, deps, fire) {
    const trigger = {
      platform: 'state',
      entity_id: t.entity_id,
      ...(t.from !== undefined ? { from: t.from } : {}),
      ...(t.to !== undefined ? { to: t.to } : {}),
      ...(t.for_s !== undefined ? { for: { seconds: t.for_s } } : {}),
      ...(t.attribute !== undefined ? { attribute: t.attribute } : {}),
    };
    return deps.ha.subscribeTrigger(
      trigger,
      () => fire('ha_state'),
      (message) => deps.warn(`the ha_state trigger cannot run: ${message}`),
    );
  },
};
