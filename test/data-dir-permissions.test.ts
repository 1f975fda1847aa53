/**
 * The data directory holds secrets (env values and headers in the database, whatever programs
 * print, uploaded files): it is 0700 and the hub's files in it 0600, also after an older install.
 */
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { startHub, type HubHandle } from './helpers/hub.js';
import { testDb } from './helpers/database.js';
import { startLineServer } from './helpers/line-server.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

// The usual umask: files the hub creates without a mode of their own would be readable by all.
process.umask(0o022);

interface Job {
  id: number;
  status: string;
}

/** Every folder and file under dir (itself included), with its permission bits. */
function modes(dir: string): Map<string, { mode: number; dir: boolean }> {
  const out = new Map<string, { mode: number; dir: boolean }>();
  const visit = (path: string): void => {
    const st = lstatSync(path);
    out.set(relative(dir, path) || '.', { mode: st.mode & 0o777, dir: st.isDirectory() });
    if (st.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
  };
  visit(dir);
  return out;
}

/** The entries whose mode is not 0700 (folders) or 0600 (files), as "path 0644". */
function notPrivate(dir: string): string[] {
  return [...modes(dir)].filter(([, m]) => m.mode !== (m.dir ? 0o700 : 0o600)).map(([p, m]) => `${p} ${m.mode.toString(8)}`);
}

/** An agent that printed and a task run that printed: their log and output files exist. */
async function produceOutput(h: HubHandle): Promise<number> {
  const agent = await h.api('POST', '/api/agents', { name: 'talker', command: 'sh', args: ['-c', 'echo "token=abc"; n=4301; exec sleep $n'] });
  assert.equal(agent.status, 201, JSON.stringify(agent.body));
  await until('the agent\'s line logged', async () => (await h.api<{ lines: string[] }>('GET', '/api/agents/talker/logs')).body.lines, (l) => l.includes('token=abc'));
  const task = await h.api('POST', '/api/tasks', { name: 'printer', action: { type: 'command', command: 'sh', args: ['-c', 'echo out; echo err >&2'] } });
  assert.equal(task.status, 201, JSON.stringify(task.body));
  const run = await h.api<Job>('POST', '/api/tasks/printer/run');
  const job = await until('the run ended', async () => (await h.api<Job>('GET', `/api/jobs/${run.body.id}`)).body, (j) => j.status !== 'running' && j.status !== 'pending');
  assert.equal(job.status, 'succeeded');
  return job.id;
}

/** What the run must have written: the test would prove nothing if these were missing. */
function expectedFiles(jobId: number): string[] {
  const db = testDb() === 'sqlite' ? ['hearth.db', 'hearth.db-wal', 'hearth.db-shm'] : [];
  return [...db, 'admin-token', 'logs/agents/talker/stdout.log', `jobs/${jobId}/stdout.log`, `jobs/${jobId}/stderr.log`];
}

describe('data directory permissions', () => {
  it('keeps the data directory 0700 and every file the hub writes 0600: database, agent logs, job output, uploads', async () => {
    // Made by the hub itself, as a first start does.
    const dir = join(tempDir(), 'data');
    const h = await startHub({}, dir);
    const jobId = await produceOutput(h);

    // An upload waits in uploads/ while it is sent: a slow one, to look at it meanwhile.
    const sink = await startLineServer(() => undefined);
    const device = await h.api('POST', '/api/devices', {
      name: 'Sink',
      protocol: 'line',
      connection: { transport: 'tcp', host: '127.0.0.1', port: sink.port },
      upload: { chunk_bytes: 1, pace_ms: 200 },
    });
    assert.equal(device.status, 201, JSON.stringify(device.body));
    await until('the sink connected', async () => (await h.api<{ connected: boolean }>('GET', '/api/devices/sink')).body, (d) => d.connected);
    const form = new FormData();
    form.append('file', new Blob(['secret=1\n'.repeat(20)]), 'settings.txt');
    const res = await fetch(`${h.http}/api/devices/sink/upload`, { method: 'POST', headers: { authorization: `Bearer ${h.token}` }, body: form });
    assert.equal(res.status, 202, await res.clone().text());
    const upload = (await res.json()) as Job;
    const waiting = readdirSync(join(dir, 'uploads'));
    assert.equal(waiting.length, 1, 'the file being sent');

    const files = [...modes(dir).keys()];
    for (const f of [...expectedFiles(jobId), `uploads/${waiting[0]}`]) assert.ok(files.includes(f), `${f} was written (have ${files.join(', ')})`);
    assert.deepEqual(notPrivate(dir), []);
    assert.equal((await h.api('POST', `/api/jobs/${upload.id}/cancel`)).status, 200);
  });

  it('makes an older install private at start: 0644 files and 0755 folders become 0600 and 0700', async () => {
    const dir = tempDir();
    const first = await startHub({}, dir);
    const jobId = await produceOutput(first);
    await first.stop();
    // As an install from before this fix left it (and a umask of 022 made it).
    for (const [path, m] of modes(dir)) chmodSync(join(dir, path), m.dir ? 0o755 : 0o644);
    assert.ok(notPrivate(dir).includes('hearth.db 644') || testDb() === 'postgres', 'made readable by all, as it was');

    const h = await startHub({}, dir);
    const files = [...modes(dir).keys()];
    for (const f of expectedFiles(jobId)) assert.ok(files.includes(f), `${f} is there (have ${files.join(', ')})`);
    assert.deepEqual(notPrivate(dir), []);
    await h.stop();
  });
});
