/**
 * The ports the hub hands out as PORT, one per instance of an agent (later of an app), from
 * HEARTH_PORT_RANGE. Stored, so that an owner keeps its ports across restarts of the program and
 * of the hub, until they are released (owner deleted, instances scaled down).
 *
 * No two owners can share a port: the port is the table's primary key. An assign is one
 * transaction, and claims each port with INSERT … ON CONFLICT DO NOTHING: a port (or an instance)
 * that another transaction claimed after this one read is not inserted, and the attempt reads
 * again and takes the next free one.
 * - SQLite: the transaction runs synchronously on better-sqlite3's handle, so nothing else of the
 *   hub runs during it. (TypeORM's SQLite transactions share their one connection with every other
 *   query: a rollback, such as a full range, would take other managers' writes with it.) Within
 *   the process nothing can race; another process is kept out by the data dir's lock.
 * - PostgreSQL: a transaction on its own pooled connection, at READ COMMITTED: a claim that meets
 *   another's uncommitted row waits for its end, and the next read sees it. A deadlock (two
 *   attempts each waiting on a port the other took, possible when a release freed a lower port
 *   meanwhile) is retried from the start.
 * The steps are written once, as a generator of statements that each dialect drives.
 */
import { MoreThanOrEqual, type DataSource } from 'typeorm';
import type { PortRange } from '../config/settings.js';
import { PortAllocation } from '../db/schema.js';
import { sqliteHandle } from '../db/sqlite-handle.js';
import type { Param } from '../db/statements.js';
import { conflict, type HubError } from '../errors.js';
import { listeningPorts } from './listening.js';

export interface PortOwner {
  kind: 'agent' | 'app';
  id: string;
}

interface Query {
  sql: string;
  params: Param[];
}
type Rows = Array<Record<string, unknown>>;
/** Yields statements (each answers rows), returns the owner's ports by instance. */
type Steps = Generator<Query, number[], Rows>;

const POSTGRES_DEADLOCK = '40P01';
const DEADLOCK_RETRIES = 5;

export class PortAllocator {
  constructor(
    private readonly db: DataSource,
    private readonly range: PortRange,
  ) {}

  /**
   * Ports for instances 0..count-1 of the owner: the ones it has are kept (even if its own
   * program listens on them now), missing ones allocated, all in one transaction. A port outside
   * the range (the setting changed since) is replaced by one inside it. Answers index = instance.
   */
  async assign(owner: PortOwner, count: number): Promise<number[]> {
    // Most calls (every start of a program) find every port held: one read, no /proc.
    const held = await this.held(owner);
    const inRange = (port: number): boolean => port >= this.range.first && port <= this.range.last;
    if (held.length >= count && held.slice(0, count).every((h, i) => h.instance === i && inRange(h.port))) {
      return held.slice(0, count).map((h) => h.port);
    }
    const listening = await listeningPorts();
    const steps = (): Steps => assignSteps(owner, count, this.range, listening, Date.now());
    return this.db.options.type === 'better-sqlite3' ? this.onSqlite(steps()) : this.onPostgres(steps);
  }

  /** Releases the owner's ports of instances >= keep (0: all of them). */
  async release(owner: PortOwner, keep = 0): Promise<void> {
    await this.db.getRepository(PortAllocation).delete({ owner_kind: owner.kind, owner_id: owner.id, instance: MoreThanOrEqual(keep) });
  }

  /** What the owner holds now, index = instance. */
  async of(owner: PortOwner): Promise<number[]> {
    return (await this.held(owner)).map((h) => h.port);
  }

  private async held(owner: PortOwner): Promise<Array<{ instance: number; port: number }>> {
    return this.db.getRepository(PortAllocation).find({
      select: { instance: true, port: true },
      where: { owner_kind: owner.kind, owner_id: owner.id },
      order: { instance: 'ASC' },
    });
  }

  private onSqlite(steps: Steps): number[] {
    const db = sqliteHandle(this.db);
    return db.transaction(() => {
      let step = steps.next();
      while (!step.done) step = steps.next(db.prepare(step.value.sql).all(...step.value.params) as Rows);
      return step.value;
    })();
  }

  private async onPostgres(steps: () => Steps): Promise<number[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction(async ({ queryRunner }) => {
          const run = steps();
          let step = run.next();
          while (!step.done) {
            let n = 0;
            const sql = step.value.sql.replace(/\?/g, () => `$${++n}`);
            // Structured: TypeORM answers a DELETE's raw rows as [rows, count].
            step = run.next((await queryRunner!.query(sql, step.value.params, true)).records as Rows);
          }
          return step.value;
        });
      } catch (e) {
        if ((e as { code?: unknown }).code !== POSTGRES_DEADLOCK || attempt >= DEADLOCK_RETRIES) throw e;
      }
    }
  }
}

const q = (sql: string, params: Param[]): Query => ({ sql, params });

function* assignSteps(owner: PortOwner, count: number, range: PortRange, listening: Set<number>, now: number): Steps {
  const who = [owner.kind, owner.id];
  yield q('DELETE FROM port_allocation WHERE owner_kind = ? AND owner_id = ? AND instance < ? AND (port < ? OR port > ?) RETURNING port', [
    ...who,
    count,
    range.first,
    range.last,
  ]);
  // Another round only when another transaction claimed a port since the read: on SQLite never.
  for (let round = 0; round <= range.last - range.first + 1; round++) {
    const rows = yield q('SELECT instance, port FROM port_allocation WHERE owner_kind = ? AND owner_id = ?', who);
    const held = new Map(rows.map((r) => [Number(r.instance), Number(r.port)]));
    const instances = [...Array(count).keys()];
    const missing = instances.filter((i) => !held.has(i));
    if (missing.length === 0) return instances.map((i) => held.get(i)!);
    const taken = new Set((yield q('SELECT port FROM port_allocation WHERE port BETWEEN ? AND ?', [range.first, range.last])).map((r) => Number(r.port)));
    const free: number[] = [];
    for (let port = range.first; port <= range.last; port++) if (!taken.has(port) && !listening.has(port)) free.push(port);
    if (free.length < missing.length) throw exhausted(owner, missing.length, range, taken.size, free.length);
    for (const [k, instance] of missing.entries()) {
      const claimed = yield q(
        'INSERT INTO port_allocation (port, owner_kind, owner_id, instance, allocated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING port',
        [free[k]!, ...who, instance, now],
      );
      // Claimed by another transaction since the read: read again.
      if (claimed.length === 0) break;
    }
  }
  throw new Error(`port allocation for ${owner.kind} ${owner.id} lost every race in ${range.first}-${range.last}`);
}

function exhausted(owner: PortOwner, needed: number, range: PortRange, held: number, free: number): HubError {
  const size = range.last - range.first + 1;
  return conflict(
    `no free port for ${owner.kind} ${owner.id} in the port range ${range.first}-${range.last} (port_range, HEARTH_PORT_RANGE): ` +
      `it needs ${needed}, ${free} of ${size} are free (${held} held by Hearth, ${size - held - free} in use by other programs); widen the range or free some`,
  );
}
