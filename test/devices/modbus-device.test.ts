/**
 * A Modbus device through the whole hub: a real pymodbus server over TCP, its registers as telemetry,
 * writes from REST, MQTT (the Home Assistant number/switch topics) and the bridge, checked on the
 * server's side; uploads and commands refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DiscoveryRegistry } from '../helpers/ha-rules.js';
import { BASE, NODE, startHub, type HubHandle } from '../helpers/hub.js';
import { startModbusServer, type ModbusServer } from '../helpers/modbus-server.js';
import { MqttProbe } from '../helpers/mqtt-probe.js';
import { until } from '../helpers/wait.js';

interface Device {
  status: string;
  connected: boolean;
  telemetry: Record<string, unknown>;
}

describe('modbus device', () => {
  let h: HubHandle;
  let probe: MqttProbe;
  let server: ModbusServer;

  before(async () => {
    server = await startModbusServer({ transport: 'tcp' }, { unitId: 3 });
    // The inverter's registers: 0.1 °C, a 32-bit energy counter, a float, a setpoint and a relay.
    await server.set('holding', 0, [215]);
    await server.set('input', 10, [0x0001, 0x86a0]);
    await server.set('input', 12, [0x4048, 0xf5c3]);
    await server.set('holding', 20, [450]);
    await server.set('coils', 5, [false]);
    h = await startHub();
    probe = await MqttProbe.connect(h.brokerUrl, ['#']);
  });
  after(async () => {
    await probe.close();
    await h.stop();
  });

  const get = async (): Promise<Device> => (await h.api<Device>('GET', '/api/devices/inverter')).body;

  it('polls the register map into telemetry and Home Assistant entities', async () => {
    const r = await h.api('POST', '/api/devices', {
      name: 'Inverter',
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
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const d = await until('registers in telemetry', async () => {
      const x = await get();
      return x.connected && x.telemetry.frequency !== undefined ? x : undefined;
    });
    assert.equal(d.telemetry.temperature, 21.5);
    assert.equal(d.telemetry.energy, 100);
    assert.ok(Math.abs((d.telemetry.frequency as number) - 3.14) < 1e-5);
    assert.equal(d.telemetry.setpoint, 45);
    assert.equal(d.telemetry.relay, false);

    const config = await probe.next(`homeassistant/device/hearth_${NODE}_device_inverter/config`, (m) => m.payload.includes('setpoint'));
    new DiscoveryRegistry().assertValid(config.topic, config.payload);
    const cmps = (JSON.parse(config.payload) as { cmps: Record<string, Record<string, unknown>> }).cmps;
    assert.equal(cmps.setpoint!.p, 'number');
    assert.equal(cmps.setpoint!.command_topic, `${BASE}/device/inverter/setpoint/set`);
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
    await server.set('holding', 0, [-52 & 0xffff]);
    await until('the new temperature', async () => ((await get()).telemetry.temperature === -5.2 ? true : undefined));
  });

  it('writes from Home Assistant (bare values on field topics), REST and the bridge', async () => {
    await probe.publish(`${BASE}/device/inverter/setpoint/set`, '62.5');
    const w = await server.waitForWrite((x) => x.table === 'holding' && x.address === 20);
    assert.deepEqual(w.values, [625]);
    await until('the written value read back', async () => ((await get()).telemetry.setpoint === 62.5 ? true : undefined));

    await probe.publish(`${BASE}/device/inverter/relay/set`, 'ON');
    const c = await server.waitForWrite((x) => x.table === 'coils' && x.address === 5);
    assert.deepEqual(c.values, [true]);

    const rest = await h.api<Device>('POST', '/api/devices/inverter/write', { setpoint: 10, relay: false });
    assert.equal(rest.status, 200, JSON.stringify(rest.body));
    assert.deepEqual(await server.get('holding', 20, 1), [100]);
    assert.deepEqual(await server.get('coils', 5, 1), [false]);

    const reply = probe.upcoming(`${BASE}/bridge/response/device/write`);
    await probe.publish(`${BASE}/bridge/request/device/write`, JSON.stringify({ id: 'inverter', values: { setpoint: 20 } }));
    assert.match((await reply).payload, /"status":"ok"/);
    assert.deepEqual(await server.get('holding', 20, 1), [200]);
  });

  it('refuses bad writes, commands and uploads clearly, and writes nothing', async () => {
    const before = server.writes.length;
    const cases: Array<[Record<string, unknown>, number, RegExp]> = [
      [{ setpoint: 150 }, 400, /between 0 and 100/],
      [{ setpoint: 'high' }, 400, /number/],
      [{ temperature: 20 }, 400, /read-only/],
      [{ nope: 1 }, 404, /no field "nope"/],
      [{ relay: 'maybe' }, 400, /on\/off/],
    ];
    for (const [body, status, why] of cases) {
      const r = await h.api<{ error: string }>('POST', '/api/devices/inverter/write', body);
      assert.equal(r.status, status, JSON.stringify(body));
      assert.match(r.body.error, why);
    }
    const rejected = probe.upcoming(`${BASE}/bridge/event`, (m) => m.payload.includes('command_rejected') && m.payload.includes('setpoint'));
    await probe.publish(`${BASE}/device/inverter/setpoint/set`, 'lots');
    await rejected;
    const cmd = await h.api<{ error: string }>('POST', '/api/devices/inverter/command', { command: 'hello' });
    assert.equal(cmd.status, 400);
    assert.match(cmd.body.error, /no text commands/);
    const form = new FormData();
    form.append('file', new Blob(['x']), 'x.bin');
    const up = await fetch(`${h.http}/api/devices/inverter/upload`, { method: 'POST', headers: { authorization: `Bearer ${h.token}` }, body: form });
    assert.equal(up.status, 400);
    assert.match(((await up.json()) as { error: string }).error, /does not take uploads/);
    const badType = await h.api<{ error: string }>('POST', '/api/devices', {
      name: 'bad',
      protocol: 'modbus',
      connection: { transport: 'modbus-tcp', host: '127.0.0.1', unitId: 1 },
      telemetry: { registers: [{ name: 'x', address: 0, function: 'holding', type: 'int64' }] },
    });
    assert.equal(badType.status, 400);
    assert.match(badType.body.error, /type/);
    assert.equal(server.writes.length, before, 'nothing was written');
  });

  it('reports the server going away and comes back when it does', async () => {
    const port = server.port;
    await server.stop();
    await until('an error status', async () => ((await get()).status === 'error' ? true : undefined), 15_000);
    server = await startModbusServer({ transport: 'tcp', port }, { unitId: 3 });
    await until('connected again', async () => ((await get()).connected ? true : undefined), 40_000);
  });
});
