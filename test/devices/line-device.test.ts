/**
 * Line-protocol devices through the whole hub: a meter simulator on a real pty pair (socat), the
 * hub's REST API, MQTT (embedded broker), Home Assistant discovery, the telemetry WebSocket.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { deviceHub } from '../helpers/devices.js';
import { DiscoveryRegistry } from '../helpers/ha-rules.js';
import { BASE, NODE } from '../helpers/hub.js';
import { MqttProbe } from '../helpers/mqtt-probe.js';
import { openPtyEnd, openPtyPair, startSim, type PtyPair, type Sim } from '../helpers/pty.js';
import { tempDir } from '../helpers/tmp.js';
import { serialPortsOfThisMachine } from '../helpers/pty.js';
import { until } from '../helpers/wait.js';

interface Device {
  id: string;
  status: string;
  reason: string | null;
  connected: boolean;
  last_seen: string | null;
  telemetry: Record<string, unknown>;
  upload: { job_id: number; progress: number } | null;
}
interface Job {
  id: number;
  kind: string;
  device_id: string | null;
  status: string;
  progress: number;
  error: string | null;
  steps: Array<{ message: string }>;
}

const meterFields = [
  { name: 'voltage', pattern: 'V=(?<voltage>[0-9.]+)', unit: 'V', device_class: 'voltage', state_class: 'measurement' },
  { name: 'power', pattern: 'P=(?<power>[0-9.]+)', unit: 'W', device_class: 'power', state_class: 'measurement' },
  { name: 'energy', pattern: 'E=(?<energy>[0-9.]+)', unit: 'kWh', device_class: 'energy', state_class: 'total_increasing' },
];

describe('line devices', () => {
  const dev = deviceHub<Device>();
  const { get, connected } = dev;

  /** A meter simulator on its own pty, created as a line device of that name and connected. */
  async function meter(name: string, simArgs: string[], extra: Record<string, unknown> = {}): Promise<{ id: string; ports: PtyPair; sim: Sim }> {
    const ports = await openPtyPair();
    const sim = await startSim('meter-sim', ports.b, simArgs);
    const id = await dev.create({
      name,
      protocol: 'line',
      connection: { transport: 'serial', path: ports.a, baudRate: 115200 },
      ...extra,
    });
    return { id, ports, sim };
  }
  const PROMPTED = { command: { terminator: '\r\n', until: 'prompt', prompt: '> ', timeout_ms: 3000 } };

  it('reads telemetry from lines into state, MQTT and Home Assistant sensors', async () => {
    const m = dev.probe.mark();
    const { id } = await meter('Meter', ['--interval-ms', '100'], { type: 'meter', telemetry: { fields: meterFields } });
    assert.equal(id, 'meter');
    const state = await dev.probe.next(
      `${BASE}/device/meter`,
      (x) => {
        const s = JSON.parse(x.payload) as Device;
        return typeof s.telemetry.voltage === 'number' && typeof s.telemetry.energy === 'number';
      },
      { since: m },
    );
    const late = await MqttProbe.connect(dev.h.brokerUrl, [`${BASE}/device/meter`]);
    assert.equal((await late.seenOrNext(`${BASE}/device/meter`)).retain, true, 'the state is retained');
    await late.close();
    const s = JSON.parse(state.payload) as Device & { fields?: unknown };
    assert.ok((s.telemetry.voltage as number) > 200 && (s.telemetry.voltage as number) < 260);
    assert.equal(s.fields, undefined, 'field specs are not published as state');
    const rx = await dev.probe.next(`${BASE}/device/meter/rx`, (x) => x.payload.startsWith('V='), { since: m });
    assert.equal(rx.retain, false);
    assert.match(rx.payload, /^V=[0-9.]+ I=[0-9.]+ P=[0-9.]+ E=[0-9.]+$/);

    const config = await dev.probe.next(`homeassistant/device/hearth_${NODE}_device_meter/config`, (x) => x.payload !== '', { since: m });
    new DiscoveryRegistry().assertValid(config.topic, config.payload);
    const msg = JSON.parse(config.payload) as { cmps: Record<string, Record<string, unknown>>; dev: { via_device: string } };
    assert.equal(msg.dev.via_device, `hearth_${NODE}`);
    assert.equal(msg.cmps.voltage!.unit_of_measurement, 'V');
    assert.equal(msg.cmps.voltage!.device_class, 'voltage');
    assert.equal(msg.cmps.energy!.state_class, 'total_increasing');
    assert.equal(msg.cmps.connected!.device_class, 'connectivity');
    assert.equal(msg.cmps.connection!.p, 'switch');
    assert.equal(msg.cmps.command!.p, 'text');
    assert.equal(msg.cmps.upload_progress!.unit_of_measurement, '%');
    // Readings follow the connection; the controls do not, so the device can be connected again.
    assert.ok(Array.isArray(msg.cmps.voltage!.availability));
    assert.equal(msg.cmps.connection!.availability, undefined);
  });

  it('streams telemetry, lines and state on the device WebSocket', async () => {
    const { id } = await meter('Streamed', ['--interval-ms', '100'], { telemetry: { fields: meterFields } });
    const ws = new WebSocket(`${dev.h.http.replace('http', 'ws')}/api/devices/${id}/telemetry?token=${dev.h.token}`);
    const got: Array<{ type: string; data: Record<string, unknown> }> = [];
    ws.on('message', (raw) => got.push(JSON.parse(raw.toString()) as (typeof got)[number]));
    await until('state, telemetry and a line', () => got.map((x) => x.type), (types) => ['state', 'telemetry', 'line'].every((t) => types.includes(t)));
    assert.equal(got[0]!.type, 'state');
    assert.equal(got[0]!.data.id, id);
    const t = got.find((x) => x.type === 'telemetry')!;
    assert.equal(typeof (t.data.values as Record<string, unknown>).voltage, 'number');
    ws.close();
    const bad = new WebSocket(`${dev.h.http.replace('http', 'ws')}/api/devices/nope/telemetry?token=${dev.h.token}`);
    const code = await new Promise<number>((resolve) => bad.on('close', (c) => resolve(c)));
    assert.equal(code, 4404);
  });

  it('answers commands (until a prompt) over REST and MQTT, one at a time', async () => {
    const { id } = await meter('Quiet meter', ['--interval-ms', '0', '--prompt'], PROMPTED);
    assert.equal(id, 'quiet_meter');
    const first = await dev.h.api<{ response: string[] }>('POST', `/api/devices/${id}/command`, { command: 'ID?' });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual(first.body.response, ['METER-SIM,1.0']);
    // Several at once: each gets its own answer, in order.
    const answers = await Promise.all(['READ V?', 'ID?', 'BOGUS'].map((c) => dev.h.api<{ response: string[] }>('POST', `/api/devices/${id}/command`, { command: c })));
    assert.match(answers[0]!.body.response[0]!, /^V=[0-9.]+$/);
    assert.deepEqual(answers[1]!.body.response, ['METER-SIM,1.0']);
    assert.deepEqual(answers[2]!.body.response, ['ERR unknown command']);

    const tx = dev.probe.next(`${BASE}/device/${id}/tx`, (x) => x.payload === 'ID?');
    const rx = dev.probe.next(`${BASE}/device/${id}/rx`, (x) => x.payload === 'METER-SIM,1.0');
    await dev.probe.publish(`${BASE}/device/${id}/set`, JSON.stringify({ action: 'command', command: 'ID?' }));
    await tx;
    await rx;
  });

  it('refuses a command while disconnected (409) and connects again on request', async () => {
    const { id } = await meter('Toggled', ['--interval-ms', '0', '--prompt'], PROMPTED);
    const d = await dev.h.api<Device>('POST', `/api/devices/${id}/disconnect`);
    assert.equal(d.body.status, 'disconnected');
    const refused = await dev.h.api<{ error: string }>('POST', `/api/devices/${id}/command`, { command: 'ID?' });
    assert.equal(refused.status, 409);
    assert.match(refused.body.error, /disconnected/);
    await dev.probe.publish(`${BASE}/device/${id}/set`, 'connect');
    await connected(id);
    const ok = await dev.h.api<{ response: string[] }>('POST', `/api/devices/${id}/command`, { command: 'ID?' });
    assert.deepEqual(ok.body.response, ['METER-SIM,1.0']);
  });

  it('reconnects by itself when the port vanishes and comes back', async () => {
    const { id, ports, sim } = await meter('Replugged', ['--interval-ms', '100'], { telemetry: { fields: meterFields } });
    await ports.close();
    const lost = await until('an error with the reason', () => get(id), (d) => d.status === 'error' && d.reason !== null);
    assert.equal(lost.connected, false);
    await until('the hub problem sensor', async () => (await dev.h.api<{ problems: string[] }>('GET', '/api/info')).body.problems, (p) => p.includes(`device/${id}`));
    await sim.stop();
    await ports.open();
    await startSim('meter-sim', ports.b, ['--interval-ms', '100']);
    const m = dev.probe.mark();
    const back = await connected(id);
    await dev.probe.next(`${BASE}/device/${id}/rx`, (x) => x.payload.startsWith('V='), { since: m });
    const lastSeenBefore = Date.parse(back.last_seen ?? '');
    await until('fresh telemetry after the reconnect', () => get(id), (d) => Date.parse(d.last_seen ?? '') > lastSeenBefore);
    await until('the hub problem cleared', async () => (await dev.h.api<{ problems: string[] }>('GET', '/api/info')).body.problems, (p) => !p.includes(`device/${id}`));
  });

  it('uploads a file in paced chunks as a job with progress', async () => {
    const ports = await openPtyPair();
    const peer = await openPtyEnd(ports.b);
    await dev.create({
      name: 'Sink',
      protocol: 'line',
      connection: { transport: 'serial', path: ports.a, baudRate: 115200 },
      upload: { chunk_bytes: 512, pace_ms: 5 },
    });
    const lines = Array.from({ length: 400 }, (_, i) => `line ${i} ${'x'.repeat(i % 50)}`);
    const form = new FormData();
    form.append('file', new Blob([lines.join('\n') + '\n']), 'data.txt');
    const m = dev.probe.mark();
    const res = await fetch(`${dev.h.http}/api/devices/sink/upload`, { method: 'POST', headers: { authorization: `Bearer ${dev.h.token}` }, body: form });
    assert.equal(res.status, 202, await res.clone().text());
    const job = (await res.json()) as Job;
    assert.equal(job.kind, 'upload');
    assert.equal(job.device_id, 'sink');
    const progress = dev.probe.next(`${BASE}/device/sink`, (x) => ((JSON.parse(x.payload) as Device).upload?.progress ?? 0) > 0, { since: m });
    const done = await until('the upload job to end', async () => (await dev.h.api<Job>('GET', `/api/jobs/${job.id}`)).body, (j) => j.status !== 'running' && j.status !== 'pending', { timeoutMs: 20_000 });
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.equal(done.progress, 100);
    await progress;
    await until('every line at the peer', () => peer.lines, (got) => got.length >= lines.length);
    assert.deepEqual(peer.lines, lines);
    const listed = (await dev.h.api<Job[]>('GET', '/api/jobs?device_id=sink')).body;
    assert.deepEqual(listed.map((j) => j.id), [job.id]);
    assert.equal((await get('sink')).upload, null);
  });

  it('waits for a pattern when told to, and times out clearly when the answer does not end', async () => {
    const ports = await openPtyPair();
    const peer = await openPtyEnd(ports.b);
    await dev.create({
      name: 'Scripted',
      protocol: 'line',
      connection: { transport: 'serial', path: ports.a, baudRate: 115200 },
      command: { until: 'pattern', pattern: '^END$', timeout_ms: 500 },
    });
    const answer = dev.h.api<{ response: string[] }>('POST', '/api/devices/scripted/command', { command: 'LIST' });
    await peer.waitLine(/^LIST$/);
    await peer.write('one\r\ntwo\r\nEND\r\n');
    assert.deepEqual((await answer).body.response, ['one', 'two', 'END']);
    const late = dev.h.api<{ error: string }>('POST', '/api/devices/scripted/command', { command: 'LIST' });
    await peer.waitLine(/^LIST$/);
    await peer.write('one\r\n');
    const timedOut = await late;
    assert.equal(timedOut.status, 503);
    assert.match(timedOut.body.error, /no complete answer within 500 ms \(waiting for a line matching \^END\$\); it sent \["one"\]/);
  });

  it('lists the serial ports this machine has over REST and the bridge, never a pty', async () => {
    const pair = await openPtyPair();
    const listed = await dev.h.api<Array<{ path: string }>>('GET', '/api/devices/ports');
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.map((p) => p.path).sort(), serialPortsOfThisMachine(), JSON.stringify(listed.body));
    assert.ok(!listed.body.some((p) => p.path === pair.a));
    const reply = dev.probe.next(`${BASE}/bridge/response/device/ports`);
    await dev.probe.publish(`${BASE}/bridge/request/device/ports`, '{}');
    const bridged = JSON.parse((await reply).payload) as { status: string; data: Array<{ path: string }> };
    assert.equal(bridged.status, 'ok');
    assert.deepEqual(bridged.data, listed.body);
  });

  it('refuses bad input clearly and changes nothing', async () => {
    const { id } = await meter('Steady', ['--interval-ms', '0', '--prompt'], PROMPTED);
    const notPort = join(tempDir(), 'plain.txt');
    writeFileSync(notPort, 'x');
    const cases: Array<[unknown, RegExp]> = [
      [{ name: 'x', protocol: 'line', connection: { transport: 'serial', path: notPort, baudRate: 9600 } }, /not a serial port \(a regular file\)/],
      [{ name: 'x', protocol: 'line', connection: { transport: 'serial', path: '/dev/x' } }, /baudRate/],
      [{ name: 'x', protocol: 'line', connection: { transport: 'carrier-pigeon' } }, /transport: must be one of serial, tcp, modbus-tcp, modbus-rtu/],
      [{ name: 'x', protocol: 'modbus', connection: { transport: 'serial', path: '/dev/x', baudRate: 9600 } }, /modbus/],
      [{ name: 'x', protocol: 'line', connection: { transport: 'tcp', host: 'a b', port: 1 } }, /host/],
      [{ name: 'x', protocol: 'line', connection: { transport: 'tcp', host: 'h', port: 1 }, telemetry: { fields: [{ name: 'v', pattern: '(' }] } }, /regular expression/],
      [{ name: 'x', protocol: 'line', connection: { transport: 'tcp', host: 'h', port: 1 }, telemetry: { fields: [{ name: 'v', pattern: 'V=(\\d+)' }] } }, /named group/],
      [{ name: 'x', protocol: 'line', connection: { transport: 'tcp', host: 'h', port: 1 }, telemetry: { fields: [{ name: 'status', pattern: '(?<status>.)' }] } }, /taken/],
      [{ name: 'x', protocol: 'line', connection: { transport: 'tcp', host: 'h', port: 1 }, command: { until: 'prompt' } }, /command.prompt/],
    ];
    for (const [body, why] of cases) {
      const r = await dev.h.api<{ error: string }>('POST', '/api/devices', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.error, why);
    }
    const list = (await dev.h.api<Device[]>('GET', '/api/devices')).body;
    assert.ok(!list.some((d) => d.id === 'x'));
    assert.equal((await dev.h.api('GET', '/api/devices/nope')).status, 404);
    assert.equal((await dev.h.api('POST', '/api/devices/nope/connect')).status, 404);
    const multiline = await dev.h.api<{ error: string }>('POST', `/api/devices/${id}/command`, { command: 'A\nB' });
    assert.equal(multiline.status, 400);
    const notMultipart = await dev.h.api<{ error: string }>('POST', `/api/devices/${id}/upload`, { file: 'x' });
    assert.equal(notMultipart.status, 400);

    const rejected = dev.probe.next(`${BASE}/bridge/event`, (x) => x.payload.includes('command_rejected') && x.payload.includes(id));
    await dev.probe.publish(`${BASE}/device/${id}/set`, '{"action": "explode"}');
    assert.match((await rejected).payload, /action/);
    const still = await dev.h.api<{ response: string[] }>('POST', `/api/devices/${id}/command`, { command: 'ID?' });
    assert.deepEqual(still.body.response, ['METER-SIM,1.0'], 'the device keeps working');
  });

  it('deletes a device: disconnected, its Home Assistant device removed', async () => {
    const { id, ports } = await meter('Doomed', ['--interval-ms', '0', '--prompt'], PROMPTED);
    const peer = dev.probe.next(`${BASE}/device/${id}`, (x) => x.payload === '');
    const cleared = dev.probe.next(`homeassistant/device/hearth_${NODE}_device_${id}/config`, (x) => x.payload === '');
    const r = await dev.h.api('DELETE', `/api/devices/${id}`);
    assert.equal(r.status, 200);
    await cleared;
    await peer;
    assert.equal((await dev.h.api('GET', `/api/devices/${id}`)).status, 404);
    // The port is free again: a process of ours can open it (the hub holds it exclusively while connected).
    const mine = await openPtyEnd(ports.a);
    await mine.close();
  });
});
