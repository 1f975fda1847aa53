/** What an agent is, as users write it (REST, MQTT bridge, hearth.yaml) and as the hub keeps it. */
import { Type, type Static } from '@sinclair/typebox';

export const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGKILL'] as const;
export type StopSignal = (typeof SIGNALS)[number];

const Signal = Type.Union(SIGNALS.map((s) => Type.Literal(s)));

export const RestartSpec = Type.Object(
  {
    policy: Type.Optional(Type.Union([Type.Literal('always'), Type.Literal('on-failure'), Type.Literal('never')], { description: 'default always' })),
    delay_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 3_600_000, description: 'first delay before a restart (default 1000)' })),
    backoff: Type.Optional(Type.Boolean({ description: 'double the delay after each quick failure, up to 60 s (default true)' })),
    max_restarts: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'restarts within window_s that make a crash loop (default 10)' })),
    window_s: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400, description: 'default 60' })),
    min_uptime_s: Type.Optional(Type.Number({ minimum: 0, maximum: 86_400, description: 'a run this long resets the backoff (default 10)' })),
  },
  { additionalProperties: false },
);
export type RestartSpec = Static<typeof RestartSpec>;

const checkCommon = {
  interval_s: Type.Optional(Type.Number({ minimum: 1, maximum: 86_400, description: 'default 30' })),
  timeout_s: Type.Optional(Type.Number({ minimum: 0.1, maximum: 3600, description: 'default 5' })),
  failures: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'consecutive failures that make it unhealthy (default 3)' })),
  restart: Type.Optional(Type.Boolean({ description: 'restart the agent when unhealthy (default true)' })),
};

const HealthCheckForms = Type.Union([
  Type.Object(
    {
      type: Type.Literal('http'),
      url: Type.String({ pattern: '^https?://' }),
      expect_status: Type.Optional(Type.Integer({ minimum: 100, maximum: 599, description: 'default: any 2xx or 3xx' })),
      ...checkCommon,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    { type: Type.Literal('tcp'), host: Type.Optional(Type.String({ minLength: 1 })), port: Type.Integer({ minimum: 1, maximum: 65535 }), ...checkCommon },
    { additionalProperties: false },
  ),
  Type.Object(
    { type: Type.Literal('command'), command: Type.String({ minLength: 1 }), args: Type.Optional(Type.Array(Type.String())), ...checkCommon },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('mqtt'),
      topic: Type.String({ minLength: 1, pattern: '^[^#+]+$', description: 'a heartbeat must arrive here at least every interval_s' }),
      ...checkCommon,
    },
    { additionalProperties: false },
  ),
]);
export type HealthCheckSpec = Static<typeof HealthCheckForms>;

/** One of the forms, chosen by `type`, so an error speaks of that form (Ajv's discriminator). */
export const HealthCheckSpec = Type.Unsafe<HealthCheckSpec>({
  type: 'object',
  required: ['type'],
  discriminator: { propertyName: 'type' },
  oneOf: HealthCheckForms.anyOf,
});

export const LimitsSpec = Type.Object(
  {
    memory_mb: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    cpu_percent: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: '100 = one core' })),
  },
  { additionalProperties: false },
);
export type LimitsSpec = Static<typeof LimitsSpec>;

/** A value, or a value marked secret (never shown in API answers, MQTT state or logs). */
export const EnvValue = Type.Union([
  Type.String(),
  Type.Object({ value: Type.String(), secret: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
]);
export type EnvValue = Static<typeof EnvValue>;

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

/** How the program runs: everything of an agent the supervision kernel needs. */
export interface ProgramSpec {
  command: string;
  args: string[];
  cwd: string | undefined;
  env: Record<string, string>;
  stopSignal: StopSignal;
  stopTimeoutS: number;
  restart: Required<RestartSpec>;
}

export const RESTART_DEFAULTS: Required<RestartSpec> = {
  policy: 'always',
  delay_ms: 1000,
  backoff: true,
  max_restarts: 10,
  window_s: 60,
  min_uptime_s: 10,
};
export const BACKOFF_MAX_MS = 60_000;

const SECRET_NAME = /TOKEN|PASSWORD|PASSWD|SECRET|KEY|CREDENTIAL/i;

/** Is this env entry a secret, by its name or because it is marked so? */
export function isSecret(name: string, v: EnvValue): boolean {
  return (typeof v === 'object' && v.secret === true) || SECRET_NAME.test(name);
}

export const envValue = (v: EnvValue): string => (typeof v === 'string' ? v : v.value);

export const SECRET_MASK = '********';
