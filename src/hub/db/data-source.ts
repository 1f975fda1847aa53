/** Opens the database: SQLite (better-sqlite3, WAL) in the data dir, or PostgreSQL by URL; runs migrations. */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { ENTITIES } from './schema.js';
import { MIGRATIONS } from './migrations/index.js';
import { redactUrl } from '../url-secrets.js';

export interface DatabaseOptions {
  dataDir: string;
  /** postgres://…; empty for SQLite. */
  url: string;
}

export const sqliteFile = (dataDir: string): string => join(dataDir, 'hearth.db');

export function describeDatabase(o: DatabaseOptions): string {
  if (!o.url) return `sqlite ${sqliteFile(o.dataDir)}`;
  const u = new URL(o.url);
  return `postgres ${u.host}${u.pathname}`;
}

export async function openDatabase(o: DatabaseOptions): Promise<DataSource> {
  const common = { entities: ENTITIES, migrations: MIGRATIONS, migrationsRun: true, synchronize: false, logging: false } as const;
  // Created private (it holds env values and headers): SQLite gives its -wal and -shm files the
  // database file's mode. An existing file keeps its mode here; the start fixes it (data-dir.ts).
  if (!o.url) closeSync(openSync(sqliteFile(o.dataDir), 'a', 0o600));
  const ds = o.url
    ? new DataSource({ type: 'postgres', url: o.url, ...common })
    : new DataSource({
        type: 'better-sqlite3',
        database: sqliteFile(o.dataDir),
        enableWAL: true,
        prepareDatabase: (db: { pragma: (s: string) => unknown }) => {
          db.pragma('busy_timeout = 5000');
          db.pragma('synchronous = NORMAL');
        },
        ...common,
      });
  await ds.initialize();
  return ds;
}

/** The code SQLite (or PostgreSQL) gave an error, also when TypeORM wrapped it. */
function codeOf(e: unknown): string | undefined {
  const err = e as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = err?.code ?? err?.driverError?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The driver's own words (TypeORM puts its error's name before them). */
function messageOf(e: unknown): string {
  const err = e as { message?: unknown; driverError?: { message?: unknown } } | null;
  const message = err?.driverError?.message ?? err?.message;
  return typeof message === 'string' ? message : String(e);
}

/**
 * A SQLite file that is not a sound database any more, said as what to do; null for any other
 * error. The hub cannot repair it: the user restores a copy.
 */
export function corruptDatabase(e: unknown, o: DatabaseOptions): Error | null {
  const code = codeOf(e);
  if (o.url || !code || !(code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB')) return null;
  const file = sqliteFile(o.dataDir);
  return new Error(
    `database ${file} is corrupt (${code}: ${messageOf(e)}); move it away with its -wal and -shm files and restore a backup, or start with an empty data dir`,
    { cause: e },
  );
}

/** What a database error says, with its code (SQLITE_FULL, PostgreSQL's 53100…); for a corrupt file, what to do. */
export function databaseErrorText(e: unknown, o: DatabaseOptions): string {
  const corrupt = corruptDatabase(e, o);
  if (corrupt) return corrupt.message;
  const code = codeOf(e);
  return redactUrl(code ? `${code}: ${messageOf(e)}` : messageOf(e));
}

const HEALTH_KEY = 'health_check';

/** The first bytes of every SQLite database file. */
const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/** A SQLite file overwritten or cut short: what SQLite itself says when it reads such a header. */
async function checkHeader(file: string): Promise<void> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(SQLITE_MAGIC.length);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    if (bytesRead < head.length || !head.equals(SQLITE_MAGIC)) throw Object.assign(new Error('file is not a database'), { code: 'SQLITE_NOTADB' });
  } finally {
    await fh.close();
  }
}

/**
 * Writes a row and reads it back, or throws why it could not. SQLite first lets go of the pages it
 * keeps in memory, so the read comes from the disk: a cache would go on answering from a file
 * that is corrupt by now. Its header is read too: until a checkpoint, the pages written last live
 * in the WAL, and an overwritten file would show only later.
 */
export async function checkDatabase(ds: DataSource): Promise<void> {
  const sqlite = ds.options.type === 'better-sqlite3';
  const p = (n: number): string => (sqlite ? '?' : `$${n}`);
  if (sqlite) {
    await checkHeader(ds.options.database as string);
    await ds.query('PRAGMA shrink_memory');
  }
  const value = `${Date.now()} ${randomBytes(6).toString('hex')}`;
  await ds.query(
    `INSERT INTO hub_meta ("key", "value") VALUES (${p(1)}, ${p(2)}) ON CONFLICT ("key") DO UPDATE SET "value" = excluded."value"`,
    [HEALTH_KEY, value],
  );
  const rows = (await ds.query(`SELECT "value" FROM hub_meta WHERE "key" = ${p(1)}`, [HEALTH_KEY])) as Array<{ value: string }>;
  const read = rows[0]?.value;
  if (read !== value) throw new Error(`wrote a row and read back ${read === undefined ? 'nothing' : 'another value'}`);
}
