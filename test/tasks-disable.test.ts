/**
 * A disabled task, through the real hub: its schedule and trigger are off (shown against an
 * enabled twin that fires in the same window, so an absence means something), disabling drops its
 * queued runs and a pending retry, and enable/disable answer 409 when it already is.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { FINISHED, type JobView } from '../src/hub/jobs/types.js';
import type { TaskView } from '../src/hub/tasks/state.js';
import { BASE, startHub, type HubHandle } from './helpers/hub.js';
import { MqttProbe } from './helpers/mqtt-probe.js';
import { taskCalls } from './helpers/tasks.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

let h: HubHandle;
let probe: MqttProbe;

const { create, jobsOf, job } = taskCalls(() => h);
const finished = (id: number): Promise<JobView> =>
  until(`job ${id} to end`, () => job(id), (j) => FINISHED.has(j.status));
async function runJob(id: string): Promise<JobView> {
  const r = await h.api<JobView>('POST', `/api/tasks/${id}/run`);
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body;
}
async function setEnabled(id: string, verb: 'enable' | 'disable'): Promise<void> {
  const r = await h.api<TaskView>('POST', `/api/tasks/${id}/${verb}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

/** A command that runs until its gate file exists. */
function gated(): { action: Record<string, unknown>; open: () => void } {
  const path = join(tempDir(), 'gate');
  return { action: { type: 'command', command: 'sh', args: ['-c', 'while [ ! -e "$0" ]; do sleep 0.05; done', path] }, open: () => writeFileSync(path, '') };
}

describe('disabled tasks', () => {
  before(async () => {
    h = await startHub();
    probe = await MqttProbe.connect(h.brokerUrl);
  });

  it('fire neither on their schedule nor on their MQTT trigger, while an enabled twin does', async () => {
    const when = { schedule: '* * * * * *', trigger: { type: 'mqtt', topic: 'test/disabled/go' }, overlap: 'allow', action: { type: 'command', command: 'true' } };
    await create({ name: 'born disabled', enabled: false, ...when });
    await create({ name: 'turned off', ...when });
    await setEnabled('turned_off', 'disable');
    // What it ran before the disable landed is not the question.
    const off = Date.now();
    await create({ name: 'twin', ...when });
    const runsOf = (id: string, trigger: string) => async () => (await jobsOf(id)).filter((j) => j.trigger === trigger && Date.parse(j.created_at) > off);
    await until('two scheduled runs of the twin', runsOf('twin', 'schedule'), (jobs) => jobs.filter((j) => j.status === 'succeeded').length >= 2);
    await probe.publish('test/disabled/go', 'now');
    await until('the twin run by the message', runsOf('twin', 'mqtt'), (jobs) => jobs.some((j) => j.status === 'succeeded'));
    assert.deepEqual(await jobsOf('born_disabled'), [], 'a task created disabled never ran');
    assert.deepEqual((await jobsOf('turned_off')).filter((j) => Date.parse(j.created_at) > off), [], 'a task disabled never ran after');
    for (const id of ['born_disabled', 'turned_off']) {
      const t = (await h.api<TaskView>('GET', `/api/tasks/${id}`)).body;
      assert.equal(t.next_run, null, `${id} has no next run`);
      assert.deepEqual(t.next_runs, []);
    }
    // Run now still works on a disabled task.
    assert.equal((await finished((await runJob('born_disabled')).id)).status, 'succeeded');
  });

  it('drops the queued runs when disabled, while an enabled twin runs its queue', async () => {
    const dropperGate = gated();
    const keeperGate = gated();
    await create({ name: 'dropper', overlap: 'queue', action: dropperGate.action });
    await create({ name: 'keeper', overlap: 'queue', action: keeperGate.action });
    for (const id of ['dropper', 'keeper']) {
      const first = await runJob(id);
      assert.equal(first.status, 'running');
      for (const position of [1, 2]) assert.deepEqual(await runJob(id), { queued: true, position });
    }
    await setEnabled('dropper', 'disable');
    // The dropper's run ends first: a queued run of it would start at once, long before the keeper's two.
    dropperGate.open();
    await until('the dropper run to end', () => jobsOf('dropper'), (jobs) => jobs.some((j) => j.status === 'succeeded'));
    keeperGate.open();
    const kept = await until('the keeper and its two queued runs', () => jobsOf('keeper'), (jobs) => jobs.filter((j) => j.status === 'succeeded').length === 3);
    assert.equal(kept.length, 3);
    assert.deepEqual((await jobsOf('dropper')).map((j) => j.status), ['succeeded'], 'the queued runs were dropped');
  });

  it('drops a pending retry when disabled, while an enabled twin retries', async () => {
    const failing = { retries: 1, retry_delay_s: 2, action: { type: 'command', command: 'sh', args: ['-c', 'exit 3'] } };
    await create({ name: 'no retry', ...failing });
    await create({ name: 'retrier', ...failing });
    const m = probe.mark();
    const first = await runJob('no_retry');
    await probe.next(`${BASE}/task/no_retry/event`, (e) => JSON.parse(e.payload).event_type === 'failed', { since: m });
    await setEnabled('no_retry', 'disable');
    assert.equal((await jobsOf('no_retry')).length, 1, 'disabled before the retry was due');
    // The twin's retry is due after the dropped one would have been (same delay, later failure).
    await runJob('retrier');
    const retried = await until('the twin retried', () => jobsOf('retrier'), (jobs) => jobs.length === 2 && jobs.every((j) => FINISHED.has(j.status)));
    assert.deepEqual(retried.map((j) => [j.trigger, j.attempt]), [['retry', 2], ['manual', 1]]);
    assert.deepEqual((await jobsOf('no_retry')).map((j) => j.id), [first.id], 'no retry after the disable');
  });

  it('answers 409 to enable an enabled task and to disable a disabled one, over REST and the bridge', async () => {
    await create({ name: 'toggled', action: { type: 'command', command: 'true' } });
    const enableAgain = await h.api<{ error: string }>('POST', '/api/tasks/toggled/enable');
    assert.equal(enableAgain.status, 409);
    assert.match(enableAgain.body.error, /task toggled is already enabled/);
    await setEnabled('toggled', 'disable');
    const disableAgain = await h.api<{ error: string }>('POST', '/api/tasks/toggled/disable');
    assert.equal(disableAgain.status, 409);
    assert.match(disableAgain.body.error, /task toggled is already disabled/);
    const m = probe.mark();
    await probe.publish(`${BASE}/bridge/request/task/disable`, JSON.stringify({ id: 'toggled' }));
    const reply = JSON.parse((await probe.next(`${BASE}/bridge/response/task/disable`, undefined, { since: m })).payload);
    assert.equal(reply.status, 'error');
    assert.match(reply.error, /already disabled/);
    assert.equal((await h.api<TaskView>('GET', '/api/tasks/toggled')).body.enabled, false, 'still disabled');
    await setEnabled('toggled', 'enable');
    assert.equal((await h.api<TaskView>('GET', '/api/tasks/toggled')).body.enabled, true);
  });
});
