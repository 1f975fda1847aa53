/**
 * `hearth start` writes pretty lines for a person at a terminal and JSON lines otherwise;
 * HEARTH_LOG_FORMAT forces either, and a wrong value is refused before anything starts.
 * The terminal is a real pseudo-terminal (util-linux `script`).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { databaseEnv } from './helpers/database.js';
import { runCli, testEnv } from './helpers/hub.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

const CLI = join(import.meta.dirname, '../dist/cli/main.js');
const ANSI = /\x1b\[[0-9;]*m/g;

/** Starts the hub (on a terminal or on pipes), waits until it is running, stops it, and returns its output's lines. */
async function startAndStop(tty: boolean, extra: Record<string, string> = {}): Promise<string[]> {
  const dir = tempDir();
  const env = { ...process.env, ...testEnv(dir, { HEARTH_LOG_LEVEL: 'info', ...(await databaseEnv(dir)), ...extra }) };
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  // `script` gives the hub a terminal of its own; its own process group lets SIGTERM reach the hub.
  const proc = tty
    ? spawn('script', ['-qfec', `${quote(process.execPath)} ${quote(CLI)} start`, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true })
    : spawn(process.execPath, [CLI, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  try {
    await until('the hub running', () => out, (o) => o.includes('Hearth is running'));
  } finally {
    if (tty) process.kill(-proc.pid!, 'SIGTERM');
    else proc.kill('SIGTERM');
  }
  assert.equal(await exited, 0, out);
  return out.replace(ANSI, '').split(/\r?\n/).filter((l) => l.trim() !== '');
}

const isJson = (line: string): boolean => {
  try {
    return typeof JSON.parse(line) === 'object';
  } catch {
    return false;
  }
};

/** Pretty lines: a time, the level's name and the message, no JSON. */
function assertPretty(lines: string[]): void {
  assert.ok(lines.length > 0);
  assert.deepEqual(lines.filter((l) => l.startsWith('{')), [], 'no JSON line');
  assert.ok(lines.some((l) => /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: Hearth is running/.test(l)), lines.join('\n'));
}

function assertJson(lines: string[]): void {
  assert.ok(lines.length > 0);
  assert.deepEqual(lines.filter((l) => !isJson(l)), [], 'every line is JSON');
  assert.ok(lines.some((l) => (JSON.parse(l) as { msg?: string }).msg === 'Hearth is running'));
}

describe('the log format of `hearth start`', () => {
  it('is pretty on a terminal', async () => assertPretty(await startAndStop(true)));
  it('is JSON lines without a terminal', async () => assertJson(await startAndStop(false)));
  it('is JSON on a terminal with HEARTH_LOG_FORMAT=json', async () => assertJson(await startAndStop(true, { HEARTH_LOG_FORMAT: 'json' })));
  it('is pretty without a terminal with HEARTH_LOG_FORMAT=pretty', async () => assertPretty(await startAndStop(false, { HEARTH_LOG_FORMAT: 'pretty' })));
  it('refuses an unknown format, saying which are known', async () => {
    const dir = tempDir();
    const r = await runCli(['start'], testEnv(dir, { HEARTH_LOG_FORMAT: 'yaml', ...(await databaseEnv(dir)) }));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /HEARTH_LOG_FORMAT.*"yaml" is not a log format \(auto, json, pretty\)/);
  });
});
