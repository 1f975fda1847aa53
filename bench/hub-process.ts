/**
 * Child processes of the benchmarks: the real compiled hub (`node dist/cli/main.js start`, its own
 * HEARTH_DATA_DIR, ports chosen by the system) and any other script under this Node binary.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { withTimeout } from './types.js';

export const ROOT = join(import.meta.dirname, '..');
export const CLI = join(ROOT, 'dist/cli/main.js');
/** HEARTH_NODE_ID of every hub a benchmark starts: its topics are under hearth/<this>/. */
export const HUB_NODE_ID = 'bench';
/** The log line (`msg`) the hub writes once it serves. */
export const HUB_RUNNING_MSG = 'Hearth is running';
const WAIT_MS = 30_000;
const STOP_HUB_MS = 20_000;

export function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
}

// ---------------------------------------------------------------------------------------------
// Any child

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Stopped extends Exit {
  ms: number;
  /** SIGTERM was not enough in time: it was killed. */
  killed: boolean;
}

export interface Child {
  proc: ChildProcess;
  pid: number;
  exited: Promise<Exit>;
  /** Its stdout, line by line. */
  stdoutLines: Interface;
  /** The last 4000 characters of its stderr. */
  stderr: () => string;
}

export function exitOf(proc: ChildProcess): Promise<Exit> {
  return new Promise<Exit>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
}

/** This process's environment without the variables whose names start with one of `prefixes`. */
export function cleanEnv(prefixes: string[]): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !prefixes.some((p) => k.startsWith(p))));
}

/** `node <args>` under this Node binary, stdout and stderr piped (stdin ignored). */
export function spawnNode(args: string[], env?: NodeJS.ProcessEnv): Child {
  const proc = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = exitOf(proc);
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  return { proc, pid: proc.pid!, exited, stdoutLines: createInterface({ input: proc.stdout! }), stderr: () => stderr };
}

/** SIGTERM, then SIGKILL if it has not exited after `timeoutMs`. Resolves once it has exited. */
export async function stopChild(c: Pick<Child, 'proc' | 'exited'>, timeoutMs: number): Promise<Stopped> {
  const t0 = performance.now();
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return { ...(await c.exited), ms: 0, killed: false };
  c.proc.kill('SIGTERM');
  try {
    return { ...(await withTimeout(c.exited, timeoutMs, `pid ${c.proc.pid} to stop on SIGTERM`)), ms: performance.now() - t0, killed: false };
  } catch {
    c.proc.kill('SIGKILL');
    return { ...(await c.exited), ms: performance.now() - t0, killed: true };
  }
}

/** SIGKILL unless it has exited already; resolves once it has. For a `finally`. */
export async function killChild(c: Pick<Child, 'proc' | 'exited'>): Promise<void> {
  if (c.proc.exitCode === null && c.proc.signalCode === null) {
    c.proc.kill('SIGKILL');
    await c.exited;
  }
}

/** The document of a JSON log line, or null when the line is not JSON. */
export function jsonLine(line: string): Record<string, unknown> | null {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// The hub

export interface HubOptions {
  /** Prefixes of the caller's variables to keep from the hub as well as HEARTH_* (e.g. PM2_). */
  dropPrefixes?: string[];
  /** Settings on top of the usual ones (e.g. HEARTH_METRICS_INTERVAL). */
  extraEnv?: NodeJS.ProcessEnv;
}

export interface HubProc extends Child {
  http: string;
  brokerUrl: string;
  token: string;
  /** How many lines it has logged. */
  lines: number;
  /** The last 20 of them. */
  tail: string[];
}

export function hubEnv(dataDir: string, opts: HubOptions = {}): NodeJS.ProcessEnv {
  // The caller's own HEARTH_* settings must not leak in (an external broker URL, a config file...).
  return {
    ...cleanEnv(['HEARTH_', ...(opts.dropPrefixes ?? [])]),
    HEARTH_DATA_DIR: dataDir,
    HEARTH_BROKER_PORT: '0',
    HEARTH_BROKER_HOST: '127.0.0.1',
    HEARTH_HTTP_PORT: '0',
    HEARTH_HTTP_HOST: '127.0.0.1',
    HEARTH_NODE_ID: HUB_NODE_ID,
    HEARTH_LOG_LEVEL: 'info',
    ...opts.extraEnv,
  };
}

/** Starts the hub and waits for it to say it is running; stops it again if it does not. */
export async function startHub(dataDir: string, opts: HubOptions = {}): Promise<HubProc> {
  const hub: HubProc = { ...spawnNode([CLI, 'start'], hubEnv(dataDir, opts)), http: '', brokerUrl: '', token: '', lines: 0, tail: [] };
  const running = new Promise<Record<string, unknown>>((resolve, reject) => {
    // Every line is read, so the hub never blocks on a full pipe; only the last few are kept.
    hub.stdoutLines.on('line', (line) => {
      hub.lines++;
      hub.tail = [...hub.tail.slice(-19), line];
      const doc = jsonLine(line); // not JSON: kept in the tail only
      if (doc?.msg === HUB_RUNNING_MSG) resolve(doc);
    });
    void hub.exited.then(({ code, signal }) => reject(new Error(`hub exited (${code ?? signal}) before running: ${hub.stderr().trim()}`)));
  });
  try {
    const doc = await withTimeout(running, WAIT_MS, 'the hub to say it is running');
    hub.http = String(doc.http).replace('//0.0.0.0', '//127.0.0.1');
    hub.token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    // The embedded broker lets nobody in anonymously: the benches sign in as the admin.
    const broker = new URL((doc.broker as { url: string }).url);
    broker.username = 'admin';
    broker.password = hub.token;
    hub.brokerUrl = broker.toString();
    return hub;
  } catch (e) {
    await stopHub(hub);
    throw e;
  }
}

/** SIGTERM (the hub stops its agents), SIGKILL after `timeoutMs`. */
export function stopHub(hub: HubProc, timeoutMs = STOP_HUB_MS): Promise<Stopped> {
  return stopChild(hub, timeoutMs);
}

/** A REST call with the admin token; the parsed JSON answer (undefined for an empty body). */
export async function api<T>(hub: HubProc, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(hub.http + path, {
    method,
    headers: { authorization: `Bearer ${hub.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}
