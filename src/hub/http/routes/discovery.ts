/** Devices the user deleted in Home Assistant, and showing them again. */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.js';
import { notFound } from '../../errors.js';
import { ErrorBody } from '../errors.js';

const Hidden = Type.Array(Type.Object({ device_id: Type.String(), hidden_at: Type.String() }));
const Params = Type.Object({ device_id: Type.String({ pattern: '^[a-z0-9_]+$', maxLength: 200 }) });

export async function discoveryRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get(
    '/api/discovery/hidden',
    { schema: { summary: 'Devices deleted in Home Assistant, which the hub no longer publishes', tags: ['discovery'], response: { 200: Hidden } } },
    async () => ctx.visibility.list(),
  );
  app.post<{ Params: Static<typeof Params> }>(
    '/api/discovery/:device_id/show',
    {
      schema: {
        summary: 'Publish a device deleted in Home Assistant again',
        tags: ['discovery'],
        params: Params,
        response: { 200: Type.Object({ device_id: Type.String(), shown: Type.Boolean() }), 404: ErrorBody },
      },
    },
    async (req) => {
      if (!(await ctx.visibility.show(req.params.device_id))) throw notFound(`device ${req.params.device_id} is not hidden`);
      return { device_id: req.params.device_id, shown: true };
    },
  );
}
