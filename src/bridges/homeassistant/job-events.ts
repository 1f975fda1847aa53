/**
 * Task runs as Home Assistant events (`hearth_job_finished`), so an automation can follow a job
 * with `platform: event` and no MQTT. Sent while connected; a job that ends while Home Assistant
 * is away is not sent later (MQTT's `<base>/task/<id>/event` keeps no backlog either). A skipped
 * run is not sent: nothing ran, and a trigger firing in a burst would echo every one back.
 */
import type { EventBus } from '../../hub/events.js';
import { JOB_FINISHED_EVENT } from '../../hub/ha-types.js';
import { FINISHED, type JobView } from '../../hub/jobs/types.js';

/** How many finished jobs are remembered so each is sent once (a finished job may change again: its retention, its output). */
const REMEMBERED = 1000;

/** In one line: why it failed, else its last step, else its last line of output. */
export function resultSummary(j: JobView): string | null {
  return j.error ?? j.steps.at(-1)?.message ?? j.stdout_tail.at(-1) ?? null;
}

export function jobFinishedData(j: JobView, nodeId: string): Record<string, unknown> {
  return {
    node_id: nodeId,
    task: j.task_id,
    job: j.id,
    status: j.status,
    trigger: j.trigger,
    attempt: j.attempt,
    duration_s: j.duration_s,
    exit_code: j.exit_code,
    result: resultSummary(j),
  };
}

/** Returns the function that stops forwarding. */
export function forwardJobResults(bus: EventBus, nodeId: string, fire: (type: string, data: Record<string, unknown>) => Promise<void>): () => void {
  const sent = new Set<number>();
  return bus.on('job.changed', (j) => {
    if (j.kind !== 'task' || !FINISHED.has(j.status) || j.status === 'skipped' || sent.has(j.id)) return;
    sent.add(j.id);
    if (sent.size > REMEMBERED) sent.delete(sent.values().next().value!);
    return fire(JOB_FINISHED_EVENT, jobFinishedData(j, nodeId));
  });
}
