/**
 * A Modbus device through the whole hub: a real pymodbus server over TCP, its registers as telemetry,
 * writes from REST, MQTT (the Home Assistant number/switch topics) and the bridge, checked on the
 * server's side; uploads and commands refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deviceHub } from '../helpers/devices.js';
import { DiscoveryRegistry } from '../helpers/ha-rules.js';
import { BASE, NODE } from '../helpers/hub.js';
import { startModbusServer, type ModbusServer } from '../helpers/modbus-server.js';
import { until } from '../helpers/wait.js';

interface Device {
  status: string;
  connected: boolean;
  telemetry: Record<string, unknown>;
}

describe('modbus device', () => {
  const dev = deviceHub<Device>();
  const { get } = dev;

  /** A pymodbus server holding an inverter's registers, and a device of that name polling it, connected. */
  async function inverter(name: string, port?: number): Promise<{ id: string; server: ModbusServer }> {
    const server = await startModbusServer({ transport: 'tcp', ...(port === undefined ? {} : { port }) }, { unitId: 3 });
    // The inverter's registers: 0.1 °C, a 32-bit energy counter, a float, a setpoint and a relay.
    await server.set('holding', 0, [215]);
    await server.set('input', 10, [0x0001, 0x86a0]);
    await server.set('input', 12, [0x4048, 0xf5c3]);
    await server.set('holding', 20, [450]);
    await server.set('coils', 5, [false]);
    const id = await dev.create(
      {
        name,
        type: 'inverter',
        protocol: 'modbus',
        connection: { transport: 'modbus-tcp', host: '127.0.0.1', port: server.port, unitId: 3 },
        telemetry: {
          poll_s: 0.2,
          registers: [
            { name: 'temperature', address: 0, function: 'holding', type: 'int16', scale: 0.1, unit: '°C', device_class: 'temperature' },
            { name: 'energy', address: 10, function: 'input', type: 'uint32', scale: 0.001, unit: 'kWh', device_class: 'energy', state_class: 'total_increasing' },
            { name: 'frequency', address: 12, function: 'input', type: 'float32', unit: 'Hz', device_class: 'frequency' },
            { name: 'setpoint', address: 20, function: 'holding', type: 'uint16', scale: 0.1, writable: true, min: 0, max: 100, unit: '%' },
            { name: 'relay', address: 5, function: 'coil', writable: true },
          ],
        },
      },
      { what: 'polled', test: (x) => x.connected && x.telemetry.frequency !== undefined },
    );
    return { id, server };
  }

  it('polls the register map into telemetry and Home Assistant entities', async () => {
    const m = dev.probe.mark();
    const { id } = await inverter('Inverter');
    const d = await get(id);
    assert.equal(d.telemetry.temperature, 21.5);
    assert.equal(d.telemetry.energy, 100);
    assert.ok(Math.abs((d.telemetry.frequency as number) - 3.14) < 1e-5);
    assert.equal(d.telemetry.setpoint, 45);
    assert.equal(d.telemetry.relay, false);

    const config = await dev.probe.next(`homeassistant/device/hearth_${NODE}_device_${id}/config`, (x) => x.payload.includes('setpoint'), { since: m });
    new DiscoveryRegistry().assertValid(config.topic, config.payload);
    const cmps = (JSON.parse(config.payload) as { cmps: Record<string, Record<string, unknown>> }).cmps;
    assert.equal(cmps.setpoint!.p, 'number');
    assert.equal(cmps.setpoint!.command_topic, `${BASE}/device/${id}/setpoint/set`);
    assert.equal(cmps.setpoint!.min, 0);
    assert.equal(cmps.setpoint!.max, 100);
    assert.equal(cmps.setpoint!.step, 0.1);
    assert.equal(cmps.relay!.p, 'switch');
    assert.equal(cmps.temperature!.p, 'sensor');
    assert.equal(cmps.energy!.state_class, 'total_increasing');
    assert.equal(cmps.command, undefined, 'a register device takes no text commands');
    assert.equal(cmps.upload_progress, undefined);
  });

  it('picks up a value changed on the server', async () => {
    const { id, server } = await inverter('Changing');
    await server.set('holding', 0, [-52 & 0xffff]);
    await until('the new temperature', () => get(id), (x) => x.telemetry.temperature === -5.2);
  });

  it('writes from Home Assistant (bare values on field topics), REST and the bridge', async () => {
    const { id, server } = await inverter('Written');
    await dev.probe.publish(`${BASE}/device/${id}/setpoint/set`, '62.5');
    const w = await server.waitForWrite((x) => x.table === 'holding' && x.address === 20);
    assert.deepEqual(w.values, [625]);
    await until('the written value read back', () => get(id), (x) => x.telemetry.setpoint === 62.5);

    await dev.probe.publish(`${BASE}/device/${id}/relay/set`, 'ON');
    const c = await server.waitForWrite((x) => x.table === 'coils' && x.address === 5);
    assert.deepEqual(c.values, [true]);

    const rest = await dev.h.api<Device>('POST', `/api/devices/${id}/write`, { setpoint: 10, relay: false });
    assert.equal(rest.status, 200, JSON.stringify(rest.body));
    assert.deepEqual(await server.get('holding', 20, 1), [100]);
    assert.deepEqual(await server.get('coils', 5, 1), [false]);

    const reply = dev.probe.next(`${BASE}/bridge/response/device/write`);
    await dev.probe.publish(`${BASE}/bridge/request/device/write`, JSON.stringify({ id, values: { setpoint: 20 } }));
    assert.match((await reply).payload, /"status":"ok"/);
    assert.deepEqual(await server.get('holding', 20, 1), [200]);
  });

  it('writes several fields from one JSON object on the device /set topic', async () => {
    const { id, server } = await inverter('Multi');
    const from = server.writes.length;
    await dev.probe.publish(`${BASE}/device/${id}/set`, JSON.stringify({ setpoint: 33.3, relay: true }));
    const setpoint = await server.waitForWrite((x) => x.table === 'holding' && x.address === 20, { from });
    const relay = await server.waitForWrite((x) => x.table === 'coils' && x.address === 5, { from });
    assert.deepEqual(setpoint.values, [333]);
    assert.deepEqual(relay.values, [true]);
    assert.deepEqual(await server.get('holding', 20, 1), [333]);
    assert.deepEqual(await server.get('coils', 5, 1), [true]);
    await until('both written values read back', () => get(id), (x) => x.telemetry.setpoint === 33.3 && x.telemetry.relay === true);
  });

  it('refuses bad writes, commands and uploads clearly, and writes nothing', async () => {
    const { id, server } = await inverter('Refusing');
    const before = server.writes.length;
    const cases: Array<[Record<string, unknown>, number, RegExp]> = [
      [{ setpoint: 150 }, 400, /between 0 and 100/],
      [{ setpoint: 'high' }, 400, /number/],
      [{ temperature: 20 }, 400, /read-only/],
      [{ nope: 1 }, 404, /no field "nope"/],
      [{ relay: 'maybe' }, 400, /on\/off/],
      // All are checked before the first is written: a good value next to a bad one is not written either.
      [{ relay: true, setpoint: 150 }, 400, /between 0 and 100/],
    ];
    for (const [body, status, why] of cases) {
      const r = await dev.h.api<{ error: string }>('POST', `/api/devices/${id}/write`, body);
      assert.equal(r.status, status, JSON.stringify(body));
      assert.match(r.body.error, why);
    }
    const rejected = dev.probe.next(`${BASE}/bridge/event`, (m) => m.payload.includes('command_rejected') && m.payload.includes('setpoint'));
    await dev.probe.publish(`${BASE}/device/${id}/setpoint/set`, 'lots');
    await rejected;
    const cmd = await dev.h.api<{ error: string }>('POST', `/api/devices/${id}/command`, { command: 'hello' });
    assert.equal(cmd.status, 400);
    assert.match(cmd.body.error, /no text commands/);
    const form = new FormData();
    form.append('file', new Blob(['x']), 'x.bin');
    const up = await fetch(`${dev.h.http}/api/devices/${id}/upload`, { method: 'POST', headers: { authorization: `Bearer ${dev.h.token}` }, body: form });
    assert.equal(up.status, 400);
    assert.match(((await up.json()) as { error: string }).error, /does not take uploads/);
    const badType = await dev.h.api<{ error: string }>('POST', '/api/devices', {
      name: 'bad',
      protocol: 'modbus',
      connection: { transport: 'modbus-tcp', host: '127.0.0.1', unitId: 1 },
      telemetry: { registers: [{ name: 'x', address: 0, function: 'holding', type: 'int64' }] },
    });
    assert.equal(badType.status, 400);
    assert.match(badType.body.error, /type/);
    // A write the hub took after the refusals arrives: only then is "nothing before it" a fact.
    await dev.h.api('POST', `/api/devices/${id}/write`, { setpoint: 1 });
    const next = await server.waitForWrite(() => true, { from: before });
    assert.deepEqual(next, { table: 'holding', fc: 6, address: 20, values: [10] }, 'the first write after the refusals is the good one');
  });

  it('reports the server going away and comes back when it does', async () => {
    const { id, server } = await inverter('Comeback');
    const port = server.port;
    await server.stop();
    await until('an error status', () => get(id), (x) => x.status === 'error', { timeoutMs: 15_000 });
    await startModbusServer({ transport: 'tcp', port }, { unitId: 3 });
    await until('connected again', () => get(id), (x) => x.connected, { timeoutMs: 40_000 });
  });
});
