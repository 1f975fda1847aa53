/**
 * A private PostgreSQL cluster for one test file: initdb into a temp dir, its own port on 127.0.0.1,
 * its own socket dir, trust auth, no fsync. Stopped and removed when the test file ends.
 *
 * PostgreSQL refuses to run as root, so as root every server-side binary runs as the `postgres`
 * user (runuser) in a directory owned by it.
 */
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { onCleanup } from './cleanup.js';
import { freePort } from './ports.js';
import { until } from './wait.js';

export interface Postgres {
  /** postgres://postgres@127.0.0.1:<port>/<db> */
  url: string;
  stop(): Promise<void>;
}

const DB_NAME = 'hearth_test';
const START_TIMEOUT_MS = 30_000;

const stopSync = new Set<() => void>();
// Last resort when the file dies before its hooks run: never leave a postmaster behind.
process.once('exit', () => stopSync.forEach((f) => f()));

/** The directory with initdb, pg_ctl and postgres: Debian's newest /usr/lib/postgresql/<v>/bin, else PATH. */
function findBinDir(): string {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'postgres')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return join(root, versions[0]!, 'bin');
  }
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')) && existsSync(join(dir, 'postgres'))) return dir;
  }
  throw new Error(
    'PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in /usr/lib/postgresql/*/bin or PATH: ' +
      'install them with `apt-get install postgresql` (scripts/test.sh does it when run as root)',
  );
}

const isRoot = process.getuid?.() === 0;

/** argv that runs `bin` as the postgres user when we are root, as ourselves otherwise. */
function asServerUser(bin: string, args: string[]): [string, string[]] {
  return isRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
}

function run(cmd: [string, string[]], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd[0], cmd[1], { cwd, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd[0]} ${cmd[1].join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Exit code of pg_isready: 0 accepting, 1 rejecting (starting up), 2 no response. */
function isReady(bin: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(join(bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-t', '2'], (err) =>
      resolve(!err),
    );
  });
}

const tail = (file: string): string => {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
};

export async function startPostgres(): Promise<Postgres> {
  const bin = findBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'hearth-pg-'));
  const data = join(dir, 'data');
  const sockets = join(dir, 'sock');
  const log = join(dir, 'postgres.log');
  mkdirSync(sockets);
  if (isRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
    chownSync(sockets, uid, gid);
  }

  let proc: ChildProcess | null = null;
  let stopped = false;
  const pgCtlStop = (mode: 'fast' | 'immediate'): [string, string[]] =>
    asServerUser(join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', mode, '-w', '-t', '60', '-s']);
  const killSync = (): void => {
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const [cmd, args] = pgCtlStop('immediate');
      spawnSync(cmd, args, { cwd: dir, stdio: 'ignore' });
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const pg: Postgres = {
    url: '',
    async stop() {
      if (stopped) return;
      stopped = true;
      stopSync.delete(killSync);
      const p = proc;
      proc = null;
      if (p && p.exitCode === null && p.signalCode === null) {
        const gone = new Promise((resolve) => p.once('exit', resolve));
        await run(pgCtlStop('fast'), dir).catch(() => p.kill('SIGQUIT'));
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  // Through the file's cleanup list, so hubs started on this cluster later are stopped before it.
  onCleanup(() => pg.stop());
  stopSync.add(killSync);

  try {
    await run(
      asServerUser(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']),
      dir,
    );
    const port = await freePort();
    // The postmaster is our child (through runuser), so an early death is seen at once.
    const logFd = openSync(log, 'a');
    const [cmd, args] = asServerUser(join(bin, 'postgres'), [
      '-D', data,
      '-p', String(port),
      '-h', '127.0.0.1',
      '-k', sockets,
      '-c', 'fsync=off',
      '-c', 'synchronous_commit=off',
      '-c', 'full_page_writes=off',
    ]);
    const p = spawn(cmd, args, { cwd: dir, stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    proc = p;
    let exited: Error | null = null;
    const died = new Promise<never>((_, reject) =>
      p.once('exit', (code, signal) => {
        exited = new Error(`postgres exited with ${code ?? signal} before accepting connections:\n${tail(log)}`);
        reject(exited);
      }),
    );
    died.catch(() => undefined);
    // An early exit ends the poll loop too (`died` has already rejected the race).
    const ready = until('postgres to accept connections', async () => exited !== null || (await isReady(bin, port)), (ok) => ok, {
      timeoutMs: START_TIMEOUT_MS,
      everyMs: 50,
    });
    ready.catch(() => undefined);
    await Promise.race([ready, died]);
    await run([join(bin, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', DB_NAME]], dir);
    pg.url = `postgres://postgres@127.0.0.1:${port}/${DB_NAME}`;
    return pg;
  } catch (e) {
    await pg.stop();
    throw e;
  }
}

/** Creates an empty database `name` on the cluster at `clusterUrl`; its URL. */
export async function createDatabase(clusterUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: clusterUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(clusterUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
