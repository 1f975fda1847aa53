/**
 * Agents and tasks as Home Assistant sees them: valid discovery for every state, and every template
 * of the discovery the hub publishes rendered against the state the hub publishes, as Home Assistant
 * would render it (a null is "unknown", exit code 0 is 0, a timestamp parses, an enum is one of its
 * options); and a result event for each run of a task.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { agentEntities } from '../src/entities/agent.js';
import { discoveryMessage, discoveryTopic } from '../src/entities/discovery.js';
import { taskEntities } from '../src/entities/task.js';
import type { EntityContext } from '../src/entities/types.js';
import type { AgentState } from '../src/hub/agents/state.js';
import type { TaskState } from '../src/hub/tasks/state.js';
import { DiscoveryRegistry, renderTemplate } from './helpers/ha-rules.js';
import { BASE, NODE, startHub, type HubHandle } from './helpers/hub.js';
import { MqttProbe } from './helpers/mqtt-probe.js';
import { until } from './helpers/wait.js';

const ctx: EntityContext = { nodeId: 'n1', base: 'hearth/n1', discoveryPrefix: 'homeassistant', version: '1.0.0' };

const agent: AgentState = {
  id: 'bot', name: 'Bot', type: 'ai', status: 'stopped', reason: null, desired: 'stopped', pid: null, started_at: null, next_start_at: null,
  restarts: 0, last_exit_code: null, last_signal: null, health: 0, health_check: null, cpu_percent: null, memory_bytes: null, problem: false,
  limits: { memory: 'none', cpu: 'none' }, instances: 1, instances_running: 0, port: null, reloading: null, last_reload: null,
  instance_states: [{ instance: 0, status: 'stopped', reason: null, pid: null, port: null, started_at: null, restarts: 0, last_exit_code: null, health: 0, cpu_percent: null, memory_bytes: null }],
};
/** Three copies, instance 1 crashed. */
const instanceOf = (i: number, status: AgentState['status']): AgentState['instance_states'][number] => ({
  instance: i, status, reason: null, pid: status === 'running' ? 100 + i : null, port: 8100 + i, started_at: null, restarts: 0, last_exit_code: null, health: 100, cpu_percent: null, memory_bytes: null,
});
const trio: AgentState = { ...agent, status: 'running', instances: 3, instances_running: 2, instance_states: [instanceOf(0, 'running'), instanceOf(1, 'backoff'), instanceOf(2, 'running')] };
const task: TaskState = {
  id: 'backup', name: 'Backup', enabled: true, when: '0 3 * * *', next_run: null, last_run: null, last_result: null, last_duration_s: null,
  running: false, progress: 0, current_job: null, problem: false,
};

describe('agent and task entities', () => {
  it('are valid Home Assistant discovery in a fresh state and a busy one, with unique ids across both', () => {
    const registry = new DiscoveryRegistry();
    for (const [kind, view] of [
      ['agent', agentEntities(ctx, 'bot', agent)],
      ['agent', agentEntities(ctx, 'bot', { ...agent, status: 'failed', reason: 'crash_loop', problem: true, last_exit_code: 3, restarts: 10 })],
      ['agent', agentEntities(ctx, 'bot', trio)],
      ['task', taskEntities(ctx, 'backup', task)],
      ['task', taskEntities(ctx, 'backup', { ...task, running: true, progress: 40, last_result: 'failed', problem: true, last_run: new Date().toISOString() })],
    ] as const) {
      registry.assertValid(discoveryTopic(ctx, view.deviceId), discoveryMessage(ctx, view));
      assert.equal(view.stateTopic, `hearth/n1/${kind}/${kind === 'agent' ? 'bot' : 'backup'}`);
    }
  });

  it('several instances: a count, how many run, and a status per instance that reads its own entry', () => {
    const one = agentEntities(ctx, 'bot', agent).components;
    assert.deepEqual(Object.keys(one).filter((k) => k.startsWith('instance')), ['instances'], 'one instance: only the count');
    const c = agentEntities(ctx, 'bot', trio).components;
    assert.deepEqual(Object.keys(c).filter((k) => k.startsWith('instance')).sort(), ['instance_0', 'instance_1', 'instance_2', 'instances', 'instances_running']);
    const shown = (name: string): string => renderTemplate(c[name]!.value_template!, trio);
    assert.deepEqual([shown('instances'), shown('instances_running'), shown('instance_0'), shown('instance_1'), shown('instance_2')], ['3', '2', 'running', 'backoff', 'running']);
    assert.equal(JSON.parse(renderTemplate(c.instance_1!.json_attributes_template!, trio)).port, 8101);
    // A state from before the count grew (two entries) still renders the third's entity.
    assert.equal(renderTemplate(c.instance_2!.value_template!, { ...trio, instance_states: trio.instance_states.slice(0, 2) }), 'stopped');
  });

  it("commands go to the thing's own set topic with the words the command router takes", () => {
    const a = agentEntities(ctx, 'bot', agent).components;
    assert.deepEqual([a.running!.command_topic, a.running!.payload_on, a.running!.payload_off, a.restart!.payload_press], ['hearth/n1/agent/bot/set', 'start', 'stop', 'restart']);
    assert.deepEqual([a.reload!.command_topic, a.reload!.payload_press, a.instances!.command_topic], ['hearth/n1/agent/bot/set', 'reload', 'hearth/n1/agent/bot/instances/set']);
    const t = taskEntities(ctx, 'backup', task).components;
    assert.deepEqual([t.run!.payload_press, t.enabled!.payload_on, t.enabled!.payload_off], ['run', 'enable', 'disable']);
    assert.equal(t.result!.p, 'event');
    assert.equal(t.result!.state_topic, 'hearth/n1/task/backup/event');
  });
});

type Cmp = Record<string, unknown> & { p: string; value_template?: string; json_attributes_template?: string; device_class?: string; options?: string[] };

describe('agent and task entities as the hub publishes them', () => {
  let h: HubHandle;
  let probe: MqttProbe;
  before(async () => {
    h = await startHub();
    probe = await MqttProbe.connect(h.brokerUrl, [`${BASE}/#`, 'homeassistant/#']);
  });
  after(async () => {
    await probe.close();
    await h.stop();
  });

  const cmps = async (kind: string, id: string): Promise<Record<string, Cmp>> =>
    (JSON.parse((await probe.seenOrNext(`homeassistant/device/hearth_${NODE}_${kind}_${id}/config`, (m) => m.payload !== '')).payload) as { cmps: Record<string, Cmp> }).cmps;
  /** The latest state the hub published once it holds what `accept` wants. */
  const state = async (kind: string, id: string, accept: (s: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => {
    return until(`${kind} ${id} state`, () => JSON.parse(probe.last(`${BASE}/${kind}/${id}`)?.payload ?? '{}') as Record<string, unknown>, accept);
  };
  /** Every entity's state and attributes, rendered; each checked as Home Assistant would take it. */
  const render = (components: Record<string, Cmp>, payload: Record<string, unknown>): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [name, c] of Object.entries(components)) {
      if (c.value_template) {
        const v = (out[name] = renderTemplate(c.value_template, payload));
        if (c.device_class === 'timestamp' && v !== 'None') assert.ok(!Number.isNaN(Date.parse(v)), `${name}: "${v}" is no timestamp`);
        if (c.device_class === 'enum' && v !== 'None') assert.ok(c.options!.includes(v), `${name}: "${v}" is not one of its options`);
        if (['switch', 'binary_sensor'].includes(c.p)) assert.ok(['ON', 'OFF'].includes(v), `${name}: "${v}"`);
        if ((c.state_class === 'measurement' || c.state_class === 'total_increasing') && v !== 'None') assert.ok(Number.isFinite(Number(v)), `${name}: "${v}" is no number`);
      }
      if (c.json_attributes_template) out[`${name}.attributes`] = renderTemplate(c.json_attributes_template, payload);
    }
    return out;
  };

  it('an agent: stopped and never run, running, stopped again', async () => {
    const created = await h.api<{ id: string }>('POST', '/api/agents', { name: 'Renderer', command: 'sleep', args: ['600'], autostart: false });
    assert.equal(created.status, 201);
    const c = await cmps('agent', 'renderer');
    const fresh = render(c, await state('agent', 'renderer', (s) => s.status === 'stopped'));
    assert.deepEqual(
      [fresh.running, fresh.status, fresh.started_at, fresh.last_exit_code, fresh.restarts, fresh.health, fresh.cpu, fresh.memory, fresh.problem],
      ['OFF', 'stopped', 'None', 'None', '0', '0', '0', '0', 'OFF'],
      'a value never had is unknown (None), not "null" or 0',
    );
    assert.deepEqual(JSON.parse(fresh['status.attributes']!), { reason: null, pid: null, desired: 'stopped', reloading: null, last_reload: null });

    assert.equal((await h.api('POST', '/api/agents/renderer/start')).status, 200);
    const live = await state('agent', 'renderer', (s) => s.status === 'running' && typeof s.pid === 'number');
    const running = render(c, live);
    assert.deepEqual([running.running, running.status, running.started_at, running.problem], ['ON', 'running', live.started_at, 'OFF']);
    assert.deepEqual(JSON.parse(running['status.attributes']!), { reason: null, pid: live.pid, desired: 'running', reloading: null, last_reload: null });

    assert.equal((await h.api('POST', '/api/agents/renderer/stop')).status, 200);
    const stopped = render(c, await state('agent', 'renderer', (s) => s.status === 'stopped'));
    assert.deepEqual([stopped.running, stopped.status, stopped.cpu, stopped.memory, stopped.health], ['OFF', 'stopped', '0', '0', '0']);
  });

  it('an agent that exits 0 shows 0 as its last exit code, not unknown', async () => {
    assert.equal((await h.api('POST', '/api/agents', { name: 'Zero', command: 'true', restart: { policy: 'never' } })).status, 201);
    const c = await cmps('agent', 'zero');
    const done = render(c, await state('agent', 'zero', (s) => s.last_exit_code === 0 && s.status === 'stopped'));
    assert.deepEqual([done.last_exit_code, done.running, done.status], ['0', 'OFF', 'stopped']);
  });

  it('a task: never run, then after a run; each run sends its started and succeeded events', async () => {
    assert.equal((await h.api('POST', '/api/tasks', { name: 'Render Task', interval_s: 3600, action: { type: 'command', command: 'true' } })).status, 201);
    const c = await cmps('task', 'render_task');
    const fresh = render(c, await state('task', 'render_task', (s) => typeof s.next_run === 'string'));
    assert.deepEqual([fresh.enabled, fresh.last_run, fresh.last_result, fresh.last_duration, fresh.progress, fresh.problem], ['ON', 'None', 'None', 'None', '0', 'OFF']);
    assert.ok(Date.parse(fresh.next_run!) > Date.now(), 'next run is a time to come');

    const since = probe.mark();
    const jobs: number[] = [];
    for (let i = 0; i < 2; i++) {
      const run = await h.api<{ id: number }>('POST', '/api/tasks/render_task/run');
      assert.equal(run.status, 202);
      jobs.push(run.body.id);
      await until(`job ${run.body.id} done`, async () => (await h.api<{ status: string }>('GET', `/api/jobs/${run.body.id}`)).body.status, (s) => s === 'succeeded');
      // The task lets go of the run a moment after the job's end is written; a run before that is skipped (overlap).
      await until('the task idle', async () => (await h.api<{ running: boolean }>('GET', '/api/tasks/render_task')).body, (t) => !t.running);
    }
    const last = await state('task', 'render_task', (s) => s.last_result === 'succeeded' && s.running === false);
    const after = render(c, last);
    assert.deepEqual([after.last_result, after.last_run], ['succeeded', last.last_run]);
    assert.ok(Number(after.last_duration) >= 0);

    const events = async (): Promise<Array<[string, number]>> =>
      probe.messages.slice(since).filter((m) => m.topic === `${BASE}/task/render_task/event`).map((m) => {
        const e = JSON.parse(m.payload) as { event_type: string; job: number | { id: number } };
        return [e.event_type, typeof e.job === 'number' ? e.job : e.job.id];
      });
    const want: Array<[string, number]> = jobs.flatMap((j) => [['started', j], ['succeeded', j]] as Array<[string, number]>);
    await until('an event per change of each run', events, (got) => got.length >= want.length);
    assert.deepEqual(await events(), want);
    for (const t of (c.result!.event_types as string[] | undefined) ?? []) assert.ok(['started', 'succeeded', 'failed'].includes(t));
  });
});
