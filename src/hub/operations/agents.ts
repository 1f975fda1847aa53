/** The agents' operations: list, get, create, update, delete, start, stop, restart, reload, scale, logs. */
import { Type } from '@sinclair/typebox';
import { AgentCreate, AgentUpdate, MAX_INSTANCES } from '../agents/schema.js';
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
      instances: Type.Integer({ minimum: 1 }),
      instances_running: Type.Integer({ minimum: 0 }),
      instance_states: Type.Array(
        Type.Object(
          { instance: Type.Integer(), status: Type.String(), pid: Nullable(Type.Integer()), port: Nullable(Type.Integer()), restarts: Type.Integer() },
          { additionalProperties: true },
        ),
      ),
      port: Nullable(Type.Integer()),
    },
    { additionalProperties: true },
  ),
);

const Logs = Type.Object(
  {
    id: IdText,
    stream: Type.Optional(Type.Union([Type.Literal('stdout'), Type.Literal('stderr')], { description: 'default stdout' })),
    instance: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_INSTANCES - 1, description: 'which copy (default 0)' })),
    tail: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'default 100' })),
  },
  { additionalProperties: false },
);

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
  thingAction('agent', 'reload', {
    summary: 'Reload an agent without downtime: each instance in turn, a new process, ready (ready_signal, health check, or 1 s up), then the old one stops; 409 and the old one kept when the new one is not ready',
    role: 'operator',
    output: Type.Intersect([AgentViewSchema, Type.Object({ reload: Type.Object({ reloaded: Type.Integer(), detail: Type.String() }) })]),
    say: (a) => `${a.id}: ${a.reload.detail}`,
    act: (hub, id) => hub.agents.reloadAgent(id),
  }),
  operation({
    name: 'agent/scale',
    summary: 'Run this many instances of an agent (the running ones go on; new ones start when the agent runs)',
    role: 'operator',
    http: { method: 'POST', path: '/api/agents/:id/scale' },
    input: Type.Object({ id: IdText, instances: Type.Integer({ minimum: 1, maximum: MAX_INSTANCES }) }, { additionalProperties: false }),
    output: AgentViewSchema,
    cli: { args: ['id', 'instances'], say: (a) => `${a.id}: ${a.instances_running} of ${a.instances} running` },
    handler: (i, hub) => hub.agents.scaleAgent(i.id, i.instances),
  }),
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
      return { id: i.id, stream, lines: await hub.agents.logs(i.id, stream, i.tail ?? 100, i.instance ?? 0) };
    },
  }),
];
