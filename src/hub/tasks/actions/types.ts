/**
 * An action: what a task does. Each type is one file exporting an ActionType, and one line in
 * actions/index.ts. Types to come (app, device) plug in the same way.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import type { JobHandle } from '../../jobs/types.js';
import type { HaAccess } from '../../ha-access.js';
import type { MqttAccess } from '../../mqtt-access.js';

export interface ActionOutcome {
  ok: boolean;
  exit_code?: number | null;
  /** Why it failed, in words a user reads. */
  error?: string;
}

/** What the hub lends an action. Actions never import managers or bridges. */
export interface ActionDeps {
  mqtt: MqttAccess;
  ha: HaAccess;
  agents: {
    start(id: string): Promise<unknown>;
    stop(id: string): Promise<unknown>;
    restart(id: string): Promise<unknown>;
    exists(id: string): boolean;
  };
  /** Runs a nested action (a workflow's step) with the same job. */
  run(action: Action, job: JobHandle): Promise<ActionOutcome>;
}

export interface ActionType<S extends TSchema = TSchema> {
  type: string;
  /** The action's body, including `type: Literal(...)`; validated at the edge. */
  schema: S;
  /**
   * Checks beyond the schema (a workflow's steps, an agent that must exist); returns the error, or
   * null. Called when a task is created or changed.
   */
  check?(action: Static<S>, deps: Pick<ActionDeps, 'agents'>, checkNested: (a: unknown) => string | null): string | null;
  run(action: Static<S>, job: JobHandle, deps: ActionDeps): Promise<ActionOutcome>;
}

/** Any action, as stored: its type and its fields. */
export type Action = { type: string } & Record<string, unknown>;
