/** What a task is, as users write it (REST, MQTT bridge, hearth.yaml). */
import { Type, type Static } from '@sinclair/typebox';

/** Checked against the registered action types by actions/index.ts (parseAction). */
export const ActionBody = Type.Object({ type: Type.String({ minLength: 1 }) }, { additionalProperties: true, description: 'command, agent, http, mqtt or workflow' });

/** Checked against the registered trigger types by triggers/index.ts. */
export const TriggerBody = Type.Object({ type: Type.String({ minLength: 1 }) }, { additionalProperties: true, description: 'mqtt, ha_state or ha_event' });

const fields = {
  schedule: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'cron, with an optional seconds field: "*/5 * * * * *"' })),
  interval_s: Type.Optional(Type.Number({ minimum: 1, maximum: 31_536_000 })),
  timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone for the schedule (default the host\'s)' })),
  trigger: Type.Optional(TriggerBody),
  action: ActionBody,
  enabled: Type.Optional(Type.Boolean({ description: 'default true' })),
  timeout_s: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 604_800 })),
  retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, description: 'default 0' })),
  retry_delay_s: Type.Optional(Type.Number({ minimum: 0, maximum: 86_400, description: 'default 10' })),
  overlap: Type.Optional(Type.Union([Type.Literal('skip'), Type.Literal('queue'), Type.Literal('allow')], { description: 'default skip' })),
  catch_up: Type.Optional(Type.Boolean({ description: 'run once at start if a scheduled run was missed while the hub was down (default false)' })),
  history: Type.Optional(
    Type.Object(
      {
        keep: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, description: 'jobs kept per task (default 100)' })),
        max_age_days: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 3650, description: 'default 30' })),
      },
      { additionalProperties: false },
    ),
  ),
};

export const TaskCreate = Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }), ...fields }, { additionalProperties: false });
export type TaskCreate = Static<typeof TaskCreate>;

export const TaskUpdate = Type.Partial(TaskCreate, { additionalProperties: false });
export type TaskUpdate = Static<typeof TaskUpdate>;
