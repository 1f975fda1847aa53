/** The hub's health: its broker connection, a database write read back, the data directory's disk. */
import type { DataSource } from 'typeorm';
import { FULL_BELOW_BYTES, freeBytes } from './data-dir.js';
import { checkDatabase, databaseErrorText } from './db/data-source.js';
import type { Health } from './operations/context.js';

type Check = Health['checks'][string];

export interface HealthInputs {
  mqttConnected: boolean;
  /** null while the hub is starting or stopping. */
  db: DataSource | null;
  dataDir: string;
  databaseUrl: string;
}

export async function checkHealth(o: HealthInputs): Promise<Health> {
  const checks: Health['checks'] = {
    mqtt: o.mqttConnected ? { ok: true } : { ok: false, detail: 'not connected to the broker' },
    database: await databaseCheck(o),
    disk: await diskCheck(o.dataDir),
  };
  const healthy = Object.values(checks).every((c) => c.ok);
  return { status: healthy ? 'ok' : 'degraded', healthy, checks };
}

/** A write read back (a database that only answers reads is not fine). */
async function databaseCheck(o: HealthInputs): Promise<Check> {
  if (!o.db) return { ok: false, detail: 'closed' };
  try {
    await checkDatabase(o.db);
    return { ok: true };
  } catch (e) {
    return { ok: false, detail: databaseErrorText(e, { dataDir: o.dataDir, url: o.databaseUrl }) };
  }
}

/** The data directory's disk: the database (SQLite), logs and job output are written there. */
async function diskCheck(dir: string): Promise<Check> {
  try {
    const free = await freeBytes(dir);
    if (free < FULL_BELOW_BYTES) return { ok: false, detail: `the disk of the data directory ${dir} is full (${Math.floor(free / 1024)} KiB free)` };
    return { ok: true };
  } catch (e) {
    return { ok: false, detail: `cannot tell the free space of ${dir}: ${(e as Error).message}` };
  }
}
