/**
 * Controlling a device through the whole hub, as README's Devices section promises: changing it
 * (PUT: it reconnects with the new definition), reconnecting it (REST and MQTT /set), disconnecting
 * it from MQTT, `autoconnect: false` across a restart, a serial path that appears later, and Home
 * Assistant's command entity following the connection. The device's far end is the test's own
 * end of a socat pty, so the test sees exactly what reaches it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { deviceHub } from '../helpers/devices.js';
import { BASE, NODE, startHub } from '../helpers/hub.js';
import { MqttProbe, type Seen } from '../helpers/mqtt-probe.js';
import { openPtyEnd, openPtyPair, startSim, type PtyEnd, type PtyPair } from '../helpers/pty.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

interface Device {
  id: string;
  status: string;
  reason: string | null;
  connected: boolean;
  desired: string;
  telemetry: Record<string, unknown>;
  definition: { connection: { path?: string } };
}

/** A line device's far end: a pty pair with the test holding end b. */
async function peerPort(): Promise<{ ports: PtyPair; peer: PtyEnd }> {
  const ports = await openPtyPair();
  return { ports, peer: await openPtyEnd(ports.b) };
}

const lineDevice = (name: string, path: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name,
  protocol: 'line',
  connection: { transport: 'serial', path, baudRate: 115200 },
  command: { until: 'line', timeout_ms: 3000 },
  ...extra,
});

/** The statuses of a device's published states from mark `since` on, repeats folded. */
function statuses(probe: MqttProbe, id: string, since: number): string[] {
  const out: string[] = [];
  for (const m of probe.messages.slice(since)) {
    if (m.topic !== `${BASE}/device/${id}` || m.payload === '') continue;
    const s = (JSON.parse(m.payload) as Device).status;
    if (out.at(-1) !== s) out.push(s);
  }
  return out;
}

/**
 * Renders the one form of availability template the hub uses, `{{ 'a' if value_json.x else 'b' }}`,
 * on a state payload; any other template fails, so a changed template is looked at again.
 */
function renderAvailability(template: string, payload: string): string {
  const m = /^\{\{\s*'(\w+)'\s+if\s+value_json\.(\w+)\s+else\s+'(\w+)'\s*\}\}$/.exec(template);
  assert.ok(m, `an availability template this test can render: ${template}`);
  return (JSON.parse(payload) as Record<string, unknown>)[m[2]!] ? m[1]! : m[3]!;
}

describe('device control', () => {
  const dev = deviceHub<Device>();
  const { get, connected } = dev;

  const stateWith = (id: string, since: number, test: (s: Device) => boolean): Promise<Seen> =>
    dev.probe.next(`${BASE}/device/${id}`, (m) => m.payload !== '' && test(JSON.parse(m.payload) as Device), { since });
  /**
   * The statuses from the first disconnected state after `since` until connected again. (A copy of
   * the connected state from before the action may still arrive after the mark: it is not the action's.)
   */
  const reconnection = async (id: string, since: number): Promise<string[]> => {
    const from = dev.probe.messages.indexOf(await stateWith(id, since, (s) => s.status === 'disconnected'));
    await stateWith(id, from, (s) => s.connected);
    return statuses(dev.probe, id, from);
  };

  it('PUT /api/devices/{id} reconnects it with the new definition', async () => {
    const old = await peerPort();
    const id = await dev.create(lineDevice('Changed', old.ports.a));
    const first = dev.h.api<{ response: string[] }>('POST', `/api/devices/${id}/command`, { command: 'A?' });
    await old.peer.waitLine(/^A\?$/);
    await old.peer.write('a\n');
    assert.deepEqual((await first).body.response, ['a']);

    const fresh = await peerPort();
    const m = dev.probe.mark();
    const put = await dev.h.api<Device>('PUT', `/api/devices/${id}`, {
      connection: { transport: 'serial', path: fresh.ports.a, baudRate: 115200 },
      command: { terminator: '\r\n', until: 'line', timeout_ms: 3000 },
      telemetry: { fields: [{ name: 'temp', pattern: 'T=(?<temp>[0-9.]+)' }] },
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.definition.connection.path, fresh.ports.a);
    assert.deepEqual(await reconnection(id, m), ['disconnected', 'connecting', 'connected']);
    // The new port, the new terminator, the new telemetry field; the old port is let go.
    const second = dev.h.api<{ response: string[] }>('POST', `/api/devices/${id}/command`, { command: 'B?' });
    await fresh.peer.waitLine(/^B\?$/);
    assert.ok(fresh.peer.text.includes('B?\r\n'), JSON.stringify(fresh.peer.text));
    await fresh.peer.write('b\r\n');
    assert.deepEqual((await second).body.response, ['b']);
    await fresh.peer.write('T=21.5\r\n');
    await until('the new field read', () => get(id), (d) => d.telemetry.temp === 21.5);
    assert.ok(!old.peer.lines.includes('B?'));
    const reopened = await openPtyEnd(old.ports.a);
    await reopened.close();
  });

  it('POST /api/devices/{id}/reconnect closes the link and connects again', async () => {
    const { ports } = await peerPort();
    const r = await dev.h.api<Device>('POST', '/api/devices', lineDevice('Reconnected', ports.a));
    const id = r.body.id;
    await connected(id);
    const m = dev.probe.mark();
    const res = await dev.h.api<Device>('POST', `/api/devices/${id}/reconnect`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(await reconnection(id, m), ['disconnected', 'connecting', 'connected']);
    assert.equal((await get(id)).desired, 'connected');
  });

  it('MQTT /set takes disconnect, then reconnect (bare and as an action)', async () => {
    const { ports, peer } = await peerPort();
    const r = await dev.h.api<Device>('POST', '/api/devices', lineDevice('Remote', ports.a));
    const id = r.body.id;
    await connected(id);
    let m = dev.probe.mark();
    await dev.probe.publish(`${BASE}/device/${id}/set`, 'disconnect');
    const off = JSON.parse((await stateWith(id, m, (s) => s.status === 'disconnected')).payload) as Device;
    assert.equal(off.desired, 'disconnected');
    assert.equal((await dev.h.api('POST', `/api/devices/${id}/command`, { command: 'X?' })).status, 409);

    m = dev.probe.mark();
    await dev.probe.publish(`${BASE}/device/${id}/set`, 'reconnect');
    assert.deepEqual(await reconnection(id, m), ['disconnected', 'connecting', 'connected']);
    assert.equal((await get(id)).desired, 'connected');
    m = dev.probe.mark();
    await dev.probe.publish(`${BASE}/device/${id}/set`, JSON.stringify({ action: 'reconnect' }));
    assert.deepEqual(await reconnection(id, m), ['disconnected', 'connecting', 'connected']);
    const answer = dev.h.api<{ response: string[] }>('POST', `/api/devices/${id}/command`, { command: 'Y?' });
    await peer.waitLine(/^Y\?$/);
    await peer.write('y\n');
    assert.deepEqual((await answer).body.response, ['y']);
  });

  it('the command entity is unavailable while the device is disconnected; the connection switch is not', async () => {
    const { ports } = await peerPort();
    const m = dev.probe.mark();
    const r = await dev.h.api<Device>('POST', '/api/devices', lineDevice('Commanded', ports.a));
    const id = r.body.id;
    const config = await dev.probe.next(`homeassistant/device/hearth_${NODE}_device_${id}/config`, (x) => x.payload !== '', { since: m });
    const cmps = (JSON.parse(config.payload) as { cmps: Record<string, { availability?: Array<{ topic: string; value_template?: string }>; availability_mode?: string }> }).cmps;
    const command = cmps.command!;
    assert.equal(command.availability_mode, 'all');
    assert.ok(command.availability!.some((a) => a.topic === `${BASE}/bridge/state` && a.value_template === undefined), 'unavailable while the hub is offline');
    const byState = command.availability!.find((a) => a.topic === `${BASE}/device/${id}`);
    assert.ok(byState?.value_template, JSON.stringify(command.availability));
    assert.equal(cmps.connection!.availability, undefined, 'the switch stays usable to connect it again');

    const on = await stateWith(id, m, (s) => s.connected);
    assert.equal(renderAvailability(byState.value_template, on.payload), 'online');
    const m2 = dev.probe.mark();
    assert.equal((await dev.h.api('POST', `/api/devices/${id}/disconnect`)).status, 200);
    const off = await stateWith(id, m2, (s) => s.status === 'disconnected');
    assert.equal(renderAvailability(byState.value_template, off.payload), 'offline');
    assert.equal(dev.probe.last(`${BASE}/device/${id}`)?.payload, off.payload, 'the retained state Home Assistant reads is the disconnected one');
  });

  it('connects a serial path that appears after the device was created', async () => {
    const dir = tempDir('hearth-later-');
    const path = join(dir, 'ttyUSB0');
    const r = await dev.h.api<Device>('POST', '/api/devices', lineDevice('Later', path, { telemetry: { fields: [{ name: 'voltage', pattern: 'V=(?<voltage>[0-9.]+)' }] } }));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const id = r.body.id;
    const waiting = await until('an error saying the port is missing', () => get(id), (d) => d.status === 'error');
    assert.match(waiting.reason ?? '', /does not exist/);
    const ports = await openPtyPair(dir, { a: 'ttyUSB0', b: 'meter' });
    await startSim('meter-sim', ports.b, ['--interval-ms', '100']);
    await until('connected, reading the meter', () => get(id), (d) => d.connected && typeof d.telemetry.voltage === 'number', { timeoutMs: 15_000 });
  });
});

describe('autoconnect: false', () => {
  it('stays disconnected when created and after a restart, until told to connect', async () => {
    const dir = tempDir();
    const manual = await peerPort();
    const auto = await peerPort();
    let h = await startHub({}, dir);
    const r = await h.api<Device>('POST', '/api/devices', lineDevice('Manual', manual.ports.a, { autoconnect: false }));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    // A connect would show at once: an attempt starts as the device is added.
    assert.equal(r.body.status, 'disconnected');
    assert.equal(r.body.desired, 'disconnected');
    const control = await h.api<Device>('POST', '/api/devices', lineDevice('Auto', auto.ports.a));
    assert.notEqual(control.body.status, 'disconnected', 'a device that autoconnects starts connecting when created');
    await until('the autoconnecting device connected', async () => (await h.api<Device>('GET', '/api/devices/auto')).body, (d) => d.connected);
    assert.equal((await h.api<Device>('GET', '/api/devices/manual')).body.status, 'disconnected');
    assert.equal((await h.api('POST', '/api/devices/manual/connect')).status, 200);
    await until('manual connected on request', async () => (await h.api<Device>('GET', '/api/devices/manual')).body, (d) => d.connected);
    await h.stop();

    h = await startHub({}, dir);
    const [manual2, auto2] = await Promise.all(['manual', 'auto'].map(async (id) => (await h.api<Device>('GET', `/api/devices/${id}`)).body));
    assert.equal(auto2!.desired, 'connected');
    assert.notEqual(auto2!.status, 'disconnected', 'the restart connects what autoconnects');
    assert.equal(manual2!.status, 'disconnected');
    assert.equal(manual2!.desired, 'disconnected');
    await until('the autoconnecting device connected again', async () => (await h.api<Device>('GET', '/api/devices/auto')).body, (d) => d.connected);
    assert.equal((await h.api<Device>('GET', '/api/devices/manual')).body.status, 'disconnected', 'still disconnected once the hub is up');
    assert.equal((await h.api('POST', '/api/devices/manual/connect')).status, 200);
    await until('manual connected on request after the restart', async () => (await h.api<Device>('GET', '/api/devices/manual')).body, (d) => d.connected);
    await h.stop();
  });
});
