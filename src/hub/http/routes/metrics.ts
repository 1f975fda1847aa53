import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.js';
import { HubError, invalid } from '../../errors.js';
import { ErrorBody } from '../errors.js';

const HostMetrics = Type.Object(
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
);

const HistoryQuery = Type.Object(
  {
    since: Type.Optional(Type.String({ description: 'ISO time, epoch milliseconds, or a duration ago: 90s, 30m, 6h, 7d (default 1h)' })),
    until: Type.Optional(Type.String({ description: 'same forms as since (default now)' })),
    step: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400, description: 'seconds per point; widened so no answer has more than 2000 points' })),
  },
  { additionalProperties: false },
);

const History = Type.Object({
  since: Type.String(),
  until: Type.String(),
  step: Type.Integer(),
  series: Type.Array(Type.String()),
  points: Type.Array(Type.Object({ t: Type.String(), values: Type.Record(Type.String(), Type.Number()) })),
});

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000, d: 86400_000 };

/** since/until: an ISO time, epoch milliseconds, or a duration before now. */
export function parseInstant(name: string, raw: string, now: number): number {
  const ago = /^-?(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(raw);
  if (ago) return now - Number(ago[1]) * UNITS[ago[2]!]!;
  if (/^\d{10,}$/.test(raw)) return Number(raw);
  const t = Date.parse(raw);
  if (Number.isNaN(t)) throw invalid(`${name}: "${raw}" is not a time (ISO 8601, epoch ms, or a duration like 6h)`);
  return t;
}

export async function metricsRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get(
    '/api/system-metrics',
    { schema: { summary: 'The latest host metrics sample', tags: ['metrics'], response: { 200: HostMetrics, 503: ErrorBody } } },
    async () => {
      const m = ctx.latestMetrics();
      if (!m) throw new HubError('unavailable', 'no metrics sample yet');
      return m;
    },
  );
  app.get<{ Querystring: Static<typeof HistoryQuery> }>(
    '/api/system-metrics/history',
    {
      schema: {
        summary: 'Host metric history, averaged per step',
        tags: ['metrics'],
        querystring: HistoryQuery,
        response: { 200: History, 400: ErrorBody },
      },
    },
    async (req) => {
      const now = Date.now();
      const since = parseInstant('since', req.query.since ?? '1h', now);
      const until = req.query.until === undefined ? now : parseInstant('until', req.query.until, now);
      if (since >= until) throw invalid('since must be before until');
      return ctx.history.query(since, until, req.query.step);
    },
  );
}
