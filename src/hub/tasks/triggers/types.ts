/**
 * A trigger beyond the schedule: something that happens (an MQTT message, a Home Assistant state
 * change or event). Each type is one file exporting a TriggerType, and one line in triggers/index.ts.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import type { HaAccess } from '../../ha-access.js';
import type { MqttAccess } from '../../mqtt-access.js';

export interface TriggerDeps {
  mqtt: MqttAccess;
  ha: HaAccess;
  /** Says something went wrong with the trigger (the task's log line names the task). */
  warn(message: string): void;
  /** The task's id. */
  task: string;
}

export interface TriggerType<S extends TSchema = TSchema> {
  type: string;
  schema: S;
  /** Starts listening; `fire` runs the task. Returns the function that stops listening. */
  start(trigger: Static<S>, deps: TriggerDeps, fire: (detail: string) => void): () => void;
}

export type Trigger = { type: string } & Record<string, unknown>;
