/**
 * A trigger beyond the schedule: something that happens (an MQTT message; Home Assistant state
 * changes later). Each type is one file exporting a TriggerType, and one line in triggers/index.ts.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import type { MqttAccess } from '../../mqtt-access.js';

export interface TriggerDeps {
  mqtt: MqttAccess;
}

export interface TriggerType<S extends TSchema = TSchema> {
  type: string;
  schema: S;
  /** Starts listening; `fire` runs the task. Returns the function that stops listening. */
  start(trigger: Static<S>, deps: TriggerDeps, fire: (detail: string) => void): () => void;
}

export type Trigger = { type: string } & Record<string, unknown>;
