/** Tasks and jobs with real processes, a real broker and real time: every interface and policy. */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { JobView } from '../src/hub/jobs/types.js';
import type { TaskView } from '../src/hub/tasks/state.js';
import { DiscoveryRegistry } from './helpers/ha-rules.js';
import { BASE, NODE, startHub, type HubHandle } from './helpers/hub.js';
import { MqttProbe } from './helpers/mqtt-probe.js';
import { pidsWith } from './helpers/procs.js';
import { until } from './helpers/wait.js';

let h: HubHandle;
let probe: MqttProbe;

async function create(body: Record<string, unknown>): Promise<TaskView> {
  const r = await h.api<TaskView>('POST', '/api/tasks', body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}
const jobsOf = async (id: string): Promise<JobView[]> => (await h.api<JobView[]>('GET', `/api/jobs?task_id=${id}`)).body;
const job = async (id: number): Promise<JobView> => (await h.api<JobView>('GET', `/api/jobs/${id}`)).body;
const finished = (id: number, ms = 15_000): Promise<JobView> =>
  until(`job ${id} to end`, async () => {
    const j = await job(id);
    return ['succeeded', 'failed', 'cancelled', 'interrupted', 'skipped'].includes(j.status) ? j : undefined;
  }, ms);

describe('tasks and jobs', () => {
  before(async () => {
    h = await startHub();
    probe = await MqttProbe.connect(h.brokerUrl);
  });

  it('runs on a cron schedule with seconds, shows its next 5 runs, and appears in Home Assistant', async () => {
    const t = await create({ name: 'Every Second', schedule: '* * * * * *', action: { type: 'command', command: 'echo', args: ['tick'] } });
    assert.equal(t.id, 'every_second');
    assert.equal(t.next_runs.length, 5);
    const gaps = t.next_runs.slice(1).map((r, i) => Date.parse(r) - Date.parse(t.next_runs[i]!));
    assert.deepEqual(gaps, [1000, 1000, 1000, 1000]);
    const first = await until('two scheduled runs', async () => {
      const jobs = (await jobsOf('every_second')).filter((j) => j.status === 'succeeded');
      return jobs.length >= 2 ? jobs : undefined;
    });
    assert.equal(first[0]!.trigger, 'schedule');
    assert.deepEqual(first[0]!.stdout_tail, ['tick']);
    const config = await probe.next(`homeassistant/device/hearth_${NODE}_task_every_second/config`);
    new DiscoveryRegistry().assertValid(config.topic, config.payload);
    const cmps = JSON.parse(config.payload).cmps as Record<string, { p: string; event_types?: string[]; state_topic?: string }>;
    for (const f of ['run', 'enabled', 'last_run', 'last_result', 'last_duration', 'next_run', 'progress', 'result']) assert.ok(cmps[f], f);
    assert.deepEqual(cmps.result!.event_types, ['started', 'succeeded', 'failed']);
    assert.equal(cmps.result!.state_topic, `${BASE}/task/every_second/event`);
    const state = await probe.next(`${BASE}/task/every_second`, (m) => JSON.parse(m.payload).last_result === 'succeeded');
    assert.ok(Date.parse(JSON.parse(state.payload).next_run) > Date.now() - 1000);
    // Events for automations: not retained.
    const ev = await probe.next(`${BASE}/task/every_second/event`, (m) => JSON.parse(m.payload).event_type === 'succeeded');
    assert.equal(ev.retain, false);
    assert.equal((await h.api('POST', '/api/tasks/every_second/disable')).status, 200);
  });

  it('refuses an invalid cron, time zone or action with 400 and says what is wrong', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ name: 'x', schedule: '61 * * * *', action: { type: 'command', command: 'true' } }, /schedule: "61 \* \* \* \*" is not a valid cron expression/],
      [{ name: 'x', schedule: '* * * * *', timezone: 'Mars/Olympus', action: { type: 'command', command: 'true' } }, /timezone: "Mars\/Olympus" is not an IANA time zone/],
      [{ name: 'x', action: { type: 'teleport' } }, /action\.type: must be one of command, agent, http, mqtt, workflow/],
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
    const r = await h.api<JobView>('POST', '/api/tasks/manual/run');
    assert.equal(r.status, 202);
    assert.equal((await finished(r.body.id)).status, 'succeeded');
    await probe.publish(`${BASE}/task/manual/set`, 'run');
    await until('a second run', async () => (await jobsOf('manual')).filter((j) => j.status === 'succeeded').length === 2);
    const reply = probe.upcoming(`${BASE}/bridge/response/task/run`);
    await probe.publish(`${BASE}/bridge/request/task/run`, JSON.stringify({ id: 'manual' }));
    assert.equal(JSON.parse((await reply).payload).status, 'ok');
    await until('a third run', async () => (await jobsOf('manual')).filter((j) => j.status === 'succeeded').length === 3);

    await probe.publish(`${BASE}/task/manual/set`, 'enable');
    await probe.next(`${BASE}/task/manual`, (m) => JSON.parse(m.payload).enabled === true);
    await probe.publish(`${BASE}/task/manual/set`, '{"action": "disable"}');
    await probe.next(`${BASE}/task/manual`, (m) => JSON.parse(m.payload).enabled === false);
    const rejected = probe.upcoming(`${BASE}/bridge/event`, (m) => JSON.parse(m.payload).type === 'command_rejected');
    await probe.publish(`${BASE}/task/manual/set`, 'explode');
    assert.equal(JSON.parse((await rejected).payload).data.id, 'manual');
  });

  it('shows progress from ::progress lines on the job, the task state and Home Assistant', async () => {
    await create({ name: 'slow copy', action: { type: 'command', command: 'sh', args: ['-c', 'echo "::progress 40"; n=4404; exec sleep $n'] }, timeout_s: 30 });
    const r = await h.api<JobView>('POST', '/api/tasks/slow_copy/run');
    await until('job progress 40', async () => (await job(r.body.id)).progress === 40);
    await probe.next(`${BASE}/task/slow_copy`, (m) => JSON.parse(m.payload).progress === 40 && JSON.parse(m.payload).running === true);
    const cancelled = await h.api<JobView>('POST', `/api/jobs/${r.body.id}/cancel`);
    assert.equal(cancelled.status, 200);
    assert.equal((await finished(r.body.id)).status, 'cancelled');
    assert.equal((await h.api('POST', `/api/jobs/${r.body.id}/cancel`)).status, 409, 'a finished job cannot be cancelled');
  });

  it('kills the whole process tree on timeout and fails the job', async () => {
    await create({ name: 'stuck', timeout_s: 1, action: { type: 'command', command: 'sh', args: ['-c', 'a=4401; sleep $a & b=4402; sleep $b; wait'] } });
    const r = await h.api<JobView>('POST', '/api/tasks/stuck/run');
    await until('both sleeps', () => pidsWith('sleep 4401').length === 1 && pidsWith('sleep 4402').length === 1);
    const j = await finished(r.body.id);
    assert.equal(j.status, 'failed');
    assert.match(j.error ?? '', /timed out after 1 s/);
    assert.deepEqual([...pidsWith('sleep 4401'), ...pidsWith('sleep 4402')], []);
    await probe.next(`${BASE}/task/stuck/event`, (m) => JSON.parse(m.payload).event_type === 'failed');
  });

  it('retries a failing run with a delay, counting attempts', async () => {
    await create({ name: 'flaky', retries: 2, retry_delay_s: 0.1, action: { type: 'command', command: 'sh', args: ['-c', 'echo try; exit 4'] } });
    await h.api('POST', '/api/tasks/flaky/run');
    const jobs = await until('three attempts', async () => {
      const all = await jobsOf('flaky');
      return all.length === 3 && all.every((j) => j.status === 'failed') ? all : undefined;
    });
    assert.deepEqual(jobs.map((j) => j.attempt).sort(), [1, 2, 3]);
    assert.ok(jobs.every((j) => j.exit_code === 4));
    const t = (await h.api<TaskView>('GET', '/api/tasks/flaky')).body;
    assert.equal(t.last_result, 'failed');
    assert.equal(t.problem, true);
  });

  it('applies the overlap policies: skip records a skipped job, queue runs after, allow runs both', async () => {
    const slow = { type: 'command', command: 'sh', args: ['-c', 'sleep 0.6'] };
    for (const overlap of ['skip', 'queue', 'allow'] as const) {
      await create({ name: `overlap ${overlap}`, overlap, action: slow });
      await h.api('POST', `/api/tasks/overlap_${overlap}/run`);
      await h.hub.things.get('task', `overlap_${overlap}`);
      const second = await h.api<JobView | { error: string }>('POST', `/api/tasks/overlap_${overlap}/run`);
      assert.equal(second.status, 202);
      if (overlap === 'queue') assert.deepEqual(second.body, { queued: true, position: 1 }, 'queued: no job yet');
    }
    const skip = await until('skip settled', async () => {
      const all = await jobsOf('overlap_skip');
      return all.some((j) => j.status === 'succeeded') ? all : undefined;
    });
    assert.deepEqual(skip.map((j) => j.status).sort(), ['skipped', 'succeeded']);
    const queue = await until('queue settled', async () => {
      const all = await jobsOf('overlap_queue');
      return all.length === 2 && all.every((j) => j.status === 'succeeded') ? all : undefined;
    });
    const [later, earlier] = queue;
    assert.ok(Date.parse(later!.started_at!) >= Date.parse(earlier!.ended_at!), 'the queued run started after the first ended');
    const allow = await until('allow settled', async () => {
      const all = await jobsOf('overlap_allow');
      return all.length === 2 && all.every((j) => j.status === 'succeeded') ? all : undefined;
    });
    assert.ok(Date.parse(allow[0]!.started_at!) < Date.parse(allow[1]!.ended_at!), 'both ran at once');
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
    const announced = probe.upcoming('test/announce');
    await probe.publish('test/doorbell', 'knock');
    await probe.publish('test/doorbell', 'ring');
    assert.deepEqual(JSON.parse((await announced).payload), { text: 'ding' });
    const jobs = await until('the workflow to succeed', async () => {
      const all = await jobsOf('doorbell');
      return all.some((j) => j.status === 'succeeded') ? all : undefined;
    });
    assert.equal(jobs.length, 1, 'the other payload did not trigger it');
    assert.equal(jobs[0]!.trigger, 'mqtt');
    assert.equal(pidsWith('sleep 4403').length, 1);
    await h.api('POST', '/api/agents/helper_agent/stop');
  });

  it('keeps only the configured history per task', async () => {
    await create({ name: 'chatty', history: { keep: 2 }, action: { type: 'command', command: 'true' } });
    for (let i = 0; i < 4; i++) {
      const r = await h.api<JobView>('POST', '/api/tasks/chatty/run');
      await finished(r.body.id);
    }
    await until('pruned to 2', async () => (await jobsOf('chatty')).length === 2);
    const hist = await h.api<JobView[]>('GET', '/api/tasks/history?task_id=chatty');
    assert.equal(hist.body.length, 2);
  });

  it('deletes a task with its history and its Home Assistant device', async () => {
    await create({ name: 'doomed', action: { type: 'command', command: 'true' } });
    const config = `homeassistant/device/hearth_${NODE}_task_doomed/config`;
    await probe.next(config, (m) => m.payload !== '');
    const cleared = probe.upcoming(config, (m) => m.payload === '');
    assert.equal((await h.api('DELETE', '/api/tasks/doomed')).status, 200);
    await cleared;
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
    const fires: number[] = [];
    const schedule = startSchedule({ interval_s: 1 }, () => fires.push(Date.now()));
    try {
      const end = Date.now() + 3300;
      while (Date.now() < end) {
        // A stalled loop (a suspended machine looks the same to the timers).
      }
      const after = Date.now();
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(fires.filter((t) => t >= after).length <= 1, `fired ${fires.length} times right after the stall`);
    } finally {
      schedule.stop();
    }
  });
});

