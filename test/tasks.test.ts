/** Tasks and jobs with real processes, a real broker and real time: every interface and policy. */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { FINISHED, type JobView } from '../src/hub/jobs/types.js';
import type { TaskView } from '../src/hub/tasks/state.js';
import { DiscoveryRegistry } from './helpers/ha-rules.js';
import { BASE, NODE, startHub, type HubHandle } from './helpers/hub.js';
import { MqttProbe } from './helpers/mqtt-probe.js';
import { pidsWith } from './helpers/procs.js';
import { taskCalls } from './helpers/tasks.js';
import { until, untilTrue } from './helpers/wait.js';

let h: HubHandle;
let probe: MqttProbe;

const { create, jobsOf, job } = taskCalls(() => h);
const finished = (id: number): Promise<JobView> => until(`job ${id} to end`, () => job(id), (j) => FINISHED.has(j.status), { timeoutMs: 15_000 });
const succeeded = (jobs: JobView[]): JobView[] => jobs.filter((j) => j.status === 'succeeded');

describe('tasks and jobs', () => {
  before(async () => {
    h = await startHub();
    probe = await MqttProbe.connect(h.brokerUrl);
  });

  it('runs on a cron schedule with seconds, shows its next 5 runs, and appears in Home Assistant', async () => {
    const m = probe.mark();
    const t = await create({ name: 'Every Second', schedule: '* * * * * *', action: { type: 'command', command: 'echo', args: ['tick'] } });
    assert.equal(t.id, 'every_second');
    assert.equal(t.next_runs.length, 5);
    const gaps = t.next_runs.slice(1).map((r, i) => Date.parse(r) - Date.parse(t.next_runs[i]!));
    assert.deepEqual(gaps, [1000, 1000, 1000, 1000]);
    const first = succeeded(await until('two scheduled runs', () => jobsOf('every_second'), (all) => succeeded(all).length >= 2));
    assert.equal(first[0]!.trigger, 'schedule');
    assert.deepEqual(first[0]!.stdout_tail, ['tick']);
    const config = await probe.next(`homeassistant/device/hearth_${NODE}_task_every_second/config`, undefined, { since: m });
    new DiscoveryRegistry().assertValid(config.topic, config.payload);
    const cmps = JSON.parse(config.payload).cmps as Record<string, { p: string; event_types?: string[]; state_topic?: string }>;
    for (const f of ['run', 'enabled', 'last_run', 'last_result', 'last_duration', 'next_run', 'progress', 'result']) assert.ok(cmps[f], f);
    assert.deepEqual(cmps.result!.event_types, ['started', 'succeeded', 'failed']);
    assert.equal(cmps.result!.state_topic, `${BASE}/task/every_second/event`);
    const state = await probe.next(`${BASE}/task/every_second`, (s) => JSON.parse(s.payload).last_result === 'succeeded', { since: m });
    assert.ok(Date.parse(JSON.parse(state.payload).next_run) > Date.now() - 1000);
    // Events for automations: not retained.
    const ev = await probe.next(`${BASE}/task/every_second/event`, (e) => JSON.parse(e.payload).event_type === 'succeeded', { since: m });
    assert.equal(ev.retain, false);
    assert.equal((await h.api('POST', '/api/tasks/every_second/disable')).status, 200);
  });

  it('refuses an invalid cron, time zone or action with 400 and says what is wrong', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ name: 'x', schedule: '61 * * * *', action: { type: 'command', command: 'true' } }, /schedule: "61 \* \* \* \*" is not a valid cron expression/],
      [{ name: 'x', schedule: '* * * * *', timezone: 'Mars/Olympus', action: { type: 'command', command: 'true' } }, /timezone: "Mars\/Olympus" is not an IANA time zone/],
      [{ name: 'x', action: { type: 'teleport' } }, /action\.type: must be one of command, agent, http, mqtt, workflow, ha_service/],
      [{ name: 'x', action: { type: 'command' } }, /action: missing field "command"/],
      [{ name: 'x', action: { type: 'agent', agent: 'ghost', do: 'start' } }, /no agent "ghost"/],
      [{ name: 'x', action: { type: 'workflow', steps: [{ type: 'command', command: 'true' }, { type: 'mqtt' }] } }, /steps\.1|step 2|steps\[1\]/],
      [{ name: 'x', interval_s: 'often', action: { type: 'command', command: 'true' } }, /interval_s/],
      [{ name: 'x', overlap: 'sometimes', action: { type: 'command', command: 'true' } }, /overlap/],
      [{ name: 'x', trigger: { type: 'mqtt' }, action: { type: 'command', command: 'true' } }, /trigger: missing field "topic"/],
      [{ action: { type: 'command', command: 'true' } }, /missing field "name"/],
    ];
    const before = (await h.api<TaskView[]>('GET', '/api/tasks')).body.length;
    for (const [body, message] of cases) {
      const r = await h.api<{ error: string }>('POST', '/api/tasks', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.error, message, JSON.stringify(body));
    }
    assert.equal((await h.api<TaskView[]>('GET', '/api/tasks')).body.length, before, 'nothing was created');
    for (const [method, path] of [['GET', '/api/tasks/nope'], ['POST', '/api/tasks/nope/run'], ['GET', '/api/jobs/999999'], ['POST', '/api/jobs/999999/cancel']] as const) {
      assert.equal((await h.api(method, path)).status, 404, path);
    }
    assert.equal((await h.api('GET', '/api/jobs?status=exploded')).status, 400);
  });

  it('runs now from REST, MQTT set and the bridge, also while disabled; enables and disables', async () => {
    await create({ name: 'manual', enabled: false, action: { type: 'command', command: 'echo', args: ['by hand'] } });
    const runs = (n: number) => until(`${n} runs`, () => jobsOf('manual'), (all) => succeeded(all).length === n);
    const r = await h.api<JobView>('POST', '/api/tasks/manual/run');
    assert.equal(r.status, 202);
    assert.equal((await finished(r.body.id)).status, 'succeeded');
    await probe.publish(`${BASE}/task/manual/set`, 'run');
    await runs(2);
    const m = probe.mark();
    await probe.publish(`${BASE}/bridge/request/task/run`, JSON.stringify({ id: 'manual' }));
    assert.equal(JSON.parse((await probe.next(`${BASE}/bridge/response/task/run`, undefined, { since: m })).payload).status, 'ok');
    await runs(3);

    const beforeEnable = probe.mark();
    await probe.publish(`${BASE}/task/manual/set`, 'enable');
    await probe.next(`${BASE}/task/manual`, (s) => JSON.parse(s.payload).enabled === true, { since: beforeEnable });
    // Enabled now: only a state published after this mark can say disabled.
    const beforeDisable = probe.mark();
    await probe.publish(`${BASE}/task/manual/set`, '{"action": "disable"}');
    await probe.next(`${BASE}/task/manual`, (s) => JSON.parse(s.payload).enabled === false, { since: beforeDisable });
    assert.equal((await h.api<TaskView>('GET', '/api/tasks/manual')).body.enabled, false);
    const beforeBad = probe.mark();
    await probe.publish(`${BASE}/task/manual/set`, 'explode');
    const rejected = await probe.next(`${BASE}/bridge/event`, (e) => JSON.parse(e.payload).type === 'command_rejected', { since: beforeBad });
    assert.equal(JSON.parse(rejected.payload).data.id, 'manual');
  });

  it('shows progress from ::progress lines on the job, the task state and Home Assistant', async () => {
    const m = probe.mark();
    await create({ name: 'slow copy', action: { type: 'command', command: 'sh', args: ['-c', 'echo "::progress 40"; n=4404; exec sleep $n'] }, timeout_s: 30 });
    const r = await h.api<JobView>('POST', '/api/tasks/slow_copy/run');
    await until('job progress 40', () => job(r.body.id), (j) => j.progress === 40);
    await probe.next(`${BASE}/task/slow_copy`, (s) => JSON.parse(s.payload).progress === 40 && JSON.parse(s.payload).running === true, { since: m });
    const cancelled = await h.api<JobView>('POST', `/api/jobs/${r.body.id}/cancel`);
    assert.equal(cancelled.status, 200);
    assert.equal((await finished(r.body.id)).status, 'cancelled');
    assert.equal((await h.api('POST', `/api/jobs/${r.body.id}/cancel`)).status, 409, 'a finished job cannot be cancelled');
  });

  it('kills the whole process tree on timeout and fails the job', async () => {
    const m = probe.mark();
    await create({ name: 'stuck', timeout_s: 1, action: { type: 'command', command: 'sh', args: ['-c', 'a=4401; sleep $a & b=4402; sleep $b; wait'] } });
    const r = await h.api<JobView>('POST', '/api/tasks/stuck/run');
    await untilTrue('both sleeps', () => pidsWith('sleep 4401').length === 1 && pidsWith('sleep 4402').length === 1);
    const j = await finished(r.body.id);
    assert.equal(j.status, 'failed');
    assert.match(j.error ?? '', /timed out after 1 s/);
    assert.deepEqual([...pidsWith('sleep 4401'), ...pidsWith('sleep 4402')], []);
    await probe.next(`${BASE}/task/stuck/event`, (e) => JSON.parse(e.payload).event_type === 'failed' && JSON.parse(e.payload).job === r.body.id, { since: m });
  });

  it('retries a failing run with a delay, counting attempts', async () => {
    await create({ name: 'flaky', retries: 2, retry_delay_s: 0.5, action: { type: 'command', command: 'sh', args: ['-c', 'echo try; exit 4'] } });
    await h.api('POST', '/api/tasks/flaky/run');
    const jobs = await until('three failed attempts', () => jobsOf('flaky'), (all) => all.length === 3 && all.every((j) => j.status === 'failed'));
    const tries = [...jobs].sort((a, b) => a.attempt - b.attempt);
    assert.deepEqual(tries.map((j) => j.attempt), [1, 2, 3]);
    assert.deepEqual(tries.map((j) => j.trigger), ['manual', 'retry', 'retry']);
    assert.ok(tries.every((j) => j.exit_code === 4));
    // Each retry began no earlier than the delay after the failure before it (the hub's timer may
    // count from a few ms before the end it recorded, hence the slack).
    for (let i = 1; i < tries.length; i++) {
      const gap = Date.parse(tries[i]!.created_at) - Date.parse(tries[i - 1]!.ended_at!);
      assert.ok(gap >= 400, `attempt ${i + 1} came ${gap} ms after attempt ${i} failed, not after the 500 ms delay`);
    }
    const t = (await h.api<TaskView>('GET', '/api/tasks/flaky')).body;
    assert.equal(t.last_result, 'failed');
    assert.equal(t.problem, true);
  });

  it('runs on an MQTT message, publishes MQTT, calls HTTP, starts agents, and runs workflows in order', async () => {
    await h.api('POST', '/api/agents', { name: 'helper agent', command: 'sleep', args: ['4403'], autostart: false });
    await create({
      name: 'doorbell',
      trigger: { type: 'mqtt', topic: 'test/doorbell', payload: 'ring' },
      action: {
        type: 'workflow',
        steps: [
          { type: 'mqtt', topic: 'test/announce', payload: { text: 'ding' } },
          { type: 'agent', agent: 'helper_agent', do: 'start' },
          { type: 'http', method: 'GET', url: `${h.http}/api/health` },
        ],
      },
    });
    const m = probe.mark();
    await probe.publish('test/doorbell', 'knock');
    await probe.publish('test/doorbell', 'ring');
    assert.deepEqual(JSON.parse((await probe.next('test/announce', undefined, { since: m })).payload), { text: 'ding' });
    // 'knock' came first: had it triggered, its job would be there by the time 'ring''s succeeded.
    const jobs = await until('the workflow to succeed', () => jobsOf('doorbell'), (all) => succeeded(all).length > 0);
    assert.equal(jobs.length, 1, 'the other payload did not trigger it');
    assert.equal(jobs[0]!.trigger, 'mqtt');
    assert.equal(pidsWith('sleep 4403').length, 1);
    await h.api('POST', '/api/agents/helper_agent/stop');
  });

  it('keeps only the configured history per task', async () => {
    await create({ name: 'chatty', history: { keep: 2 }, action: { type: 'command', command: 'true' } });
    // Each run is asked for as soon as the last one reads as ended: none may be skipped as overlapping.
    for (let i = 0; i < 4; i++) {
      const r = await h.api<JobView>('POST', '/api/tasks/chatty/run');
      assert.equal(r.body.status, 'running');
      assert.equal((await finished(r.body.id)).status, 'succeeded');
    }
    await until('pruned to 2', () => jobsOf('chatty'), (all) => all.length === 2);
    const hist = await h.api<JobView[]>('GET', '/api/tasks/history?task_id=chatty');
    assert.equal(hist.body.length, 2);
  });

  it('deletes a task with its history and its Home Assistant device', async () => {
    const config = `homeassistant/device/hearth_${NODE}_task_doomed/config`;
    const m = probe.mark();
    await create({ name: 'doomed', action: { type: 'command', command: 'true' } });
    await probe.next(config, (c) => c.payload !== '', { since: m });
    const beforeDelete = probe.mark();
    assert.equal((await h.api('DELETE', '/api/tasks/doomed')).status, 200);
    await probe.next(config, (c) => c.payload === '', { since: beforeDelete });
    assert.equal((await h.api('GET', '/api/tasks/doomed')).status, 404);
    assert.deepEqual(await jobsOf('doomed'), []);
  });

  it('masks secrets in its actions in every answer, and keeps them when a masked value comes back', async () => {
    const t = await create({
      name: 'secretive',
      action: {
        type: 'workflow',
        steps: [
          { type: 'command', command: 'sh', args: ['-c', 'echo "$API_TOKEN"'], env: { API_TOKEN: 'tok-777', MODE: 'plain' } },
          { type: 'http', method: 'GET', url: `${h.http}/api/health`, headers: { authorization: 'Bearer hdr-888', accept: 'application/json' } },
        ],
      },
    });
    const text = JSON.stringify(t);
    assert.ok(!text.includes('tok-777') && !text.includes('hdr-888'), 'nothing secret in the answer');
    const steps = (t.definition.action as unknown as { steps: Array<{ env?: Record<string, string>; headers?: Record<string, string> }> }).steps;
    assert.deepEqual(steps[0]!.env, { API_TOKEN: '********', MODE: 'plain' });
    assert.deepEqual(steps[1]!.headers, { authorization: '********', accept: 'application/json' });
    // Send the masked definition back, as a client that edits what it read would.
    const put = await h.api<TaskView>('PUT', '/api/tasks/secretive', { action: t.definition.action });
    assert.equal(put.status, 200);
    const run = await h.api<JobView>('POST', '/api/tasks/secretive/run');
    const done = await finished(run.body.id);
    assert.equal(done.status, 'succeeded', done.error ?? '');
    assert.deepEqual(done.stdout_tail.slice(0, 1), ['tok-777'], 'the stored secret was kept and used');
  });

  it('fires a missed interval once after the event loop stalled, not once per interval', async () => {
    const { startSchedule } = await import('../src/hub/tasks/schedule.js');
    // The instants each fire was due at.
    const dues: number[] = [];
    const schedule = startSchedule({ interval_s: 1 }, (due) => dues.push(due.getTime()));
    try {
      const end = Date.now() + 3300;
      while (Date.now() < end) {
        // A stalled loop (a suspended machine looks the same to the timers): three intervals missed.
      }
      const resumed = Date.now();
      // The first regular interval after the stall shows the missed ones had their turn before it.
      await until('a run due after the stall', () => dues, (d) => d.some((t) => t >= resumed), { timeoutMs: 5000 });
      const missed = dues.filter((t) => t < resumed);
      assert.equal(missed.length, 1, `the missed intervals fired ${missed.length} times, not once`);
    } finally {
      schedule.stop();
    }
  });
});
