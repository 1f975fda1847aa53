/** Settings from flags, environment, hearth.yaml and defaults; a bad one stops the hub with exit 2. */
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/hub/config/load.js';
import { runCli } from './helpers/hub.js';
import { tempDir } from './helpers/tmp.js';

describe('configuration', () => {
  it('takes flags over environment over hearth.yaml over defaults', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'hearth.yaml'), 'http_port: 9001\nbroker_port: 1999\nnode_id: fromyaml\nlog_level: warn\nmetrics_interval: 30\n');
    const { settings, origin, configFile } = loadConfig({
      flags: { http_port: '9003' },
      env: { HEARTH_DATA_DIR: dir, HEARTH_HTTP_PORT: '9002', HEARTH_BROKER_PORT: '2000' },
    });
    assert.equal(configFile, join(dir, 'hearth.yaml'));
    assert.equal(settings.httpPort, 9003);
    assert.equal(origin.httpPort, '--http-port');
    assert.equal(settings.brokerPort, 2000);
    assert.equal(origin.brokerPort, 'HEARTH_BROKER_PORT');
    assert.equal(settings.nodeId, 'fromyaml');
    assert.equal(settings.logLevel, 'warn');
    assert.equal(settings.metricsInterval, 30);
    assert.equal(settings.baseTopic, 'hearth');
    assert.equal(origin.baseTopic, 'default');
    assert.equal(settings.metricsRetentionDays, 7);
    assert.equal(settings.dataDir, dir);
  });

  it('defaults the node id to the slugified host name, and broker port 0 is allowed', () => {
    const dir = tempDir();
    const { settings } = loadConfig({ flags: {}, env: { HEARTH_DATA_DIR: dir, HEARTH_BROKER_PORT: '0' } });
    assert.match(settings.nodeId, /^[a-z0-9]+(_[a-z0-9]+)*$/);
    assert.equal(settings.brokerPort, 0);
    assert.equal(settings.httpPort, 8099);
    assert.equal(settings.mqttUrl, '');
  });

  it('reads --config FILE instead of the data dir one', () => {
    const dir = tempDir();
    const file = join(dir, 'other.yaml');
    writeFileSync(file, 'base_topic: home/hearth\n');
    const { settings } = loadConfig({ flags: {}, env: { HEARTH_DATA_DIR: dir }, configFile: file });
    assert.equal(settings.baseTopic, 'home/hearth');
  });

  const bad: Array<[string, Record<string, string>, string | null, RegExp]> = [
    ['a port that is not a number', { HEARTH_HTTP_PORT: 'abc' }, null, /setting http_port \(from HEARTH_HTTP_PORT\): "abc" is not a port number/],
    ['a port out of range', { HEARTH_BROKER_PORT: '70000' }, null, /broker_port.*not a port number/],
    ['an unknown log level', { HEARTH_LOG_LEVEL: 'loud' }, null, /log_level.*"loud" is not a log level \(trace, debug/],
    ['a node id Home Assistant would refuse', { HEARTH_NODE_ID: 'My Hub' }, null, /node_id.*lower-case/],
    ['a base topic with a wildcard', { HEARTH_BASE_TOPIC: 'hearth/#' }, null, /base_topic.*no wildcards/],
    ['an MQTT URL of the wrong scheme', { HEARTH_MQTT_URL: 'http://x' }, null, /mqtt_url.*must start with mqtt:\/\//],
    ['a database URL that is not PostgreSQL', { HEARTH_DATABASE_URL: 'mysql://x/y' }, null, /database_url.*postgres/],
    ['a zero metrics interval', { HEARTH_METRICS_INTERVAL: '0' }, null, /metrics_interval.*positive/],
    ['an unknown key in hearth.yaml', {}, 'htp_port: 80\n', /unknown setting "htp_port"/],
    ['a bad value in hearth.yaml', {}, 'http_port: [1, 2]\n', /http_port \(in .*hearth.yaml\): must be a single value/],
    ['hearth.yaml that is not YAML', {}, 'a: [\n', /not valid YAML/],
    ['hearth.yaml that is a list', {}, '- 1\n', /must be a mapping/],
  ];
  for (const [what, env, yaml, message] of bad) {
    it(`refuses ${what}, naming the setting`, () => {
      const dir = tempDir();
      if (yaml !== null) writeFileSync(join(dir, 'hearth.yaml'), yaml);
      assert.throws(() => loadConfig({ flags: {}, env: { HEARTH_DATA_DIR: dir, ...env } }), (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, message);
        return true;
      });
    });
  }

  it('refuses a data dir it cannot write', () => {
    const dir = tempDir();
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    assert.throws(() => loadConfig({ flags: {}, env: { HEARTH_DATA_DIR: join(file, 'data') } }), /data_dir \(from HEARTH_DATA_DIR\): .* is not a writable directory \(ENOTDIR\)/);
    if (process.getuid?.() !== 0) {
      const ro = tempDir();
      chmodSync(ro, 0o500);
      assert.throws(() => loadConfig({ flags: {}, env: { HEARTH_DATA_DIR: ro } }), /not a writable directory/);
    }
  });

  it('`hearth start` with a bad setting stops at once with exit code 2 and the message', async () => {
    const dir = tempDir();
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    for (const [args, env, message] of [
      [['start', '--http-port', 'abc'], {}, /hearth: setting http_port \(from --http-port\): "abc" is not a port number/],
      [['start'], { HEARTH_LOG_LEVEL: 'verbose' }, /setting log_level \(from HEARTH_LOG_LEVEL\)/],
      [['start', '--data-dir', join(file, 'data')], {}, /setting data_dir \(from --data-dir\): .* is not a writable directory/],
      [['start', '--no-such-flag'], {}, /unknown option '--no-such-flag'/],
    ] as const) {
      const r = await runCli([...args], { HEARTH_DATA_DIR: dir, ...env });
      assert.equal(r.code, 2, `${args.join(' ')} exits 2: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });
});
