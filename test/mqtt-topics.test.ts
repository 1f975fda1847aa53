/** Settings that move the hub's topics: HEARTH_BASE_TOPIC and HEARTH_DISCOVERY_PREFIX, through the real hub. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AgentView } from '../src/hub/agents/state.js';
import { NODE, startHub, type HubHandle } from './helpers/hub.js';
import { MqttProbe, type Seen } from './helpers/mqtt-probe.js';

/** Every topic a discovery config names (state, command, attributes, availability), at any depth. */
function topicsIn(doc: unknown, out: string[] = []): string[] {
  if (Array.isArray(doc)) doc.forEach((d) => topicsIn(d, out));
  else if (doc && typeof doc === 'object') {
    for (const [k, v] of Object.entries(doc)) {
      if ((k === 'topic' || k.endsWith('_topic')) && typeof v === 'string') out.push(v);
      else topicsIn(v, out);
    }
  }
  return out;
}

async function createAgent(h: HubHandle, name: string): Promise<AgentView> {
  const r = await h.api<AgentView>('POST', '/api/agents', { name, command: 'sleep', args: ['3711'] });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

/** Sends a request and returns its answer on `<base>/bridge/response/<path>`. */
async function ask(probe: MqttProbe, base: string, path: string, body: unknown): Promise<{ status: string; data: Record<string, unknown> }> {
  const mark = probe.mark();
  await probe.publish(`${base}/bridge/request/${path}`, JSON.stringify(body));
  return JSON.parse((await probe.next(`${base}/bridge/response/${path}`, () => true, { since: mark })).payload) as { status: string; data: Record<string, unknown> };
}

/** Outside the hub's topics, where any client may publish. */
const MARKER = 'test/marker';

/** Waits until the probe has every retained message: its own marker comes after them. */
async function settled(probe: MqttProbe): Promise<void> {
  await probe.publish(MARKER, 'end');
  await probe.seenOrNext(MARKER);
}

describe('HEARTH_BASE_TOPIC', () => {
  it('moves every state, availability, command and bridge request under the new base', async () => {
    const base = `home/hearth/${NODE}`;
    const h = await startHub({ HEARTH_BASE_TOPIC: 'home/hearth' });
    const agent = await createAgent(h, 'based');
    const task = await h.api<{ id: string }>('POST', '/api/tasks', { name: 'based task', action: { type: 'command', command: 'true' } });
    assert.equal(task.status, 201, JSON.stringify(task.body));
    const probe = await MqttProbe.connect(h.brokerUrl, ['#']);
    try {
      const config = async (device: string): Promise<Record<string, unknown>> =>
        JSON.parse((await probe.seenOrNext(`homeassistant/device/${device}/config`, (m) => m.payload !== '')).payload) as Record<string, unknown>;
      const hubConfig = await config(`hearth_${NODE}`);
      const agentConfig = await config(`hearth_${NODE}_agent_${agent.id}`);
      const taskConfig = await config(`hearth_${NODE}_task_${task.body.id}`);
      assert.equal((await probe.seenOrNext(`${base}/bridge/state`)).payload, 'online');
      await probe.seenOrNext(`${base}/bridge/info`);
      await probe.seenOrNext(`${base}/metrics`);
      assert.equal(JSON.parse((await probe.seenOrNext(`${base}/agent/${agent.id}`)).payload).status, 'running');
      await probe.seenOrNext(`${base}/task/${task.body.id}`);
      for (const [what, doc] of [['the hub', hubConfig], ['the agent', agentConfig], ['the task', taskConfig]] as const) {
        const topics = topicsIn(doc);
        assert.ok(topics.length >= 3, `${what}'s config names its topics: ${topics.join(', ')}`);
        assert.deepEqual(topics.filter((t) => !t.startsWith(`${base}/`)), [], `${what}'s topics are all under ${base}`);
        assert.deepEqual((doc.availability as Array<{ topic: string }>)[0], { topic: `${base}/bridge/state` });
      }

      // Requests and commands under the new base are answered and carried out.
      const info = await ask(probe, base, 'info', { transaction: 't1' });
      assert.equal(info.status, 'ok');
      assert.equal(info.data.base_topic, base);
      const restarting = probe.mark();
      await probe.publish(`${base}/agent/${agent.id}/set`, 'restart');
      await probe.next(`${base}/agent/${agent.id}`, (m) => JSON.parse(m.payload).restarts === 1 && JSON.parse(m.payload).status === 'running', { since: restarting });
      const running = probe.mark();
      await probe.publish(`${base}/task/${task.body.id}/set`, 'run');
      await probe.next(`${base}/task/${task.body.id}/event`, (m) => JSON.parse(m.payload).event_type === 'succeeded', { since: running });
      // The select Home Assistant shows sends to the topic the config gave it.
      const select = (hubConfig.cmps as Record<string, { command_topic: string }>).log_level!.command_topic;
      const setting = probe.mark();
      await probe.publish(select, '{"log_level": "debug"}');
      await probe.next(`${base}/bridge/info`, (m) => JSON.parse(m.payload).log_level === 'debug', { since: setting });

      // Under the default base nobody answers: not a request, not a command.
      const old = probe.mark();
      await probe.publish(`hearth/${NODE}/bridge/request/info`, '{}');
      await probe.publish(`hearth/${NODE}/agent/${agent.id}/set`, 'stop');
      // Handled in order: once a later request is answered, the earlier ones would have been too.
      await ask(probe, base, 'health_check', {});
      await settled(probe);
      const published = (m: Seen): boolean => !m.topic.startsWith(`hearth/${NODE}/bridge/request/`) && !m.topic.endsWith('/set');
      assert.deepEqual(probe.messages.slice(old).filter((m) => m.topic.startsWith('hearth/') && published(m)).map((m) => m.topic), []);
      assert.equal((await h.api<AgentView>('GET', `/api/agents/${agent.id}`)).body.status, 'running');
      // Nothing the hub ever published here is under the default base.
      const outside = probe.messages.filter((m) => published(m) && m.topic !== MARKER && !m.topic.startsWith(`${base}/`) && !m.topic.startsWith('homeassistant/'));
      assert.deepEqual(outside.map((m) => m.topic), []);
      await h.stop();
    } finally {
      await probe.close();
    }
  });
});

describe('HEARTH_DISCOVERY_PREFIX', () => {
  it('publishes discovery under the new prefix and listens for Home Assistant on <prefix>/status', async () => {
    const prefix = 'custom/ha';
    const base = `hearth/${NODE}`;
    // No sample in the test's time: a config or state that comes later is a republish.
    const h = await startHub({ HEARTH_DISCOVERY_PREFIX: prefix, HEARTH_METRICS_INTERVAL: '3600' });
    const agent = await createAgent(h, 'prefixed');
    // Home Assistant's user: it says Home Assistant is online and clears a config.
    const probe = await MqttProbe.connect(h.brokerUrl, ['#'], h.brokerUsers!.homeassistant);
    try {
      const hubConfig = `${prefix}/device/hearth_${NODE}/config`;
      const agentConfig = `${prefix}/device/hearth_${NODE}_agent_${agent.id}/config`;
      assert.ok(JSON.parse((await probe.seenOrNext(hubConfig)).payload).cmps.cpu);
      assert.equal(JSON.parse((await probe.seenOrNext(agentConfig, (m) => m.payload !== '')).payload).state_topic, `${base}/agent/${agent.id}`);
      await settled(probe);
      assert.deepEqual(probe.messages.filter((m) => m.topic.startsWith('homeassistant/')).map((m) => m.topic), [], 'nothing under the default prefix');
      assert.equal((await ask(probe, base, 'info', {})).data.discovery_prefix, prefix);

      // Home Assistant on the default prefix is not ours: no republish. A republish starts with
      // bridge/info, sent before the answer to a request that follows.
      const ignored = probe.mark();
      await probe.publish('homeassistant/status', 'online');
      await ask(probe, base, 'health_check', {});
      assert.deepEqual(probe.messages.slice(ignored).filter((m) => m.topic === `${base}/bridge/info` || m.topic.endsWith('/config')).map((m) => m.topic), []);

      const mark = probe.mark();
      await probe.publish(`${prefix}/status`, 'online');
      await probe.next(hubConfig, () => true, { since: mark });
      await probe.next(agentConfig, (m) => m.payload !== '', { since: mark });
      await probe.next(`${base}/metrics`, () => true, { since: mark });
      await probe.next(`${base}/agent/${agent.id}`, () => true, { since: mark });

      // Deleting the device in Home Assistant (an empty config under the prefix) hides it.
      const hiding = probe.mark();
      await probe.publish(agentConfig, '', { retain: true });
      await probe.next(`${base}/bridge/event`, (m) => JSON.parse(m.payload).type === 'device_hidden', { since: hiding });
      assert.deepEqual((await h.api<Array<{ device_id: string }>>('GET', '/api/discovery/hidden')).body.map((d) => d.device_id), [`hearth_${NODE}_agent_${agent.id}`]);
      await h.stop();
    } finally {
      await probe.close();
    }
  });
});
