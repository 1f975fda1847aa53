/**
 * What the security review closed on the embedded broker (real hub, real clients): the whole
 * discovery prefix is the hub's (an old-style per-entity config would put a button in Home
 * Assistant that publishes as its operator user), a viewer publishes bridge requests and commands
 * only (refused by role, with the reason), and
 * the hub's secret client id is never in the log.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BASE, created, startHub, type HubHandle } from './helpers/hub.js';
import { MqttProbe } from './helpers/mqtt-probe.js';

async function signedIn(h: HubHandle, username: string, role: string): Promise<MqttProbe> {
  assert.equal((await h.api('POST', '/api/users', { username, password: `${username}-pass-123`, role })).status, 201);
  return MqttProbe.connect(h.brokerUrl, [`${BASE}/bridge/response/#`], { username, password: `${username}-pass-123` });
}

const EVIL = 'homeassistant/switch/evil/config';
const EVIL_CONFIG = JSON.stringify({ name: 'Evil', command_topic: `${BASE}/agent/pump/set`, payload_on: 'start' });

describe('publishing after the security review', () => {
  it('drops any config under the discovery prefix but the hub\'s, and everything a viewer publishes but bridge requests and commands', async () => {
    const h = await startHub();
    const agent = await created<{ id: string }>(h, '/api/agents', { name: 'pump', command: 'sleep', args: ['600'], autostart: false });
    const watcher = await MqttProbe.connect(h.brokerUrl, ['#']);
    const viewer = await signedIn(h, 'vic', 'viewer');
    const operator = await signedIn(h, 'olga', 'operator');
    const ha = await MqttProbe.connect(h.brokerUrl, [`${BASE}/bridge/response/#`], h.brokerUsers!.homeassistant);
    try {
      const since = watcher.mark();
      for (const client of [viewer, operator, ha]) await client.publish(EVIL, EVIL_CONFIG, { retain: true });
      await ha.publish('homeassistant/device/evil/config', EVIL_CONFIG, { retain: true });
      await operator.publish('homeassistant/status', 'online');
      for (const [topic, payload] of [
        ['test/lights/kitchen', 'on'],
        ['zigbee2mqtt/door/set', '{"state":"OPEN"}'],
      ] as const) {
        await viewer.publish(topic, payload);
      }
      // A command reaches the hub, which refuses it by role and says why.
      await viewer.publish(`${BASE}/agent/${agent.id}/set`, 'start');
      const rejected = await watcher.next(`${BASE}/bridge/event`, (m) => (JSON.parse(m.payload) as { type: string }).type === 'command_rejected', { since });
      assert.match((JSON.parse(rejected.payload) as { data: { error: string } }).data.error, /agent\/start needs the operator role; vic is a viewer/);
      // The viewer is still connected and its requests still run (with its role).
      assert.equal((await viewer.ask(BASE, 'agent/get', { id: agent.id })).status, 'ok');
      assert.match(String((await viewer.ask(BASE, 'agent/start', { id: agent.id })).error), /agent\/start needs the operator role; vic is a viewer/);
      // Operators keep the rest of the broker; a marker after it all shows what got through.
      await operator.publish('test/lights/kitchen', 'by olga');
      await watcher.next('test/lights/kitchen', () => true, { since });
      assert.deepEqual(
        watcher.messages.slice(since).filter((m) => !m.topic.startsWith(`${BASE}/`)).map((m) => `${m.topic} ${m.payload}`),
        ['test/lights/kitchen by olga'],
      );
      assert.equal((await h.api<{ status: string }>('GET', `/api/agents/${agent.id}`)).body.status, 'stopped');
      const refused = h.logs.filter((l) => l.msg === 'MQTT publish refused');
      assert.deepEqual(
        refused.map((l) => `${String(l.username)} ${String(l.topic)}`),
        [`vic ${EVIL}`, `olga ${EVIL}`, `homeassistant ${EVIL}`, 'homeassistant homeassistant/device/evil/config', 'olga homeassistant/status', 'vic test/lights/kitchen', 'vic zigbee2mqtt/door/set'],
      );
    } finally {
      await Promise.all([watcher.close(), viewer.close(), operator.close(), ha.close()]);
    }
  });

  it("never logs the hub's client id, even at debug level", async () => {
    const h = await startHub({ HEARTH_LOG_LEVEL: 'debug' });
    const admin = await MqttProbe.connect(h.brokerUrl, []);
    await admin.close();
    const connected = h.logs.filter((l) => l.msg === 'MQTT client connected');
    assert.deepEqual(connected.find((l) => l.username === 'hearth')?.client, 'hub');
    assert.ok(connected.some((l) => l.username === 'admin' && typeof l.client === 'string' && l.client !== 'hub'), 'other clients are logged with their id');
    const hubIds = h.logs.map((l) => JSON.stringify(l)).filter((l) => /hearth_testnode_[0-9a-f]{32}/.test(l));
    assert.deepEqual(hubIds, []);
  });
});
