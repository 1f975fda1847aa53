/** Opens the database: SQLite (better-sqlite3, WAL) in the data dir, or PostgreSQL by URL; runs migrations. */
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { ENTITIES } from './schema.js';
import { MIGRATIONS } from './migrations/index.js';

export interface DatabaseOptions {
  dataDir: string;
  /** postgres://…; empty for SQLite. */
  url: string;
}

export function describeDatabase(o: DatabaseOptions): string {
  if (!o.url) return `sqlite ${join(o.dataDir, 'hearth.db')}`;
  const u = new URL(o.url);
  return `postgres ${u.host}${u.pathname}`;
}

export async function openDatabase(o: DatabaseOptions): Promise<DataSource> {
  const common = { entities: ENTITIES, migrations: MIGRATIONS, migrationsRun: true, synchronize: false, logging: false } as const;
  const ds = o.url
    ? new DataSource({ type: 'postgres', url: o.url, ...common })
    : new DataSource({
        type: 'better-sqlite3',
        database: join(o.dataDir, 'hearth.db'),
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
