/**
 * The audit names the edge each change came through: hearth.yaml (the things it creates, once, not
 * again at every start), MQTT (a `/set` command, with the broker user), HTTP.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BASE, startHub } from './helpers/hub.js';
import { MqttProbe } from './helpers/mqtt-probe.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

type Entry = { username: string; role: string; edge: string; operation: string; thing: string | null; outcome: string };
const row = (e: Entry): string[] => [e.username, e.role, e.edge, e.operation, e.thing ?? '-', e.outcome];

describe('the audit', () => {
  it('records what hearth.yaml created once, and a command over MQTT with its broker user', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'hearth.yaml'), `tasks: ${JSON.stringify([{ name: 'nightly', enabled: false, interval_s: 3600, action: { type: 'command', command: 'true' } }])}\n`);
    let h = await startHub({}, dir);
    await h.stop();
    h = await startHub({}, dir);
    const fromYaml = await h.api<Entry[]>('GET', '/api/audit?operation=task/create');
    assert.deepEqual(fromYaml.body.map(row), [['hearth', 'admin', 'hearth.yaml', 'task/create', 'nightly', 'ok']]);

    const probe = await MqttProbe.connect(h.brokerUrl, [`${BASE}/task/nightly`]);
    try {
      await probe.publish(`${BASE}/task/nightly/set`, 'enable');
      const entries = await until('the command in the audit', async () => (await h.api<Entry[]>('GET', '/api/audit?operation=task/enable')).body, (e) => e.length > 0);
      assert.deepEqual(entries.map(row), [['admin', 'admin', 'mqtt', 'task/enable', 'nightly', 'ok']]);
    } finally {
      await probe.close();
    }
    await h.stop();
  });
});
