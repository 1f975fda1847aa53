/**
 * `hearth device upload` to the Marlin-like simulator on a real pty pair: to the end with progress,
 * `--no-wait` (returns with the job id while the job goes on), and Ctrl-C (the job is cancelled).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliEnv, runCli, spawnCli, startHub, type HubHandle } from './helpers/hub.js';
import { openPtyPair, startSim } from './helpers/pty.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

interface Job {
  id: number;
  kind: string;
  status: string;
  progress: number;
  device_id: string;
}

describe('hearth device upload', () => {
  let h: HubHandle;
  let env: Record<string, string>;
  const dir = tempDir();
  before(async () => {
    h = await startHub();
    env = cliEnv(h);
    const ports = await openPtyPair();
    await startSim('marlin-sim', ports.b, ['--move-ms', '0', '--home-ms', '50', '--busy-ms', '50']);
    const r = await h.api('POST', '/api/devices', { name: 'Printer', protocol: 'gcode', connection: { transport: 'serial', path: ports.a, baudRate: 115200 }, gcode: { autoreport_s: 0 } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    await until('the printer connected', async () => (await h.api<{ connected: boolean }>('GET', '/api/devices/printer')).body, (d) => d.connected);
  });
  after(() => h.stop());

  const job = async (id: number): Promise<Job> => (await h.api<Job>('GET', `/api/jobs/${id}`)).body;
  const ended = (id: number): Promise<Job> => until(`job ${id} to end`, () => job(id), (j) => j.status !== 'running' && j.status !== 'pending', { timeoutMs: 30_000 });
  const jobOf = (stdout: string): number => Number(/upload job (\d+): /.exec(stdout)?.[1]);
  /** G-code of `lines` moves; `dwellMs` > 0 makes each line take that long on the printer. */
  const gcode = (name: string, lines: number, dwellMs = 0): string => {
    const path = join(dir, name);
    const body = Array.from({ length: lines }, (_, i) => (dwellMs ? `G4 P${dwellMs}` : `G1 X${i % 100} Y${(i * 7) % 100}`));
    writeFileSync(path, `; a test part\n${body.join('\n')}\n`);
    return path;
  };

  it('sends the file, printing progress to 100% and the result', async () => {
    const r = await runCli(['device', 'upload', 'printer', gcode('part.gcode', 200)], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^upload job \d+: part\.gcode \(\d+ bytes\) to printer\n/);
    assert.match(r.stdout, /^100%$/m);
    assert.match(r.stdout, /upload succeeded in .* s: .*sent 200 lines/);
    const j = await job(jobOf(r.stdout));
    assert.deepEqual([j.kind, j.status, j.progress, j.device_id], ['upload', 'succeeded', 100, 'printer']);
  });

  it('--no-wait returns at once with the job id while the job goes on', async () => {
    const r = await runCli(['device', 'upload', 'printer', gcode('slow.gcode', 2000, 20), '--no-wait'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^upload job \d+: slow\.gcode \(\d+ bytes\) to printer\n$/, 'only the job line: no progress, no result');
    const id = jobOf(r.stdout);
    const first = await job(id);
    assert.ok(['pending', 'running'].includes(first.status), `the job goes on after the CLI returned: ${first.status}`);
    await until('the job to make progress without the CLI', () => job(id), (j) => j.status === 'running' && j.progress > first.progress);
    assert.equal((await h.api('POST', `/api/jobs/${id}/cancel`)).status, 200);
    assert.equal((await ended(id)).status, 'cancelled');
  });

  it('Ctrl-C cancels the job, and the CLI says so', async () => {
    const upload = spawnCli(['device', 'upload', 'printer', gcode('long.gcode', 2000, 20)], env);
    // The progress lines start once the CLI is watching the job; the job is sending by then.
    await until('the CLI showing progress', upload.out, (o) => /^\d+%$/m.test(o));
    const id = jobOf(upload.out());
    await until('the job sending', () => job(id), (j) => j.status === 'running' && j.progress > 0);
    upload.kill('SIGINT');
    assert.equal(await upload.exited, 1, upload.out() + upload.err());
    assert.match(upload.err(), /^hearth: upload cancelled/m);
    assert.equal((await ended(id)).status, 'cancelled');
    const after = await h.api<{ response: string[] }>('POST', '/api/devices/printer/command', { command: 'M105' });
    assert.equal(after.status, 200, 'the printer is still connected and answering');
  });
});
