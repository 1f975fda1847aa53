/**
 * What the supervision kernel runs and how: the restart policy, health checks, limits and stop
 * signal (as users write them, TypeBox), the kernel's statuses, and its ProgramSpec. Agents and
 * service apps build on these; the kernel depends on nothing above it.
 */
import { Type, type Static } from '@sinclair/typebox';

export const STATUSES = ['stopped', 'starting', 'running', 'stopping', 'backoff', 'failed'] as const;
export type ProgramStatus = (typeof STATUSES)[number];

export const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGKILL'] as const;
export type StopSignal = (typeof SIGNALS)[number];

export const Signal = Type.Union(SIGNALS.map((s) => Type.Literal(s)));

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
      url: Type.String({ pattern: '^https?://', description: '${PORT} stands for the instance\'s port (port: true)' }),
      expect_status: Type.Optional(Type.Integer({ minimum: 100, maximum: 599, description: 'default: any 2xx or 3xx' })),
      ...checkCommon,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('tcp'),
      host: Type.Optional(Type.String({ minLength: 1 })),
      port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: "default: the agent's own PORT (port: true)" })),
      ...checkCommon,
    },
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
  Type.Object(
    {
      type: Type.Literal('ha_entity'),
      entity_id: Type.String({ pattern: '^[a-z0-9_]+\\.[a-z0-9_]+$', maxLength: 255, description: 'a Home Assistant entity the program is healthy by' }),
      healthy_states: Type.Optional(Type.Array(Type.String({ maxLength: 255 }), { minItems: 1, maxItems: 50, description: 'the states that mean healthy (default ["on"])' })),
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

/** How the program runs: everything of an agent the supervision kernel needs. */
export interface ProgramSpec {
  command: string;
  args: string[];
  cwd: string | undefined;
  env: Record<string, string>;
  stopSignal: StopSignal;
  stopTimeoutS: number;
  restart: Required<RestartSpec>;
  /** Open an IPC channel (the program may `process.send('ready')`). */
  ipc?: boolean;
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
