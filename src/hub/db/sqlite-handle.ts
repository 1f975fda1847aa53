/**
 * The one place that reaches under TypeORM: the better-sqlite3 connection of its driver, which the
 * row writer prepares its statements on. TypeORM does not document it, so package.json pins
 * TypeORM's minor version and test/db-driver.test.ts fails loudly if an update moves it.
 */
import type { DataSource } from 'typeorm';
import type { Param } from './statements.js';

/** The better-sqlite3 handle, as much of it as is used here. */
export interface SqliteHandle {
  prepare(sql: string): { run(...params: Param[]): { changes: number; lastInsertRowid: number | bigint }; all(...params: Param[]): unknown[] };
  transaction<T>(fn: () => T): () => T;
}

interface DriverWithConnection {
  databaseConnection?: Partial<SqliteHandle>;
}

export function sqliteHandle(ds: DataSource): SqliteHandle {
  if (!ds.isInitialized) throw new Error('the SQLite database is not open');
  const handle = (ds.driver as unknown as DriverWithConnection).databaseConnection;
  if (typeof handle?.prepare !== 'function' || typeof handle.transaction !== 'function') {
    throw new Error("TypeORM's better-sqlite3 driver no longer has databaseConnection (prepare, transaction): see src/hub/db/sqlite-handle.ts");
  }
  return handle as SqliteHandle;
}
