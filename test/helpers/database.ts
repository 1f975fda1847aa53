/**
 * Which database the hubs of this test run use: SQLite in their data dir (the default), or with
 * HEARTH_TEST_DB=postgres a real PostgreSQL cluster for the file and one database per data dir,
 * so that a hub restarted on the same data dir finds what it wrote. scripts/test.sh runs the
 * hub-level suites both ways.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDatabase, startPostgres, type Postgres } from './postgres.js';

/** The database this file's hubs use. */
export const testDb = (): 'sqlite' | 'postgres' => (process.env.HEARTH_TEST_DB === 'postgres' ? 'postgres' : 'sqlite');

let cluster: Promise<Postgres> | null = null;
const byDataDir = new Map<string, Promise<string>>();

/**
 * Runs a suite file again with every hub on PostgreSQL, and proves that its hubs did use it (a
 * suite that silently fell back to SQLite would prove nothing).
 */
export async function onPostgres(suite: () => Promise<unknown>): Promise<void> {
  process.env.HEARTH_TEST_DB = 'postgres';
  await suite();
  test('its hubs ran on PostgreSQL', () => assert.ok(byDataDir.size > 0, 'no hub of this suite asked for a database'));
}

/** The environment that points a hub on `dataDir` at this run's database ({} for SQLite). */
export async function databaseEnv(dataDir: string): Promise<Record<string, string>> {
  if (testDb() === 'sqlite') return {};
  let url = byDataDir.get(dataDir);
  if (!url) {
    const name = `hearth_hub_${byDataDir.size + 1}`;
    cluster ??= startPostgres();
    url = cluster.then((c) => createDatabase(c.url, name));
    byDataDir.set(dataDir, url);
  }
  return { HEARTH_DATABASE_URL: await url };
}
