/**
 * The operation table holds every edge to the same answer: a walk over the table sends each
 * operation the same input over HTTP and over MQTT and compares what comes back. Bad input must be
 * refused with the same message on both, a missing thing likewise, and every read must answer the
 * same. Also: the edges are generated from the table (routes, bridge paths), and two creates of
 * one name at once, one over each edge, get two ids.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATIONS } from '../src/hub/operations/index.js';
import { httpParts, pathFields, type Operation } from '../src/hub/operations/operation.js';
import { api, BASE, startHub, type HubHandle } from './helpers/hub.js';
import { MqttProbe } from './helpers/mqtt-probe.js';
import { overHttp } from './helpers/operations.js';
import { until } from './helpers/wait.js';

let h: HubHandle;
/** Every operation MQTT may ask for (a secret answer is HTTP only). */
const bridged = OPERATIONS.filter((o) => !o.secret);
let probe: MqttProbe;

/** Input naming things that exist (or, with `missing`, things that do not). */
function inputFor(op: Operation, things: Record<string, string | number>, missing = false): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  const noun = op.name.split('/')[0]!;
  for (const f of pathFields(op.http.path)) {
    if (f === 'device_id') input[f] = missing ? 'hearth_testnode_task_ghost' : things.hidden!;
    else if (missing) input[f] = typeof things[noun] === 'number' ? 999_999 : noun === 'token' ? '000000000000' : 'ghost';
    else input[f] = things[noun]!;
  }
  return input;
}

/** What may differ between two reads a moment apart: the hub's uptime. */
function steady(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (k, v: unknown) => (k === 'uptime_s' ? undefined : v)));
}

describe('the operation table', () => {
  const things: Record<string, string | number> = {};

  before(async () => {
    // One sample at start and none after: the metrics read the same on both edges.
    h = await startHub({ HEARTH_METRICS_INTERVAL: '3600' });
    probe = await MqttProbe.connect(h.brokerUrl, [`${BASE}/bridge/response/#`]);
    things.agent = (await h.api<{ id: string }>('POST', '/api/agents', { name: 'parity agent', command: 'true', autostart: false })).body.id;
    things.task = (await h.api<{ id: string }>('POST', '/api/tasks', { name: 'parity task', enabled: false, action: { type: 'command', command: 'true' } })).body.id;
    things.device = (await h.api<{ id: string }>('POST', '/api/devices', {
      name: 'parity device',
      protocol: 'line',
      autoconnect: false,
      connection: { transport: 'tcp', host: '127.0.0.1', port: 9 },
    })).body.id;
    const job = (await h.api<{ id: number }>('POST', `/api/tasks/${things.task}/run`)).body;
    await until('the job to end', async () => (await h.api<{ status: string }>('GET', `/api/jobs/${job.id}`)).body.status, (s) => s === 'succeeded');
    things.job = job.id;
    things.user = (await h.api<{ username: string }>('POST', '/api/users', { username: 'parity', password: 'long enough password', role: 'viewer' })).body.username;
    const session = await api<{ token: string }>(h.http, null, 'POST', '/api/auth/login', { username: 'parity', password: 'long enough password' });
    things.token = (await api<{ id: string }>(h.http, session.body.token, 'POST', '/api/tokens', { name: 'parity' })).body.id;
    // A device deleted in Home Assistant (its user empties the config), for discovery/show.
    things.hidden = `hearth_testnode_task_${things.task}`;
    const ha = await MqttProbe.connect(h.brokerUrl, [], h.brokerUsers!.homeassistant);
    await ha.publish(`homeassistant/device/${things.hidden}/config`, '', { retain: true });
    await ha.close();
    await until('it to be hidden', async () => (await h.api<unknown[]>('GET', '/api/discovery/hidden')).body, (rows) => rows.length === 1);
  });
  after(async () => {
    await probe.close();
    await h.stop();
  });

  it('is what the hub serves: every operation is a bridge path and a route in the OpenAPI document', async () => {
    const info = (await h.api<{ bridge_requests: string[] }>('GET', '/api/info')).body;
    assert.deepEqual(info.bridge_requests, bridged.map((o) => o.name).sort());
    const doc = (await h.api<{ paths: Record<string, Record<string, { operationId?: string }>> }>('GET', '/docs/json')).body;
    for (const op of OPERATIONS) {
      const path = op.http.path.replace(/:([a-z_]+)/g, '{$1}');
      assert.equal(doc.paths[path]?.[op.http.method.toLowerCase()]?.operationId, op.name.replace(/\//g, '_'), `${op.http.method} ${path} for ${op.name}`);
    }
  });

  it('refuses over MQTT each operation whose answer is a secret, pointing to HTTP', async () => {
    const secret = OPERATIONS.filter((o) => o.secret).map((o) => o.name).sort();
    assert.deepEqual(secret, ['agent/export', 'auth/login', 'auth/refresh', 'mqtt/credentials', 'token/create']);
    for (const name of secret) {
      const a = await probe.ask(BASE, name, {});
      assert.equal(a.status, 'error');
      assert.match(a.error!, /HTTP/, name);
    }
  });

  for (const op of bridged) {
    it(`${op.name}: the same bad input gets the same refusal over HTTP and MQTT`, async () => {
      const body = httpParts(op).body;
      // An operation whose body is one field refuses a request without it; any other refuses a field it does not know.
      const input = body !== null && 'field' in body ? inputFor(op, things) : { ...inputFor(op, things), bogus_field: 1 };
      const [web, mqtt] = [await overHttp(h, op, input), await probe.ask(BASE, op.name, input)];
      assert.equal(web.status, 400, JSON.stringify(web.body));
      assert.equal(mqtt.status, 'error');
      assert.equal((web.body as { error: string }).error, mqtt.error);
    });

    if (pathFields(op.http.path).length > 0) {
      it(`${op.name}: a thing that does not exist is refused alike`, async () => {
        const input = inputFor(op, things, true);
        // The body's own required fields, so that only the missing thing is wrong.
        if (op.name === 'device/command') input.command = 'PING';
        if (op.name === 'device/write') input.values = { x: 1 };
        if (op.name === 'agent/scale') input.instances = 2;
        const [web, mqtt] = [await overHttp(h, op, input), await probe.ask(BASE, op.name, input)];
        assert.equal(mqtt.status, 'error');
        assert.equal((web.body as { error: string }).error, mqtt.error);
        assert.equal(web.status, 404, mqtt.error);
      });
    }

    if (op.http.method === 'GET') {
      it(`${op.name}: a read answers the same over HTTP and MQTT`, async () => {
        // Fixed instants: a duration ago would be another instant for each read.
        const window = { since: new Date(Date.now() - 3600_000).toISOString(), until: new Date(Date.now() + 60_000).toISOString() };
        const input = { ...inputFor(op, things), ...(op.name === 'metrics/history' ? window : {}) };
        const [web, mqtt] = [await overHttp(h, op, input), await probe.ask(BASE, op.name, input)];
        assert.equal(mqtt.status, 'ok', mqtt.error);
        assert.equal(web.status, 200, JSON.stringify(web.body));
        assert.deepEqual(steady(web.body), steady(mqtt.data));
      });
    }
  }

  it('gives two creates of one name at once, one over each edge, two ids', async () => {
    const body = { name: 'twin', enabled: false, action: { type: 'command', command: 'true' } };
    const [web, mqtt] = await Promise.all([h.api<{ id: string }>('POST', '/api/tasks', body), probe.ask(BASE, 'task/create', body)]);
    assert.equal(web.status, 201, JSON.stringify(web.body));
    assert.equal(mqtt.status, 'ok', mqtt.error);
    const ids = [web.body.id, (mqtt.data as { id: string }).id].sort();
    assert.deepEqual(ids, ['twin', 'twin_2']);
    const listed = (await h.api<Array<{ id: string }>>('GET', '/api/tasks')).body.map((t) => t.id);
    assert.ok(listed.includes('twin') && listed.includes('twin_2'));
  });
});
