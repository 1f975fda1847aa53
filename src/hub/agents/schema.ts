/** What an agent is, as users write it (REST, MQTT bridge, hearth.yaml) and as the hub keeps it. */
import { Type, type Static } from '@sinclair/typebox';
import { EnvValue } from '../secrets.js';
import { HealthCheckSpec, LimitsSpec, RestartSpec, Signal } from '../supervisor/spec.js';

/** Most copies of one agent. */
export const MAX_INSTANCES = 64;

/** When a new process counts as ready (for a reload): a line of stdout that contains the text, or `process.send('ready')` (PM2's wait_ready). */
const ReadySignalForms = Type.Union([
  Type.Object({ type: Type.Literal('stdout'), contains: Type.String({ minLength: 1, maxLength: 1000 }) }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('ipc') }, { additionalProperties: false }),
]);
export type ReadySignal = Static<typeof ReadySignalForms>;
/** One of the forms, chosen by `type`, so an error speaks of that form (Ajv's discriminator). */
export const ReadySignal = Type.Unsafe<ReadySignal>({ type: 'object', required: ['type'], discriminator: { propertyName: 'type' }, oneOf: ReadySignalForms.anyOf });

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
  instances: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_INSTANCES, description: 'copies to run, each with HEARTH_INSTANCE and NODE_APP_INSTANCE 0..N-1 (default 1)' })),
  port: Type.Optional(Type.Boolean({ description: 'give each instance its own PORT from HEARTH_PORT_RANGE, kept across restarts' })),
  watch: Type.Optional(
    Type.Union([Type.Boolean(), Type.Array(Type.String({ minLength: 1, maxLength: 4096 }), { minItems: 1, maxItems: 100 })], {
      description: 'restart on a file change: true watches cwd, or these paths (relative to cwd)',
    }),
  ),
  watch_ignore: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 1000 }), { maxItems: 100, description: 'globs, beside node_modules, .git and the log folder' })),
  watch_debounce_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000, description: 'one restart per burst of changes this quiet (default 1000)' })),
  ready_signal: Type.Optional(ReadySignal),
  ready_timeout_s: Type.Optional(Type.Number({ minimum: 0.1, maximum: 3600, description: 'how long a reload waits for a new process to be ready (default 30)' })),
  cron_restart: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'a cron expression (seconds optional): restart then' })),
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
