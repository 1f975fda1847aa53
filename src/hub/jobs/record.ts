/** A job's record: the row as stored, as the row writer binds it, and as the API answers it. */
import type { JobRow } from '../db/schema.js';
import { invalid } from '../errors.js';
import type { JobKind, JobOwner, JobStatus, JobView } from './types.js';

export const MAX_ERROR = 500;
/** Ids per statement: the row writer deletes at most this many at once. */
export const DELETE_CHUNK = 500;

/** A new record; what is not known yet is empty. */
export function newJobRow(kind: JobKind, owner: JobOwner, trigger: string, status: JobStatus, attempt: number): JobRow {
  const task_id = owner.task_id ?? null;
  const device_id = owner.device_id ?? null;
  if (task_id !== null && task_id.length > 100) throw invalid('task_id is longer than 100 characters');
  if (device_id !== null && device_id.length > 100) throw invalid('device_id is longer than 100 characters');
  return {
    kind,
    task_id,
    device_id,
    trigger: cut(trigger, 30),
    status,
    progress: 0,
    attempt,
    created_at: Date.now(),
    started_at: null,
    ended_at: null,
    exit_code: null,
    error: null,
    steps: [],
    stdout_tail: [],
    stderr_tail: [],
    pid: null,
    pid_start_time: null,
  };
}

/** A job as the API answers it. */
export function jobView(r: JobRow): JobView {
  const iso = (t: number | null): string | null => (t === null || t === undefined ? null : new Date(t).toISOString());
  return {
    id: r.id!,
    kind: r.kind as JobKind,
    task_id: r.task_id,
    device_id: r.device_id ?? null,
    trigger: r.trigger,
    status: r.status as JobStatus,
    progress: r.progress,
    attempt: r.attempt,
    created_at: new Date(r.created_at).toISOString(),
    started_at: iso(r.started_at),
    ended_at: iso(r.ended_at),
    duration_s: r.started_at != null && r.ended_at != null ? Math.round(r.ended_at - r.started_at) / 1000 : null,
    exit_code: r.exit_code,
    error: r.error,
    steps: r.steps ?? [],
    stdout_tail: r.stdout_tail ?? [],
    stderr_tail: r.stderr_tail ?? [],
  };
}

export function cut(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
