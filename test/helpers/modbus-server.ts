/**
 * A real Modbus server for one test: test/fixtures/devices/modbus-server.py on Debian's pymodbus, over
 * TCP on 127.0.0.1 or RTU on a serial path (one end of a pty pair). The test sets and reads the tables
 * from the server's side and sees every write a client makes.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { onCleanup } from './cleanup.js';
import { reap, spawnReaped } from './pty.js';
import { tempDir } from './tmp.js';

/** Debian's python3: the first python3 on PATH may be another one (pyenv) without python3-pymodbus. */
const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../fixtures/devices/modbus-server.py', import.meta.url));
const START_TIMEOUT_MS = 15_000;
const REQUEST_TIMEOUT_MS = 5_000;

export type ModbusTable = 'coils' | 'discrete' | 'holding' | 'input';
/** Registers are numbers, coils and discrete inputs booleans (set() also takes 0/1 for those). */
export type ModbusValue = number | boolean;
export interface ModbusWrite {
  table: 'coils' | 'holding';
  /** The Modbus function code the client used: 5/15 coils, 6/16 registers (22/23 too). */
  fc: number;
  address: number;
  values: ModbusValue[];
}

export type ModbusTransport = { transport: 'tcp'; port?: number } | { transport: 'rtu'; path: string; baudRate?: number };
export interface ModbusServerOptions {
  /** The one unit (slave) id the server answers; default 1. */
  unitId?: number;
  /** Initial values from address 0 per table (100 entries each); the rest keep the defaults:
   * holding[i] = i, input[i] = 1000 + i, coils[i] = i is even, discrete[i] = i % 3 === 0. */
  initial?: Partial<Record<ModbusTable, ModbusValue[]>>;
}

/** from: the first index to look at (default 0); timeoutMs: default 5000. */
export interface WaitOptions {
  from?: number;
  timeoutMs?: number;
}

export interface ModbusServer {
  unitId: number;
  /** TCP: the port it listens on (pass it to a later start to come back on the same port). */
  port?: number;
  /** Every write made by a client, in order. */
  writes: ModbusWrite[];
  /** RTU: the serial port events seen so far ("lost" when the pty vanished, "open" once reopened). */
  serialEvents: Array<'lost' | 'open'>;
  set(table: ModbusTable, address: number, values: ModbusValue[]): Promise<void>;
  get(table: ModbusTable, address: number, count?: number): Promise<ModbusValue[]>;
  /** The first write matching `match`, made already or still to come, from index `from` of `writes` on. */
  waitForWrite(match?: (w: ModbusWrite) => boolean, opts?: WaitOptions): Promise<ModbusWrite>;
  /** Resolves once `serialEvents` holds that event at index `from` or later. */
  waitForSerial(kind: 'lost' | 'open', opts?: WaitOptions): Promise<void>;
  /** The server's stderr (pymodbus logs) for diagnostics. */
  stderr(): string;
  stop(): Promise<void>;
}

let checked: string | null = null;
/** Throws a clear error when Debian's python3 cannot run the server (checked once per test file). */
function requirePymodbus(): void {
  if (checked === 'ok') return;
  if (checked === null) {
    const r = spawnSync(PYTHON, ['-c', 'import pymodbus.server, serial, serial_asyncio'], { encoding: 'utf8' });
    checked = r.status === 0 ? 'ok' : (r.error?.message ?? r.stderr.trim().split('\n').pop() ?? 'failed');
  }
  if (checked !== 'ok') {
    throw new Error(
      `${PYTHON} cannot run the Modbus test server (${checked}): install it with ` +
        '`apt-get install python3-pymodbus python3-serial python3-serial-asyncio` (scripts/test.sh does it when run as root)',
    );
  }
}

export async function startModbusServer(where: ModbusTransport, opts: ModbusServerOptions = {}): Promise<ModbusServer> {
  requirePymodbus();
  const unitId = opts.unitId ?? 1;
  const args = [SCRIPT, '--unit', String(unitId)];
  if (where.transport === 'tcp') args.push('--tcp', String(where.port ?? 0)); // 0: the server binds a free port, no race
  else args.push('--rtu', where.path, '--baud', String(where.baudRate ?? 9600));
  if (opts.initial) {
    const file = join(tempDir('hearth-modbus-'), 'initial.json');
    writeFileSync(file, JSON.stringify(opts.initial));
    args.push('--init', file);
  }
  // -u: unbuffered, each JSON line reaches us when printed. stdin stays open: its EOF stops the server
  // too, should this process die without cleanup.
  const proc = spawnReaped(PYTHON, ['-u', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const { stdin, stdout } = proc as typeof proc & { stdin: Writable; stdout: Readable };
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  stdin.on('error', () => undefined); // writing to a server that just died: the request times out instead

  let nextId = 1;
  const pending = new Map<number, (reply: Record<string, unknown>) => void>();
  const listeners = new Set<() => void>();
  let ready: (msg: { port?: number }) => void;
  const readyMsg = new Promise<{ port?: number }>((r) => (ready = r));

  const server: ModbusServer = {
    unitId,
    writes: [],
    serialEvents: [],
    stderr: () => stderr,
    async set(table, address, values) {
      await request({ set: table, address, values });
    },
    async get(table, address, count = 1) {
      return (await request({ get: table, address, count })).values as ModbusValue[];
    },
    waitForWrite(match = () => true, { from = 0, timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
      return waitFor(() => server.writes.slice(from).find(match), `a Modbus write matching ${match.toString()}`, timeoutMs, () => JSON.stringify(server.writes));
    },
    async waitForSerial(kind, { from = 0, timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
      await waitFor(() => server.serialEvents.slice(from).includes(kind) || undefined, `serial "${kind}"`, timeoutMs, () => server.serialEvents.join(','));
    },
    stop: () => reap(proc),
  };
  onCleanup(() => server.stop());

  /** Resolves with `find()` once it is defined, re-checked on every line the server prints. */
  function waitFor<T>(find: () => T | undefined, what: string, timeoutMs: number, seen: () => string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const v = find();
        if (v === undefined) return;
        listeners.delete(check);
        clearTimeout(timer);
        resolve(v);
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`no ${what} within ${timeoutMs} ms; seen: ${seen()}`));
      }, timeoutMs);
      listeners.add(check);
      check();
    });
  }

  function request(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`Modbus server did not answer ${JSON.stringify(body)} within ${REQUEST_TIMEOUT_MS} ms\n${stderr}`));
      }, REQUEST_TIMEOUT_MS);
      pending.set(id, (reply) => {
        clearTimeout(timer);
        if (typeof reply.error === 'string') reject(new Error(`Modbus server: ${reply.error}`));
        else resolve(reply);
      });
      stdin.write(JSON.stringify({ id, ...body }) + '\n');
    });
  }

  createInterface({ input: stdout }).on('line', (line) => {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return void (stderr += `(stdout) ${line}\n`);
    }
    if (msg.ready) ready(msg as { port?: number });
    else if (typeof msg.write === 'string') {
      const { write, fc, address, values } = msg as { write: 'coils' | 'holding'; fc: number; address: number; values: ModbusValue[] };
      server.writes.push({ table: write, fc, address, values });
    } else if (msg.serial === 'lost' || msg.serial === 'open') server.serialEvents.push(msg.serial);
    else if (typeof msg.id === 'number') pending.get(msg.id)?.(msg);
    for (const l of [...listeners]) l();
  });

  const exited = new Promise<never>((_, reject) =>
    proc.once('exit', (code, signal) => reject(new Error(`Modbus server exited with ${code ?? signal} before serving:\n${stderr}`))),
  );
  exited.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Modbus server not ready within ${START_TIMEOUT_MS} ms:\n${stderr}`)), START_TIMEOUT_MS);
  });
  try {
    const msg = await Promise.race([readyMsg, exited, timeout]);
    if (msg.port !== undefined) server.port = msg.port;
    return server;
  } catch (e) {
    await server.stop();
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
