/** The task and job calls the task suites make, on the hub `hub()` returns when they are made. */
import type { JobView } from '../../src/hub/jobs/types.js';
import type { TaskView } from '../../src/hub/tasks/state.js';
import { created, type HubHandle } from './hub.js';

export function taskCalls(hub: () => HubHandle): {
  /** Creates a task (201, or the test fails). */
  create(body: Record<string, unknown>): Promise<TaskView>;
  /** The jobs of a task. */
  jobsOf(id: string): Promise<JobView[]>;
  job(id: number): Promise<JobView>;
} {
  return {
    create: (body) => created<TaskView>(hub(), '/api/tasks', body),
    jobsOf: async (id) => (await hub().api<JobView[]>('GET', `/api/jobs?task_id=${id}`)).body,
    job: async (id) => (await hub().api<JobView>('GET', `/api/jobs/${id}`)).body,
  };
}
