/**
 * When a task runs by itself, through the real hub: MQTT triggers with wildcards and a payload
 * filter, and schedules in a task's own time zone (checked against Intl, not against croner).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { TaskView } from '../src/hub/tasks/state.js';
import { startHub, type HubHandle } from './helpers/hub.js';
import { MqttProbe } from './helpers/mqtt-probe.js';
import { taskCalls } from './helpers/tasks.js';
import { until } from './helpers/wait.js';

let h: HubHandle;
let probe: MqttProbe;

const { create, jobsOf } = taskCalls(() => h);

/** The wall-clock fields of an instant in a zone. */
function local(iso: string, timeZone: string): { date: number; time: string; hour: number } {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
      .formatToParts(new Date(iso))
      .map((p) => [p.type, p.value]),
  );
  return { date: Date.UTC(+parts.year!, +parts.month! - 1, +parts.day!), time: `${parts.hour}:${parts.minute}:${parts.second}`, hour: +parts.hour! };
}

describe('task triggers and time zones', () => {
  before(async () => {
    h = await startHub();
    probe = await MqttProbe.connect(h.brokerUrl);
  });

  it('runs on MQTT messages matching + and # filters, and only on the given payload', async () => {
    const action = { type: 'command', command: 'true' };
    // allow: every match is a run of its own, none recorded as skipped behind another.
    await create({ name: 'plus', overlap: 'allow', trigger: { type: 'mqtt', topic: 'test/wild/+/ring' }, action });
    await create({ name: 'hash', overlap: 'allow', trigger: { type: 'mqtt', topic: 'test/wild/#' }, action });
    await create({ name: 'rung', overlap: 'allow', trigger: { type: 'mqtt', topic: 'test/wild/+/ring', payload: 'ring' }, action });
    const messages: Array<[string, string]> = [
      ['test/wild/a/b/ring', 'ring'], // hash only: + is one level
      ['test/wildcard/x/ring', 'ring'], // none: a longer word is not the same level
      ['test/wild/front/ring', 'knock'], // plus and hash; not the payload filter
      ['test/wild', 'x'], // hash: # also matches its parent level
      ['test/wild/back/ring', ' ring '], // all three (the payload is compared trimmed)
    ];
    for (const [topic, payload] of messages) await probe.publish(topic, payload);
    // All three match the last message, sent last: when each has run for it, earlier ones are counted.
    const expected = { plus: 2, hash: 4, rung: 1 };
    for (const [id, n] of Object.entries(expected)) {
      const jobs = await until(`${n} runs of ${id}`, () => jobsOf(id), (all) => all.filter((j) => j.status === 'succeeded').length >= n);
      assert.equal(jobs.length, n, `${id} ran ${jobs.length} times`);
      assert.ok(jobs.every((j) => j.trigger === 'mqtt'));
    }
  });

  it('gives the next 5 runs in the task\'s time zone, and fires on that zone\'s clock', async () => {
    assert.notEqual(new Intl.DateTimeFormat().resolvedOptions().timeZone, 'Asia/Kathmandu', 'the host is in another zone');
    const t = await create({ name: 'kathmandu', schedule: '0 30 3 * * *', timezone: 'Asia/Kathmandu', action: { type: 'command', command: 'true' } });
    const check = (runs: string[], zone: string): void => {
      assert.equal(runs.length, 5);
      const at = runs.map((r) => local(r, zone));
      assert.deepEqual(at.map((a) => a.time), Array(5).fill('03:30:00'), `${runs.join(', ')} at 03:30 in ${zone}`);
      assert.deepEqual(at.slice(1).map((a, i) => a.date - at[i]!.date), Array(4).fill(86_400_000), 'on five days in a row');
      assert.ok(Date.parse(runs[0]!) > Date.now() && Date.parse(runs[0]!) <= Date.now() + 86_400_000, 'the first is the next one');
    };
    check(t.next_runs, 'Asia/Kathmandu');
    assert.equal(t.next_run, t.next_runs[0]);
    const moved = await h.api<TaskView>('PUT', '/api/tasks/kathmandu', { timezone: 'America/New_York' });
    assert.equal(moved.status, 200);
    check(moved.body.next_runs, 'America/New_York');
    const unknown = await h.api<{ error: string }>('PUT', '/api/tasks/kathmandu', { timezone: 'Mars/Olympus' });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error, /timezone: "Mars\/Olympus" is not an IANA time zone/);
    check((await h.api<TaskView>('GET', '/api/tasks/kathmandu')).body.next_runs, 'America/New_York');

    // Every second of this hour and the next in Kathmandu (+05:45): hours the host's clock, in any
    // whole-hour zone, is not at now.
    const hour = local(new Date().toISOString(), 'Asia/Kathmandu').hour;
    await create({ name: 'zoned', schedule: `* * ${hour},${(hour + 1) % 24} * * *`, timezone: 'Asia/Kathmandu', action: { type: 'command', command: 'true' } });
    await until('a run on Kathmandu\'s clock', () => jobsOf('zoned'), (all) => all.some((j) => j.trigger === 'schedule'));
  });
});
