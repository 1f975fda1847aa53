/** `hearth task …` and `hearth job …` against a real hub: each command, its effect, and bad input. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliEnv, runCli, startHub, type HubHandle } from './helpers/hub.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

interface Task {
  id: string;
  enabled: boolean;
  next_runs: string[];
  definition: { interval_s?: number; schedule?: string; action: Record<string, unknown> };
}
interface Job {
  id: number;
  task_id: string;
  status: string;
  progress: number;
}

describe('hearth task and job', () => {
  let h: HubHandle;
  let env: Record<string, string>;
  let n = 0;
  const dir = tempDir();
  before(async () => {
    h = await startHub();
    env = cliEnv(h);
  });
  after(() => h.stop());

  const cli = (...args: string[]) => runCli(args, env);
  const getTask = async (id: string): Promise<Task> => (await h.api<Task>('GET', `/api/tasks/${id}`)).body;
  const getJob = async (id: number): Promise<Job> => (await h.api<Job>('GET', `/api/jobs/${id}`)).body;
  const file = (doc: unknown): string => {
    const path = join(dir, `body-${++n}.json`);
    writeFileSync(path, JSON.stringify(doc));
    return path;
  };
  /** A task created through the CLI (inline JSON); its id. */
  const task = async (fields: Record<string, unknown>): Promise<string> => {
    const name = `job maker ${++n}`;
    const r = await cli('task', 'create', JSON.stringify({ name, ...fields }));
    assert.equal(r.code, 0, r.stderr);
    return `job_maker_${n}`;
  };
  const jobOf = (stdout: string): number => Number(/job (\d+) started/.exec(stdout)?.[1]);

  it('create from @file and inline, list, list --json, show', async () => {
    const r = await cli('task', 'create', `@${file({ name: 'Nightly Backup', schedule: '0 30 3 * * *', timezone: 'Europe/Berlin', action: { type: 'command', command: 'true' } })}`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^created task nightly_backup; next run \S/);
    const t = await getTask('nightly_backup');
    assert.deepEqual([t.definition.schedule, t.next_runs.length], ['0 30 3 * * *', 5]);
    const inline = await cli('task', 'create', '{"name": "Inline", "interval_s": 3600, "action": {"type": "command", "command": "true"}}');
    assert.equal(inline.code, 0, inline.stderr);
    assert.equal((await getTask('inline')).definition.interval_s, 3600);

    const [list, json, show] = await Promise.all([cli('task', 'list'), cli('task', 'list', '--json'), cli('task', 'show', 'nightly_backup')]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ID +ENABLED +WHEN +NEXT RUN +LAST RUN +RESULT$/m);
    assert.match(list.stdout, /^nightly_backup +yes +0 30 3 \* \* \* .* - +-$/m);
    assert.deepEqual((JSON.parse(json.stdout) as Task[]).map((x) => x.id).filter((id) => ['inline', 'nightly_backup'].includes(id)).sort(), ['inline', 'nightly_backup']);
    assert.deepEqual((JSON.parse(show.stdout) as Task).next_runs, t.next_runs);
  });

  it('update from inline JSON and @file', async () => {
    const id = await task({ interval_s: 3600, action: { type: 'command', command: 'true' } });
    const r = await cli('task', 'update', id, '{"interval_s": 120}');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as Task).definition.interval_s, 120);
    const f = await cli('task', 'update', id, `@${file({ interval_s: 300, timeout_s: 60 })}`);
    assert.equal(f.code, 0, f.stderr);
    const t = (await getTask(id)) as Task & { definition: { timeout_s?: number } };
    assert.deepEqual([t.definition.interval_s, t.definition.timeout_s], [300, 60]);
  });

  it('run --wait follows the job to its end, exiting 1 when it fails; run alone returns while it runs', async () => {
    const good = await task({ action: { type: 'command', command: 'sh', args: ['-c', 'echo ::progress 50; echo made it'] } });
    const r = await cli('task', 'run', good, '--wait');
    assert.equal(r.code, 0, r.stderr);
    const id = jobOf(r.stdout);
    assert.match(r.stdout, new RegExp(`job ${id} succeeded\\n$`));
    assert.equal((await getJob(id)).status, 'succeeded');

    const bad = await task({ action: { type: 'command', command: 'sh', args: ['-c', 'exit 3'] } });
    const f = await cli('task', 'run', bad, '--wait');
    assert.equal(f.code, 1);
    assert.match(f.stdout, /job \d+ failed: .*3/);

    const slow = await task({ action: { type: 'command', command: 'sleep', args: ['600'] } });
    const s = await cli('task', 'run', slow);
    assert.equal(s.code, 0, s.stderr);
    const sid = jobOf(s.stdout);
    assert.equal((await getJob(sid)).status, 'running', 'it returned while the job runs');
    const c = await cli('job', 'cancel', String(sid));
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, new RegExp(`^job ${sid}: (running|cancelled)\\n$`));
    await until(`job ${sid} cancelled`, () => getJob(sid), (j) => j.status === 'cancelled');
    const again = await cli('job', 'cancel', String(sid));
    assert.equal(again.code, 1);
    assert.match(again.stderr, /409/);
  });

  it('enable and disable, refusing what it already is', async () => {
    const id = await task({ interval_s: 3600, action: { type: 'command', command: 'true' } });
    const d = await cli('task', 'disable', id);
    assert.deepEqual([d.code, d.stdout], [0, `${id}: disabled\n`]);
    assert.equal((await getTask(id)).enabled, false);
    const dd = await cli('task', 'disable', id);
    assert.equal(dd.code, 1);
    assert.match(dd.stderr, /409 .*already disabled/);
    const e = await cli('task', 'enable', id);
    assert.deepEqual([e.code, e.stdout], [0, `${id}: enabled\n`]);
    assert.equal((await getTask(id)).enabled, true);
  });

  it('delete removes it', async () => {
    const id = await task({ action: { type: 'command', command: 'true' } });
    const r = await cli('task', 'delete', id);
    assert.deepEqual([r.code, r.stdout], [0, `deleted task ${id}\n`]);
    assert.equal((await h.api('GET', `/api/tasks/${id}`)).status, 404);
  });

  it('job list (--task, --status, --json), show, logs (--stream)', async () => {
    const id = await task({ action: { type: 'command', command: 'sh', args: ['-c', 'echo to-out; echo to-err >&2'] } });
    const ok = await cli('task', 'run', id, '--wait');
    assert.equal(ok.code, 0, ok.stderr);
    const jid = jobOf(ok.stdout);
    const other = await task({ action: { type: 'command', command: 'false' } });
    assert.equal((await cli('task', 'run', other, '--wait')).code, 1);

    const list = await cli('job', 'list', '--task', id);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ID +TASK +TRIGGER +STATUS +PROGRESS +STARTED +SECONDS +EXIT$/m);
    assert.match(list.stdout, new RegExp(`^${jid} +${id} +\\S+ +succeeded +100% .* 0$`, 'm'));
    assert.doesNotMatch(list.stdout, new RegExp(other));
    const failed = JSON.parse((await cli('job', 'list', '--status', 'failed', '--json')).stdout) as Job[];
    assert.ok(failed.length > 0 && failed.every((j) => j.status === 'failed'));
    assert.ok(failed.some((j) => j.task_id === other));
    const [show, out, err] = await Promise.all([cli('job', 'show', String(jid)), cli('job', 'logs', String(jid)), cli('job', 'logs', String(jid), '--stream', 'stderr')]);
    assert.deepEqual([(JSON.parse(show.stdout) as Job).id, (JSON.parse(show.stdout) as Job).status], [jid, 'succeeded']);
    assert.equal(out.stdout, 'to-out\n');
    assert.equal(err.stdout, 'to-err\n');
  });

  it('refuses bad input with a clear message and a non-zero exit', async () => {
    // Independent of each other: run at once.
    const [missing, notJson, cron, ghost, noId] = await Promise.all([
      cli('task', 'create', `@${join(dir, 'absent.json')}`),
      cli('task', 'create', '{"name": '),
      cli('task', 'create', '{"name": "bad cron", "schedule": "every tuesday", "action": {"type": "command", "command": "true"}}'),
      cli('job', 'show', '999999'),
      cli('task', 'run'),
    ]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^hearth: cannot read .*absent\.json: ENOENT/);
    assert.equal(notJson.code, 1);
    assert.match(notJson.stderr, /^hearth: not JSON: /);
    assert.equal(cron.code, 1);
    assert.match(cron.stderr, /POST \/api\/tasks: 400 .*schedule/);
    assert.equal((await h.api('GET', '/api/tasks/bad_cron')).status, 404);
    assert.equal(ghost.code, 1);
    assert.match(ghost.stderr, /GET \/api\/jobs\/999999: 404/);
    assert.equal(noId.code, 2);
    assert.match(noId.stderr, /missing required argument 'id'/);
  });
});
