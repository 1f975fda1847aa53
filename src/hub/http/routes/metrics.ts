import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.js';
import { HubError } from '../../errors.js';
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
    async (req) => ctx.history.between(req.query.since, req.query.until, req.query.step),
  );
}
