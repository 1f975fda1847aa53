/**
 * The hub on an external Mosquitto that asks for credentials, speaks TLS (mqtts://) or WebSockets
 * (ws://): it connects with what it is given, says so plainly when refused, and never shows the
 * password.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { databaseEnv } from './helpers/database.js';
import { BASE, NODE, runCli, spawnHub, startHub, testEnv, type LogLine } from './helpers/hub.js';
import { makeCertificates, startMosquitto } from './helpers/mosquitto.js';
import { MqttProbe } from './helpers/mqtt-probe.js';
import { tempDir } from './helpers/tmp.js';

const CONFIG = `homeassistant/device/hearth_${NODE}/config`;
const CLI = join(import.meta.dirname, '../dist/cli/main.js');
const HUB_PASSWORD = 'hub-Pa55-9f3c1e';
const users = { hearth: HUB_PASSWORD, ha: 'ha-pass' };

/** The environment of a `hearth start` on a fresh data dir. */
async function startEnv(extra: Record<string, string>): Promise<Record<string, string>> {
  const dir = tempDir();
  return testEnv(dir, { HEARTH_LOG_LEVEL: 'debug', ...(await databaseEnv(dir)), ...extra });
}

/** What a client that subscribed to everything saw: the hub online, its discovery, its states. */
async function seesHubOnline(url: string, opts: { username?: string; password?: string } = {}): Promise<MqttProbe> {
  const probe = await MqttProbe.connect(url, ['#'], opts);
  assert.equal((await probe.seenOrNext(`${BASE}/bridge/state`)).payload, 'online');
  assert.ok(JSON.parse((await probe.seenOrNext(CONFIG)).payload).cmps.cpu);
  await probe.seenOrNext(`${BASE}/metrics`);
  return probe;
}

describe('an external broker with credentials', () => {
  it('connects with HEARTH_MQTT_USERNAME and _PASSWORD, and the password shows nowhere', async () => {
    const broker = await startMosquitto({ users });
    const h = await startHub({ HEARTH_MQTT_URL: broker.url, HEARTH_MQTT_USERNAME: 'hearth', HEARTH_MQTT_PASSWORD: HUB_PASSWORD, HEARTH_LOG_LEVEL: 'debug' });
    const probe = await seesHubOnline(broker.url, { username: 'ha', password: users.ha });
    try {
      assert.match(broker.log(), new RegExp(`as hearth_${NODE}_\\w+ \\([^)]*u'hearth'\\)`), 'the hub connected as its user');
      const info = await h.api<{ broker: { mode: string; url: string; connected: boolean } }>('GET', '/api/info');
      assert.deepEqual(info.body.broker, { mode: 'external', url: broker.url, connected: true });
      const mark = probe.mark();
      await probe.publish(`${BASE}/bridge/request/info`, '{}');
      await probe.next(`${BASE}/bridge/response/info`, () => true, { since: mark });
      assert.ok(h.logs.some((l) => l.msg === 'MQTT connected'), 'the debug log was captured');
      for (const [where, text] of [
        ['/api/info', JSON.stringify(info.body)],
        ['the log', JSON.stringify(h.logs)],
        ['MQTT', JSON.stringify(probe.messages)],
      ] as const) {
        assert.ok(!text.includes(HUB_PASSWORD), `the password is not in ${where}`);
      }
      await h.stop();
    } finally {
      await probe.close();
    }
  });

  it('keeps a password given in the URL out of /api/info, the log and MQTT', async () => {
    const broker = await startMosquitto({ users });
    const url = new URL(broker.url);
    url.username = 'hearth';
    url.password = HUB_PASSWORD;
    const h = await startHub({ HEARTH_MQTT_URL: url.toString(), HEARTH_LOG_LEVEL: 'debug' });
    const probe = await seesHubOnline(broker.url, { username: 'ha', password: users.ha });
    try {
      const info = await h.api('GET', '/api/info');
      for (const [where, text] of [
        ['/api/info', JSON.stringify(info.body)],
        ['the log', JSON.stringify(h.logs)],
        ['MQTT', JSON.stringify(probe.messages)],
      ] as const) {
        assert.ok(!text.includes(HUB_PASSWORD), `the password is not in ${where}: ${text.slice(text.indexOf(HUB_PASSWORD) - 200, text.indexOf(HUB_PASSWORD) + 50)}`);
      }
      await h.stop();
    } finally {
      await probe.close();
    }
  });

  const withUser = (url: string, password: string): string => url.replace('mqtt://', `mqtt://hearth:${password}@`);
  for (const [what, creds] of [
    ['without credentials', (url: string) => ({ HEARTH_MQTT_URL: url })],
    ['with a wrong password', (url: string) => ({ HEARTH_MQTT_URL: url, HEARTH_MQTT_USERNAME: 'hearth', HEARTH_MQTT_PASSWORD: 'not-the-Pa55' })],
    ['with a wrong password in the URL', (url: string) => ({ HEARTH_MQTT_URL: withUser(url, 'not-the-Pa55') })],
  ] as const) {
    it(`\`hearth start\` ${what} stops at once and says the broker refused it`, async () => {
      const broker = await startMosquitto({ users });
      const r = await runCli(['start'], await startEnv(creds(broker.url)));
      assert.equal(r.code, 1, r.stderr);
      const shown = creds(broker.url).HEARTH_MQTT_URL.replace('not-the-Pa55', '***');
      assert.match(r.stderr, new RegExp(`hearth: could not start: MQTT broker ${shown.replace(/[*.]/g, '\\$&')} refused the connection: .*(Not authorized|Bad User Name or Password)`, 'i'));
      assert.ok(!(r.stdout + r.stderr).includes('not-the-Pa55'), 'the password it tried is not shown');
    });
  }
});

describe('an external broker over TLS (mqtts://)', () => {
  it('connects when NODE_EXTRA_CA_CERTS trusts the broker\'s CA', async () => {
    const certs = makeCertificates();
    const broker = await startMosquitto({ tls: certs });
    const hub = await spawnHub({ HEARTH_MQTT_URL: broker.tlsUrl!, NODE_EXTRA_CA_CERTS: certs.caFile });
    const probe = await seesHubOnline(broker.url);
    try {
      const info = await fetch(`${hub.http}/api/info`, { headers: { authorization: `Bearer ${hub.token}` } });
      assert.deepEqual(((await info.json()) as { broker: unknown }).broker, { mode: 'external', url: broker.tlsUrl, connected: true });
      // Its requests go through the TLS connection too.
      const mark = probe.mark();
      await probe.publish(`${BASE}/bridge/request/health_check`, '{}');
      assert.equal(JSON.parse((await probe.next(`${BASE}/bridge/response/health_check`, () => true, { since: mark })).payload).status, 'ok');
      assert.deepEqual(await hub.kill('SIGTERM'), { code: 0, signal: null });
    } finally {
      await probe.close();
    }
  });

  it('does not connect to a broker whose certificate it cannot verify, and logs why', async () => {
    const certs = makeCertificates();
    const broker = await startMosquitto({ tls: certs });
    // Without the CA the hub never gets online: a process of our own to watch and end.
    const proc = spawn(process.execPath, [CLI, 'start'], {
      env: { ...process.env, ...(await startEnv({ HEARTH_MQTT_URL: broker.tlsUrl! })) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    try {
      const lines: LogLine[] = [];
      const refused = await new Promise<LogLine>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no TLS error logged: ${JSON.stringify(lines.slice(-5))}`)), 20_000);
        let buf = '';
        proc.stdout.on('data', (chunk: Buffer) => {
          buf += chunk.toString();
          for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) {
            const line = JSON.parse(buf.slice(0, i)) as LogLine;
            lines.push(line);
            if (line.msg === 'MQTT error') {
              clearTimeout(timer);
              resolve(line);
            }
          }
        });
      });
      assert.match(String(refused.err), /self[- ]signed certificate|unable to (get local issuer|verify)/i);
      assert.ok(!lines.some((l) => l.msg === 'Hearth is running'), 'not running without its broker');
    } finally {
      proc.kill('SIGTERM');
      await exited;
    }
  });
});

describe('an external broker over WebSockets (ws://)', () => {
  it('connects, publishes its discovery and answers requests there', async () => {
    const broker = await startMosquitto({ websockets: true });
    const h = await startHub({ HEARTH_MQTT_URL: broker.wsUrl! });
    const probe = await seesHubOnline(broker.url);
    try {
      assert.deepEqual((await h.api<{ broker: unknown }>('GET', '/api/info')).body.broker, { mode: 'external', url: broker.wsUrl, connected: true });
      const mark = probe.mark();
      await probe.publish(`${BASE}/bridge/request/info`, '{"transaction": "ws"}');
      const reply = JSON.parse((await probe.next(`${BASE}/bridge/response/info`, () => true, { since: mark })).payload) as { status: string; transaction: string };
      assert.deepEqual([reply.status, reply.transaction], ['ok', 'ws']);
      // What the hub publishes after the connection, too (a command's state change).
      const shown = probe.mark();
      await probe.publish(`${BASE}/bridge/request/options`, '{"log_level": "debug"}');
      await probe.next(`${BASE}/bridge/info`, (m) => JSON.parse(m.payload).log_level === 'debug', { since: shown });
      await h.stop();
    } finally {
      await probe.close();
    }
  });
});
