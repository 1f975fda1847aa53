/** The hub against a real Mosquitto, as a real process: will, signals, reconnects, stale discovery. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import mqtt from 'mqtt';
import { BASE, NODE, spawnHub, startHub } from './helpers/hub.js';
import { startMosquitto } from './helpers/mosquitto.js';
import { MqttProbe } from './helpers/mqtt-probe.js';
import { until } from './helpers/wait.js';

const CONFIG = `homeassistant/device/hearth_${NODE}/config`;

describe('hub on a real Mosquitto', () => {
  it('publishes discovery there and honours the MQTT 5 response topic', async () => {
    const broker = await startMosquitto();
    const h = await startHub({ HEARTH_MQTT_URL: broker.url });
    assert.equal(h.hub.info().broker.mode, 'external');
    const probe = await MqttProbe.connect(broker.url, [CONFIG, 'replies/me'], { protocolVersion: 5 });
    try {
      const config = await probe.seenOrNext(CONFIG);
      assert.equal(config.retain, true);
      const mark = probe.mark();
      await probe.publish(`${BASE}/bridge/request/health_check`, '{"transaction": 1}', {
        properties: { responseTopic: 'replies/me', correlationData: Buffer.from('corr-42') },
      });
      const reply = await probe.next('replies/me', () => true, { since: mark });
      assert.equal(JSON.parse(reply.payload).status, 'ok');
      assert.equal(JSON.parse(reply.payload).transaction, 1);
      assert.equal(reply.properties?.correlationData?.toString(), 'corr-42');
    } finally {
      await probe.close();
      await h.stop();
    }
  });

  it('clears at start the retained discovery of its things that no longer exist, and only those', async () => {
    const broker = await startMosquitto();
    const seed = await mqtt.connectAsync(broker.url);
    const ghost = `homeassistant/device/hearth_${NODE}_agent_ghost/config`;
    const other = 'homeassistant/device/hearth_othernode_agent_x/config';
    const foreign = 'homeassistant/device/zigbee_0x1234/config';
    await seed.publishAsync(ghost, JSON.stringify({ dev: {}, state_topic: `${BASE}/agent/ghost`, cmps: {} }), { retain: true, qos: 1 });
    await seed.publishAsync(`${BASE}/agent/ghost`, '{"status":"running"}', { retain: true, qos: 1 });
    await seed.publishAsync(other, '{"cmps":{}}', { retain: true, qos: 1 });
    await seed.publishAsync(foreign, '{"cmps":{}}', { retain: true, qos: 1 });
    await seed.endAsync();

    await startHub({ HEARTH_MQTT_URL: broker.url });
    // A fresh subscriber sees what is retained now.
    const probe = await MqttProbe.connect(broker.url, ['homeassistant/#', `${BASE}/#`]);
    try {
      // Retained messages come before the probe's own marker: then the record is complete.
      await probe.publish(`${BASE}/test/marker`, 'end');
      await probe.seenOrNext(`${BASE}/test/marker`);
      assert.ok(probe.last(CONFIG), "the hub's own config is there");
      assert.ok(probe.last(`${BASE}/metrics`), "the hub's own state is there");
      assert.ok(probe.last(other), "another node's config is left alone");
      assert.ok(probe.last(foreign), "a foreign device's config is left alone");
      assert.equal(probe.last(ghost), undefined, 'the ghost config is gone');
      assert.equal(probe.last(`${BASE}/agent/ghost`), undefined, "the ghost's state is gone");
    } finally {
      await probe.close();
    }
  });

  it('reconnects with backoff after the broker restarts and publishes everything again', async () => {
    const broker = await startMosquitto();
    // No sample in the test's time: the metrics state after the restart is the republish.
    const h = await startHub({ HEARTH_MQTT_URL: broker.url, HEARTH_METRICS_INTERVAL: '3600' });
    await broker.stop();
    await until('health to say MQTT is down', () => h.api('GET', '/api/health'), (r) => r.status === 503);
    await broker.start();
    await until('health to say MQTT is back', () => h.api('GET', '/api/health'), (r) => r.status === 200, { timeoutMs: 20_000 });
    // No persistence: only a republish by the hub can bring these back.
    const probe = await MqttProbe.connect(broker.url, [CONFIG, `${BASE}/bridge/state`, `${BASE}/metrics`]);
    try {
      await probe.seenOrNext(CONFIG);
      await probe.seenOrNext(`${BASE}/bridge/state`, (m) => m.payload === 'online');
      await probe.seenOrNext(`${BASE}/metrics`);
    } finally {
      await probe.close();
    }
  });

  /** `hearth start` on a private Mosquitto, seen online; then `signal`, and the offline that follows. */
  async function killOnlineHub(signal: NodeJS.Signals) {
    const broker = await startMosquitto();
    const hub = await spawnHub({ HEARTH_MQTT_URL: broker.url });
    const probe = await MqttProbe.connect(broker.url, [`${BASE}/bridge/state`]);
    try {
      await probe.seenOrNext(`${BASE}/bridge/state`, (m) => m.payload === 'online');
      const mark = probe.mark();
      const end = await hub.kill(signal);
      return { broker, hub, end, offline: await probe.next(`${BASE}/bridge/state`, (m) => m.payload === 'offline', { since: mark }) };
    } finally {
      await probe.close();
    }
  }

  it('killed -9: the broker publishes its will, offline', async () => {
    const { end, offline } = await killOnlineHub('SIGKILL');
    assert.equal(end.signal, 'SIGKILL');
    assert.equal(offline.payload, 'offline');
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: offline is published first, then a clean exit 0`, async () => {
      const { broker, hub, end, offline } = await killOnlineHub(signal);
      assert.deepEqual(end, { code: 0, signal: null });
      assert.equal(offline.retain, false, 'delivered live, before the connection closed');
      assert.ok(hub.lines.some((l) => l.msg === 'stopping'), 'the hub said it was stopping');
      // Retained for whoever comes later (Home Assistant after a restart).
      const later = await MqttProbe.connect(broker.url, [`${BASE}/bridge/state`]);
      try {
        const m = await later.seenOrNext(`${BASE}/bridge/state`);
        assert.equal(m.payload, 'offline');
      } finally {
        await later.close();
      }
    });
  }
});
