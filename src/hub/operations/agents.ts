/** The agents' operations: list, get, create, update, delete, start, stop, restart, logs, and the PM2 import. */
import { Type } from '@sinclair/typebox';
import { importEcosystem } from '../agents/import.js';
import { AgentCreate, AgentUpdate } from '../agents/schema.js';
import type { AgentView } from '../agents/state.js';
import { ById, deletion, IdText, NoInput, Nullable, thingAction, WithId } from './common.js';
import { operation } from './operation.js';

/** The agent as answered; every field is listed in the OpenAPI document, others pass through. */
export const AgentViewSchema = Type.Unsafe<AgentView>(
  Type.Object(
    {
      id: Type.String(),
      name: Type.String(),
      type: Type.String(),
      status: Type.String(),
      reason: Nullable(Type.String()),
      desired: Type.String(),
      pid: Nullable(Type.Integer()),
      started_at: Nullable(Type.String()),
      restarts: Type.Integer(),
      last_exit_code: Nullable(Type.Integer()),
      last_signal: Nullable(Type.String()),
      health: Type.Integer({ minimum: 0, maximum: 100 }),
      cpu_percent: Nullable(Type.Number()),
      memory_bytes: Nullable(Type.Number()),
      problem: Type.Boolean(),
      limits: Type.Object({ memory: Type.String(), cpu: Type.String() }),
    },
    { additionalProperties: true },
  ),
);

const Logs = Type.Object(
  {
    id: IdText,
    stream: Type.Optional(Type.Union([Type.Literal('stdout'), Type.Literal('stderr')], { description: 'default stdout' })),
    tail: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'default 100' })),
  },
  { additionalProperties: false },
);

const ImportField = Type.Object({ app: Type.String(), field: Type.String() });
const ImportAnswer = Type.Object({
  created: Type.Array(Type.String()),
  updated: Type.Array(Type.String()),
  unknown_fields: Type.Array(ImportField),
  ignored_fields: Type.Array(Type.Object({ app: Type.String(), field: Type.String(), why: Type.String() })),
  errors: Type.Array(Type.Object({ app: Type.String(), error: Type.String() })),
});

const say = (a: AgentView): string => `${a.id}: ${a.status}`;

export const AGENT_OPERATIONS = [
  operation({
    name: 'agent/list',
    summary: 'Every agent',
    role: 'viewer',
    http: { method: 'GET', path: '/api/agents' },
    input: NoInput,
    output: Type.Array(AgentViewSchema),
    cli: false,
    handler: (_i, hub) => hub.agents.list(),
  }),
  operation({
    name: 'agent/get',
    summary: 'One agent',
    role: 'viewer',
    http: { method: 'GET', path: '/api/agents/:id' },
    input: ById,
    output: AgentViewSchema,
    cli: { verb: 'show' },
    handler: (i, hub) => hub.agents.get(i.id),
  }),
  operation({
    name: 'agent/create',
    summary: 'Create an agent (it starts unless autostart is false)',
    role: 'admin',
    http: { method: 'POST', path: '/api/agents', status: 201 },
    input: AgentCreate,
    output: AgentViewSchema,
    cli: false,
    handler: (i, hub) => hub.agents.create(i),
  }),
  operation({
    name: 'agent/update',
    summary: 'Change an agent (a running one restarts to take it)',
    role: 'admin',
    http: { method: 'PUT', path: '/api/agents/:id' },
    input: WithId(AgentUpdate),
    output: AgentViewSchema,
    handler: ({ id, ...changes }, hub) => hub.agents.update(id, changes),
  }),
  deletion('agent', 'Stop and delete an agent', (hub, id) => hub.agents.delete(id)),
  thingAction('agent', 'start', { summary: 'Start an agent (409 when it runs already)', role: 'operator', output: AgentViewSchema, say, act: (hub, id) => hub.agents.startAgent(id) }),
  thingAction('agent', 'stop', { summary: 'Stop an agent (409 when it is stopped already)', role: 'operator', output: AgentViewSchema, say, act: (hub, id) => hub.agents.stopAgent(id) }),
  thingAction('agent', 'restart', { summary: 'Restart an agent', role: 'operator', output: AgentViewSchema, say, act: (hub, id) => hub.agents.restartAgent(id) }),
  operation({
    name: 'agent/logs',
    summary: 'The last lines an agent printed (follow them live on the /api/events WebSocket: type log.line)',
    role: 'viewer',
    http: { method: 'GET', path: '/api/agents/:id/logs' },
    input: Logs,
    output: Type.Object({ id: Type.String(), stream: Type.String(), lines: Type.Array(Type.String()) }),
    cli: false,
    handler: async (i, hub) => {
      const stream = i.stream ?? 'stdout';
      return { id: i.id, stream, lines: await hub.agents.logs(i.id, stream, i.tail ?? 100) };
    },
  }),
  operation({
    name: 'import/pm2',
    summary: 'Import a PM2 ecosystem file (its JSON form; `hearth import pm2 FILE` also reads .js) as agents',
    role: 'admin',
    http: { method: 'POST', path: '/api/import/pm2', body: 'ecosystem' },
    input: Type.Object({ ecosystem: Type.Unknown({ description: '{ "apps": [...] }, a list of apps, or one app' }) }, { additionalProperties: false }),
    output: ImportAnswer,
    cli: false,
    handler: (i, hub) => importEcosystem(hub.agents, i.ecosystem),
  }),
];
