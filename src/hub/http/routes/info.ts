import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.js';

const Counts = Type.Object({ agent: Type.Integer(), app: Type.Integer(), task: Type.Integer(), device: Type.Integer() });

export const Info = Type.Object({
  version: Type.String(),
  node_id: Type.String(),
  started_at: Type.String({ format: 'date-time' }),
  uptime_s: Type.Number(),
  log_level: Type.String(),
  counts: Counts,
  problems: Type.Array(Type.String()),
  broker: Type.Object({ mode: Type.Union([Type.Literal('embedded'), Type.Literal('external')]), url: Type.String(), connected: Type.Boolean() }),
  base_topic: Type.String(),
  discovery_prefix: Type.String(),
  database: Type.String(),
  http: Type.Object({ host: Type.String(), port: Type.Integer() }),
  bridge_requests: Type.Array(Type.String()),
});

export async function infoRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get('/api/info', { schema: { summary: 'Version, node id, uptime, counts, broker', tags: ['hub'], response: { 200: Info } } }, async () =>
    ctx.info(),
  );
}
