/** /api/tasks: create, read, change, delete, run now, enable, disable, history. */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { JOB_STATUSES } from '../../jobs/types.js';
import { TaskCreate, TaskUpdate } from '../../tasks/schema.js';
import type { ApiContext } from '../context.js';
import { ErrorBody } from '../errors.js';

const Params = Type.Object({ id: Type.String({ pattern: '^[a-z0-9_]+$', maxLength: 100 }) });
type Params = Static<typeof Params>;

/** Every field is listed in the OpenAPI document; the rest passes through. */
const TaskViewSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    enabled: Type.Boolean(),
    when: Type.String(),
    next_run: Type.Union([Type.String(), Type.Null()]),
    next_runs: Type.Array(Type.String()),
    last_run: Type.Union([Type.String(), Type.Null()]),
    last_result: Type.Union([Type.String(), Type.Null()]),
    last_duration_s: Type.Union([Type.Number(), Type.Null()]),
    running: Type.Boolean(),
    progress: Type.Number(),
    current_job: Type.Union([Type.Integer(), Type.Null()]),
    problem: Type.Boolean(),
  },
  { additionalProperties: true },
);

const JobSummary = Type.Object({ id: Type.Integer(), status: Type.String() }, { additionalProperties: true });

const History = Type.Object(
  {
    task_id: Type.Optional(Type.String({ pattern: '^[a-z0-9_]+$' })),
    status: Type.Optional(Type.Union(JOB_STATUSES.map((s) => Type.Literal(s)))),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  },
  { additionalProperties: false },
);

const errors = { 400: ErrorBody, 404: ErrorBody, 409: ErrorBody };

export async function taskRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const tags = ['tasks'];
  app.get('/api/tasks', { schema: { tags, summary: 'Every task', response: { 200: Type.Array(TaskViewSchema) } } }, async () => ctx.tasks.list());
  app.post<{ Body: TaskCreate }>(
    '/api/tasks',
    { schema: { tags, summary: 'Create a task', body: TaskCreate, response: { 201: TaskViewSchema, ...errors } } },
    async (req, reply) => reply.code(201).send(await ctx.tasks.create(req.body)),
  );
  app.get<{ Querystring: Static<typeof History> }>(
    '/api/tasks/history',
    { schema: { tags, summary: 'Runs of tasks, newest first', querystring: History, response: { 200: Type.Array(JobSummary), 400: ErrorBody } } },
    async (req) => ctx.jobs.list({ kind: 'task', ...req.query }),
  );
  app.get<{ Params: Params }>(
    '/api/tasks/:id',
    { schema: { tags, summary: 'One task, with its next 5 run times', params: Params, response: { 200: TaskViewSchema, ...errors } } },
    async (req) => ctx.tasks.get(req.params.id),
  );
  app.put<{ Params: Params; Body: TaskUpdate }>(
    '/api/tasks/:id',
    { schema: { tags, summary: 'Change a task', params: Params, body: TaskUpdate, response: { 200: TaskViewSchema, ...errors } } },
    async (req) => ctx.tasks.update(req.params.id, req.body),
  );
  app.delete<{ Params: Params }>(
    '/api/tasks/:id',
    { schema: { tags, summary: 'Delete a task and its history', params: Params, response: { 200: Type.Object({ id: Type.String(), deleted: Type.Boolean() }), ...errors } } },
    async (req) => {
      await ctx.tasks.delete(req.params.id);
      return { id: req.params.id, deleted: true };
    },
  );
  app.post<{ Params: Params }>(
    '/api/tasks/:id/run',
    {
      schema: {
        tags,
        summary: 'Run now (also while disabled): answers with the job, which runs on; or, with overlap queue while a run is going, where this run waits',
        params: Params,
        response: { 202: Type.Union([JobSummary, Type.Object({ queued: Type.Literal(true), position: Type.Integer() })]), ...errors },
      },
    },
    async (req, reply) => reply.code(202).send(await ctx.tasks.runNow(req.params.id)),
  );
  for (const verb of ['enable', 'disable'] as const) {
    app.post<{ Params: Params }>(
      `/api/tasks/:id/${verb}`,
      { schema: { tags, summary: `${verb === 'enable' ? 'Enable' : 'Disable'} its schedule and triggers`, params: Params, response: { 200: TaskViewSchema, ...errors } } },
      async (req) => ctx.tasks.setEnabled(req.params.id, verb === 'enable'),
    );
  }
}
