/**
 * A real hub for a test: in this process (fast, inspectable) or as the `hearth start` child process.
 * Every hub is held to what a user expects of a stop: it stops cleanly, logs no error the test did
 * not expect, and leaves no process of its agents, jobs or checks behind.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';
import { loadConfig } from '../../src/hub/config/load.js';
import { Hub } from '../../src/hub/hub.js';
import { createLogger } from '../../src/hub/logger.js';
import { databaseEnv, testDb } from './database.js';
import { processesInSessions, sessionsLedBy } from './procs.js';
import { tempDir } from './tmp.js';
import { until } from './wait.js';

export const NODE = 'testnode';
export const BASE = `hearth/${NODE}`;
const CLI = join(import.meta.dirname, '../../dist/cli/main.js');

/** One line of a hub's log, as pino wrote it. */
export type LogLine = Record<string, unknown> & { level: number; msg?: string };

const ERROR_LEVEL = 50;

/** A user of the embedded broker. */
export interface BrokerUser {
  username: string;
  password: string;
}

/** The embedded broker's own users: to publish as the hub (states, configs) or as Home Assistant. */
export interface BrokerUsers {
  hub: BrokerUser;
  homeassistant: BrokerUser;
}

export interface HubOptions {
  /** Error-level log lines this test provokes on purpose (matched against the message and error). */
  expectErrors?: RegExp[];
}

export interface HubHandle {
  hub: Hub;
  dataDir: string;
  /** The embedded broker's URL with the admin token as the admin's password (an external broker's as it is). */
  brokerUrl: string;
  /** Null on an external broker. */
  brokerUsers: BrokerUsers | null;
  http: string;
  token: string;
  /** What the hub logged (warn and above unless HEARTH_LOG_LEVEL says more). */
  logs: LogLine[];
  /** Declares error lines this test provokes; any other error line fails the stop. */
  expectErrors(...patterns: RegExp[]): void;
  api<T = unknown>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: T }>;
  /** Stops the hub; throws if it logged an unexpected error or left a process behind. */
  stop(): Promise<void>;
}

/** Sessions of every hub this file stopped or killed: none may still hold a process at the end. */
const watched = new Set<number>();
/** In-process hubs running now. */
let inProcess = 0;
// Registered when the helper loads, before any hub: the file's last cleanup, after every hub stopped.
onCleanup(() => ensureGone(watched, 'at the end of the test file'));

/** Waits for the processes of these sessions to go; kills and reports any that stay. */
async function ensureGone(sessions: ReadonlySet<number>, when: string): Promise<void> {
  if (sessions.size === 0) return;
  try {
    await until(`the hub's processes to be gone ${when}`, () => processesInSessions(sessions), (left) => left.length === 0, { timeoutMs: 5000 });
  } catch {
    const left = processesInSessions(sessions);
    for (const p of left) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    throw new Error(`processes of a hub's agents or jobs left behind ${when}: ${left.map((p) => `${p.pid} ${p.cmd}`).join('; ')}`);
  }
}

function unexpectedErrors(logs: LogLine[], expected: RegExp[]): LogLine[] {
  return logs.filter((l) => l.level >= ERROR_LEVEL && !expected.some((re) => re.test(JSON.stringify(l))));
}

function assertNoUnexpectedErrors(logs: LogLine[], expected: RegExp[]): void {
  const bad = unexpectedErrors(logs, expected);
  if (bad.length > 0) throw new Error(`the hub logged ${bad.length} unexpected error(s): ${bad.map((l) => JSON.stringify(l)).join('\n')}`);
}

/** A pino destination that keeps the lines (and echoes them with HEARTH_TEST_LOG set). */
function captureLog(into: LogLine[]): { write(line: string): void } {
  return {
    write(line: string) {
      into.push(JSON.parse(line) as LogLine);
      if (process.env.HEARTH_TEST_LOG) process.stderr.write(line);
    },
  };
}

export function testEnv(dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    HEARTH_DATA_DIR: dataDir,
    HEARTH_NODE_ID: NODE,
    HEARTH_BROKER_PORT: '0',
    HEARTH_BROKER_HOST: '127.0.0.1',
    HEARTH_HTTP_PORT: '0',
    HEARTH_HTTP_HOST: '127.0.0.1',
    HEARTH_METRICS_INTERVAL: '1',
    HEARTH_LOG_LEVEL: process.env.HEARTH_TEST_LOG ?? 'warn',
    ...extra,
  };
}

export async function api<T>(http: string, token: string | null, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(http + path, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: the test sees the text
  }
  return { status: res.status, body: parsed as T };
}

/** The embedded broker's URL as the admin signs in to it (mqtt.js takes the credentials from the URL). */
function adminUrl(url: string, token: string): string {
  const u = new URL(url);
  u.username = 'admin';
  u.password = encodeURIComponent(token);
  return u.toString();
}

/** What `hearth mqtt credentials` answers: the hub's user, then Home Assistant's. */
async function brokerUsersOf(http: string, token: string): Promise<BrokerUsers> {
  const r = await api<BrokerUser[]>(http, token, 'GET', '/api/mqtt/credentials');
  const [hub, homeassistant] = r.body;
  if (r.status !== 200 || !hub || homeassistant?.username !== 'homeassistant') throw new Error(`the hub did not tell its MQTT users: ${r.status} ${JSON.stringify(r.body)}`);
  return { hub, homeassistant };
}

/** Starts a hub in this process; stopped (and checked) when the test file ends if the test did not. */
export async function startHub(env: Record<string, string> = {}, dataDir = tempDir(), opts: HubOptions = {}): Promise<HubHandle> {
  const config = loadConfig({ flags: {}, env: testEnv(dataDir, { ...(await databaseEnv(dataDir)), ...env }) });
  if (!env.HEARTH_DATABASE_URL && (config.settings.databaseUrl !== '') !== (testDb() === 'postgres')) {
    throw new Error(`the hub would open ${config.settings.databaseUrl || 'SQLite'}, not this run's ${testDb()} database`);
  }
  const logs: LogLine[] = [];
  const expected = [...(opts.expectErrors ?? [])];
  const hub = new Hub(config, createLogger(config.settings.logLevel, captureLog(logs)));
  try {
    await hub.start();
  } catch (e) {
    const bad = unexpectedErrors(logs, expected);
    throw bad.length ? new Error(`${(e as Error).message}; the hub logged: ${bad.map((l) => JSON.stringify(l)).join('\n')}`, { cause: e }) : e;
  }
  let stopped = false;
  inProcess++;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // Every in-process hub's children are this process's: with others still running, whose is
    // whose shows only at the end of the file, when all have stopped.
    const sessions = new Set(sessionsLedBy(process.pid));
    sessions.forEach((sid) => watched.add(sid));
    const alone = inProcess === 1;
    await hub.stop();
    inProcess--;
    if (alone) await ensureGone(sessions, 'after the hub stopped');
    assertNoUnexpectedErrors(logs, expected);
  };
  onCleanup(stop);
  const info = hub.info();
  const http = `http://127.0.0.1:${info.http.port}`;
  const embedded = info.broker.mode === 'embedded';
  return {
    hub,
    dataDir,
    brokerUrl: embedded ? adminUrl(info.broker.url, hub.token) : info.broker.url,
    brokerUsers: embedded ? await brokerUsersOf(http, hub.token) : null,
    http,
    token: hub.token,
    logs,
    expectErrors: (...patterns) => expected.push(...patterns),
    api: (method, path, body, headers) => api(http, hub.token, method, path, body, headers),
    stop,
  };
}

export interface HubProcess {
  proc: ChildProcess;
  dataDir: string;
  /** Every log line it printed. */
  lines: LogLine[];
  /** Declares error lines this test provokes; any other error line fails the file's cleanup. */
  expectErrors(...patterns: RegExp[]): void;
  stderr: string[];
  /** As HubHandle's. */
  brokerUrl: string;
  brokerUsers: BrokerUsers | null;
  http: string;
  token: string;
  /** Sends the signal and resolves with how the process ended. */
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `hearth start` (the compiled bin) as a child process and waits until it says it is running. */
export async function spawnHub(env: Record<string, string> = {}, args: string[] = [], dataDir = tempDir(), opts: HubOptions = {}): Promise<HubProcess> {
  const proc = spawn(process.execPath, [CLI, 'start', ...args], {
    env: { ...process.env, ...testEnv(dataDir, { HEARTH_LOG_LEVEL: 'info', ...(await databaseEnv(dataDir)), ...env }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const stderr: string[] = [];
  const expected = [...(opts.expectErrors ?? [])];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const alive = (): boolean => proc.exitCode === null && proc.signalCode === null;
  const watchSessions = (): Set<number> => {
    const sessions = new Set(proc.pid ? sessionsLedBy(proc.pid) : []);
    sessions.forEach((sid) => watched.add(sid));
    return sessions;
  };
  // A clean stop, so the hub stops its agents: it must exit 0 and leave nothing behind.
  onCleanup(async () => {
    if (alive()) {
      const sessions = watchSessions();
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      const end = await exited;
      clearTimeout(timer);
      if (end.code !== 0) throw new Error(`the hub did not stop cleanly on SIGTERM (${end.code ?? end.signal}): ${stderr.join('').slice(-2000)}`);
      await ensureGone(sessions, 'after the hub stopped');
    }
    assertNoUnexpectedErrors(lines, expected);
  });
  let buf = '';
  const running = new Promise<Record<string, unknown>>((resolve, reject) => {
    proc.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const doc = JSON.parse(line) as LogLine;
          lines.push(doc);
          if (doc.msg === 'Hearth is running') resolve(doc);
        } catch {
          stderr.push(line);
        }
      }
    });
    proc.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    void exited.then(({ code, signal }) => reject(new Error(`hub exited (${code ?? signal}) before running: ${stderr.join('')}`)));
  });
  const timeout = setTimeout(() => proc.kill('SIGKILL'), 30_000);
  const doc = await running.finally(() => clearTimeout(timeout));
  const broker = doc.broker as { url: string; mode: string };
  const http = String(doc.http).replace('0.0.0.0', '127.0.0.1').replace('//127.0.0.1', '//127.0.0.1');
  const token = env.HEARTH_ADMIN_TOKEN ?? readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const embedded = broker.mode === 'embedded';
  return {
    proc,
    dataDir,
    lines,
    stderr,
    brokerUrl: embedded ? adminUrl(broker.url, token) : broker.url,
    brokerUsers: embedded ? await brokerUsersOf(http, token) : null,
    http,
    token,
    exited,
    expectErrors: (...patterns) => expected.push(...patterns),
    // What it started must be gone once this hub or the next one on its data dir has stopped.
    kill: async (signal) => {
      if (alive()) watchSessions();
      proc.kill(signal);
      return exited;
    },
  };
}

/** POSTs a new agent, task or device to `path`; the test fails unless it was created (201). */
export async function created<T>(h: HubHandle, path: string, body: Record<string, unknown>): Promise<T> {
  const r = await h.api<T>('POST', path, body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

/** The environment that points the CLI at this hub, as its admin. */
export const cliEnv = (h: { http: string; token: string }): Record<string, string> => ({ HEARTH_URL: h.http, HEARTH_ADMIN_TOKEN: h.token });

/** Runs the CLI to completion. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

export interface LiveCli {
  /** What it printed so far. */
  out(): string;
  err(): string;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

/** Runs a CLI command that keeps running (-f, watch, an upload): its output as it comes, signals to end it. */
export function spawnCli(args: string[], env: Record<string, string> = {}): LiveCli {
  const proc = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  onCleanup(() => proc.exitCode === null && proc.signalCode === null && proc.kill('SIGKILL'));
  return { out: () => out, err: () => err, exited, kill: (signal) => proc.kill(signal) };
}
