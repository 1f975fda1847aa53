/** GET /api/jobs/{id}/stdout|stderr: all a job printed, as text (beside the table: not JSON). */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { JobId } from '../../../hub/operations/jobs.js';
import type { ApiContext } from '../context.js';
import { ErrorBody } from '../errors.js';

const Text = { description: 'All the job printed on the stream, as text', content: { 'text/plain': { schema: Type.String() } } };

export async function jobOutputRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  for (const stream of ['stdout', 'stderr'] as const) {
    app.get<{ Params: Static<typeof JobId> }>(
      `/api/jobs/:id/${stream}`,
      { schema: { tags: ['job'], summary: `What a job printed on ${stream}`, params: JobId, response: { 200: Text, 400: ErrorBody, 404: ErrorBody } } },
      async (req, reply) => reply.type('text/plain; charset=utf-8').send(await ctx.jobs.output(req.params.id, stream)),
    );
  }
}
