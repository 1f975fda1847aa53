/**
 * Writes for hot paths (a task run every second), beside TypeORM: bound parameters, reused
 * statements, and a group commit.
 *
 * TypeORM's SQLite driver writes numbers into the SQL text, so its statement cache misses and each
 * write prepares a new statement; each of its writes is also its own transaction. Here every write
 * queued in one turn of the event loop lands in one transaction (100 tasks firing in the same
 * second: one commit, not 100), with the SQL text fixed per shape and the values bound.
 *
 * SQLite (better-sqlite3): its own handle, synchronously, with prepared statements. PostgreSQL: a
 * TypeORM query runner with $1… parameters. Reads stay with TypeORM: they see every write whose
 * promise has resolved (SQLite has one connection; PostgreSQL commits before resolving).
 */
import type { DataSource, QueryRunner } from 'typeorm';
import { sqliteHandle, type SqliteHandle } from './sqlite-handle.js';
import type { Param, Statement } from './statements.js';

export interface RowWriter {
  /**
   * Queues a unit of work: its statements run in order in one transaction, with the other units
   * queued in the same turn of the event loop. `build` is called then, so a clock it reads is as of
   * the write. Answers per statement: the id for an insert, the rows changed otherwise. A unit that
   * fails fails alone.
   */
  write(build: () => Statement[]): Promise<number[]>;
  /**
   * Writes without waiting for the turn to end, where the database allows it (SQLite: at once,
   * synchronously); otherwise as `write`. For what crash recovery needs: a job's pid.
   */
  writeNow(build: () => Statement[]): Promise<number[]>;
  /** Resolves once every write queued so far has landed (or failed). */
  idle(): Promise<void>;
}

/** The one writer of a DataSource, so that every manager's writes share its commits. */
export function rowWriter(ds: DataSource): RowWriter {
  let w = writers.get(ds);
  if (!w) {
    w = ds.options.type === 'better-sqlite3' ? new SqliteWriter(ds) : new QueryRunnerWriter(ds);
    writers.set(ds, w);
  }
  return w;
}

const writers = new WeakMap<DataSource, RowWriter>();

interface Unit {
  build: () => Statement[];
  statements: Statement[] | null;
  resolve(results: number[]): void;
  reject(e: unknown): void;
}

type Dialect = 'sqlite' | 'postgres';

const sqlCache = new Map<string, string>();
const SQL_CACHE_MAX = 500;

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The SQL of a statement's shape and its parameters in order. */
function toSql(s: Statement, dialect: Dialect): { sql: string; params: Param[] } {
  let n = 0;
  const p = (): string => (dialect === 'postgres' ? `$${++n}` : '?');
  if ('insert' in s) {
    const cols = Object.keys(s.values);
    const key = `${dialect}|i|${s.insert}|${cols.join(',')}`;
    let sql = sqlCache.get(key);
    if (!sql) {
      sql = `INSERT INTO ${quote(s.insert)} (${cols.map(quote).join(', ')}) VALUES (${cols.map(p).join(', ')})${dialect === 'postgres' ? ' RETURNING "id"' : ''}`;
      remember(key, sql);
    }
    return { sql, params: cols.map((c) => s.values[c]!) };
  }
  if ('update' in s) {
    const set = Object.keys(s.set);
    const where = Object.keys(s.where);
    const key = `${dialect}|u|${s.update}|${set.join(',')}|${where.join(',')}`;
    let sql = sqlCache.get(key);
    if (!sql) {
      sql = `UPDATE ${quote(s.update)} SET ${set.map((c) => `${quote(c)} = ${p()}`).join(', ')} WHERE ${where.map((c) => `${quote(c)} = ${p()}`).join(' AND ')}`;
      remember(key, sql);
    }
    return { sql, params: [...set.map((c) => s.set[c]!), ...where.map((c) => s.where[c]!)] };
  }
  const key = `${dialect}|d|${s.delete}|${s.ids.length}`;
  let sql = sqlCache.get(key);
  if (!sql) {
    sql = `DELETE FROM ${quote(s.delete)} WHERE "id" IN (${s.ids.map(p).join(', ')})`;
    remember(key, sql);
  }
  return { sql, params: s.ids };
}

function remember(key: string, sql: string): void {
  if (sqlCache.size >= SQL_CACHE_MAX) sqlCache.clear();
  sqlCache.set(key, sql);
}

/** Units queued in one turn, flushed together; one flush at a time, in order. */
abstract class GroupCommit implements RowWriter {
  private queue: Unit[] = [];
  private scheduled = false;
  private flushing: Promise<void> | null = null;

  write(build: () => Statement[]): Promise<number[]> {
    return new Promise<number[]>((resolve, reject) => {
      this.queue.push({ build, statements: null, resolve, reject });
      this.schedule();
    });
  }

  writeNow(build: () => Statement[]): Promise<number[]> {
    return this.write(build);
  }

  async idle(): Promise<void> {
    while (this.queue.length > 0 || this.flushing || this.scheduled) {
      if (this.flushing) await this.flushing;
      else await new Promise<void>((r) => setImmediate(r));
    }
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const units = this.queue.splice(0);
      const ready = units.filter((u) => {
        try {
          u.statements = u.build();
        } catch (e) {
          u.reject(e);
          return false;
        }
        if (u.statements.length > 0) return true;
        u.resolve([]);
        return false;
      });
      this.flushing = this.flush(ready).finally(() => {
        this.flushing = null;
        if (this.queue.length > 0) this.schedule();
      });
    });
  }

  /** Runs the units (statements built) and settles each. */
  protected abstract flush(units: Unit[]): Promise<void>;
}

const STATEMENT_CACHE_MAX = 200;

class SqliteWriter extends GroupCommit {
  private readonly prepared = new Map<string, ReturnType<SqliteHandle['prepare']>>();
  private db: SqliteHandle | null = null;

  constructor(private readonly ds: DataSource) {
    super();
  }

  protected async flush(units: Unit[]): Promise<void> {
    if (units.length === 0) return;
    let db: SqliteHandle;
    try {
      db = sqliteHandle(this.ds);
    } catch (e) {
      for (const u of units) u.reject(e);
      return;
    }
    if (db !== this.db) {
      // Opened again: the statements belonged to the old connection.
      this.db = db;
      this.prepared.clear();
    }
    // One transaction for all; if it fails, each unit again on its own, so only the bad one fails.
    // Inside a transaction TypeORM has open, better-sqlite3 uses a savepoint.
    let results: number[][] | null = null;
    try {
      results = db.transaction(() => units.map((u) => this.runUnit(db, u)))();
    } catch {
      results = null;
    }
    if (results) {
      units.forEach((u, i) => u.resolve(results[i]!));
      return;
    }
    for (const u of units) {
      try {
        u.resolve(db.transaction(() => this.runUnit(db, u))());
      } catch (e) {
        u.reject(e);
      }
    }
  }

  /** better-sqlite3 is synchronous: the statements have landed before this returns. */
  override writeNow(build: () => Statement[]): Promise<number[]> {
    try {
      const db = sqliteHandle(this.ds);
      if (db !== this.db) {
        this.db = db;
        this.prepared.clear();
      }
      const unit: Unit = { build, statements: build(), resolve: () => undefined, reject: () => undefined };
      return Promise.resolve(db.transaction(() => this.runUnit(db, unit))());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private runUnit(db: SqliteHandle, u: Unit): number[] {
    return u.statements!.map((s) => {
      const { sql, params } = toSql(s, 'sqlite');
      let stmt = this.prepared.get(sql);
      if (!stmt) {
        if (this.prepared.size >= STATEMENT_CACHE_MAX) this.prepared.clear();
        stmt = db.prepare(sql);
        this.prepared.set(sql, stmt);
      }
      const r = stmt.run(...params);
      return 'insert' in s ? Number(r.lastInsertRowid) : r.changes;
    });
  }
}

class QueryRunnerWriter extends GroupCommit {
  private readonly dialect: Dialect;

  constructor(private readonly ds: DataSource) {
    super();
    this.dialect = ds.options.type === 'postgres' ? 'postgres' : 'sqlite';
  }

  protected async flush(units: Unit[]): Promise<void> {
    if (units.length === 0) return;
    const qr = this.ds.createQueryRunner();
    try {
      try {
        const results = await this.inTransaction(qr, units);
        units.forEach((u, i) => u.resolve(results[i]!));
        return;
      } catch (e) {
        if (units.length === 1) {
          units[0]!.reject(e);
          return;
        }
      }
      for (const u of units) {
        try {
          u.resolve((await this.inTransaction(qr, [u]))[0]!);
        } catch (e) {
          u.reject(e);
        }
      }
    } finally {
      await qr.release();
    }
  }

  private async inTransaction(qr: QueryRunner, units: Unit[]): Promise<number[][]> {
    // A single statement needs no BEGIN/COMMIT round trips.
    const single = units.length === 1 && units[0]!.statements!.length === 1;
    if (!single) await qr.startTransaction();
    try {
      const results: number[][] = [];
      for (const u of units) {
        const r: number[] = [];
        for (const s of u.statements!) r.push(await this.run(qr, s));
        results.push(r);
      }
      if (!single) await qr.commitTransaction();
      return results;
    } catch (e) {
      if (!single && qr.isTransactionActive) await qr.rollbackTransaction().catch(() => undefined);
      throw e;
    }
  }

  private async run(qr: QueryRunner, s: Statement): Promise<number> {
    const { sql, params } = toSql(s, this.dialect);
    const r = await qr.query(sql, params, true);
    if ('insert' in s) {
      const id = this.dialect === 'postgres' ? (r.records as Array<{ id: number | string }>)[0]?.id : r.raw;
      return Number(id);
    }
    return r.affected ?? 0;
  }
}
