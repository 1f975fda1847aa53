/**
 * Patterns users write run in linear time: a device whose telemetry field or `until` pattern is
 * `(a+)+` (catastrophic backtracking on V8's engine) is fed a hostile line and the hub (a child
 * process, so a frozen one cannot freeze the test) keeps answering and reading the lines after
 * it; a task trigger's payload filter is compared as text, never run as a pattern; a pattern that
 * needs backtracking (a backreference, lookaround) is refused when given, with why.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { BASE, spawnHub, type HubProcess } from './helpers/hub.js';
import { startLineServer, type LineServer } from './helpers/line-server.js';
import { MqttProbe } from './helpers/mqtt-probe.js';
import { until } from './helpers/wait.js';

interface Device {
  id: string;
  connected: boolean;
  telemetry: Record<string, unknown>;
}

/** Backtracking engines take about 2^40 steps to find that this does not match `^(a+)+$`. */
const HOSTILE = `${'a'.repeat(40)}!`;

describe('regex safety', () => {
  let h: HubProcess;
  let n = 0;
  const fresh = (): string => `re${++n}`;

  // Stopped when the file ends, by SIGKILL if a frozen hub cannot take its SIGTERM.
  before(async () => {
    h = await spawnHub();
  });

  /** A request that gives up rather than wait for ever: a frozen hub fails the test instead of hanging the run. */
  async function call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(h.http + path, {
      method,
      headers: { authorization: `Bearer ${h.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(20_000),
    });
    return { status: res.status, body: (await res.json()) as T };
  }

  /** A line device on a TCP server of this test's, created and connected: its id and the server's open socket. */
  async function lineDevice(extra: Record<string, unknown>, answer: (line: string) => string | undefined = () => undefined): Promise<{ id: string; peer: LineServer }> {
    const peer = await startLineServer(answer);
    const r = await call<Device>('POST', '/api/devices', { name: fresh(), protocol: 'line', connection: { transport: 'tcp', host: '127.0.0.1', port: peer.port }, ...extra });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    await until(`${r.body.id} connected`, async () => (await call<Device>('GET', `/api/devices/${r.body.id}`)).body, (d) => d.connected && peer.open.size === 1);
    return { id: r.body.id, peer };
  }

  it('reads telemetry through a catastrophic pattern: the hostile line is no match, the lines after it are read', async () => {
    const { id, peer } = await lineDevice({
      telemetry: {
        fields: [
          { name: 'burst', pattern: '^(?<burst>(a+)+)$', type: 'string' },
          { name: 'temp', pattern: 'T=(?<temp>\\d+)' },
        ],
      },
    });
    const [socket] = peer.open;
    socket!.write(`${HOSTILE}\n${HOSTILE}\n${HOSTILE}\nT=42\naaaa\n`);
    const d = await until(`${id} read the lines after the hostile ones`, async () => (await call<Device>('GET', `/api/devices/${id}`)).body, (x) => x.telemetry.burst === 'aaaa');
    assert.deepEqual(d.telemetry, { burst: 'aaaa', temp: 42 }, 'the hostile lines matched nothing; the others were read');
    assert.equal((await call('GET', '/api/health')).status, 200, 'the hub answers');
    await peer.stop();
  });

  it('ends a command on an `until` pattern that is catastrophic for a backtracking engine', async () => {
    const { id, peer } = await lineDevice({ command: { until: 'pattern', pattern: '^(a+)+$', timeout_ms: 20_000 } }, (line) =>
      line === 'DUMP' ? `${HOSTILE}\nb\naaaa\n` : undefined,
    );
    const r = await call<{ response: string[] }>('POST', `/api/devices/${id}/command`, { command: 'DUMP' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.response, [HOSTILE, 'b', 'aaaa'], 'answered up to the first line the pattern matches');
    await peer.stop();
  });

  it('compares a task trigger\'s payload filter as text: a hostile payload does not run the task, the filter\'s own text does', async () => {
    type Job = { status: string };
    const task = async (payload: string): Promise<string> => {
      const t = await call<{ id: string }>('POST', '/api/tasks', { name: fresh(), trigger: { type: 'mqtt', topic: 'regex/safety', payload }, action: { type: 'command', command: 'true' } });
      assert.equal(t.status, 201, JSON.stringify(t.body));
      return t.body.id;
    };
    const jobsOf = async (id: string): Promise<Job[]> => (await call<Job[]>('GET', `/api/jobs?task_id=${id}`)).body;
    const filtered = await task('^(a+)+$');
    // Its twin's filter is the hostile text itself: both hear the message in the same turn.
    const twin = await task(HOSTILE);
    const probe = await MqttProbe.connect(h.brokerUrl, []);
    try {
      await probe.publish('regex/safety', HOSTILE);
      await until('the twin ran', () => jobsOf(twin), (j) => j.length === 1 && j[0]!.status === 'succeeded');
      assert.deepEqual(await jobsOf(filtered), [], 'the hostile payload did not run the task whose filter it does not equal');
      await probe.publish('regex/safety', '^(a+)+$');
      await until('the filtered task ran on its own text', () => jobsOf(filtered), (j) => j.length === 1 && j[0]!.status === 'succeeded');
      assert.equal((await call('GET', '/api/health')).status, 200, 'the hub answers');
    } finally {
      await probe.close();
    }
  });

  it('refuses a pattern that needs backtracking (backreference, lookaround) with why, over HTTP and MQTT', async () => {
    const names: string[] = [];
    const device = (fields: unknown, command?: unknown): Record<string, unknown> => ({
      name: names[names.push(fresh()) - 1],
      protocol: 'line',
      connection: { transport: 'tcp', host: '127.0.0.1', port: 9 },
      autoconnect: false,
      telemetry: { fields },
      ...(command ? { command } : {}),
    });
    const backref = await call<{ error: string }>('POST', '/api/devices', device([{ name: 'v', pattern: '(?<v>a+)\\k<v>' }]));
    assert.equal(backref.status, 400);
    assert.match(backref.body.error, /^telemetry\.fields\.0\.pattern: not supported: patterns run in linear time \(RE2\), without backreferences or lookaround/);
    const numbered = await call<{ error: string }>('POST', '/api/devices', device([{ name: 'v', pattern: '(?<v>a)(b)\\2' }]));
    assert.match(numbered.body.error, /^telemetry\.fields\.0\.pattern: not supported/);
    const lookahead = await call<{ error: string }>('POST', '/api/devices', device([], { until: 'pattern', pattern: 'ok(?=\\s)' }));
    assert.equal(lookahead.status, 400);
    assert.match(lookahead.body.error, /^command\.pattern: not supported/);
    const broken = await call<{ error: string }>('POST', '/api/devices', device([{ name: 'v', pattern: '(?<v>a' }]));
    assert.match(broken.body.error, /^telemetry\.fields\.0\.pattern: not a valid regular expression/);

    const probe = await MqttProbe.connect(h.brokerUrl, [`${BASE}/bridge/response/#`]);
    try {
      const a = await probe.ask(BASE, 'device/create', device([{ name: 'v', pattern: '(?<=x)(?<v>\\d+)' }]));
      assert.equal(a.status, 'error');
      assert.match(a.error ?? '', /^telemetry\.fields\.0\.pattern: not supported/);
    } finally {
      await probe.close();
    }
    for (const name of names) assert.equal((await call('GET', `/api/devices/${name}`)).status, 404, `${name} not created`);
  });
});
