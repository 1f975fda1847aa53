/** The hub on its embedded broker, as Home Assistant and MQTT clients see it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BASE, NODE, startHub } from './helpers/hub.js';
import { MqttProbe, withoutCredentials } from './helpers/mqtt-probe.js';
import { freePort } from './helpers/ports.js';
import { until } from './helpers/wait.js';

const CONFIG = `homeassistant/device/hearth_${NODE}/config`;

interface Discovery {
  dev: { identifiers: string[]; name: string };
  o: { name: string };
  cmps: Record<string, { p: string; unique_id: string; device_class?: string; unit_of_measurement?: string; entity_category?: string }>;
  state_topic: string;
  availability: Array<{ topic: string }>;
}

describe('hub on the embedded broker', () => {
  it('appears in Home Assistant by itself: discovery, availability and metrics', async () => {
    const h = await startHub();
    const probe = await MqttProbe.connect(h.brokerUrl);
    try {
      // Retained: a client that connects after the start gets them at once.
      const state = await probe.seenOrNext(`${BASE}/bridge/state`, (m) => m.payload === 'online');
      assert.equal(state.retain, true, 'bridge/state is retained');
      const config = await probe.seenOrNext(CONFIG);
      assert.equal(config.retain, true);
      const d = JSON.parse(config.payload) as Discovery;
      assert.deepEqual(d.dev.identifiers, [`hearth_${NODE}`]);
      assert.equal(d.o.name, 'Hearth');
      assert.equal(d.state_topic, `${BASE}/metrics`);
      assert.deepEqual(d.availability, [{ topic: `${BASE}/bridge/state` }]);
      for (const field of ['cpu', 'load_1', 'load_5', 'load_15', 'memory', 'memory_used', 'swap', 'disk_root', 'network_rx', 'network_tx', 'last_boot', 'agents', 'tasks', 'devices', 'problem', 'log_level', 'restart']) {
        assert.ok(d.cmps[field], `component ${field} is published`);
        assert.equal(d.cmps[field]!.unique_id, `hearth_${NODE}_${field}`);
      }
      assert.equal(d.cmps.problem!.p, 'binary_sensor');
      assert.equal(d.cmps.log_level!.p, 'select');
      assert.equal(d.cmps.last_boot!.device_class, 'timestamp');
      assert.equal(d.cmps.load_1!.entity_category, 'diagnostic');
      assert.equal(d.cmps.cpu!.entity_category, undefined);

      const first = await probe.seenOrNext(`${BASE}/metrics`);
      assert.equal(first.retain, true);
      const m = JSON.parse(first.payload) as Record<string, unknown>;
      assert.equal(typeof m.cpu_percent, 'number');
      assert.equal(typeof (m.disk as Record<string, number>)['/'], 'number');
      assert.ok(Date.parse(String(m.booted_at)) < Date.now());
      assert.equal(m.agents, 0);
      assert.equal(m.problem, false);
      // HEARTH_METRICS_INTERVAL=1 in tests: a fresh sample follows.
      const next = await probe.next(`${BASE}/metrics`);
      assert.notEqual(JSON.parse(next.payload).timestamp, m.timestamp);

      const info = JSON.parse((await probe.seenOrNext(`${BASE}/bridge/info`)).payload) as Record<string, unknown>;
      assert.equal(info.node_id, NODE);
      assert.deepEqual((info.broker as { mode: string }).mode, 'embedded');
    } finally {
      await probe.close();
      await h.stop();
    }
  });

  it('publishes discovery and states again when Home Assistant comes online', async () => {
    // No sample in the test's time: any config or state that comes now is the republish.
    const h = await startHub({ HEARTH_METRICS_INTERVAL: '3600' });
    // Home Assistant's user: the one that may say Home Assistant is online.
    const probe = await MqttProbe.connect(h.brokerUrl, ['#'], h.brokerUsers!.homeassistant);
    try {
      const retained = await probe.seenOrNext(`${BASE}/metrics`);
      await probe.seenOrNext(CONFIG);
      const mark = probe.mark();
      await probe.publish('homeassistant/status', 'online');
      const again = await probe.next(CONFIG, () => true, { since: mark });
      assert.ok(JSON.parse(again.payload).cmps.cpu);
      const state = await probe.next(`${BASE}/metrics`, () => true, { since: mark });
      // The very sample it had: sent again, not a new one.
      assert.equal(state.payload, retained.payload);
      await probe.next(`${BASE}/bridge/info`, () => true, { since: mark });
    } finally {
      await probe.close();
    }
  });

  it('answers bridge requests, with transaction, and refuses bad ones clearly', async () => {
    // A level the test then changes (whatever HEARTH_TEST_LOG asks for).
    const h = await startHub({ HEARTH_LOG_LEVEL: 'warn' });
    const probe = await MqttProbe.connect(h.brokerUrl, [`${BASE}/bridge/#`]);
    const ask = async (path: string, payload: string): Promise<Record<string, unknown>> => {
      const mark = probe.mark();
      await probe.publish(`${BASE}/bridge/request/${path}`, payload);
      return JSON.parse((await probe.next(`${BASE}/bridge/response/${path}`, () => true, { since: mark })).payload) as Record<string, unknown>;
    };
    try {
      await probe.seenOrNext(`${BASE}/bridge/state`, (m) => m.payload === 'online');
      const info = await ask('info', JSON.stringify({ transaction: 'abc' }));
      assert.equal(info.status, 'ok');
      assert.equal(info.transaction, 'abc');
      assert.equal((info.data as { node_id: string }).node_id, NODE);

      const health = await ask('health_check', '');
      assert.deepEqual(health, { status: 'ok', data: { status: 'ok', healthy: true, checks: { mqtt: { ok: true }, database: { ok: true }, disk: { ok: true } } } });

      const bad = await ask('info', '{not json');
      assert.equal(bad.status, 'error');
      assert.match(String(bad.error), /not valid JSON/);

      const array = await ask('info', '[1,2]');
      assert.match(String(array.error), /JSON object/);

      const unknown = await ask('no/such/path', JSON.stringify({ transaction: 7 }));
      assert.equal(unknown.status, 'error');
      assert.equal(unknown.transaction, 7);
      assert.match(String(unknown.error), /unknown request path "no\/such\/path"/);

      const extra = await ask('info', JSON.stringify({ bogus: 1 }));
      assert.match(String(extra.error), /unknown field "bogus"/);

      const wrong = await ask('options', JSON.stringify({ log_level: 'loud' }));
      assert.equal(wrong.status, 'error');
      assert.match(String(wrong.error), /log_level/);
      assert.equal(h.hub.info().log_level, 'warn', 'a refused request changes nothing');

      // The log-level select in Home Assistant sends exactly this (its command_template).
      const mark = probe.mark();
      const set = await ask('options', '{"log_level": "debug"}');
      assert.deepEqual(set, { status: 'ok', data: { log_level: 'debug' } });
      assert.equal(h.hub.logger.level, 'debug');
      await probe.next(`${BASE}/bridge/info`, (m) => JSON.parse(m.payload).log_level === 'debug', { since: mark });
      // The hub keeps running after all that.
      assert.equal((await ask('health_check', '{}')).status, 'ok');
    } finally {
      await probe.close();
    }
  });

  it('restarts in place from the Restart button and comes back online', async () => {
    // Fixed ports: a restarted hub on port 0 would pick new ones.
    const h = await startHub({ HEARTH_BROKER_PORT: String(await freePort()), HEARTH_HTTP_PORT: String(await freePort()) });
    const probe = await MqttProbe.connect(h.brokerUrl, [`${BASE}/bridge/response/#`, `${BASE}/bridge/state`]);
    try {
      const mark = probe.mark();
      await probe.publish(`${BASE}/bridge/request/restart`, '{}');
      assert.equal(JSON.parse((await probe.next(`${BASE}/bridge/response/restart`, () => true, { since: mark })).payload).status, 'ok');
      await probe.next(`${BASE}/bridge/state`, (m) => m.payload === 'offline', { since: mark });
    } finally {
      await probe.close();
    }
    // The embedded broker restarts with the hub: a new client sees it online again (a client
    // that connects while the hub is down gets the retained offline, or no answer).
    await until(
      'a new client to see the hub online again',
      async () => {
        const p = await MqttProbe.connect(h.brokerUrl, [`${BASE}/bridge/state`]);
        try {
          return (await p.seenOrNext(`${BASE}/bridge/state`, () => true, 2000)).payload;
        } finally {
          await p.close();
        }
      },
      (state) => state === 'online',
      { timeoutMs: 15_000, everyMs: 200 },
    );
    assert.equal((await h.api('GET', '/api/health')).status, 200);
  });

  it('signs itself in with HEARTH_BROKER_USERNAME and _PASSWORD when they are set, and refuses wrong ones', async () => {
    const h = await startHub({ HEARTH_BROKER_USERNAME: 'ha', HEARTH_BROKER_PASSWORD: 's3cret' });
    assert.deepEqual(h.brokerUsers!.hub, { username: 'ha', password: 's3cret' });
    await assert.rejects(MqttProbe.connect(withoutCredentials(h.brokerUrl), []), /Not authorized/i);
    await assert.rejects(MqttProbe.connect(h.brokerUrl, [], { username: 'ha', password: 'wrong' }), /Bad username or password/i);
    const ok = await MqttProbe.connect(h.brokerUrl, [CONFIG], { username: 'ha', password: 's3cret' });
    try {
      await ok.seenOrNext(CONFIG);
    } finally {
      await ok.close();
    }
  });

  it('stops publishing a device the user deleted in Home Assistant, until shown again', async () => {
    const h = await startHub();
    const probe = await MqttProbe.connect(h.brokerUrl, ['#'], h.brokerUsers!.homeassistant);
    try {
      await probe.seenOrNext(CONFIG);
      await probe.seenOrNext(`${BASE}/metrics`);
      // What Home Assistant does when the user deletes an MQTT device: empty retained config.
      const deleting = probe.mark();
      await probe.publish(CONFIG, '', { retain: true });
      const hidden = await probe.next(`${BASE}/bridge/event`, (m) => JSON.parse(m.payload).type === 'device_hidden', { since: deleting });
      assert.deepEqual(JSON.parse(hidden.payload).data, { device_id: `hearth_${NODE}` });
      const list = await h.api<Array<{ device_id: string }>>('GET', '/api/discovery/hidden');
      assert.deepEqual(list.body.map((d) => d.device_id), [`hearth_${NODE}`]);
      // Two more samples go by (each one refreshes bridge/info) without a state or config for it.
      const mark = probe.mark();
      await probe.next(`${BASE}/bridge/info`);
      await probe.next(`${BASE}/bridge/info`);
      const after = probe.messages.slice(mark).map((m) => m.topic);
      assert.ok(!after.includes(`${BASE}/metrics`), 'no metrics state while hidden');
      assert.ok(!after.includes(CONFIG), 'no discovery while hidden');

      assert.equal((await h.api('POST', '/api/discovery/hearth_nope/show')).status, 404);
      const showing = probe.mark();
      const shown = await h.api('POST', `/api/discovery/hearth_${NODE}/show`);
      assert.equal(shown.status, 200);
      assert.ok(JSON.parse((await probe.next(CONFIG, (m) => m.payload !== '', { since: showing })).payload).cmps.cpu);
      await probe.next(`${BASE}/metrics`, () => true, { since: showing });
      assert.deepEqual((await h.api('GET', '/api/discovery/hidden')).body, []);
    } finally {
      await probe.close();
    }
  });
});
