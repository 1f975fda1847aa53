/** The hub's own operations: info, health, log level, restart, host metrics, and discovery visibility. */
import { Type } from '@sinclair/typebox';
import { LOG_LEVELS } from '../config/types.js';
import { HA_STATES } from '../ha-types.js';
import type { HubInfo } from '../info.js';
import type { HistoryAnswer } from '../metrics/history.js';
import type { HostMetrics as HostMetricsValue } from '../metrics/types.js';
import { notFound, HubError } from '../errors.js';
import type { Health } from './context.js';
import { NoInput } from './common.js';
import { operation } from './operation.js';

const Counts = Type.Object({ agent: Type.Integer(), task: Type.Integer(), device: Type.Integer() });

export const Info = Type.Unsafe<HubInfo>(
  Type.Object({
    version: Type.String(),
    node_id: Type.String(),
    started_at: Type.String({ format: 'date-time' }),
    uptime_s: Type.Number(),
    log_level: Type.String(),
    counts: Counts,
    problems: Type.Array(Type.String()),
    broker: Type.Object({ mode: Type.Union([Type.Literal('embedded'), Type.Literal('external')]), url: Type.String(), connected: Type.Boolean() }),
    home_assistant: Type.Object({
      state: Type.String({ enum: [...HA_STATES] }),
      url: Type.Optional(Type.String()),
      version: Type.Optional(Type.String()),
      last_error: Type.Optional(Type.String()),
      since: Type.String({ format: 'date-time' }),
    }),
    base_topic: Type.String(),
    discovery_prefix: Type.String(),
    database: Type.String(),
    http: Type.Object({ host: Type.String(), port: Type.Integer() }),
    bridge_requests: Type.Array(Type.String()),
  }),
);

const HealthSchema = Type.Unsafe<Health>(
  Type.Object({
    status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
    healthy: Type.Boolean(),
    checks: Type.Record(Type.String(), Type.Object({ ok: Type.Boolean(), detail: Type.Optional(Type.String()) })),
  }),
);

const HostMetrics = Type.Unsafe<HostMetricsValue>(
  Type.Object(
    {
      timestamp: Type.String(),
      cpu_percent: Type.Number(),
      load_1: Type.Number(),
      load_5: Type.Number(),
      load_15: Type.Number(),
      memory_used_percent: Type.Number(),
      memory_used_bytes: Type.Number(),
      memory_total_bytes: Type.Number(),
      swap_used_percent: Type.Number(),
      swap_total_bytes: Type.Number(),
      disks: Type.Array(
        Type.Object({ mount: Type.String(), type: Type.String(), size_bytes: Type.Number(), used_bytes: Type.Number(), used_percent: Type.Number() }),
      ),
      temperatures: Type.Array(Type.Object({ name: Type.String(), celsius: Type.Number() })),
      network_rx_bytes_per_s: Type.Number(),
      network_tx_bytes_per_s: Type.Number(),
      booted_at: Type.String(),
    },
    { additionalProperties: false },
  ),
);

const HistoryQuery = Type.Object(
  {
    since: Type.Optional(Type.String({ description: 'ISO time, epoch milliseconds, or a duration ago: 90s, 30m, 6h, 7d (default 1h)' })),
    until: Type.Optional(Type.String({ description: 'same forms as since (default now)' })),
    step: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400, description: 'seconds per point; widened so no answer has more than 2000 points' })),
  },
  { additionalProperties: false },
);

const History = Type.Unsafe<HistoryAnswer>(
  Type.Object({
    since: Type.String(),
    until: Type.String(),
    step: Type.Integer(),
    series: Type.Array(Type.String()),
    points: Type.Array(Type.Object({ t: Type.String(), values: Type.Record(Type.String(), Type.Number()) })),
  }),
);

const Hidden = Type.Array(Type.Object({ device_id: Type.String(), hidden_at: Type.String() }));
const DeviceId = Type.Object({ device_id: Type.String({ pattern: '^[a-z0-9_]+$', minLength: 1, maxLength: 200 }) }, { additionalProperties: false });

export const HUB_OPERATIONS = [
  operation({
    name: 'info',
    summary: 'Version, node id, uptime, counts, broker',
    role: 'viewer',
    http: { method: 'GET', path: '/api/info' },
    input: NoInput,
    output: Info,
    cli: false,
    handler: (_i, hub) => hub.hub.info(),
  }),
  operation({
    name: 'health_check',
    summary: 'Is the hub healthy (MQTT connected, the database takes a write and reads it back, the data directory\'s disk not full)? Open, no token; 503 and status degraded when not, each check saying why.',
    role: 'viewer',
    http: { method: 'GET', path: '/api/health', public: true, statusOf: (h) => (h.healthy ? 200 : 503) },
    input: NoInput,
    output: HealthSchema,
    cli: false,
    handler: (_i, hub) => hub.hub.health(),
  }),
  operation({
    name: 'options',
    summary: "Change the hub's options while it runs (the log level; what Home Assistant's select sets)",
    role: 'admin',
    http: { method: 'POST', path: '/api/options' },
    input: Type.Object({ log_level: Type.Optional(Type.Union(LOG_LEVELS.map((l) => Type.Literal(l)))) }, { additionalProperties: false }),
    output: Type.Object({ log_level: Type.String() }),
    cli: false,
    handler: (i, hub) => {
      if (i.log_level) hub.hub.setLogLevel(i.log_level);
      return { log_level: hub.hub.info().log_level };
    },
  }),
  operation({
    name: 'restart',
    summary: 'Restart the hub in place (every extension stops and starts again), after answering',
    role: 'admin',
    http: { method: 'POST', path: '/api/restart' },
    input: NoInput,
    output: Type.Object({ restarting: Type.Boolean() }),
    cli: false,
    handler: (_i, hub) => {
      hub.hub.restart();
      return { restarting: true };
    },
  }),
  operation({
    name: 'metrics/get',
    summary: 'The latest host metrics sample (503 before the first)',
    role: 'viewer',
    http: { method: 'GET', path: '/api/system-metrics' },
    input: NoInput,
    output: HostMetrics,
    cli: false,
    handler: (_i, hub) => {
      const m = hub.hub.latestMetrics();
      if (!m) throw new HubError('unavailable', 'no metrics sample yet');
      return m;
    },
  }),
  operation({
    name: 'metrics/history',
    summary: 'Host metric history, averaged per step',
    role: 'viewer',
    http: { method: 'GET', path: '/api/system-metrics/history' },
    input: HistoryQuery,
    output: History,
    cli: false,
    handler: (i, hub) => hub.history.between(i.since, i.until, i.step),
  }),
  operation({
    name: 'discovery/hidden',
    summary: 'Devices deleted in Home Assistant, which the hub no longer publishes',
    role: 'viewer',
    http: { method: 'GET', path: '/api/discovery/hidden' },
    input: NoInput,
    output: Hidden,
    cli: false,
    handler: (_i, hub) => hub.visibility.list(),
  }),
  operation({
    name: 'discovery/show',
    summary: 'Publish a device deleted in Home Assistant again',
    role: 'admin',
    http: { method: 'POST', path: '/api/discovery/:device_id/show' },
    input: DeviceId,
    output: Type.Object({ device_id: Type.String(), shown: Type.Boolean() }),
    cli: { say: (o) => `${o.device_id} is published again` },
    handler: async (i, hub) => {
      if (!(await hub.visibility.show(i.device_id))) throw notFound(`device ${i.device_id} is not hidden`);
      return { device_id: i.device_id, shown: true };
    },
  }),
];
