/**
 * Every bridge request path the hub registers, through MQTT: each carried out once (its effect seen
 * through the API) with the transaction echoed, and one bad payload each refused with a clear message.
 * The list of paths comes from the hub itself, so a path added without a case here fails the suite.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, BASE, startHub, type HubHandle } from './helpers/hub.js';
import { startLineServer, type LineServer } from './helpers/line-server.js';
import { startModbusServer, type ModbusServer } from './helpers/modbus-server.js';
import { MqttProbe, type BridgeAnswer } from './helpers/mqtt-probe.js';
import { until } from './helpers/wait.js';

type Answer = BridgeAnswer;
type Thing = Record<string, unknown> & { id: string; status?: string; pid?: number | null; enabled?: boolean; connected?: boolean; definition?: Record<string, unknown> };

const ask = (probe: MqttProbe, path: string, body: unknown): Promise<Answer> => probe.ask(BASE, path, body as object);

describe('bridge request paths', () => {
  let h: HubHandle;
  let probe: MqttProbe;
  let peer: LineServer;
  let modbus: ModbusServer;
  let n = 0;

  before(async () => {
    peer = await startLineServer((line) => (line === 'PING' ? 'PONG\n' : undefined));
    modbus = await startModbusServer({ transport: 'tcp' });
    h = await startHub();
    probe = await MqttProbe.connect(h.brokerUrl, [`${BASE}/bridge/response/#`]);
  });
  after(async () => {
    await probe.close();
    await h.stop();
    await peer.stop();
    await modbus.stop();
  });

  const ok = async (path: string, body: unknown): Promise<unknown> => {
    const a = await ask(probe, path, body);
    assert.equal(a.status, 'ok', `${path}: ${a.error}`);
    return a.data;
  };
  const rest = async <T = Thing>(path: string): Promise<{ status: number; body: T }> => h.api<T>('GET', path);
  const fresh = (): string => `p${++n}`;
  const agent = async (autostart: boolean): Promise<string> => {
    const r = await h.api<Thing>('POST', '/api/agents', { name: fresh(), command: 'sleep', args: ['600'], autostart });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    if (autostart) await until(`agent ${r.body.id} running`, async () => (await rest(`/api/agents/${r.body.id}`)).body, (a) => a.status === 'running' && (a.pid ?? 0) > 0);
    return r.body.id;
  };
  const task = async (extra: Record<string, unknown> = {}): Promise<string> => {
    const r = await h.api<Thing>('POST', '/api/tasks', { name: fresh(), action: { type: 'command', command: 'true' }, ...extra });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id;
  };
  const device = async (autoconnect: boolean): Promise<string> => {
    const r = await h.api<Thing>('POST', '/api/devices', {
      name: fresh(),
      protocol: 'line',
      connection: { transport: 'tcp', host: '127.0.0.1', port: peer.port },
      autoconnect,
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    if (autoconnect) await connected(r.body.id, true);
    return r.body.id;
  };
  const connected = (id: string, want: boolean): Promise<Thing> =>
    until(`device ${id} ${want ? 'connected' : 'disconnected'}`, async () => (await rest(`/api/devices/${id}`)).body, (d) => d.connected === want && d.status === (want ? 'connected' : 'disconnected'));
  const absent = async (path: string): Promise<void> => assert.equal((await rest(path)).status, 404, `${path} must not exist`);

  /** What each path does when asked right, and one payload it must refuse. */
  const cases: Record<string, { ok: () => Promise<void>; bad: () => Promise<[unknown, RegExp]> }> = {
    info: {
      ok: async () => {
        const d = (await ok('info', {})) as { node_id: string; bridge_requests: string[] };
        assert.equal(d.node_id, 'testnode');
        assert.deepEqual(d.bridge_requests, (await rest<{ bridge_requests: string[] }>('/api/info')).body.bridge_requests);
      },
      bad: async () => [{ verbose: true }, /payload: unknown field "verbose"/],
    },
    health_check: {
      ok: async () => {
        const d = (await ok('health_check', {})) as { healthy: boolean; checks: Record<string, { ok: boolean }> };
        assert.equal(d.healthy, true);
        assert.deepEqual(Object.keys(d.checks).sort(), ['database', 'disk', 'mqtt']);
      },
      bad: async () => [{ deep: 1 }, /unknown field "deep"/],
    },
    options: {
      ok: async () => {
        assert.deepEqual(await ok('options', { log_level: 'error' }), { log_level: 'error' });
        assert.equal((await rest<{ log_level: string }>('/api/info')).body.log_level, 'error');
        assert.deepEqual(await ok('options', { log_level: 'warn' }), { log_level: 'warn' });
      },
      bad: async () => [{ log_level: 'loud' }, /log_level: must be one of trace, debug, info, warn, error, fatal, silent/],
    },
    // Carried out in bridge-paths-broker.test.ts, on a broker that outlives the hub.
    restart: { ok: async () => undefined, bad: async () => [{ now: true }, /unknown field "now"/] },
    'agent/list': {
      ok: async () => {
        const id = await agent(false);
        assert.ok(((await ok('agent/list', {})) as Thing[]).some((a) => a.id === id));
      },
      bad: async () => [{ all: true }, /unknown field "all"/],
    },
    'agent/get': {
      ok: async () => {
        const id = await agent(false);
        const d = (await ok('agent/get', { id })) as Thing;
        assert.deepEqual([d.id, d.definition?.command, d.definition?.args], [id, 'sleep', ['600']]);
      },
      bad: async () => [{ id: 'ghost' }, /ghost/],
    },
    'agent/create': {
      ok: async () => {
        const d = (await ok('agent/create', { name: 'Bridge Made', command: 'sleep', args: ['600'], autostart: false })) as Thing;
        assert.equal(d.id, 'bridge_made');
        assert.deepEqual((await rest('/api/agents/bridge_made')).body.definition?.args, ['600']);
      },
      bad: async () => [{ name: 'No Command' }, /missing field "command"/],
    },
    'agent/update': {
      ok: async () => {
        const id = await agent(false);
        assert.deepEqual(((await ok('agent/update', { id, args: ['700'] })) as Thing).definition?.args, ['700']);
        assert.deepEqual((await rest(`/api/agents/${id}`)).body.definition?.args, ['700']);
      },
      bad: async () => [{ id: await agent(false), restart: { policy: 'sometimes' } }, /restart\.policy/],
    },
    'agent/delete': {
      ok: async () => {
        const id = await agent(true);
        assert.deepEqual(await ok('agent/delete', { id }), { id, deleted: true });
        await absent(`/api/agents/${id}`);
      },
      bad: async () => [{ id: 5 }, /id: must be string/],
    },
    'agent/start': {
      ok: async () => {
        const id = await agent(false);
        await ok('agent/start', { id });
        await until('it runs', async () => (await rest(`/api/agents/${id}`)).body, (a) => a.status === 'running' && (a.pid ?? 0) > 0);
      },
      bad: async () => [{}, /missing field "id"/],
    },
    'agent/stop': {
      ok: async () => {
        const id = await agent(true);
        await ok('agent/stop', { id });
        await until('it stops', async () => (await rest(`/api/agents/${id}`)).body, (a) => a.status === 'stopped' && a.pid === null);
      },
      bad: async () => [{ id: await agent(false) }, /already stopped|not running/],
    },
    'agent/restart': {
      ok: async () => {
        const id = await agent(true);
        const pid = (await rest(`/api/agents/${id}`)).body.pid;
        await ok('agent/restart', { id });
        await until('it runs again as a new process', async () => (await rest(`/api/agents/${id}`)).body, (a) => a.status === 'running' && (a.pid ?? 0) > 0 && a.pid !== pid);
      },
      bad: async () => [{ id: '' }, /id: must NOT have fewer than 1 characters/],
    },
    'agent/reload': {
      ok: async () => {
        const id = await agent(true);
        const pid = (await rest(`/api/agents/${id}`)).body.pid;
        const a = (await ok('agent/reload', { id })) as { pid: number; reload: { detail: string } };
        assert.equal(a.reload.detail, '1 of 1 reloaded');
        assert.notEqual(a.pid, pid);
      },
      bad: async () => [{ id: 'no_such_agent' }, /no agent "no_such_agent"/],
    },
    'agent/scale': {
      ok: async () => {
        const id = await agent(true);
        await ok('agent/scale', { id, instances: 2 });
        await until('two run', async () => (await rest(`/api/agents/${id}`)).body, (a) => (a as unknown as { instances_running: number }).instances_running === 2);
      },
      bad: async () => [{ id: await agent(false), instances: 0 }, /instances: must be >= 1/],
    },
    'task/list': {
      ok: async () => {
        const id = await task();
        assert.ok(((await ok('task/list', {})) as Thing[]).some((t) => t.id === id));
      },
      bad: async () => [[], /payload must be a JSON object/],
    },
    'task/get': {
      ok: async () => {
        const id = await task({ interval_s: 3600 });
        const d = (await ok('task/get', { id })) as Thing & { next_runs: string[] };
        assert.equal(d.id, id);
        assert.equal(d.next_runs.length, 5);
      },
      bad: async () => [{ id: 'ghost' }, /ghost/],
    },
    'task/create': {
      ok: async () => {
        const d = (await ok('task/create', { name: 'Bridge Task', interval_s: 3600, action: { type: 'command', command: 'true' } })) as Thing;
        assert.equal(d.id, 'bridge_task');
        assert.equal((await rest('/api/tasks/bridge_task')).status, 200);
      },
      bad: async () => [{ name: 'Cronless', schedule: 'every tuesday', action: { type: 'command', command: 'true' } }, /schedule/],
    },
    'task/update': {
      ok: async () => {
        const id = await task();
        await ok('task/update', { id, interval_s: 120 });
        assert.equal((await rest(`/api/tasks/${id}`)).body.definition?.interval_s, 120);
      },
      bad: async () => [{ id: await task(), timezone: 'Mars/Olympus' }, /timezone|time zone/],
    },
    'task/delete': {
      ok: async () => {
        const id = await task();
        assert.deepEqual(await ok('task/delete', { id }), { id, deleted: true });
        await absent(`/api/tasks/${id}`);
      },
      bad: async () => [{ id: 'ghost' }, /ghost/],
    },
    'task/run': {
      ok: async () => {
        const id = await task({ enabled: false });
        const job = (await ok('task/run', { id })) as { id: number; task_id: string };
        assert.equal(job.task_id, id);
        await until(`job ${job.id} to succeed`, async () => (await rest<{ status: string }>(`/api/jobs/${job.id}`)).body, (j) => j.status === 'succeeded');
      },
      bad: async () => [{ id: 'ghost' }, /ghost/],
    },
    'task/enable': {
      ok: async () => {
        const id = await task({ enabled: false, interval_s: 3600 });
        assert.equal(((await ok('task/enable', { id })) as Thing).enabled, true);
        assert.equal((await rest(`/api/tasks/${id}`)).body.enabled, true);
      },
      bad: async () => [{ id: await task() }, /already enabled/],
    },
    'task/disable': {
      ok: async () => {
        const id = await task({ interval_s: 3600 });
        assert.equal(((await ok('task/disable', { id })) as Thing).enabled, false);
        assert.equal((await rest(`/api/tasks/${id}`)).body.enabled, false);
      },
      bad: async () => [{ id: await task({ enabled: false }) }, /already disabled/],
    },
    'device/list': {
      ok: async () => {
        const id = await device(false);
        assert.ok(((await ok('device/list', {})) as Thing[]).some((d) => d.id === id));
      },
      bad: async () => [{ protocol: 'line' }, /unknown field "protocol"/],
    },
    'device/get': {
      ok: async () => {
        const id = await device(false);
        const d = (await ok('device/get', { id })) as Thing;
        assert.deepEqual([d.id, d.protocol, d.status], [id, 'line', 'disconnected']);
      },
      bad: async () => [{ id: 'ghost' }, /ghost/],
    },
    'device/create': {
      ok: async () => {
        const d = (await ok('device/create', { name: 'Bridge Meter', protocol: 'line', connection: { transport: 'tcp', host: '127.0.0.1', port: peer.port } })) as Thing;
        assert.equal(d.id, 'bridge_meter');
        await connected('bridge_meter', true);
      },
      bad: async () => [{ name: 'Pigeon', protocol: 'line', connection: { transport: 'carrier-pigeon' } }, /transport: must be one of/],
    },
    'device/update': {
      ok: async () => {
        const id = await device(false);
        await ok('device/update', { id, type: 'meter' });
        assert.equal((await rest(`/api/devices/${id}`)).body.type, 'meter');
      },
      bad: async () => [{ id: await device(false), protocol: 'smoke-signals' }, /protocol/],
    },
    'device/delete': {
      ok: async () => {
        const id = await device(true);
        assert.deepEqual(await ok('device/delete', { id }), { id, deleted: true });
        await absent(`/api/devices/${id}`);
      },
      bad: async () => [{ id: 'ghost' }, /ghost/],
    },
    'device/connect': {
      ok: async () => {
        const id = await device(false);
        await ok('device/connect', { id });
        await connected(id, true);
      },
      bad: async () => [{ id: 'ghost' }, /ghost/],
    },
    'device/disconnect': {
      ok: async () => {
        const id = await device(true);
        await ok('device/disconnect', { id });
        await connected(id, false);
      },
      bad: async () => [{ id: 'ghost' }, /ghost/],
    },
    'device/command': {
      ok: async () => {
        const id = await device(true);
        assert.deepEqual(((await ok('device/command', { id, command: 'PING' })) as { response: string[] }).response, ['PONG']);
      },
      bad: async () => [{ id: await device(false), command: 'PING' }, /not connected|disconnected/],
    },
    'device/write': {
      ok: async () => {
        const r = await h.api<Thing>('POST', '/api/devices', {
          name: fresh(),
          protocol: 'modbus',
          connection: { transport: 'modbus-tcp', host: '127.0.0.1', port: modbus.port, unitId: modbus.unitId },
          telemetry: { poll_s: 0.2, registers: [{ name: 'setpoint', address: 30, function: 'holding', writable: true, min: 0, max: 500 }] },
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        await connected(r.body.id, true);
        await ok('device/write', { id: r.body.id, values: { setpoint: 321 } });
        assert.deepEqual(await modbus.get('holding', 30, 1), [321]);
      },
      bad: async () => [{ id: await device(false), values: {}, extra: 1 }, /unknown field "extra"/],
    },
    'device/ports': {
      ok: async () => assert.deepEqual(await ok('device/ports', {}), (await rest<unknown>('/api/devices/ports')).body),
      bad: async () => [{ path: '/dev/ttyUSB0' }, /unknown field "path"/],
    },
    'device/reconnect': {
      ok: async () => {
        const id = await device(true);
        await ok('device/reconnect', { id });
        await connected(id, true);
      },
      bad: async () => [{ id: 'ghost' }, /ghost/],
    },
    ...moreCases(),
    ...userCases(),
  };

  /** Users, tokens and the audit (login, refresh and a new token answer a secret: HTTP only, no bridge path). */
  function userCases(): Record<string, { ok: () => Promise<void>; bad: () => Promise<[unknown, RegExp]> }> {
    const user = async (role = 'viewer'): Promise<string> => {
      const username = fresh();
      assert.equal((await h.api('POST', '/api/users', { username, password: 'long enough password', role })).status, 201);
      return username;
    };
    /** An API token of a new user (tokens are made with a user's session). */
    const token = async (): Promise<{ id: string; token: string }> => {
      const username = await user();
      const session = await api<{ token: string }>(h.http, null, 'POST', '/api/auth/login', { username, password: 'long enough password' });
      const made = await api<{ id: string; token: string }>(h.http, session.body.token, 'POST', '/api/tokens', { name: fresh() });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      return made.body;
    };
    return {
      'user/list': {
        ok: async () => {
          const name = await user();
          assert.ok(((await ok('user/list', {})) as Array<{ username: string }>).some((u) => u.username === name));
        },
        bad: async () => [{ role: 'admin' }, /unknown field "role"/],
      },
      'user/get': {
        ok: async () => {
          const name = await user('operator');
          assert.deepEqual(await ok('user/get', { username: name }), (await rest(`/api/users/${name}`)).body);
        },
        bad: async () => [{ username: 'ghost' }, /no user "ghost"/],
      },
      'user/create': {
        ok: async () => {
          const name = fresh();
          await ok('user/create', { username: name, password: 'long enough password', role: 'operator' });
          assert.equal((await rest<{ role: string }>(`/api/users/${name}`)).body.role, 'operator');
        },
        bad: async () => [{ username: 'short', password: 'short', role: 'viewer' }, /password: at least 8 characters/],
      },
      'user/update': {
        ok: async () => {
          const name = await user();
          await ok('user/update', { username: name, role: 'admin' });
          assert.equal((await rest<{ role: string }>(`/api/users/${name}`)).body.role, 'admin');
        },
        bad: async () => [{ username: await user(), role: 'root' }, /role/],
      },
      'user/delete': {
        ok: async () => {
          const name = await user();
          await ok('user/delete', { username: name });
          await absent(`/api/users/${name}`);
        },
        bad: async () => [{ username: 'ghost' }, /no user "ghost"/],
      },
      'auth/me': {
        ok: async () => assert.deepEqual(await ok('auth/me', {}), { username: 'admin', role: 'admin', via: 'admin_token' }),
        bad: async () => [{ who: 1 }, /unknown field "who"/],
      },
      'token/list': {
        ok: async () => {
          const made = await token();
          assert.ok(((await ok('token/list', {})) as Array<{ id: string }>).some((t) => t.id === made.id));
        },
        bad: async () => [{ all: true }, /unknown field "all"/],
      },
      'token/revoke': {
        ok: async () => {
          const made = await token();
          await ok('token/revoke', { id: made.id });
          assert.equal((await api(h.http, made.token, 'GET', '/api/auth/me')).status, 401);
        },
        bad: async () => [{ id: '000000000000' }, /no token "000000000000"/],
      },
      'audit/list': {
        ok: async () => {
          const name = await user();
          const entries = (await ok('audit/list', { username: 'admin', operation: 'user/create', limit: 1 })) as Array<{ thing: string }>;
          assert.deepEqual(entries.map((e) => e.thing), [name]);
        },
        bad: async () => [{ limit: 5000 }, /limit: must be <= 1000/],
      },
    };
  }

  /** The paths of the jobs, logs, metrics, discovery and import. */
  function moreCases(): Record<string, { ok: () => Promise<void>; bad: () => Promise<[unknown, RegExp]> }> {
    const finishedJob = async (command = 'true', args: string[] = []): Promise<{ id: number; task_id: string }> => {
      const id = await task({ action: { type: 'command', command, args } });
      const job = (await h.api<{ id: number; task_id: string }>('POST', `/api/tasks/${id}/run`)).body;
      await until(`job ${job.id} to end`, async () => (await rest<{ status: string }>(`/api/jobs/${job.id}`)).body, (j) => j.status === 'succeeded');
      return job;
    };
    return {
      'agent/logs': {
        ok: async () => {
          const r = await h.api<Thing>('POST', '/api/agents', { name: fresh(), command: 'sh', args: ['-c', 'echo bridge-log; exec sleep 600'] });
          const d = await until('the line in its log', () => ok('agent/logs', { id: r.body.id }) as Promise<{ lines: string[] }>, (l) => l.lines.includes('bridge-log'));
          assert.deepEqual(d, (await rest(`/api/agents/${r.body.id}/logs`)).body);
        },
        bad: async () => [{ id: await agent(false), tail: 0 }, /tail: must be >= 1/],
      },
      'import/pm2': {
        ok: async () => {
          const d = (await ok('import/pm2', { ecosystem: { apps: [{ name: 'pm2 bridged', script: 'sleep', args: '600', autorestart: false }] } })) as { created: string[] };
          assert.deepEqual(d.created, ['pm2_bridged']);
          assert.deepEqual((await rest('/api/agents/pm2_bridged')).body.definition?.args, ['600']);
        },
        bad: async () => [{}, /missing field "ecosystem"/],
      },
      'task/history': {
        ok: async () => {
          const job = await finishedJob();
          const d = (await ok('task/history', { task_id: job.task_id })) as Array<{ id: number }>;
          assert.deepEqual(d.map((j) => j.id), [job.id]);
        },
        bad: async () => [{ status: 'exploded' }, /status: must be one of pending/],
      },
      'job/list': {
        ok: async () => {
          const job = await finishedJob();
          assert.deepEqual(((await ok('job/list', { task_id: job.task_id })) as Array<{ id: number }>).map((j) => j.id), [job.id]);
        },
        bad: async () => [{ limit: 0 }, /limit: must be >= 1/],
      },
      'job/get': {
        ok: async () => {
          const job = await finishedJob();
          assert.deepEqual(await ok('job/get', { id: job.id }), (await rest(`/api/jobs/${job.id}`)).body);
        },
        bad: async () => [{ id: 'one' }, /id: must be integer/],
      },
      'job/cancel': {
        ok: async () => {
          const id = await task({ action: { type: 'command', command: 'sleep', args: ['600'] } });
          const job = (await h.api<{ id: number }>('POST', `/api/tasks/${id}/run`)).body;
          assert.equal(((await ok('job/cancel', { id: job.id })) as { status: string }).status, 'cancelled');
          assert.equal((await rest<{ status: string }>(`/api/jobs/${job.id}`)).body.status, 'cancelled');
        },
        bad: async () => [{ id: (await finishedJob()).id }, /job \d+ is not running \(succeeded\)/],
      },
      'metrics/get': {
        ok: async () => {
          const d = await until('a sample', () => ask(probe, 'metrics/get', {}), (a) => a.status === 'ok');
          assert.equal(typeof (d.data as { cpu_percent: unknown }).cpu_percent, 'number');
        },
        bad: async () => [{ now: true }, /unknown field "now"/],
      },
      'metrics/history': {
        ok: async () => {
          const d = (await ok('metrics/history', { since: '1h' })) as { step: number; points: unknown[] };
          assert.ok(d.step >= 1);
          assert.ok(Array.isArray(d.points));
        },
        bad: async () => [{ since: 'yesterday-ish' }, /since: "yesterday-ish" is not a time/],
      },
      'discovery/hidden': {
        ok: async () => assert.deepEqual(await ok('discovery/hidden', {}), (await rest<unknown>('/api/discovery/hidden')).body),
        bad: async () => [{ all: true }, /unknown field "all"/],
      },
      'discovery/show': {
        ok: async () => {
          const id = await task({ interval_s: 3600 });
          const deviceId = `hearth_testnode_task_${id}`;
          // The user deletes the device in Home Assistant: its user empties the config.
          const ha = await MqttProbe.connect(h.brokerUrl, [], h.brokerUsers!.homeassistant);
          await ha.publish(`homeassistant/device/${deviceId}/config`, '', { retain: true });
          await ha.close();
          await until('it to be hidden', async () => (await rest<Array<{ device_id: string }>>('/api/discovery/hidden')).body, (rows) => rows.some((r) => r.device_id === deviceId));
          assert.deepEqual(await ok('discovery/show', { device_id: deviceId }), { device_id: deviceId, shown: true });
          assert.ok(!(await rest<Array<{ device_id: string }>>('/api/discovery/hidden')).body.some((r) => r.device_id === deviceId));
        },
        bad: async () => [{ device_id: 'hearth_testnode_task_ghost' }, /is not hidden/],
      },
    };
  }

  it('has a case for every path the hub registers (GET /api/info bridge_requests)', async () => {
    const paths = (await rest<{ bridge_requests: string[] }>('/api/info')).body.bridge_requests;
    assert.ok(paths.length > 0);
    assert.deepEqual([...paths].sort(), Object.keys(cases).sort(), 'every registered path needs a case here, and every case a path');
  });

  for (const [path, c] of Object.entries(cases)) {
    if (path !== 'restart') it(`${path}: carried out, transaction echoed`, () => c.ok());
    it(`${path}: a bad payload is refused with a clear message`, async () => {
      const [payload, why] = await c.bad();
      const a = Array.isArray(payload) ? await askRaw(path, payload) : await ask(probe, path, payload);
      assert.equal(a.status, 'error', `${path} took ${JSON.stringify(payload)}: ${JSON.stringify(a.data)}`);
      assert.match(a.error!, why);
      if (!Array.isArray(payload)) assert.match(String(a.transaction), /^tx-\d+$/);
    });
  }

  /** A payload that is no object has no transaction to echo: the answer is the next one on the path. */
  async function askRaw(path: string, payload: unknown): Promise<Answer> {
    const since = probe.mark();
    await probe.publish(`${BASE}/bridge/request/${path}`, JSON.stringify(payload));
    return JSON.parse((await probe.next(`${BASE}/bridge/response/${path}`, () => true, { since })).payload) as Answer;
  }

  it('refuses an unknown path, naming the known ones', async () => {
    const a = await ask(probe, 'agent/explode', {});
    assert.equal(a.status, 'error');
    assert.match(a.error!, /unknown request path "agent\/explode" \(known: .*agent\/create/);
  });
});
