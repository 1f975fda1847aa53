/** Tasks and jobs across hub restarts, from hearth.yaml, and from the CLI: the hub as a real process. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { JobView } from '../src/hub/jobs/types.js';
import type { TaskView } from '../src/hub/tasks/state.js';
import { api, runCli, spawnHub } from './helpers/hub.js';
import { pidsWith } from './helpers/procs.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

describe('tasks across hub restarts', () => {
  it('a job running when the hub is killed -9 is interrupted after the restart, and its process is gone', async () => {
    const dir = tempDir();
    const first = await spawnHub({}, [], dir);
    const call = <T>(hub: { http: string; token: string }, method: string, path: string, body?: unknown) => api<T>(hub.http, hub.token, method, path, body);
    assert.equal((await call(first, 'POST', '/api/tasks', { name: 'long job', action: { type: 'command', command: 'sh', args: ['-c', 'n=4501; exec sleep $n'] } })).status, 201);
    const started = await call<JobView>(first, 'POST', '/api/tasks/long_job/run');
    await until('the job process', () => pidsWith('sleep 4501').length === 1);
    await first.kill('SIGKILL');
    assert.equal(pidsWith('sleep 4501').length, 1, 'the job process outlived the hub');

    const second = await spawnHub({}, [], dir);
    const j = (await call<JobView>(second, 'GET', `/api/jobs/${started.body.id}`)).body;
    assert.equal(j.status, 'interrupted');
    assert.match(j.error ?? '', /hub stopped/);
    assert.deepEqual(pidsWith('sleep 4501'), [], 'and its process is gone');
    const t = (await call<TaskView>(second, 'GET', '/api/tasks/long_job')).body;
    assert.equal(t.running, false);
  });

  it('with catch_up, a scheduled run missed while the hub was down runs once at start', async () => {
    const dir = tempDir();
    const marker = join(dir, 'ran');
    // Every second: while the hub is down, instants pass unhandled.
    writeFileSync(
      join(dir, 'hearth.yaml'),
      [
        'tasks:',
        '  - name: catcher',
        '    schedule: "* * * * * *"',
        '    catch_up: true',
        '    enabled: true',
        `    action: { type: command, command: sh, args: ["-c", "echo x >> ${marker}"] }`,
        '  - name: no catch',
        '    schedule: "0 0 1 1 *"',
        `    action: { type: command, command: "true" }`,
        '',
      ].join('\n'),
    );
    const first = await spawnHub({}, [], dir);
    const call = <T>(hub: { http: string; token: string }, method: string, path: string) => api<T>(hub.http, hub.token, method, path);
    await until('a scheduled run', async () => (await call<JobView[]>(first, 'GET', '/api/jobs?task_id=catcher')).body.some((j) => j.trigger === 'schedule'));
    assert.equal((await call(first, 'GET', '/api/tasks/no_catch')).status, 200, 'tasks from hearth.yaml exist');
    await first.kill('SIGKILL');
    // Let at least two schedule instants pass while the hub is down.
    await new Promise((r) => setTimeout(r, 2200));
    const second = await spawnHub({}, [], dir);
    const catchUps = await until('the catch-up run', async () => {
      const jobs = (await call<JobView[]>(second, 'GET', '/api/jobs?task_id=catcher')).body.filter((j) => j.trigger === 'catch_up');
      return jobs.length ? jobs : undefined;
    });
    assert.equal(catchUps.length, 1, 'missed runs are caught up once, not once each');
    await call(second, 'POST', '/api/tasks/catcher/disable');
  });

  it('is driven by the CLI: create, list, run --wait, disable, job list and logs', async () => {
    const hub = await spawnHub();
    const env = { HEARTH_URL: hub.http, HEARTH_ADMIN_TOKEN: hub.token };
    const created = await runCli(['task', 'create', JSON.stringify({ name: 'cli task', interval_s: 3600, action: { type: 'command', command: 'sh', args: ['-c', 'echo "::progress 50"; echo done'] } })], env);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /created task cli_task; next run/);
    const list = await runCli(['task', 'list'], env);
    assert.match(list.stdout, /^cli_task +yes +every 3600 s/m);
    const run = await runCli(['task', 'run', 'cli_task', '--wait'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /job \d+ succeeded/);
    const jobs = await runCli(['job', 'list', '--task', 'cli_task'], env);
    assert.match(jobs.stdout, /cli_task +manual +succeeded +100%/);
    const id = /job (\d+) started/.exec(run.stdout)![1]!;
    const logs = await runCli(['job', 'logs', id], env);
    assert.match(logs.stdout, /done/);
    assert.match((await runCli(['task', 'disable', 'cli_task'], env)).stdout, /cli_task: disabled/);
    const bad = await runCli(['task', 'create', '{"name": "x", "schedule": "nope", "action": {"type": "command", "command": "true"}}'], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /400 schedule: "nope" is not a valid cron expression/);
  });
});
