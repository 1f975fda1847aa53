/** Several instances of one agent: each its own supervised process, one device, scaled from every interface. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { AgentView } from '../src/hub/agents/state.js';
import { DiscoveryRegistry } from './helpers/ha-rules.js';
import { BASE, created, NODE, startHub, type HubHandle } from './helpers/hub.js';
import { MqttProbe } from './helpers/mqtt-probe.js';
import { alive, pidsWith } from './helpers/procs.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

let h: HubHandle;
let probe: MqttProbe;

const agent = (id: string): AgentView => h.hub.things.get('agent', id) as unknown as AgentView;
const waitFor = async (id: string, what: string, test: (a: AgentView) => boolean): Promise<AgentView> =>
  (await until(`agent ${id}: ${what}`, () => agent(id), (a) => a !== undefined && test(a)))!;
const pids = (a: AgentView): Array<number | null> => a.instance_states.map((i) => i.pid);

/** A program that writes what it was given (instance numbers, PORT) to `<cwd>/env-<instance>.json` and runs on. */
const reporter = (marker: string): string[] => [
  '-e',
  `require('fs').writeFileSync('env-' + process.env.HEARTH_INSTANCE + '.json', JSON.stringify({ pid: process.pid, h: process.env.HEARTH_INSTANCE, n: process.env.NODE_APP_INSTANCE, port: process.env.PORT ?? null })); setInterval(() => {}, 1e6); // ${marker}`,
];
const reported = (dir: string, i: number): { pid: number; h: string; n: string; port: string | null } => JSON.parse(readFileSync(join(dir, `env-${i}.json`), 'utf8'));

describe('agents with several instances', () => {
  before(async () => {
    h = await startHub();
    probe = await MqttProbe.connect(h.brokerUrl, [`${BASE}/#`, 'homeassistant/#']);
  });

  it('runs N copies with HEARTH_INSTANCE and NODE_APP_INSTANCE 0..N-1, as one Home Assistant device with a count and a status per instance', async () => {
    const dir = tempDir();
    const m = probe.mark();
    await created(h, '/api/agents', { name: 'Trio', command: process.execPath, args: reporter('trio-5101'), cwd: dir, instances: 3 });
    const a = await waitFor('trio', 'three running', (x) => x.instances_running === 3);
    assert.equal(a.status, 'running');
    assert.equal(new Set(pids(a)).size, 3, 'three processes');
    assert.deepEqual(pidsWith('trio-5101').sort(), [...pids(a)].sort());
    for (const i of [0, 1, 2]) {
      const env = await until(`instance ${i} reported`, () => { try { return reported(dir, i); } catch { return null; } }, (r) => r !== null && r.pid === a.instance_states[i]!.pid);
      assert.deepEqual([env!.h, env!.n, env!.port], [String(i), String(i), null]);
    }
    const config = await probe.next(`homeassistant/device/hearth_${NODE}_agent_trio/config`, (x) => 'instance_2' in JSON.parse(x.payload).cmps, { since: m });
    new DiscoveryRegistry().assertValid(config.topic, config.payload);
    const cmps = JSON.parse(config.payload).cmps as Record<string, { p: string; command_topic?: string }>;
    assert.deepEqual([cmps.instances!.p, cmps.instances!.command_topic, cmps.instance_0!.p, cmps.instances_running!.p], ['number', `${BASE}/agent/trio/instances/set`, 'sensor', 'sensor']);
  });

  it('a crashed instance is restarted by itself; the others run on untouched', async () => {
    const before = pids(agent('trio'));
    process.kill(before[1]!, 'SIGKILL');
    const after = await waitFor('trio', 'instance 1 back', (x) => x.instance_states[1]!.status === 'running' && x.instance_states[1]!.pid !== before[1]);
    assert.deepEqual([after.instance_states[0]!.pid, after.instance_states[2]!.pid], [before[0], before[2]]);
    assert.equal(after.instance_states[1]!.restarts, 1);
  });

  it('scales up and down from the API, MQTT and the number entity, without restarting the instances that stay', async () => {
    const start = pids(agent('trio'));
    const up = await h.api<AgentView>('POST', '/api/agents/trio/scale', { instances: 4 });
    assert.equal(up.status, 200);
    const four = await waitFor('trio', 'four running', (x) => x.instances_running === 4);
    assert.deepEqual(pids(four).slice(0, 3), start, 'the running ones go on');

    const m = probe.mark();
    await probe.publish(`${BASE}/agent/trio/instances/set`, '2.0');
    const two = await waitFor('trio', 'two', (x) => x.instances === 2 && x.instance_states.length === 2);
    assert.deepEqual(pids(two), start.slice(0, 2));
    for (const gone of pids(four).slice(2)) await until(`instance pid ${gone} gone`, () => alive(gone!), (x) => !x);
    const config = await probe.next(`homeassistant/device/hearth_${NODE}_agent_trio/config`, (x) => !('instance_2' in JSON.parse(x.payload).cmps), { since: m });
    assert.ok(!('instance_3' in JSON.parse(config.payload).cmps), 'the entities of the instances that went are removed');

    await probe.publish(`${BASE}/agent/trio/set`, '{"action": "scale", "instances": 3}');
    await waitFor('trio', 'three again', (x) => x.instances_running === 3);
    assert.equal((await h.api<AgentView>('GET', '/api/agents/trio')).body.definition.instances, 3, 'the count is the definition: kept across restarts');
  });

  it('refuses a bad count on every interface and changes nothing', async () => {
    const before = pids(agent('trio'));
    for (const instances of [0, 65, 1.5]) assert.equal((await h.api('POST', '/api/agents/trio/scale', { instances })).status, 400, String(instances));
    const m = probe.mark();
    await probe.publish(`${BASE}/agent/trio/instances/set`, 'many');
    const rejected = await probe.next(`${BASE}/bridge/event`, (x) => JSON.parse(x.payload).type === 'command_rejected', { since: m });
    assert.match(JSON.parse(rejected.payload).data.error, /not a whole number/);
    for (const text of ['1e1', '0x3', '-1', '']) await probe.publish(`${BASE}/agent/trio/instances/set`, text || ' ');
    await probe.publish(`${BASE}/agent/trio/set`, '{"action": "scale", "instances": 0}');
    await probe.next(`${BASE}/bridge/event`, (x) => JSON.parse(x.payload).type === 'command_rejected' && /instances: must be >= 1/.test(JSON.parse(x.payload).data.error), { since: m });
    const notWhole = (): number =>
      probe.messages.slice(m).filter((x) => x.topic === `${BASE}/bridge/event` && JSON.parse(x.payload).type === 'command_rejected' && /is not a whole number/.test(JSON.parse(x.payload).data.error)).length;
    await until('many, 1e1, 0x3, -1 and a blank refused', notWhole, (n) => n === 5);
    assert.deepEqual(pids(agent('trio')), before);
    assert.equal((await h.api('POST', '/api/agents/nobody/scale', { instances: 2 })).status, 404);
  });

  it('changes of one agent from several interfaces at once run one after another: none lost, nothing left running after a delete', async () => {
    // With a port, a scale has a database transaction to wait for: a delete can come in between.
    await created(h, '/api/agents', { name: 'Busy', command: process.execPath, args: reporter('busy-5102'), cwd: tempDir(), port: true });
    await waitFor('busy', 'running', (x) => x.status === 'running');
    const [scaled, changed] = await Promise.all([h.api('POST', '/api/agents/busy/scale', { instances: 2 }), h.api('PUT', '/api/agents/busy', { stop_timeout_s: 5 })]);
    assert.deepEqual([scaled.status, changed.status], [200, 200]);
    const def = (await h.api<AgentView>('GET', '/api/agents/busy')).body.definition;
    assert.deepEqual([def.instances, def.stop_timeout_s], [2, 5], 'both changes kept');

    const answers = await Promise.all([h.api('POST', '/api/agents/busy/scale', { instances: 4 }), h.api('DELETE', '/api/agents/busy')]);
    assert.equal(answers[1].status, 200);
    assert.deepEqual(pidsWith('busy-5102'), [], 'no instance outlives the delete');
    assert.equal((await h.api('GET', '/api/agents/busy')).status, 404);
  });

  it("keeps each instance's output apart, and stops every instance on stop", async () => {
    const dir = tempDir();
    await created(h, '/api/agents', { name: 'Talkers', command: process.execPath, args: ['-e', 'console.log("i am " + process.env.HEARTH_INSTANCE); setInterval(() => {}, 1e6)'], cwd: dir, instances: 2 });
    await waitFor('talkers', 'two running', (x) => x.instances_running === 2);
    const logs = async (instance: number): Promise<string[]> => (await h.api<{ lines: string[] }>('GET', `/api/agents/talkers/logs?instance=${instance}`)).body.lines;
    assert.deepEqual(await until('instance 1 spoke', () => logs(1), (l) => l.length > 0), ['i am 1']);
    assert.deepEqual(await until('instance 0 spoke', () => logs(0), (l) => l.length > 0), ['i am 0']);
    assert.equal((await h.api('GET', '/api/agents/talkers/logs?instance=2')).status, 404);
    const running = pids(agent('talkers'));
    const stopped = await h.api<AgentView>('POST', '/api/agents/talkers/stop');
    assert.deepEqual([stopped.body.status, stopped.body.instances_running], ['stopped', 0]);
    assert.deepEqual(running.filter((p) => alive(p!)), []);
  });
});
