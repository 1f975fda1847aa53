/** Jobs: the single record of every execution (task runs now; app runs, installs, deploys, uploads later). */

/** `pending` is only in records of older hubs, which queued jobs before running them (recovery ends them). */
export const JOB_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted', 'skipped'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const FINISHED: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'cancelled', 'interrupted', 'skipped']);

/** What a job is of: a new kind is one word here. */
export const JOB_KINDS = ['task', 'app', 'install', 'deploy', 'upload'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** What a job belongs to: the task it runs, the device it uploads to. */
export interface JobOwner {
  task_id?: string | null;
  device_id?: string | null;
}

export interface JobStep {
  at: string;
  message: string;
}

/** A job as the API answers it. */
export interface JobView {
  id: number;
  kind: JobKind;
  task_id: string | null;
  /** The device an upload went to. */
  device_id: string | null;
  /** What started it: schedule, interval, manual, mqtt, catch_up, retry… */
  trigger: string;
  status: JobStatus;
  progress: number;
  attempt: number;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  duration_s: number | null;
  exit_code: number | null;
  /** Why it failed, was cancelled or skipped. */
  error: string | null;
  steps: JobStep[];
  stdout_tail: string[];
  stderr_tail: string[];
}

/**
 * What running code (an action) may do with its job. The job manager owns the record; the action
 * only reports.
 */
export interface JobHandle {
  readonly id: number;
  /** Aborted on cancel and on timeout; an action stops its work (and its processes) then. */
  readonly signal: AbortSignal;
  step(message: string): void;
  /** 0-100. */
  progress(percent: number): void;
  output(stream: 'stdout' | 'stderr', chunk: Buffer): void;
  /** The process an action started, so a hub killed mid-job can stop it at the next start. */
  process(pid: number | null): void;
}
