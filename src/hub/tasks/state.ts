/** A task as the world sees it: its thing state (MQTT, WebSocket) and its API view. */
import type { JobStatus } from '../jobs/types.js';
import type { TaskCreate } from './schema.js';

export interface TaskState {
  id: string;
  name: string;
  enabled: boolean;
  /** What starts it: cron text, "every N s", the trigger, or "manual". */
  when: string;
  next_run: string | null;
  last_run: string | null;
  last_result: JobStatus | null;
  last_duration_s: number | null;
  running: boolean;
  /** Of the running job, else of the last one (100 after success). */
  progress: number;
  current_job: number | null;
  /** The last run failed. */
  problem: boolean;
}

export interface TaskView extends TaskState {
  definition: Omit<TaskCreate, 'name'>;
  next_runs: string[];
  created_at: string;
  updated_at: string;
}
