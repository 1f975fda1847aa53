/**
 * At start: the jobs a killed hub left running end as interrupted, their processes stopped. So do
 * pending ones, which hubs before launch() left queued.
 */
import { In, type Repository } from 'typeorm';
import type { EventBus } from '../events.js';
import type { JobRow } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { stopGroup } from '../supervisor/process-group.js';
import { isSameProcess } from '../supervisor/procfs.js';
import type { JobFiles } from './files.js';
import { jobView } from './record.js';

export const INTERRUPTED_AT_START = 'the hub stopped while it ran';
/** How long a leftover process group has to go after SIGTERM before SIGKILL. */
const LEFTOVER_STOP_S = 5;

export interface RecoveryDeps {
  repo: Repository<JobRow>;
  files: JobFiles;
  bus: EventBus;
  logger: Logger;
}

/** `active`: jobs this process runs (a restart), which are not leftovers. */
export async function interruptLeftovers(d: RecoveryDeps, active: ReadonlyMap<number, unknown>): Promise<void> {
  const left = await d.repo.find({ where: { status: In(['running', 'pending']) }, order: { id: 'ASC' } });
  await Promise.all(
    left
      .filter((row) => !active.has(row.id!))
      .map(async (row) => {
        if (row.pid && row.pid_start_time && isSameProcess(row.pid, row.pid_start_time)) {
          d.logger.info({ job: row.id, pid: row.pid }, 'stopping a leftover process of a job from before the hub restarted');
          try {
            await stopGroup(row.pid, 'SIGTERM', LEFTOVER_STOP_S);
          } catch (e) {
            d.logger.warn({ job: row.id, pid: row.pid, err: (e as Error).message }, 'could not stop the leftover process of a job');
          }
        }
        const now = Date.now();
        const patch: Partial<JobRow> = {
          status: 'interrupted',
          error: INTERRUPTED_AT_START,
          ended_at: now,
          pid: null,
          pid_start_time: null,
          stdout_tail: await d.files.tail(row.id!, 'stdout'),
          stderr_tail: await d.files.tail(row.id!, 'stderr'),
        };
        await d.repo.update({ id: row.id!, status: In(['running', 'pending']) }, patch);
        const ended = { ...row, ...patch };
        d.logger.warn({ job: row.id, task: row.task_id, kind: row.kind }, `job ${row.id} interrupted: ${INTERRUPTED_AT_START}`);
        d.bus.emit('job.changed', jobView(ended));
      }),
  );
}
