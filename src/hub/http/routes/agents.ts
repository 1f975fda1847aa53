/** /api/agents: create, read, change, delete, start, stop, restart, logs. */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { AgentCreate, AgentUpdate } from '../../agents/schema.js';
import type { ApiContext } from '../context.js';
import { ErrorBody } from '../errors.js';

const Params = Type.Object({ id: Type.String({ pattern: '^[a-z0-9_]+$', maxLength: 100 }) });
type Params = Static<typeof Params>;

/** The agent as answered; every field is listed in the OpenAPI document, others pass through. */
export const AgentViewSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    type: Type.String(),
    status: Type.String(),
    reason: Type.Union([Type.String(), Type.Null()]),
    desired: Type.String(),
    pid: Type.Union([Type.Integer(), Type.Null()]),
    started_at: Type.Union([Type.String(), Type.Null()]),
    restarts: Type.Integer(),
    last_exit_code: Type.Union([Type.Integer(), Type.Null()]),
    last_signal: Type.Union([Type.String(), Type.Null()]),
    health: Type.Integer({ minimum: 0, maximum: 100 }),
    cpu_percent: Type.Union([Type.Number(), Type.Null()]),
    memory_bytes: Type.Union([Type.Number(), Type.Null()]),
    problem: Type.Boolean(),
    limits: Type.Object({ memory: Type.String(), cpu: Type.String() }),
  },
  { additionalProperties: true },
);

const Logs = Type.Object({
  stream: Type.Optional(Type.Union([Type.Literal('stdout'), Type.Literal('stderr')], { description: 'default stdout' })),
  tail: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'default 100' })),
});

const errors = { 400: ErrorBody, 404: ErrorBody, 409: ErrorBody };

export async function agentRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const tags = ['agents'];
  app.get('/api/agents', { schema: { tags, summary: 'Every agent', response: { 200: Type.Array(AgentViewSchema) } } }, async () => ctx.agents.list());
  app.post<{ Body: AgentCreate }>(
    '/api/agents',
    { schema: { tags, summary: 'Create an agent (it starts unless autostart is false)', body: AgentCreate, response: { 201: AgentViewSchema, ...errors } } },
    async (req, reply) => reply.code(201).send(await ctx.agents.create(req.body)),
  );
  app.get<{ Params: Params }>(
    '/api/agents/:id',
    { schema: { tags, summary: 'One agent', params: Params, response: { 200: AgentViewSchema, ...errors } } },
    async (req) => ctx.agents.get(req.params.id),
  );
  app.put<{ Params: Params; Body: AgentUpdate }>(
    '/api/agents/:id',
    { schema: { tags, summary: 'Change an agent (a running one restarts to take it)', params: Params, body: AgentUpdate, response: { 200: AgentViewSchema, ...errors } } },
    async (req) => ctx.agents.update(req.params.id, req.body),
  );
  app.delete<{ Params: Params }>(
    '/api/agents/:id',
    { schema: { tags, summary: 'Stop and delete an agent', params: Params, response: { 200: Type.Object({ id: Type.String(), deleted: Type.Boolean() }), ...errors } } },
    async (req) => {
      await ctx.agents.delete(req.params.id);
      return { id: req.params.id, deleted: true };
    },
  );
  for (const action of ['start', 'stop', 'restart'] as const) {
    app.post<{ Params: Params }>(
      `/api/agents/:id/${action}`,
      { schema: { tags, summary: `${action[0]!.toUpperCase()}${action.slice(1)} an agent`, params: Params, response: { 200: AgentViewSchema, ...errors } } },
      async (req) => {
        const id = req.params.id;
        return action === 'start' ? ctx.agents.startAgent(id) : action === 'stop' ? ctx.agents.stopAgent(id) : ctx.agents.restartAgent(id);
      },
    );
  }
  app.get<{ Params: Params; Querystring: Static<typeof Logs> }>(
    '/api/agents/:id/logs',
    {
      schema: {
        tags,
        summary: 'The last lines an agent printed (follow them live on the /api/events WebSocket: type log.line)',
        params: Params,
        querystring: Logs,
        response: { 200: Type.Object({ id: Type.String(), stream: Type.String(), lines: Type.Array(Type.String()) }), ...errors },
      },
    },
    async (req) => {
      const stream = req.query.stream ?? 'stdout';
      return { id: req.params.id, stream, lines: await ctx.agents.logs(req.params.id, stream, req.query.tail ?? 100) };
    },
  );
}
