/**
 * What the hub reads from Home Assistant, checked at this edge: the authentication phase, state
 * objects (get_states, a state trigger's to_state) and a service call's result. Anything else in a
 * message is Home Assistant's and passes through unread. No size bounds here, unlike user input:
 * a state's attributes are whatever Home Assistant keeps.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ajv } from '../../hub/validate.js';

const StateObject = Type.Object({ entity_id: Type.String(), state: Type.String(), attributes: Type.Record(Type.String(), Type.Unknown()) });
export type StateObject = Static<typeof StateObject>;

export const AuthPhase = Type.Object({ type: Type.String(), ha_version: Type.Optional(Type.String()), message: Type.Optional(Type.String()) });
export const States = Type.Array(StateObject);
/** A state trigger's event: `to_state` is null when the entity was removed. */
export const StateTriggerEvent = Type.Object({ variables: Type.Object({ trigger: Type.Object({ to_state: Type.Union([StateObject, Type.Null()]) }) }) });
/** An event trigger's event: its data (a state trigger's has no `event`). */
export const EventTriggerEvent = Type.Object({ variables: Type.Object({ trigger: Type.Object({ event: Type.Object({ data: Type.Record(Type.String(), Type.Unknown()) }) }) }) });
/** call_service's result: `{ context, response? }`. */
export const ServiceResult = Type.Object({ response: Type.Optional(Type.Unknown()) });

/** The value, typed, when it fits the schema; undefined when Home Assistant sent something else. */
export function read<S extends TSchema>(schema: S, value: unknown): Static<S> | undefined {
  return ajv.validate(schema, value) ? (value as Static<S>) : undefined;
}
