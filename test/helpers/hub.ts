/** A real hub for a test: in this process (fast, inspectable) or as the `hearth start` child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';
import { loadConfig } from '../../src/hub/config/load.js';
import { Hub } from '../../src/hub/hub.js';
import { createLogger } from '../../src/hub/logger.js';
import { tempDir } from './tmp.js';

export const NODE = 'testnode';
export const BASE = `hearth/${NODE}`;
const CLI = join(import.meta.dirname, '../../dist/cli/main.js');

export interface HubHandle {
  hub: Hub;
  dataDir: string;
  brokerUrl: string;
  http: string;
  token: string;
  api<T = unknown>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: T }>;
  stop(): Promise<void>;
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
    HEARTH_LOG_LEVEL: process.env.HEARTH_TEST_LOG ?? 'silent',
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

/** Starts a hub in this process; stopped when the test file ends if the test did not. */
export async function startHub(env: Record<string, string> = {}, dataDir = tempDir()): Promise<HubHandle> {
  const config = loadConfig({ flags: {}, env: testEnv(dataDir, env) });
  const hub = new Hub(config, createLogger(config.settings.logLevel));
  await hub.start();
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await hub.stop();
  };
  onCleanup(stop);
  const info = hub.info();
  const http = `http://127.0.0.1:${info.http.port}`;
  return {
    hub,
    dataDir,
    brokerUrl: info.broker.url,
    http,
    token: hub.token,
    api: (method, path, body, headers) => api(http, hub.token, method, path, body, headers),
    stop,
  };
}

export interface HubProcess {
  proc: ChildProcess;
  dataDir: string;
  lines: Array<Record<string, unknown>>;
  stderr: string[];
  brokerUrl: string;
  http: string;
  token: string;
  /** Sends the signal and resolves with how the process ended. */
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `hearth start` (the compiled bin) as a child process and waits until it says it is running. */
export async function spawnHub(env: Record<string, string> = {}, args: string[] = [], dataDir = tempDir()): Promise<HubProcess> {
  const proc = spawn(process.execPath, [CLI, 'start', ...args], {
    env: { ...process.env, ...testEnv(dataDir, { HEARTH_LOG_LEVEL: 'info', ...env }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  const stderr: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  // A clean stop, so the hub stops its agents; SIGKILL only if it does not go.
  onCleanup(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
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
          const doc = JSON.parse(line) as Record<string, unknown>;
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
  const broker = doc.broker as { url: string };
  const http = String(doc.http).replace('0.0.0.0', '127.0.0.1').replace('//127.0.0.1', '//127.0.0.1');
  return {
    proc,
    dataDir,
    lines,
    stderr,
    brokerUrl: broker.url,
    http,
    token: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(),
    exited,
    kill: async (signal) => {
      proc.kill(signal);
      return exited;
    },
  };
}

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
