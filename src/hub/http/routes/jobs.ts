/** /api/jobs: the record of every execution: list, one, its output, cancel. */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { JOB_KINDS, JOB_STATUSES } from '../../jobs/types.js';
import type { ApiContext } from '../context.js';
import { ErrorBody } from '../errors.js';

const Params = Type.Object({ id: Type.Integer({ minimum: 1 }) });
type Params = Static<typeof Params>;

const ListQuery = Type.Object(
  {
    status: Type.Optional(Type.Union(JOB_STATUSES.map((s) => Type.Literal(s)))),
    task_id: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    device_id: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'uploads to this device' })),
    kind: Type.Optional(Type.Union(JOB_KINDS.map((k) => Type.Literal(k)))),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'default 100' })),
    before_id: Type.Optional(Type.Integer({ minimum: 1, description: 'only older jobs (the next page: the last id seen)' })),
  },
  { additionalProperties: false },
);
type ListQuery = Static<typeof ListQuery>;

export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** The job as answered (JobView). */
export const JobViewSchema = Type.Object(
  {
    id: Type.Integer(),
    kind: Type.String(),
    task_id: Nullable(Type.String()),
    device_id: Nullable(Type.String()),
    trigger: Type.String(),
    status: Type.String(),
    progress: Type.Integer({ minimum: 0, maximum: 100 }),
    attempt: Type.Integer(),
    created_at: Type.String(),
    started_at: Nullable(Type.String()),
    ended_at: Nullable(Type.String()),
    duration_s: Nullable(Type.Number()),
    exit_code: Nullable(Type.Integer()),
    error: Nullable(Type.String()),
    steps: Type.Array(Type.Object({ at: Type.String(), message: Type.String() })),
    stdout_tail: Type.Array(Type.String()),
    stderr_tail: Type.Array(Type.String()),
  },
  { additionalProperties: true },
);

const errors = { 400: ErrorBody, 404: ErrorBody, 409: ErrorBody };
const Text = { description: 'All the job printed on the stream, as text', content: { 'text/plain': { schema: Type.String() } } };

export async function jobRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const tags = ['jobs'];
  app.get<{ Querystring: ListQuery }>(
    '/api/jobs',
    {
      schema: {
        tags,
        summary: 'Jobs, newest first (follow changes live on the /api/events WebSocket: type job.changed)',
        querystring: ListQuery,
        response: { 200: Type.Array(JobViewSchema), ...errors },
      },
    },
    async (req) => ctx.jobs.list(req.query),
  );
  app.get<{ Params: Params }>(
    '/api/jobs/:id',
    { schema: { tags, summary: 'One job', params: Params, response: { 200: JobViewSchema, ...errors } } },
    async (req) => ctx.jobs.get(req.params.id),
  );
  for (const stream of ['stdout', 'stderr'] as const) {
    app.get<{ Params: Params }>(
      `/api/jobs/:id/${stream}`,
      { schema: { tags, summary: `What a job printed on ${stream}`, params: Params, response: { 200: Text, ...errors } } },
      async (req, reply) => reply.type('text/plain; charset=utf-8').send(await ctx.jobs.output(req.params.id, stream)),
    );
  }
  app.post<{ Params: Params }>(
    '/api/jobs/:id/cancel',
    {
      schema: {
        tags,
        summary: 'Cancel a running job; answers once it has ended (409 if it is not running)',
        params: Params,
        response: { 200: JobViewSchema, ...errors },
      },
    },
    async (req) => ctx.jobs.cancel(req.params.id),
  );
}
