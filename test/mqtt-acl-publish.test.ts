/**
 * What each client may publish and receive on the embedded broker (real clients, no other broker):
 * Home Assistant's user presses buttons but writes no state and creates nothing, a refused publish
 * reaches no one and costs the client nothing, and bridge requests and answers (passwords, env
 * values) never reach anyone but the hub and the asker.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BASE, NODE, api, created, startHub, type HubHandle } from './helpers/hub.js';
import { MqttProbe } from './helpers/mqtt-probe.js';
import { until } from './helpers/wait.js';

const CONFIG = `homeassistant/device/hearth_${NODE}/config`;

async function addUser(h: HubHandle, username: string, role: string, password: string): Promise<void> {
  const made = await h.api('POST', '/api/users', { username, password, role });
  assert.equal(made.status, 201, JSON.stringify(made.body));
}

const statusOf = async (h: HubHandle, id: string): Promise<string> => (await h.api<{ status: string }>('GET', `/api/agents/${id}`)).body.status;

describe('publishing on the embedded broker', () => {
  it("Home Assistant's user presses buttons, says it is online and clears a config, but creates nothing", async () => {
    const h = await startHub();
    const agent = await created<{ id: string }>(h, '/api/agents', { name: 'pump', command: 'sleep', args: ['600'], autostart: false });
    const ha = await MqttProbe.connect(h.brokerUrl, ['homeassistant/#', `${BASE}/#`], h.brokerUsers!.homeassistant);
    try {
      const agentConfig = `homeassistant/device/hearth_${NODE}_agent_${agent.id}/config`;
      await ha.seenOrNext(agentConfig);
      await ha.publish(`${BASE}/agent/${agent.id}/set`, 'start');
      await until('the agent started from Home Assistant', () => statusOf(h, agent.id), (s) => s === 'running');

      const online = ha.mark();
      await ha.publish('homeassistant/status', 'online');
      await ha.next(CONFIG, (m) => m.payload !== '', { since: online });

      // The user deletes the agent's device in Home Assistant.
      const deleting = ha.mark();
      await ha.publish(agentConfig, '', { retain: true });
      const hidden = await ha.next(`${BASE}/bridge/event`, (m) => JSON.parse(m.payload).type === 'device_hidden', { since: deleting });
      assert.deepEqual(JSON.parse(hidden.payload).data, { device_id: `hearth_${NODE}_agent_${agent.id}` });

      const create = await ha.ask(BASE, 'agent/create', { name: 'intruder', command: 'sh', args: ['-c', 'id'] });
      assert.equal(create.status, 'error');
      assert.match(String(create.error), /agent\/create needs the admin role; homeassistant is an operator/);
      assert.equal((await h.api('GET', '/api/agents/intruder')).status, 404);
    } finally {
      await ha.close();
    }
  });

  it("drops what a client may not publish (the hub's states and discovery): nobody sees it, the client stays connected", async () => {
    const h = await startHub({ HEARTH_METRICS_INTERVAL: '3600' });
    const admin = await MqttProbe.connect(h.brokerUrl, ['#']);
    const ha = await MqttProbe.connect(h.brokerUrl, [], h.brokerUsers!.homeassistant);
    try {
      const metrics = (await admin.seenOrNext(`${BASE}/metrics`)).payload;
      const config = (await admin.seenOrNext(CONFIG)).payload;
      const since = admin.mark();
      const fakes: Array<[string, string]> = [
        [`${BASE}/bridge/state`, 'offline'],
        [`${BASE}/metrics`, '{"cpu_percent": 99}'],
        [`${BASE}/bridge/response/info`, '{"status":"ok","data":"fake"}'],
        [CONFIG, '{"fake": true}'],
        ['homeassistant/device/someone_else/config', '{"fake": true}'],
      ];
      for (const [topic, payload] of fakes) await ha.publish(topic, payload, { retain: true });
      // Still connected, and what it may publish goes through, after all the rest.
      await ha.publish('test/ha/marker', 'after');
      await admin.next('test/ha/marker', () => true, { since });
      const seen = admin.messages.slice(since).map((m) => `${m.topic} ${m.payload}`);
      assert.deepEqual(seen, ['test/ha/marker after']);

      // A client that connects now gets the hub's retained messages, not the fakes.
      const fresh = await MqttProbe.connect(h.brokerUrl, [`${BASE}/bridge/state`, `${BASE}/metrics`, 'homeassistant/device/+/config']);
      try {
        assert.equal((await fresh.seenOrNext(`${BASE}/bridge/state`)).payload, 'online');
        assert.equal((await fresh.seenOrNext(`${BASE}/metrics`)).payload, metrics);
        assert.equal((await fresh.seenOrNext(CONFIG)).payload, config);
        assert.equal(fresh.last('homeassistant/device/someone_else/config'), undefined);
      } finally {
        await fresh.close();
      }
      assert.equal(h.hub.info().broker.connected, true);
      // Each refusal is logged with its topic, never its payload.
      const refused = h.logs.filter((l) => l.msg === 'MQTT publish refused');
      assert.deepEqual(refused.map((l) => l.topic), fakes.map(([t]) => t));
      // (Words of the payloads, not a number, which a timestamp or a port may hold.)
      assert.ok(refused.every((l) => l.username === 'homeassistant' && !JSON.stringify(l).includes('fake') && !JSON.stringify(l).includes('cpu_percent')));
    } finally {
      await admin.close();
      await ha.close();
    }
  });

  it('a viewer subscribed to # sees no bridge request and no answer while an admin creates things; answers reach only the asker', async () => {
    const h = await startHub();
    await addUser(h, 'vic', 'viewer', 'vic-pass-1');
    const viewer = await MqttProbe.connect(h.brokerUrl, ['#'], { username: 'vic', password: 'vic-pass-1' });
    const other = await MqttProbe.connect(h.brokerUrl, [`${BASE}/bridge/response/#`, 'test/viewer/marker']);
    const admin = await MqttProbe.connect(h.brokerUrl, [`${BASE}/bridge/response/#`, `${BASE}/bridge/event`]);
    try {
      // Client ids show under $SYS: not for viewers.
      await assert.rejects(viewer.client.subscribeAsync('$SYS/#'), /Subscribe error/);
      assert.deepEqual((await admin.client.subscribeAsync('$SYS/+/new/clients')).map((g) => g.qos), [0]);
      const since = viewer.mark();
      const otherSince = other.mark();
      const made = await admin.ask<{ id: string; env: Record<string, string> }>(BASE, 'agent/create', {
        name: 'vault',
        command: 'sleep',
        args: ['600'],
        autostart: false,
        env: { DB_PASSWORD: 'pw-in-env-4711' },
      });
      assert.equal(made.status, 'ok', JSON.stringify(made));
      const user = await admin.ask(BASE, 'user/create', { username: 'newbie', password: 'pw-of-user-4712', role: 'viewer' });
      assert.equal(user.status, 'ok', JSON.stringify(user));
      // A viewer's command is refused with the reason, and the agent stays stopped.
      const commanding = admin.mark();
      await viewer.publish(`${BASE}/agent/vault/set`, 'start');
      const rejected = await admin.next(`${BASE}/bridge/event`, (m) => JSON.parse(m.payload).type === 'command_rejected', { since: commanding });
      assert.match(JSON.parse(rejected.payload).data.error, /agent\/start needs the operator role; vic is a viewer/);
      assert.equal(await statusOf(h, 'vault'), 'stopped');

      await admin.publish('test/viewer/marker', 'end');
      await viewer.next('test/viewer/marker', () => true, { since });
      await other.next('test/viewer/marker', () => true, { since: otherSince });
      const seen = viewer.messages.slice(since);
      assert.deepEqual(seen.filter((m) => m.topic.includes('/bridge/request/') || m.topic.includes('/bridge/response/')), []);
      assert.deepEqual(seen.filter((m) => /pw-in-env-4711|pw-of-user-4712/.test(m.payload)), []);
      assert.ok(seen.some((m) => m.topic === `${BASE}/agent/vault`), 'the viewer does see states');
      // Another client listening for answers did not get the admin's.
      assert.deepEqual(other.messages.slice(otherSince).map((m) => m.topic), ['test/viewer/marker']);
      assert.ok((await api(h.http, null, 'POST', '/api/auth/login', { username: 'newbie', password: 'pw-of-user-4712' })).status === 200);
    } finally {
      await viewer.close();
      await other.close();
      await admin.close();
    }
  });
});
