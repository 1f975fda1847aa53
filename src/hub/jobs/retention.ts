/**
 * How many of a task's jobs are kept. Each task's finished jobs are read once, then kept up to date
 * in memory, so a prune after every run touches the database only when there is something to delete.
 */
import { In, type Repository } from 'typeorm';
import type { RowWriter } from '../db/row-writer.js';
import { deleteIds } from '../db/statements.js';
import type { JobRow } from '../db/schema.js';
import type { JobFiles } from './files.js';
import { DELETE_CHUNK } from './record.js';
import { FINISHED } from './types.js';

const DAY_MS = 86_400_000;

/** A task's finished jobs, oldest first, as far as this process knows them. */
interface Finished {
  jobs: Array<{ id: number; created_at: number }>;
  /** Resolves once the jobs the database had are in. */
  loaded: Promise<void>;
}

export interface RetentionDeps {
  repo: Repository<JobRow>;
  writer: RowWriter;
  files: JobFiles;
  /** Running jobs are never deleted. */
  isActive(id: number): boolean;
}

export class Retention {
  /** Per task (loaded at its first prune). */
  private readonly finished = new Map<string, Finished>();

  constructor(private readonly d: RetentionDeps) {}

  /** Forgets what it knows (the database may have changed while the hub was stopped). */
  clear(): void {
    this.finished.clear();
  }

  /** A task's job has ended: prune() counts it (if that task's jobs are known). */
  noteFinished(row: JobRow): void {
    if (row.task_id === null || row.id === undefined) return;
    const f = this.finished.get(row.task_id);
    if (!f) return;
    const jobs = f.jobs;
    let i = jobs.length;
    while (i > 0 && jobs[i - 1]!.id > row.id) i--;
    if (i > 0 && jobs[i - 1]!.id === row.id) return;
    jobs.splice(i, 0, { id: row.id, created_at: row.created_at });
  }

  /** Deletes a task's finished jobs beyond the newest `keep`, and those older than maxAgeDays, with their files. */
  async prune(task_id: string, keep: number, maxAgeDays: number): Promise<number> {
    const f = this.finishedOf(task_id);
    await f.loaded;
    const oldest = Date.now() - maxAgeDays * DAY_MS;
    const kept = Math.max(0, Math.floor(keep));
    const n = f.jobs.length;
    const doomed: number[] = [];
    for (let i = 0; i < n; i++) {
      const j = f.jobs[i]!;
      // Newest first: the job at i is the (n - 1 - i)th newest.
      if ((n - 1 - i >= kept || j.created_at < oldest) && !this.d.isActive(j.id)) doomed.push(j.id);
    }
    if (doomed.length === 0) return 0;
    await this.deleteJobs(doomed, f);
    return doomed.length;
  }

  /** Deletes every job of a (deleted) task that is not running, with its files. */
  async forgetTask(task_id: string): Promise<void> {
    const rows = await this.d.repo.find({ select: { id: true }, where: { task_id } });
    await this.deleteJobs(rows.map((r) => r.id!).filter((id) => !this.d.isActive(id)));
    this.finished.delete(task_id);
  }

  /** A task's finished jobs, read from the database the first time. */
  private finishedOf(task_id: string): Finished {
    let f = this.finished.get(task_id);
    if (f) return f;
    const entry: Finished = { jobs: [], loaded: Promise.resolve() };
    entry.loaded = this.d.repo
      .find({ select: { id: true, created_at: true }, where: { task_id, status: In([...FINISHED]) }, order: { id: 'ASC' } })
      .then((rows) => {
        // Jobs that ended while this read ran are in already; merged by id.
        const seen = new Set(entry.jobs.map((j) => j.id));
        for (const r of rows) if (!seen.has(r.id!)) entry.jobs.push({ id: r.id!, created_at: r.created_at });
        entry.jobs.sort((x, y) => x.id - y.id);
      })
      .catch((e: unknown) => {
        this.finished.delete(task_id);
        throw e;
      });
    f = entry;
    this.finished.set(task_id, f);
    return f;
  }

  /** Deletes jobs (and their files); `of`: the finished jobs of their task, kept up to date. */
  private async deleteJobs(ids: number[], of?: Finished): Promise<void> {
    for (let i = 0; i < ids.length; i += DELETE_CHUNK) {
      const chunk = ids.slice(i, i + DELETE_CHUNK);
      await this.d.writer.write(() => [deleteIds('job', chunk)]);
      if (of) {
        const gone = new Set(chunk);
        of.jobs = of.jobs.filter((j) => !gone.has(j.id));
      }
      await this.d.files.remove(chunk);
    }
  }
}
