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
import { until, untilTrue } from './helpers/wait.js';

describe('tasks across hub restarts', () => {
  it('a job running when the hub is killed -9 is interrupted after the restart, and its process is gone', async () => {
    const dir = tempDir();
    const first = await spawnHub({}, [], dir);
    const call = <T>(hub: { http: string; token: string }, method: string, path: string, body?: unknown) => api<T>(hub.http, hub.token, method, path, body);
    assert.equal((await call(first, 'POST', '/api/tasks', { name: 'long job', action: { type: 'command', command: 'sh', args: ['-c', 'n=4501; exec sleep $n'] } })).status, 201);
    const started = await call<JobView>(first, 'POST', '/api/tasks/long_job/run');
    await untilTrue('the job process', () => pidsWith('sleep 4501').length === 1);
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

  it('with catch_up, a scheduled run missed while the hub was down runs once at start; without, it does not', async () => {
    const dir = tempDir();
    const marker = join(dir, 'ran');
    // Every second: while the hub is down, instants pass unhandled, for both tasks.
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
        '    schedule: "* * * * * *"',
        `    action: { type: command, command: "true" }`,
        '',
      ].join('\n'),
    );
    const first = await spawnHub({}, [], dir);
    const call = <T>(hub: { http: string; token: string }, method: string, path: string) => api<T>(hub.http, hub.token, method, path);
    const jobsOf = (hub: { http: string; token: string }, id: string) => async () => (await call<JobView[]>(hub, 'GET', `/api/jobs?task_id=${id}`)).body;
    for (const id of ['catcher', 'no_catch']) await until(`a scheduled run of ${id}`, jobsOf(first, id), (jobs) => jobs.some((j) => j.trigger === 'schedule'));
    await first.kill('SIGKILL');
    // Time passing is the scenario: at least two schedule instants go by while no hub runs.
    await new Promise((r) => setTimeout(r, 2200));
    const second = await spawnHub({}, [], dir);
    const started = Date.now();
    // A scheduled run of each after the restart: the hub is past its start, where catch-up happens.
    const after = (jobs: JobView[]): boolean => jobs.some((j) => j.trigger === 'schedule' && Date.parse(j.created_at) >= started);
    const catcher = await until('a scheduled run of catcher after the restart', jobsOf(second, 'catcher'), after);
    const noCatch = await until('a scheduled run of no_catch after the restart', jobsOf(second, 'no_catch'), after);
    const catchUps = catcher.filter((j) => j.trigger === 'catch_up');
    assert.equal(catchUps.length, 1, 'missed runs are caught up once, not once each');
    assert.equal(catchUps[0]!.status, 'succeeded');
    assert.deepEqual(noCatch.filter((j) => j.trigger === 'catch_up'), [], 'a task without catch_up does not run at start');
    await call(second, 'POST', '/api/tasks/catcher/disable');
    await call(second, 'POST', '/api/tasks/no_catch/disable');
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
