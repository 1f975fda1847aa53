/** What an agent is, as users write it (REST, MQTT bridge, hearth.yaml) and as the hub keeps it. */
import { Type, type Static } from '@sinclair/typebox';
import { EnvValue } from '../secrets.js';
import { HealthCheckSpec, LimitsSpec, RestartSpec, Signal } from '../supervisor/spec.js';

const fields = {
  type: Type.Optional(Type.String({ minLength: 1, maxLength: 50, description: 'a label: script, bot, ai, server… (default process)' })),
  command: Type.String({ minLength: 1, maxLength: 4096, description: 'the program; never run through a shell' }),
  args: Type.Optional(Type.Array(Type.String({ maxLength: 65536 }), { maxItems: 1000 })),
  cwd: Type.Optional(Type.String({ minLength: 1 })),
  env: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), EnvValue, { additionalProperties: false })),
  autostart: Type.Optional(Type.Boolean({ description: 'start with the hub (default true)' })),
  restart: Type.Optional(RestartSpec),
  health_check: Type.Optional(HealthCheckSpec),
  limits: Type.Optional(LimitsSpec),
  stop_signal: Type.Optional(Signal),
  stop_timeout_s: Type.Optional(Type.Number({ minimum: 0, maximum: 3600 })),
  configuration: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
};

export const AgentCreate = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 100 }), ...fields },
  { additionalProperties: false },
);
export type AgentCreate = Static<typeof AgentCreate>;

/** An update names only what changes; the id stays whatever the name becomes. */
export const AgentUpdate = Type.Partial(AgentCreate, { additionalProperties: false });
export type AgentUpdate = Static<typeof AgentUpdate>;
