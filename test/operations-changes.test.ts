/**
 * Changes answer alike over HTTP and MQTT: each operation that changes something is carried out
 * once over each edge, on a twin of its own (the same definition under a name that says the edge),
 * and the two answers must be the same but for that name and the clock. Operations whose answer
 * catches a moment (a process starting, a link connecting) are listed with why; every operation
 * of the table that changes something must be in one of the two lists.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OPERATIONS } from '../src/hub/operations/index.js';
import { BASE, created, startHub, type HubHandle } from './helpers/hub.js';
import { MqttProbe } from './helpers/mqtt-probe.js';
import { overHttp } from './helpers/operations.js';

type Edge = 'edgeweb' | 'edgemqtt';
let h: HubHandle;
let probe: MqttProbe;
/** Numbers the twins, so each test's are its own. */
let made = 0;

/** Makes a thing of this kind for one edge; its id. */
const thing = async (kind: 'agent' | 'task' | 'device', edge: Edge, extra: Record<string, unknown> = {}): Promise<string> => {
  const bodies = {
    agent: { command: 'true', args: ['x'], autostart: false },
    task: { enabled: false, interval_s: 3600, action: { type: 'command', command: 'true' } },
    device: { protocol: 'line', autoconnect: false, connection: { transport: 'tcp', host: '127.0.0.1', port: 9 } },
  };
  return (await created<{ id: string }>(h, `/api/${kind}s`, { name: `${kind} ${made++} ${edge}`, ...bodies[kind], ...extra })).id;
};

/** Makes a user for one edge; its name. */
const user = async (edge: Edge): Promise<string> => (await created<{ username: string }>(h, '/api/users', { username: `user-${made++}-${edge}`, password: 'long enough password', role: 'viewer' })).username;

/** The input each edge gets, made fresh for it. */
const COMPARED: Record<string, (edge: Edge) => Promise<Record<string, unknown>>> = {
  'agent/create': async (edge) => ({ name: `made ${edge}`, command: 'sleep', args: ['1'], autostart: false, env: { API_TOKEN: 's3cret', MODE: 'x' } }),
  'agent/update': async (edge) => ({ id: await thing('agent', edge), args: ['--fast'], restart: { policy: 'never' } }),
  'agent/delete': async (edge) => ({ id: await thing('agent', edge) }),
  'agent/scale': async (edge) => ({ id: await thing('agent', edge), instances: 3 }),
  'task/create': async (edge) => ({ name: `made ${edge}`, enabled: false, schedule: '0 30 3 * * *', timezone: 'Europe/Berlin', action: { type: 'command', command: 'true' } }),
  'task/update': async (edge) => ({ id: await thing('task', edge), interval_s: 7200, timeout_s: 30 }),
  'task/delete': async (edge) => ({ id: await thing('task', edge) }),
  'task/enable': async (edge) => ({ id: await thing('task', edge) }),
  'task/disable': async (edge) => ({ id: await thing('task', edge, { enabled: true }) }),
  'device/create': async (edge) => ({ name: `made ${edge}`, protocol: 'line', autoconnect: false, connection: { transport: 'tcp', host: '127.0.0.1', port: 9 } }),
  'device/update': async (edge) => ({ id: await thing('device', edge), type: 'meter', command: { timeout_ms: 500 } }),
  'device/delete': async (edge) => ({ id: await thing('device', edge) }),
  options: async () => ({ log_level: 'warn' }),
  'user/create': async (edge) => ({ username: `made-${edge}`, password: 'long enough password', role: 'operator' }),
  'user/update': async (edge) => ({ username: await user(edge), role: 'admin', enabled: false }),
  'user/delete': async (edge) => ({ username: await user(edge) }),
  'import/pm2': async (edge) => ({ ecosystem: { apps: [{ name: `pm2 ${edge}`, script: 'true', autorestart: false, env: { A: '1' } }] } }),
};

/** Carried out over both edges elsewhere (test/bridge-paths.test.ts, the HTTP suites); their answers catch a moment. */
const MOMENTARY: Record<string, string> = {
  'agent/start': 'the answer catches the process starting or already running',
  'agent/stop': 'the answer catches the process stopping or stopped',
  'agent/restart': 'the answer catches the new process starting or running',
  'agent/reload': 'the answer names new processes (test/agents-reload.test.ts reloads over both edges)',
  'task/run': "the job's trigger says which edge asked (manual or mqtt), by design",
  'job/cancel': 'the answer is the job as its process ended',
  'device/connect': 'the answer catches the link connecting',
  'device/disconnect': 'the answer catches the link closing',
  'device/reconnect': 'the answer catches the link reconnecting',
  'device/command': 'the answer carries the time the device took',
  'device/write': "the answer is the device's telemetry at that moment",
  'discovery/show': 'a device is hidden once; showing it twice is a 404 the second time',
  restart: 'restarts the hub',
  'token/revoke': "the answer names the token, whose id is random (both edges: bridge-paths and users tests)",
};

/** The answer with the edge's name and the clock taken out. */
function alike(value: unknown): unknown {
  const text = JSON.stringify(value, (k, v: unknown) => (['created_at', 'updated_at', 'next_run', 'next_runs'].includes(k) ? undefined : v));
  return JSON.parse(
    text
      .replace(/edge(web|mqtt)/g, 'EDGE')
      .replace(/(agent|task|device) \d+ EDGE/g, '$1 N EDGE')
      .replace(/(agent|task|device)_\d+_EDGE/g, '$1_N_EDGE')
      .replace(/user-\d+-EDGE/g, 'user-N-EDGE'),
  );
}

describe('changes over HTTP and MQTT', () => {
  before(async () => {
    h = await startHub({ HEARTH_METRICS_INTERVAL: '3600' });
    probe = await MqttProbe.connect(h.brokerUrl, [`${BASE}/bridge/response/#`]);
  });
  after(async () => {
    await probe.close();
    await h.stop();
  });

  it('puts every operation that changes something in one of the two lists', () => {
    // What the audit counts as a change, and what MQTT may ask for (a secret answer is HTTP only).
    const changing = OPERATIONS.filter((o) => o.http.method !== 'GET' && !o.secret).map((o) => o.name).sort();
    assert.deepEqual(changing, [...Object.keys(COMPARED), ...Object.keys(MOMENTARY)].sort());
  });

  for (const [name, inputOf] of Object.entries(COMPARED)) {
    it(`${name}: answers the same over HTTP and MQTT`, async () => {
      const op = OPERATIONS.find((o) => o.name === name)!;
      const web = await overHttp(h, op, await inputOf('edgeweb'));
      const mqtt = await probe.ask(BASE, name, await inputOf('edgemqtt'));
      assert.equal(mqtt.status, 'ok', mqtt.error);
      assert.ok(web.status < 300, JSON.stringify(web.body));
      assert.deepEqual(alike(web.body), alike(mqtt.data));
    });
  }
});
