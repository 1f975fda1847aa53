import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.js';

const Health = Type.Object({
  healthy: Type.Boolean(),
  checks: Type.Record(Type.String(), Type.Object({ ok: Type.Boolean(), detail: Type.Optional(Type.String()) })),
});

export async function healthRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get(
    '/api/health',
    {
      schema: {
        summary: 'Is the hub healthy (MQTT connected, database answering)? Open, no token.',
        tags: ['hub'],
        security: [],
        response: { 200: Health, 503: Health },
      },
    },
    async (_req, reply) => {
      const h = await ctx.health();
      return reply.code(h.healthy ? 200 : 503).send(h);
    },
  );
}
