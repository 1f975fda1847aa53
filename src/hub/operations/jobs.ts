/** The jobs' operations: list, get, cancel (their output is text: GET /api/jobs/{id}/stdout|stderr, beside the table). */
import { Type } from '@sinclair/typebox';
import { JOB_KINDS, JOB_STATUSES, type JobView } from '../jobs/types.js';
import { IdText, idText, Nullable } from './common.js';
import { operation } from './operation.js';

/** The job as answered (JobView). */
export const JobViewSchema = Type.Unsafe<JobView>(
  Type.Object(
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
  ),
);

export const JobId = Type.Object({ id: Type.Integer({ minimum: 1 }) }, { additionalProperties: false });

const ListQuery = Type.Object(
  {
    status: Type.Optional(Type.Union(JOB_STATUSES.map((s) => Type.Literal(s)))),
    task_id: Type.Optional(IdText),
    device_id: Type.Optional(idText('uploads to this device')),
    kind: Type.Optional(Type.Union(JOB_KINDS.map((k) => Type.Literal(k)))),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'default 100' })),
    before_id: Type.Optional(Type.Integer({ minimum: 1, description: 'only older jobs (the next page: the last id seen)' })),
  },
  { additionalProperties: false },
);

export const JOB_OPERATIONS = [
  operation({
    name: 'job/list',
    summary: 'Jobs, newest first (follow changes live on the /api/events WebSocket: type job.changed)',
    role: 'viewer',
    http: { method: 'GET', path: '/api/jobs' },
    input: ListQuery,
    output: Type.Array(JobViewSchema),
    cli: false,
    handler: (i, hub) => hub.jobs.list(i),
  }),
  operation({
    name: 'job/get',
    summary: 'One job',
    role: 'viewer',
    http: { method: 'GET', path: '/api/jobs/:id' },
    input: JobId,
    output: JobViewSchema,
    cli: { verb: 'show' },
    handler: (i, hub) => hub.jobs.get(i.id),
  }),
  operation({
    name: 'job/cancel',
    summary: 'Cancel a running job; answers once it has ended (409 if it is not running)',
    role: 'operator',
    http: { method: 'POST', path: '/api/jobs/:id/cancel' },
    input: JobId,
    output: JobViewSchema,
    cli: { say: (j) => `job ${j.id}: ${j.status}` },
    handler: (i, hub) => hub.jobs.cancel(i.id),
  }),
];
