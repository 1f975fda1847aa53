/**
 * Bounds on what a schema leaves open, at the edge: a value nested deeper than 32 levels, or a
 * free-form field (configuration, env, a task's action, a device's written values) larger than
 * 64 KiB, is a 400 that names the field and the limit, over HTTP and over an MQTT bridge request
 * alike, and nothing is created or changed. (Thousands of levels were a 500: TypeORM's merge
 * overflowed the stack.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BASE, created, startHub, type HubHandle } from './helpers/hub.js';
import { MqttProbe } from './helpers/mqtt-probe.js';

/** `levels` objects, one in the other, as JSON text (a JavaScript value that deep would not survive JSON.stringify). */
const nested = (levels: number): string => '{"a":'.repeat(levels - 1) + '{"a":1}' + '}'.repeat(levels - 1);
/** The same, as a value: fine up to a few hundred levels. */
const nestedValue = (levels: number): Record<string, unknown> => JSON.parse(nested(levels)) as Record<string, unknown>;
/** A JSON request body with `raw` spliced in as the text of one field. */
const withRaw = (body: Record<string, unknown>, field: string, raw: string): string => {
  const text = JSON.stringify(body);
  return `${text.slice(0, -1)}${text === '{}' ? '' : ','}"${field}":${raw}}`;
};
const KIB = 1024;

describe('edge limits: depth and size of free-form fields', () => {
  let h: HubHandle;
  let probe: MqttProbe;
  let n = 0;
  const fresh = (): string => `edge${++n}`;

  before(async () => {
    h = await startHub();
    probe = await MqttProbe.connect(h.brokerUrl, [`${BASE}/bridge/response/#`]);
  });
  after(async () => {
    await probe.close();
    await h.stop();
  });

  const agentBody = (name: string): Record<string, unknown> => ({ name, command: 'sleep', args: ['600'], autostart: false });

  it('refuses an agent configuration nested thousands of levels deep with the limit, and creates nothing', async () => {
    const name = fresh();
    const r = await h.api<{ error: string }>('POST', '/api/agents', withRaw(agentBody(name), 'configuration', `{"deep":${nested(5000)}}`));
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error, 'configuration is nested deeper than 32 levels');
    assert.equal((await h.api('GET', `/api/agents/${name}`)).status, 404, 'nothing created');
  });

  it('takes 32 levels and refuses 33, in every field that becomes a row or a message', async () => {
    // 32 levels: the configuration object and 31 inside it.
    const ok = await created<{ id: string; configuration: unknown }>(h, '/api/agents', { ...agentBody(fresh()), configuration: nestedValue(32) });
    assert.deepEqual(ok.configuration, nestedValue(32), 'kept as given');

    const agent = await h.api<{ error: string }>('POST', '/api/agents', { ...agentBody(fresh()), configuration: nestedValue(33) });
    assert.deepEqual([agent.status, agent.body.error], [400, 'configuration is nested deeper than 32 levels']);

    const device = await h.api<{ error: string }>('POST', '/api/devices', {
      name: fresh(),
      protocol: 'line',
      connection: { transport: 'tcp', host: '127.0.0.1', port: 9 },
      autoconnect: false,
      configuration: { x: nestedValue(40) },
    });
    assert.deepEqual([device.status, device.body.error], [400, 'configuration is nested deeper than 32 levels']);

    const task = await h.api<{ error: string }>('POST', '/api/tasks', {
      name: fresh(),
      action: { type: 'http', url: 'http://127.0.0.1:9/', method: 'POST', body: nestedValue(40) },
    });
    assert.deepEqual([task.status, task.body.error], [400, 'action is nested deeper than 32 levels']);

    // An update is held to the same bound, and the agent keeps what it had.
    const changed = await h.api<{ error: string }>('PUT', `/api/agents/${ok.id}`, withRaw({}, 'configuration', nested(3000)));
    assert.deepEqual([changed.status, changed.body.error], [400, 'configuration is nested deeper than 32 levels']);
    assert.deepEqual((await h.api<{ configuration: unknown }>('GET', `/api/agents/${ok.id}`)).body.configuration, nestedValue(32));
  });

  it('refuses a free-form field larger than 64 KiB with the limit, and takes one just under it', async () => {
    const big = 'x'.repeat(65 * KIB);
    const agent = await h.api<{ error: string }>('POST', '/api/agents', { ...agentBody(fresh()), configuration: { notes: big } });
    assert.deepEqual([agent.status, agent.body.error], [400, 'configuration is larger than 64 KiB']);

    const env = await h.api<{ error: string }>('POST', '/api/agents', { ...agentBody(fresh()), env: { NOTES: big } });
    assert.deepEqual([env.status, env.body.error], [400, 'env is larger than 64 KiB']);

    const headers = Object.fromEntries(Array.from({ length: 700 }, (_, i) => [`X-H${i}`, 'v'.repeat(100)]));
    const task = await h.api<{ error: string }>('POST', '/api/tasks', { name: fresh(), action: { type: 'http', url: 'http://127.0.0.1:9/', headers } });
    assert.deepEqual([task.status, task.body.error], [400, 'action is larger than 64 KiB']);

    const device = await created<{ id: string }>(h, '/api/devices', {
      name: fresh(),
      protocol: 'line',
      connection: { transport: 'tcp', host: '127.0.0.1', port: 9 },
      autoconnect: false,
    });
    const values = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`f${i}`, 'v'.repeat(80)]));
    const write = await h.api<{ error: string }>('POST', `/api/devices/${device.id}/write`, values);
    assert.deepEqual([write.status, write.body.error], [400, 'values is larger than 64 KiB']);

    const under = await created<{ configuration: { notes: string } }>(h, '/api/agents', { ...agentBody(fresh()), configuration: { notes: 'x'.repeat(63 * KIB) } });
    assert.equal(under.configuration.notes.length, 63 * KIB);
  });

  it('answers a bridge request with the same refusal, and creates nothing', async () => {
    const name = fresh();
    // The request as it travels: JSON text too deep for JSON.stringify to have made.
    const since = probe.mark();
    const transaction = `deep-${name}`;
    await probe.publish(`${BASE}/bridge/request/agent/create`, withRaw({ ...agentBody(name), transaction }, 'configuration', nested(5000)));
    const answer = await probe.next(`${BASE}/bridge/response/agent/create`, (m) => (JSON.parse(m.payload) as { transaction?: string }).transaction === transaction, { since });
    assert.deepEqual(JSON.parse(answer.payload), { status: 'error', error: 'configuration is nested deeper than 32 levels', transaction });

    const large = await probe.ask(BASE, 'task/create', { name: fresh(), action: { type: 'mqtt', topic: 'x/y', payload: 'p'.repeat(65 * KIB) } });
    assert.deepEqual(large, { status: 'error', error: 'action is larger than 64 KiB', transaction: probe.lastTransaction });

    assert.equal((await h.api('GET', `/api/agents/${name}`)).status, 404, 'nothing created');
  });
});
