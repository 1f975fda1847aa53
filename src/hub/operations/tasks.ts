/** The tasks' operations: list, get, create, update, delete, run, enable, disable, history. */
import { Type } from '@sinclair/typebox';
import { JOB_STATUSES, type JobView } from '../jobs/types.js';
import { TaskCreate, TaskUpdate } from '../tasks/schema.js';
import type { TaskView } from '../tasks/state.js';
import { ById, deletion, IdText, NoInput, Nullable, thingAction, WithId } from './common.js';
import { JobViewSchema } from './jobs.js';
import { operation } from './operation.js';

/** Every field is listed in the OpenAPI document; the rest passes through. */
export const TaskViewSchema = Type.Unsafe<TaskView>(
  Type.Object(
    {
      id: Type.String(),
      name: Type.String(),
      enabled: Type.Boolean(),
      when: Type.String(),
      next_run: Nullable(Type.String()),
      next_runs: Type.Array(Type.String()),
      last_run: Nullable(Type.String()),
      last_result: Nullable(Type.String()),
      last_duration_s: Nullable(Type.Number()),
      running: Type.Boolean(),
      progress: Type.Number(),
      current_job: Nullable(Type.Integer()),
      problem: Type.Boolean(),
    },
    { additionalProperties: true },
  ),
);

const History = Type.Object(
  {
    task_id: Type.Optional(IdText),
    status: Type.Optional(Type.Union(JOB_STATUSES.map((s) => Type.Literal(s)))),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  },
  { additionalProperties: false },
);

const Queued = Type.Object({ queued: Type.Literal(true), position: Type.Integer() });
const RunAnswer = Type.Unsafe<JobView | { queued: true; position: number }>(Type.Union([JobViewSchema, Queued]));

const when = (iso: string | null): string => (iso ? new Date(iso).toLocaleString() : '-');
const say = (t: TaskView): string => `${t.id}: ${t.enabled ? 'enabled' : 'disabled'}`;

export const TASK_OPERATIONS = [
  operation({
    name: 'task/list',
    summary: 'Every task',
    role: 'viewer',
    http: { method: 'GET', path: '/api/tasks' },
    input: NoInput,
    output: Type.Array(TaskViewSchema),
    cli: false,
    handler: (_i, hub) => hub.tasks.list(),
  }),
  operation({
    name: 'task/history',
    summary: 'Runs of tasks, newest first',
    role: 'viewer',
    http: { method: 'GET', path: '/api/tasks/history' },
    input: History,
    output: Type.Array(JobViewSchema),
    cli: { flags: { task_id: 'task' } },
    handler: (i, hub) => hub.jobs.list({ kind: 'task', ...i }),
  }),
  operation({
    name: 'task/get',
    summary: 'One task, with its next 5 run times',
    role: 'viewer',
    http: { method: 'GET', path: '/api/tasks/:id' },
    input: ById,
    output: TaskViewSchema,
    cli: { verb: 'show' },
    handler: (i, hub) => hub.tasks.get(i.id),
  }),
  operation({
    name: 'task/create',
    summary: 'Create a task',
    role: 'admin',
    http: { method: 'POST', path: '/api/tasks', status: 201 },
    input: TaskCreate,
    output: TaskViewSchema,
    cli: { say: (t) => `created task ${t.id}; next run ${when(t.next_run)}` },
    handler: (i, hub) => hub.tasks.create(i),
  }),
  operation({
    name: 'task/update',
    summary: 'Change a task',
    role: 'admin',
    http: { method: 'PUT', path: '/api/tasks/:id' },
    input: WithId(TaskUpdate),
    output: TaskViewSchema,
    handler: ({ id, ...changes }, hub) => hub.tasks.update(id, changes),
  }),
  deletion('task', 'Delete a task and its history', (hub, id) => hub.tasks.delete(id)),
  operation({
    name: 'task/run',
    summary: 'Run now (also while disabled): answers with the job, which runs on; or, with overlap queue while a run is going, where this run waits',
    role: 'operator',
    http: { method: 'POST', path: '/api/tasks/:id/run', status: 202 },
    input: ById,
    output: RunAnswer,
    cli: false,
    // The job's trigger says where the run was asked for.
    handler: (i, hub, caller) => hub.tasks.runNow(i.id, caller.edge === 'mqtt' ? 'mqtt' : 'manual'),
  }),
  thingAction('task', 'enable', { summary: 'Enable its schedule and triggers (409 when it is enabled already)', role: 'operator', output: TaskViewSchema, say, act: (hub, id) => hub.tasks.setEnabled(id, true) }),
  thingAction('task', 'disable', {
    summary: 'Disable its schedule and triggers; drops queued runs and a pending retry (409 when it is disabled already)',
    role: 'operator',
    output: TaskViewSchema,
    say,
    act: (hub, id) => hub.tasks.setEnabled(id, false),
  }),
];
