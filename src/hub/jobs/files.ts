/** A job's output files (data/jobs/<id>/) and the tails of them its record keeps. */
import { readdir, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { In, type Repository } from 'typeorm';
import type { JobRow } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { AgentLogs, type LogLimits, type Stream } from '../supervisor/log-files.js';
import { cut, DELETE_CHUNK } from './record.js';

/** Per job: each stream up to 20 MB, plus one rotated file. */
export const JOB_LOG_LIMITS: LogLimits = { maxBytes: 20 * 1024 * 1024, files: 1 };
/** Lines of each stream kept on the record. */
export const TAIL_LINES = 50;
const MAX_TAIL_LINE = 2000;

/** The last lines of a stream, as the record keeps them. */
export async function tailLines(logs: AgentLogs, stream: Stream): Promise<string[]> {
  return (await logs.tail(stream, TAIL_LINES)).map((l) => cut(l, MAX_TAIL_LINE));
}

export class JobFiles {
  /** The jobs that have a folder; null until sweep() has looked (then: all may). */
  private withFiles: Set<number> | null = null;

  constructor(
    private readonly dataDir: string,
    private readonly logger: Logger,
  ) {}

  dir(id: number): string {
    return join(this.dataDir, 'jobs', String(id));
  }

  /** The files a running job writes its output to. */
  open(id: number): AgentLogs {
    const logs = new AgentLogs(this.dir(id), JOB_LOG_LIMITS);
    this.withFiles?.add(id);
    return logs;
  }

  /** The tail of a job that is not running here (one a killed hub left). */
  async tail(id: number, stream: Stream): Promise<string[]> {
    const dir = this.dir(id);
    if (!existsSync(join(dir, `${stream}.log`)) && !existsSync(join(dir, `${stream}.log.1`))) return [];
    const logs = new AgentLogs(dir, JOB_LOG_LIMITS);
    try {
      return await tailLines(logs, stream);
    } catch {
      return [];
    } finally {
      await logs.close();
    }
  }

  /** All a job printed on a stream (the rotated file first), '' if nothing. */
  async read(id: number, stream: Stream): Promise<string> {
    const path = join(this.dir(id), `${stream}.log`);
    const parts = await Promise.all([readText(`${path}.1`), readText(path)]);
    return parts.join('');
  }

  /** Removes the folders of these (deleted) jobs. */
  async remove(ids: number[]): Promise<void> {
    const files = this.withFiles ? ids.filter((id) => this.withFiles!.has(id)) : ids;
    await Promise.all(files.map((id) => rm(this.dir(id), { recursive: true, force: true })));
    for (const id of files) this.withFiles?.delete(id);
  }

  /**
   * Learns which jobs have output folders, and removes the folders of jobs the database does not
   * have: deleted jobs whose removal failed, or a previous database's (a new one counts from 1).
   */
  async sweep(repo: Repository<JobRow>, active: ReadonlyMap<number, unknown>): Promise<void> {
    const root = join(this.dataDir, 'jobs');
    let names: string[];
    try {
      names = await readdir(root);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.warn({ err: (e as Error).message }, 'could not list the job output folders');
      this.withFiles = (e as NodeJS.ErrnoException).code === 'ENOENT' ? new Set() : null;
      return;
    }
    const ids = names.filter((n) => /^[1-9][0-9]{0,14}$/.test(n)).map(Number);
    const known = new Set<number>();
    for (let i = 0; i < ids.length; i += DELETE_CHUNK) {
      const rows = await repo.find({ select: { id: true }, where: { id: In(ids.slice(i, i + DELETE_CHUNK)) } });
      for (const r of rows) known.add(r.id!);
    }
    const orphans = ids.filter((id) => !known.has(id) && !active.has(id));
    if (orphans.length > 0) {
      this.logger.info({ folders: orphans.length }, 'removing the output folders of jobs the database does not have');
      await Promise.all(orphans.map((id) => rm(this.dir(id), { recursive: true, force: true }).catch(() => undefined)));
    }
    // Folders of jobs running in this process (a restart) may appear at any time: they count too.
    this.withFiles = new Set([...known, ...active.keys()]);
  }
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
}
