/**
 * Who may sign in to the embedded broker (real clients): nobody without credentials unless
 * HEARTH_BROKER_ANONYMOUS says so, the hub's and Home Assistant's generated users, Hearth users
 * with a password or an API token, and no one under the hub's client id. And what `hearth mqtt
 * credentials` shows on an external broker (Mosquitto).
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BASE, NODE, api, cliEnv, runCli, startHub, type HubHandle } from './helpers/hub.js';
import { startMosquitto } from './helpers/mosquitto.js';
import { MqttProbe, withoutCredentials } from './helpers/mqtt-probe.js';
import { until } from './helpers/wait.js';

const CONFIG = `homeassistant/device/hearth_${NODE}/config`;
const ANONYMOUS_WARNING = /lets clients in without credentials \(HEARTH_BROKER_ANONYMOUS=true\), as operators/;

/** A Hearth user of this hub, and its session for the HTTP API. */
async function addUser(h: HubHandle, username: string, role: string, password: string): Promise<string> {
  const made = await h.api('POST', '/api/users', { username, password, role });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const login = await api<{ token: string }>(h.http, null, 'POST', '/api/auth/login', { username, password });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  return login.body.token;
}

describe('signing in to the embedded broker', () => {
  it('refuses anonymous clients and wrong passwords', async () => {
    const h = await startHub();
    await assert.rejects(MqttProbe.connect(withoutCredentials(h.brokerUrl), []), /Not authorized/);
    await assert.rejects(MqttProbe.connect(h.brokerUrl, [], { username: 'homeassistant', password: 'guess' }), /Bad username or password/);
    await assert.rejects(MqttProbe.connect(h.brokerUrl, [], { username: 'hearth', password: 'guess' }), /Bad username or password/);
    await assert.rejects(MqttProbe.connect(h.brokerUrl, [], { username: 'admin', password: 'not-the-token' }), /Bad username or password/);
    // The refusals are logged without the password tried.
    const refused = h.logs.filter((l) => l.msg?.startsWith('MQTT client refused'));
    assert.equal(refused.length, 4, JSON.stringify(refused));
    assert.ok(!JSON.stringify(refused).includes('guess') && !JSON.stringify(refused).includes('not-the-token'));
    assert.ok(!h.logs.some((l) => ANONYMOUS_WARNING.test(String(l.msg))), 'no warning about anonymous clients when they are refused');
  });

  it('HEARTH_BROKER_ANONYMOUS=true lets clients in without credentials, as operators, with a warning at every start', async () => {
    const h = await startHub({ HEARTH_BROKER_ANONYMOUS: 'true' });
    assert.equal(h.logs.filter((l) => l.level === 40 && ANONYMOUS_WARNING.test(String(l.msg))).length, 1);
    const anon = await MqttProbe.connect(withoutCredentials(h.brokerUrl), [`${BASE}/bridge/response/#`]);
    try {
      assert.equal((await anon.ask(BASE, 'health_check', {})).status, 'ok');
      const create = await anon.ask(BASE, 'agent/create', { name: 'by_anyone', command: 'sleep', args: ['600'] });
      assert.equal(create.status, 'error');
      assert.match(String(create.error), /agent\/create needs the admin role; anonymous is an operator/);
      assert.equal((await h.api('GET', '/api/agents/by_anyone')).status, 404);
    } finally {
      await anon.close();
    }
    // A restart in place is a start too.
    assert.equal((await h.api('POST', '/api/restart')).status, 200);
    await until('the warning again after the restart', () => h.logs.filter((l) => ANONYMOUS_WARNING.test(String(l.msg))).length, (n) => n === 2);
  });

  it('generates the hub\'s and Home Assistant\'s passwords once (0600), shows them to an admin, and they sign in', async () => {
    const h = await startHub();
    const file = join(h.dataDir, 'mqtt-credentials');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    assert.deepEqual(Object.keys(stored).sort(), ['hearth', 'homeassistant']);
    assert.ok(stored.hearth!.length >= 24 && stored.homeassistant!.length >= 24 && stored.hearth !== stored.homeassistant);

    const text = await runCli(['mqtt', 'credentials'], cliEnv(h));
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout, `username: hearth\npassword: ${stored.hearth}\n\nusername: homeassistant\npassword: ${stored.homeassistant}\n`);
    const json = await runCli(['mqtt', 'credentials', '--json'], cliEnv(h));
    assert.equal(json.code, 0, json.stderr);
    const list = [
      { username: 'hearth', password: stored.hearth },
      { username: 'homeassistant', password: stored.homeassistant },
    ];
    assert.deepEqual(JSON.parse(json.stdout), list);

    // Admins only, and never over MQTT, where an answer may reach others.
    const viewer = await addUser(h, 'vic', 'viewer', 'vic-pass-1');
    const refused = await api<{ error: string }>(h.http, viewer, 'GET', '/api/mqtt/credentials');
    assert.equal(refused.status, 403);
    assert.match(refused.body.error, /needs the admin role/);
    const admin = await MqttProbe.connect(h.brokerUrl, [`${BASE}/bridge/response/#`]);
    try {
      const asked = await admin.ask(BASE, 'mqtt/credentials', {});
      assert.deepEqual(asked, { status: 'error', error: 'mqtt/credentials answers a secret: use the HTTP API', transaction: admin.lastTransaction });
      assert.ok(!admin.messages.some((m) => m.payload.includes(stored.homeassistant!)));
    } finally {
      await admin.close();
    }

    // What Home Assistant is told to enter signs in.
    const ha = await MqttProbe.connect(h.brokerUrl, [CONFIG], { username: 'homeassistant', password: stored.homeassistant! });
    try {
      assert.ok(JSON.parse((await ha.seenOrNext(CONFIG)).payload).cmps.cpu);
    } finally {
      await ha.close();
    }

    // Kept across starts: nothing is generated again.
    await h.stop();
    const again = await startHub({}, h.dataDir);
    assert.deepEqual(again.brokerUsers, { hub: list[0], homeassistant: list[1] });
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), stored);
  });

  it('signs in Hearth users with their password or an API token, each with its role', async () => {
    const h = await startHub();
    const session = await addUser(h, 'olga', 'operator', 'olga-pass-1');
    const token = await api<{ token: string }>(h.http, session, 'POST', '/api/tokens', { name: 'mqtt', role: 'viewer' });
    assert.equal(token.status, 201, JSON.stringify(token.body));
    await assert.rejects(MqttProbe.connect(h.brokerUrl, [], { username: 'olga', password: 'wrong' }), /Bad username or password/);
    // A token is its owner's: another name with it is refused.
    await assert.rejects(MqttProbe.connect(h.brokerUrl, [], { username: 'homeassistant', password: token.body.token }), /Bad username or password/);

    const agent = await h.api<{ id: string }>('POST', '/api/agents', { name: 'sleeper', command: 'sleep', args: ['600'], autostart: false });
    assert.equal(agent.status, 201, JSON.stringify(agent.body));
    const byPassword = await MqttProbe.connect(h.brokerUrl, [`${BASE}/bridge/response/#`], { username: 'olga', password: 'olga-pass-1' });
    const byToken = await MqttProbe.connect(h.brokerUrl, [`${BASE}/bridge/response/#`], { username: 'olga', password: token.body.token });
    try {
      // The token was made a viewer: it may read, not start.
      const viewing = await byToken.ask(BASE, 'agent/start', { id: 'sleeper' });
      assert.match(String(viewing.error), /agent\/start needs the operator role; olga is a viewer/);
      assert.equal((await byToken.ask(BASE, 'agent/get', { id: 'sleeper' })).status, 'ok');
      const started = await byPassword.ask<{ status: string }>(BASE, 'agent/start', { id: 'sleeper' });
      assert.equal(started.status, 'ok', JSON.stringify(started));
      const creating = await byPassword.ask(BASE, 'agent/create', { name: 'other', command: 'sleep', args: ['600'] });
      assert.match(String(creating.error), /agent\/create needs the admin role; olga is an operator/);
    } finally {
      await byPassword.close();
      await byToken.close();
    }
  });

  it("refuses any other client that presents the hub's client id, and the hub stays online", async () => {
    const h = await startHub();
    // Admins see client ids under $SYS; no log shows the hub's: the test asks the hub itself.
    const { clientId } = await (h.hub as unknown as { mqtt: { listen(): Promise<{ clientId: string }> } }).mqtt.listen();
    assert.match(clientId, /^hearth_testnode_[0-9a-f]{32}$/);
    const flaps: boolean[] = [];
    const off = h.hub.bus.on('mqtt.connection', (e) => void flaps.push(e.connected));
    const watcher = await MqttProbe.connect(h.brokerUrl, [`${BASE}/bridge/state`, `${BASE}/bridge/response/#`]);
    try {
      await watcher.seenOrNext(`${BASE}/bridge/state`, (m) => m.payload === 'online');
      const since = watcher.mark();
      for (const as of [{}, { username: 'homeassistant', password: h.brokerUsers!.homeassistant.password }]) {
        await assert.rejects(MqttProbe.connect(h.brokerUrl, [], { clientId, ...as }), /Identifier rejected/);
      }
      await assert.rejects(MqttProbe.connect(withoutCredentials(h.brokerUrl), [], { clientId }), /Identifier rejected/);
      // The hub answers over its connection as before, and never went offline.
      const health = await watcher.ask<{ checks: { mqtt: { ok: boolean } } }>(BASE, 'health_check', {});
      assert.equal(health.data?.checks.mqtt.ok, true);
      assert.deepEqual(watcher.messages.slice(since).filter((m) => m.topic === `${BASE}/bridge/state`).map((m) => m.payload), []);
      assert.deepEqual(flaps, []);
    } finally {
      off();
      await watcher.close();
    }
  });

  it('on an external broker, `hearth mqtt credentials` shows how the hub signs in there, if it does', async () => {
    const broker = await startMosquitto({ users: { hub: 'hub-Pa55-e1' } });
    const inUrl = new URL(broker.url);
    inUrl.username = 'hub';
    inUrl.password = 'hub-Pa55-e1';
    const settings: Array<Record<string, string>> = [{ HEARTH_MQTT_URL: broker.url, HEARTH_MQTT_USERNAME: 'hub', HEARTH_MQTT_PASSWORD: 'hub-Pa55-e1' }, { HEARTH_MQTT_URL: inUrl.toString() }];
    for (const env of settings) {
      const signed = await startHub(env);
      assert.equal(signed.brokerUsers, null);
      const shown = await runCli(['mqtt', 'credentials', '--json'], cliEnv(signed));
      assert.deepEqual(JSON.parse(shown.stdout), [{ username: 'hub', password: 'hub-Pa55-e1' }], JSON.stringify(env));
      await signed.stop();
    }
    const open = await startMosquitto();
    const anonymous = await startHub({ HEARTH_MQTT_URL: open.url });
    assert.deepEqual((await anonymous.api('GET', '/api/mqtt/credentials')).body, []);
    assert.equal((await runCli(['mqtt', 'credentials'], cliEnv(anonymous))).stdout, 'the hub signs in to its external broker without credentials\n');
    await anonymous.stop();
    await Promise.all([broker.stop(), open.stop()]);
  });
});
