/**
 * The add-on's run script (addon/rootfs/etc/services.d/hearth/run) run for real, with the bashio
 * the base image ships (test/fixtures/bashio), against a stand-in Supervisor: the environment and
 * arguments it hands to node are the hub's settings (src/hub/config/settings.ts) as addon/DOCS.md
 * lists them.
 * A fake `node` first on PATH records them. In the image, s6's with-contenv starts
 * `bashio run` with the container's environment; here the test starts `bashio run` with its own.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, type TestContext } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { freePort } from './helpers/ports.js';
import { startFakeSupervisor, type FakeSupervisor, type MqttService, type SupervisorState } from './helpers/fake-supervisor.js';
import { tempDir } from './helpers/tmp.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BASHIO = join(ROOT, 'test/fixtures/bashio/lib/bashio');
const RUN = join(ROOT, 'addon/rootfs/etc/services.d/hearth/run');
const MAIN = '/opt/hearth/lib/node_modules/hearth-hub/dist/cli/main.js';
const TOKEN = 'app-token-5f1c9e';
const MOSQUITTO: MqttService = { host: 'core-mosquitto', port: '1883', ssl: false, username: 'addons', password: 'Ee9!x y$"q\'z', protocol: '3.1.1' };
/** The broker's password in the output, as it is or as JSON writes it (bashio's debug lines print the Supervisor's answer). */
const showsPassword = (output: string): boolean => output.includes(MOSQUITTO.password!) || output.includes(JSON.stringify(MOSQUITTO.password).slice(1, -1));

/** The options the Supervisor gives a fresh install: config.yaml's defaults. */
const DEFAULTS = (parseYaml(readFileSync(join(ROOT, 'addon/config.yaml'), 'utf8')) as { options: Record<string, unknown> }).options;

/** bashio needs bash, jq and curl; the image has them, and scripts/test.sh installs them as root. */
const missing = ['bash', 'jq', 'curl'].filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);

interface Run {
  code: number | null;
  output: string;
  /** What the fake node got, or null when the script never reached it. */
  node: { argv: string[]; env: Map<string, string> } | null;
  /** bashio's cache folder (CACHE_DIR): the options and the broker's password while the script runs. */
  cache: string;
  /** What the stand-in Supervisor was asked. */
  requests: FakeSupervisor['requests'];
}

async function runScript(state: SupervisorState, opts: { token?: string; env?: Record<string, string>; hearthYaml?: string } = {}): Promise<Run> {
  const supervisor = await startFakeSupervisor(state);
  const dir = tempDir('hearth-addon-run-');
  const bin = join(dir, 'bin');
  const config = join(dir, 'config');
  const cache = join(dir, 'bashio-cache');
  mkdirSync(bin);
  mkdirSync(config);
  if (opts.hearthYaml !== undefined) writeFileSync(join(config, 'hearth.yaml'), opts.hearthYaml);
  // Stands in for node: records its arguments and environment, NUL-separated.
  writeFileSync(join(bin, 'node'), `#!/bin/sh\nprintf '%s\\0' "$@" > '${dir}/argv'\nenv -0 > '${dir}/env'\n`, { mode: 0o755 });

  const child = spawn('bash', [BASHIO, RUN], {
    env: {
      PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      SUPERVISOR_API: supervisor.url,
      SUPERVISOR_TOKEN: opts.token ?? TOKEN,
      CACHE_DIR: cache,
      ADDON_CONFIG_DIR: config,
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  // bashio colours each message; the words are what matter here.
  output = output.replace(/\x1b\[[0-9;]*m/g, '');

  const reached = existsSync(join(dir, 'env'));
  const node = reached
    ? {
        argv: readFileSync(join(dir, 'argv'), 'utf8').split('\0').slice(0, -1),
        env: new Map(
          readFileSync(join(dir, 'env'), 'utf8')
            .split('\0')
            .filter((l) => l !== '')
            .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]),
        ),
      }
    : null;
  return { code, output, node, cache, requests: supervisor.requests };
}

/** The HEARTH_* settings node got, as one object: anything unexpected shows in the diff. */
const hearthEnv = (r: Run): Record<string, string> => Object.fromEntries([...(r.node?.env ?? [])].filter(([k]) => k.startsWith('HEARTH_')).sort());

const FIXED = { HEARTH_DATA_DIR: '/data', HEARTH_HTTP_PORT: '8099', HEARTH_INGRESS: 'true' };
const FROM_DEFAULTS = { HEARTH_LOG_LEVEL: 'info', HEARTH_METRICS_INTERVAL: '10', HEARTH_BASE_TOPIC: 'hearth' };

function skipWithout(t: TestContext): boolean {
  if (missing.length === 0) return false;
  t.skip(`needs ${missing.join(', ')} (bashio calls them); scripts/test.sh installs them when run as root`);
  return true;
}

describe('the add-on run script', () => {
  it("uses Home Assistant's broker from the Supervisor's mqtt service, and hands node the settings", async (t) => {
    if (skipWithout(t)) return;
    const r = await runScript({ token: TOKEN, options: DEFAULTS, mqtt: MOSQUITTO });

    assert.equal(r.code, 0, r.output);
    assert.deepEqual(r.node?.argv, [MAIN, 'start']);
    assert.deepEqual(hearthEnv(r), {
      ...FIXED,
      ...FROM_DEFAULTS,
      HEARTH_MQTT_URL: 'mqtt://core-mosquitto:1883',
      HEARTH_MQTT_USERNAME: 'addons',
      HEARTH_MQTT_PASSWORD: MOSQUITTO.password,
    });
    // The hub's Home Assistant bridge signs in with it.
    assert.equal(r.node?.env.get('SUPERVISOR_TOKEN'), TOKEN);
    assert.ok(r.requests.length > 0 && r.requests.every((q) => q.authorized), JSON.stringify(r.requests));
    assert.ok(r.requests.some((q) => q.path === '/services/mqtt'));
    assert.match(r.output, /Home Assistant's broker, mqtt:\/\/core-mosquitto:1883, as addons/);
    assert.ok(!showsPassword(r.output) && !r.output.includes(TOKEN), r.output);
    assert.ok(!existsSync(r.cache), "bashio's cache, with the password, is gone before node starts");
  });

  it('reads a numeric port and TLS from the service, and never logs the password, even at trace level', async (t) => {
    if (skipWithout(t)) return;
    const options = { ...DEFAULTS, log_level: 'trace', metrics_interval: 30, base_topic: 'home/hearth' };
    // bashio's own level comes from the container's LOG_LEVEL (7: trace), where it prints API answers.
    const r = await runScript({ token: TOKEN, options, mqtt: { ...MOSQUITTO, port: 8883, ssl: true } }, { env: { LOG_LEVEL: '7' } });

    assert.equal(r.code, 0, r.output);
    assert.deepEqual(hearthEnv(r), {
      ...FIXED,
      HEARTH_LOG_LEVEL: 'trace',
      HEARTH_METRICS_INTERVAL: '30',
      HEARTH_BASE_TOPIC: 'home/hearth',
      HEARTH_MQTT_URL: 'mqtts://core-mosquitto:8883',
      HEARTH_MQTT_USERNAME: 'addons',
      HEARTH_MQTT_PASSWORD: MOSQUITTO.password,
    });
    assert.ok(!showsPassword(r.output), r.output);
    // A broker at an IPv6 address: in brackets, as a URL needs it.
    const v6 = await runScript({ token: TOKEN, options: DEFAULTS, mqtt: { ...MOSQUITTO, host: 'fd00::1' } });
    assert.equal(v6.node?.env.get('HEARTH_MQTT_URL'), 'mqtt://[fd00::1]:1883');
  });

  it("falls back to the embedded broker, with a warning, when Home Assistant's broker is chosen but missing", async (t) => {
    if (skipWithout(t)) return;
    // No app provides the service (400 "Service not enabled"), or its answer names no broker.
    for (const mqtt of [null, { protocol: '3.1.1' } as unknown as MqttService]) {
      const r = await runScript({ token: TOKEN, options: DEFAULTS, mqtt });

      assert.equal(r.code, 0, r.output);
      assert.deepEqual(r.node?.argv, [MAIN, 'start']);
      assert.deepEqual(hearthEnv(r), { ...FIXED, ...FROM_DEFAULTS, HEARTH_BROKER_PORT: '1883' });
      assert.match(r.output, /WARNING: Home Assistant's MQTT broker was chosen, but the Supervisor offers none \(install and start the Mosquitto broker app/);
    }
  });

  it('runs the embedded broker when chosen, without asking for the mqtt service or keeping a broker URL from the environment', async (t) => {
    if (skipWithout(t)) return;
    const r = await runScript(
      { token: TOKEN, options: { ...DEFAULTS, mqtt_broker: 'embedded' }, mqtt: MOSQUITTO },
      { env: { HEARTH_MQTT_URL: 'mqtt://elsewhere:1883', HEARTH_MQTT_PASSWORD: 'stale' } },
    );

    assert.equal(r.code, 0, r.output);
    assert.deepEqual(hearthEnv(r), { ...FIXED, ...FROM_DEFAULTS, HEARTH_BROKER_PORT: '1883' });
    assert.ok(!r.requests.some((q) => q.path === '/services/mqtt'), JSON.stringify(r.requests));
    assert.doesNotMatch(r.output, /WARNING/);
  });

  it('maps Home Assistant users to Hearth roles, and passes a hearth.yaml from the public config folder', async (t) => {
    if (skipWithout(t)) return;
    const options = {
      ...DEFAULTS,
      ingress_roles: [
        { user: 'olga', role: 'viewer' },
        { user: 'kid room', role: 'operator' },
        { user: '*', role: 'viewer' },
      ],
    };
    const r = await runScript({ token: TOKEN, options, mqtt: MOSQUITTO }, { hearthYaml: 'agents: []\n' });

    assert.equal(r.code, 0, r.output);
    assert.equal(hearthEnv(r).HEARTH_INGRESS_ROLES, 'olga=viewer,kid room=operator,*=viewer');
    const config = r.node?.argv.at(-1) ?? '';
    assert.deepEqual(r.node?.argv, [MAIN, 'start', '--config', config]);
    assert.equal(readFileSync(config, 'utf8'), 'agents: []\n');
  });

  it('stops with a clear error, before node, when the Supervisor refuses the token or is not there', async (t) => {
    if (skipWithout(t)) return;
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    for (const opts of [{ token: 'not-the-app-token' }, { token: '' }, { env: { SUPERVISOR_API: nowhere } }]) {
      const r = await runScript({ token: TOKEN, options: DEFAULTS, mqtt: MOSQUITTO }, opts);

      assert.equal(r.code, 1, r.output);
      assert.equal(r.node, null, 'node must not start');
      assert.match(r.output, /FATAL: Cannot read this app's options from the Supervisor \(http:\/\/127\.0\.0\.1:\d+\): it cannot be reached, or refused this app's token/);
      assert.ok(!r.output.includes('not-the-app-token') && !r.output.includes(TOKEN), r.output);
    }
  });
});
