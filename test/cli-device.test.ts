/**
 * `hearth device …` against a real hub: a line device on TCP (a peer in this file), a Modbus server
 * for writes; each command, its effect on the device, and bad input. Uploads: cli-device-upload.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliEnv, runCli, spawnCli, startHub, type HubHandle } from './helpers/hub.js';
import { startLineServer, type LineServer } from './helpers/line-server.js';
import { startModbusServer, type ModbusServer } from './helpers/modbus-server.js';
import { tempDir } from './helpers/tmp.js';
import { until } from './helpers/wait.js';

interface Device {
  id: string;
  type: string;
  status: string;
  connected: boolean;
  telemetry: Record<string, unknown>;
}

describe('hearth device', () => {
  let h: HubHandle;
  let env: Record<string, string>;
  let meter: LineServer;
  let modbus: ModbusServer;
  let n = 0;
  const dir = tempDir();
  before(async () => {
    // A line meter: answers PING with PONG V=12.5.
    meter = await startLineServer((line) => (line === 'PING' ? 'PONG V=12.5\n' : undefined));
    modbus = await startModbusServer({ transport: 'tcp' });
    h = await startHub();
    env = cliEnv(h);
  });
  after(async () => {
    await h.stop();
    await meter.stop();
    await modbus.stop();
  });

  const cli = (...args: string[]) => runCli(args, env);
  const get = async (id: string): Promise<Device> => (await h.api<Device>('GET', `/api/devices/${id}`)).body;
  const state = (id: string, status: string): Promise<Device> =>
    until(`device ${id} ${status}`, () => get(id), (d) => d.status === status && d.connected === (status === 'connected'));
  const body = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    name,
    protocol: 'line',
    connection: { transport: 'tcp', host: '127.0.0.1', port: meter.port },
    telemetry: { fields: [{ name: 'voltage', pattern: 'V=(?<voltage>[0-9.]+)', unit: 'V', device_class: 'voltage' }] },
    ...extra,
  });
  /** A meter device created through the CLI (inline JSON), connected or not. */
  const device = async (connect: boolean): Promise<string> => {
    const id = `meter_${++n}`;
    const r = await cli('device', 'create', JSON.stringify(body(`Meter ${n}`, { autoconnect: connect })));
    assert.equal(r.code, 0, r.stderr);
    if (connect) await state(id, 'connected');
    return id;
  };

  it('create from @file and inline, list, list --json, show', async () => {
    const file = join(dir, 'device.json');
    writeFileSync(file, JSON.stringify(body('Kitchen Meter')));
    const r = await cli('device', 'create', `@${file}`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^created device kitchen_meter \((disconnected|connecting|connected)\)\n$/);
    await state('kitchen_meter', 'connected');
    const inline = await cli('device', 'create', JSON.stringify(body('Inline Meter', { autoconnect: false })));
    assert.equal(inline.stdout, 'created device inline_meter (disconnected)\n');

    const [list, json, show] = await Promise.all([cli('device', 'list'), cli('device', 'list', '--json'), cli('device', 'show', 'kitchen_meter')]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ID +PROTOCOL +TRANSPORT +STATUS +LAST SEEN +FIRMWARE$/m);
    assert.match(list.stdout, /^kitchen_meter +line +tcp +connected /m);
    assert.match(list.stdout, /^inline_meter +line +tcp +disconnected /m);
    assert.ok((JSON.parse(json.stdout) as Device[]).some((d) => d.id === 'inline_meter'));
    assert.deepEqual([(JSON.parse(show.stdout) as Device).id, (JSON.parse(show.stdout) as Device).status], ['kitchen_meter', 'connected']);
  });

  it('update (inline and @file), delete', async () => {
    const id = await device(false);
    const r = await cli('device', 'update', id, '{"type": "meter"}');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as Device).type, 'meter');
    const file = join(dir, `update-${id}.json`);
    writeFileSync(file, '{"type": "gauge"}');
    assert.equal((await cli('device', 'update', id, `@${file}`)).code, 0);
    assert.equal((await get(id)).type, 'gauge');
    const d = await cli('device', 'delete', id);
    assert.deepEqual([d.code, d.stdout], [0, `deleted device ${id}\n`]);
    assert.equal((await h.api('GET', `/api/devices/${id}`)).status, 404);
  });

  it('connect, disconnect and reconnect reach the peer', async () => {
    const id = await device(false);
    const before = meter.sockets.length;
    const c = await cli('device', 'connect', id);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, new RegExp(`^${id}: (connecting|connected)\\n$`));
    await state(id, 'connected');
    assert.equal(meter.sockets.length, before + 1);
    const r = await cli('device', 'reconnect', id);
    assert.equal(r.code, 0, r.stderr);
    await until('a second connection to the peer', () => meter.sockets.length, (k) => k === before + 2);
    await state(id, 'connected');
    const d = await cli('device', 'disconnect', id);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, new RegExp(`^${id}: disconnected\\n$`));
    await state(id, 'disconnected');
  });

  it('command prints the answer; refused while disconnected', async () => {
    const id = await device(true);
    const r = await cli('device', 'command', id, 'PING');
    assert.deepEqual([r.code, r.stdout], [0, 'PONG V=12.5\n'], r.stderr);
    await until('the reading in telemetry', () => get(id), (d) => d.telemetry.voltage === 12.5);
    const off = await device(false);
    const refused = await cli('device', 'command', off, 'PING');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`POST /api/devices/${off}/command: 409`));
  });

  it('write sets Modbus registers and coils; refuses a bad value and a bad pair', async () => {
    const r = await cli('device', 'create', JSON.stringify({
      name: 'Inverter',
      protocol: 'modbus',
      connection: { transport: 'modbus-tcp', host: '127.0.0.1', port: modbus.port, unitId: modbus.unitId },
      telemetry: { poll_s: 0.2, registers: [{ name: 'setpoint', address: 40, function: 'holding', writable: true, min: 0, max: 100 }, { name: 'relay', address: 7, function: 'coil', writable: true }] },
    }));
    assert.equal(r.code, 0, r.stderr);
    await state('inverter', 'connected');
    const w = await cli('device', 'write', 'inverter', 'setpoint=42', 'relay=true');
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stdout, /^setpoint = .*\nrelay = .*\n$/);
    assert.deepEqual(await modbus.get('holding', 40, 1), [42]);
    assert.deepEqual(await modbus.get('coils', 7, 1), [true]);
    const high = await cli('device', 'write', 'inverter', 'setpoint=150');
    assert.equal(high.code, 1);
    assert.match(high.stderr, /400 .*between 0 and 100/);
    const pair = await cli('device', 'write', 'inverter', 'setpoint');
    assert.equal(pair.code, 1);
    assert.match(pair.stderr, /setpoint: expected FIELD=VALUE/);
    assert.deepEqual(await modbus.get('holding', 40, 1), [42], 'nothing written by the refused ones');
  });

  it('watch prints the state, lines both ways and telemetry as they come, until Ctrl-C', async () => {
    const id = await device(true);
    const watch = spawnCli(['device', 'watch', id], env);
    await until('the state first', watch.out, (o) => o.startsWith('-- connected\n'));
    assert.equal((await h.api('POST', `/api/devices/${id}/command`, { command: 'PING' })).status, 200);
    await until('the lines and the reading', watch.out, (o) => /^>> PING$/m.test(o) && /^<< PONG V=12\.5$/m.test(o) && /^ +\{"voltage":12\.5\}$/m.test(o));
    watch.kill('SIGINT');
    assert.equal(await watch.exited, 0);
    const ghost = await cli('device', 'watch', 'ghost');
    assert.equal(ghost.code, 1);
    assert.match(ghost.stderr, /ghost/);
  });

  it('ports lists what the API lists', async () => {
    const ports = (await h.api<Array<{ path: string }>>('GET', '/api/devices/ports')).body;
    const r = await cli('device', 'ports');
    assert.equal(r.code, 0, r.stderr);
    if (ports.length === 0) assert.equal(r.stdout, 'no serial ports\n');
    else for (const p of ports) assert.match(r.stdout, new RegExp(`^${p.path} `, 'm'));
  });

  it('refuses bad input with a clear message and a non-zero exit', async () => {
    // Independent of each other: run at once.
    const [notJson, noFile, bad, usage] = await Promise.all([
      cli('device', 'create', '{"name":'),
      cli('device', 'create', `@${join(dir, 'absent.json')}`),
      cli('device', 'create', '{"name": "pigeon", "protocol": "line", "connection": {"transport": "carrier-pigeon"}}'),
      cli('device', 'command', 'x'),
    ]);
    assert.equal(notJson.code, 1);
    assert.match(notJson.stderr, /^hearth: not JSON: /);
    assert.equal(noFile.code, 1);
    assert.match(noFile.stderr, /^hearth: cannot read .*absent\.json: ENOENT/);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /POST \/api\/devices: 400 .*transport: must be one of/);
    assert.equal((await h.api('GET', '/api/devices/pigeon')).status, 404);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /missing required argument 'text'/);
  });
});
