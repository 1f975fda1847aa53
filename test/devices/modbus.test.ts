/**
 * Modbus for real: the hub's transports (src/bridges/devices) and the modbus protocol's session
 * against pymodbus, over TCP and over RTU on a pty pair (the server on end b, the hub on end a).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { modbusRtu } from '../../src/bridges/devices/modbus-rtu.js';
import { modbusTcp } from '../../src/bridges/devices/modbus-tcp.js';
import type { LinkEvents, RegisterLink } from '../../src/hub/devices/link.js';
import type { FieldValue, Session, SessionContext } from '../../src/hub/devices/protocol.js';
import { modbus } from '../../src/hub/devices/protocols/modbus.js';
import type { DeviceCreate, Register } from '../../src/hub/devices/schema.js';
import { HubError } from '../../src/hub/errors.js';
import { onCleanup } from '../helpers/cleanup.js';
import { startModbusServer, type ModbusServer } from '../helpers/modbus-server.js';
import { freePort } from '../helpers/ports.js';
import { pidsWith } from '../helpers/procs.js';
import { openPtyPair } from '../helpers/pty.js';
import { tempDir } from '../helpers/tmp.js';
import { until } from '../helpers/wait.js';

// Registered after the helpers' cleanup hook (imported above), so it runs once they have reaped.
after(() => {
  const ours = ['socat', 'modbus-server.py'].flatMap((m) => pidsWith(m)).filter((pid) => {
    try {
      return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]) === process.pid;
    } catch {
      return false; // gone meanwhile
    }
  });
  assert.deepEqual(ours, [], 'helper processes left behind');
});

/** What a link told its owner. */
function recordingEvents(): LinkEvents & { losses: string[] } {
  const losses: string[] = [];
  return { losses, data: () => undefined, lost: (reason) => void losses.push(reason) };
}

/** A link that counts its requests, to see the batching from the outside. */
function counted(link: RegisterLink): RegisterLink & { reads: string[] } {
  const reads: string[] = [];
  return {
    kind: 'registers',
    reads,
    read: (fn, address, count) => {
      reads.push(`${fn} ${address}+${count}`);
      return link.read(fn, address, count);
    },
    write: (fn, address, values) => link.write(fn, address, values),
    close: () => link.close(),
  };
}

/** A session context that keeps the telemetry and the log lines. */
function recorder(): { ctx: SessionContext; values: Record<string, FieldValue>; batches: Array<Record<string, FieldValue>>; logs: Array<{ level: number; msg: string }> } {
  const values: Record<string, FieldValue> = {};
  const batches: Array<Record<string, FieldValue>> = [];
  const logs: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: 'debug', base: undefined }, { write: (line: string) => void logs.push(JSON.parse(line) as { level: number; msg: string }) });
  const ctx: SessionContext = {
    telemetry: (v) => {
      batches.push(v);
      Object.assign(values, v);
    },
    tx: () => undefined,
    firmware: () => undefined,
    logger,
  };
  return { ctx, values, batches, logs };
}

const ERROR = 50; // pino's level number

/** One transport under test: a server, links to it, and a way to make the connection vanish. */
interface Rig {
  server: ModbusServer;
  connection(unitId?: number): DeviceCreate['connection'];
  open(events?: LinkEvents, unitId?: number): Promise<RegisterLink>;
  vanish(): Promise<void>;
}

async function rig(kind: 'tcp' | 'rtu'): Promise<Rig> {
  if (kind === 'tcp') {
    const server = await startModbusServer({ transport: 'tcp' });
    const connection = (unitId = 1): DeviceCreate['connection'] => ({ transport: 'modbus-tcp', host: '127.0.0.1', port: server.port!, unitId });
    return {
      server,
      connection,
      open: (events = recordingEvents(), unitId = 1) => openLink(() => modbusTcp.open(connection(unitId) as Parameters<typeof modbusTcp.open>[0], events)),
      vanish: () => server.stop(),
    };
  }
  const pty = await openPtyPair();
  const server = await startModbusServer({ transport: 'rtu', path: pty.b });
  const connection = (unitId = 1): DeviceCreate['connection'] => ({ transport: 'modbus-rtu', path: pty.a, baudRate: 9600, unitId });
  return {
    server,
    connection,
    open: (events = recordingEvents(), unitId = 1) => openLink(() => modbusRtu.open(connection(unitId) as Parameters<typeof modbusRtu.open>[0], events)),
    // As an unplugged adapter: the port itself goes away.
    vanish: () => pty.close(),
  };
}

async function openLink(open: () => Promise<unknown>): Promise<RegisterLink> {
  const link = (await open()) as RegisterLink;
  onCleanup(() => link.close());
  return link;
}

function device(connection: DeviceCreate['connection'], registers: Register[], poll_s = 60): DeviceCreate {
  return { name: 'meter', protocol: 'modbus', connection, telemetry: { registers, poll_s } };
}

/** A started session over a counting link; closed at the end of the file if the test does not. */
async function session(r: Rig, registers: Register[], poll_s?: number) {
  const dev = device(r.connection(), registers, poll_s);
  assert.equal(modbus.check(dev), null);
  const link = counted(await r.open());
  const rec = recorder();
  const s: Session = modbus.create(dev, link, rec.ctx);
  onCleanup(() => s.close('the test ended'));
  // A serial port has one user at a time: each test lets go of it before the next opens it.
  const done = async (): Promise<void> => {
    s.close('done');
    await link.close();
  };
  await s.start().catch(async (e: unknown) => {
    await done();
    throw e;
  });
  return { s, link, done, ...rec };
}

function words32(set: (v: DataView) => void): number[] {
  const v = new DataView(new ArrayBuffer(4));
  set(v);
  return [v.getUint16(0), v.getUint16(2)];
}

const MAP: Register[] = [
  { name: 'temp', address: 0, function: 'holding', type: 'int16', scale: 0.1 },
  { name: 'level', address: 1, function: 'holding', scale: 0.5, offset: -10 },
  { name: 'energy', address: 2, function: 'holding', type: 'int32' },
  { name: 'count', address: 4, function: 'holding', type: 'uint32', word_order: 'little' },
  { name: 'power', address: 6, function: 'holding', type: 'float32' },
  { name: 'power_le', address: 8, function: 'holding', type: 'float32', word_order: 'little' },
  { name: 'voltage', address: 10, function: 'input', scale: 0.01 },
  { name: 'relay', address: 3, function: 'coil' },
  { name: 'door', address: 4, function: 'discrete' },
];

const WRITABLE: Register[] = [
  { name: 'setpoint', address: 20, function: 'holding', scale: 0.1, writable: true, min: 5, max: 30 },
  { name: 'limit', address: 22, function: 'holding', type: 'int32', writable: true },
  { name: 'pump', address: 5, function: 'coil', writable: true },
  { name: 'serial_no', address: 30, function: 'holding' },
];

for (const kind of ['tcp', 'rtu'] as const) {
  describe(`modbus over ${kind}`, () => {
    let r: Rig;
    before(async () => {
      r = await rig(kind);
    });

    it('decodes every type, scale and offset, a coil and a discrete input as the server holds them, in one read per run of registers', async () => {
      const { server } = r;
      await server.set('holding', 0, [(-215) & 0xffff, 84]);
      await server.set('holding', 2, words32((v) => v.setInt32(0, -123456)));
      await server.set('holding', 4, words32((v) => v.setUint32(0, 3_000_000_000)).reverse());
      await server.set('holding', 6, words32((v) => v.setFloat32(0, 1234.5)));
      await server.set('holding', 8, words32((v) => v.setFloat32(0, -0.25)).reverse());
      await server.set('input', 10, [23012]);
      await server.set('coils', 3, [true]);
      await server.set('discrete', 4, [false]);
      const { values, link, batches, done } = await session(r, MAP);
      assert.deepEqual(values, { temp: -21.5, level: 32, energy: -123456, count: 3_000_000_000, power: 1234.5, power_le: -0.25, voltage: 230.12, relay: true, door: false });
      // Holding 0-9 are adjacent: one request, one telemetry update, however many registers.
      assert.deepEqual(link.reads, ['holding 0+10', 'input 10+1', 'coil 3+1', 'discrete 4+1']);
      assert.equal(batches.length, 4);
      assert.deepEqual(Object.keys(batches[0]!), ['temp', 'level', 'energy', 'count', 'power', 'power_le']);
      await done();
    });

    it('polls each period on its own, picks up changes made on the server, and stops when closed', async () => {
      await r.server.set('input', 40, [7]);
      const fast: Register[] = [
        { name: 'fast', address: 40, function: 'input', poll_s: 0.1 },
        { name: 'slow', address: 41, function: 'input' },
      ];
      const { values, link, done } = await session(r, fast, 3600);
      assert.deepEqual(values, { fast: 7, slow: 1041 });
      await r.server.set('input', 40, [8]);
      await until('the new value polled', () => values.fast, (v) => v === 8);
      assert.equal(link.reads.filter((x) => x === 'input 41+1').length, 1, 'the slow register waits for its own period');
      await done();
      const reads = link.reads.length;
      // Nothing to wait for but time: three poll periods with no read.
      await new Promise((res) => setTimeout(res, 300));
      assert.equal(link.reads.length, reads);
    });

    it('writes a scaled holding register, a 32-bit value and a coil, and publishes what the device then holds', async () => {
      const { server } = r;
      const { s, values, done } = await session(r, WRITABLE);
      const from = server.writes.length; // the server is this describe's: only this test's writes count
      await s.writeField!('setpoint', 21.5);
      assert.deepEqual(await server.waitForWrite((w) => w.address === 20, { from }), { table: 'holding', fc: 6, address: 20, values: [215] });
      assert.equal(values.setpoint, 21.5);
      await s.writeField!('limit', -70000);
      assert.deepEqual(await server.waitForWrite((w) => w.address === 22, { from }), { table: 'holding', fc: 16, address: 22, values: words32((v) => v.setInt32(0, -70000)) });
      assert.equal(values.limit, -70000);
      await s.writeField!('pump', false);
      assert.deepEqual(await server.waitForWrite((w) => w.table === 'coils' && w.address === 5, { from }), { table: 'coils', fc: 5, address: 5, values: [false] });
      assert.deepEqual(await server.get('coils', 5), [false]);
      assert.equal(values.pump, false);
      await done();
    });

    it('refuses writes the map does not allow, before anything reaches the device', async () => {
      const { s, done } = await session(r, WRITABLE);
      const writes = r.server.writes.length;
      const refused = async (name: string, value: number | boolean, pattern: RegExp): Promise<void> => {
        await assert.rejects(s.writeField!(name, value), (e: unknown) => e instanceof HubError && e.kind === 'invalid' && pattern.test(e.message));
      };
      await refused('serial_no', 1, /"serial_no" is not writable/);
      await refused('nope', 1, /there is no register "nope"/);
      await refused('setpoint', 31, /"setpoint" must be between 5 and 30, not 31/);
      await refused('limit', 2 ** 31, /\(int32\) holds -2147483648 to 2147483647/);
      await refused('pump', 1, /"pump" is on or off/);
      assert.equal(r.server.writes.length, writes);
      await done();
    });

    it('says clearly when the device has no such address, for a read, a write and a whole map', async () => {
      const link = await r.open();
      await assert.rejects(link.read('holding', 150, 2), { message: 'the device refused: Illegal data address (exception 2) reading holding 150-151' });
      await assert.rejects(link.write('coil', 150, [1]), { message: 'the device refused: Illegal data address (exception 2) writing coil 150' });
      // A map nothing of which can be read is no working device: the connection fails with why.
      const dev = device(r.connection(), [{ name: 'ghost', address: 150, function: 'input' }]);
      await assert.rejects(modbus.create(dev, link, recorder().ctx).start(), { message: 'the device refused: Illegal data address (exception 2) reading input 150' });
      await link.close();
    });

    it('keeps reading what it can, logs a failing read once however often it fails, and refuses a write the device refuses', async () => {
      const map: Register[] = [
        { name: 'good', address: 0, function: 'input', poll_s: 0.1 },
        { name: 'ghost', address: 150, function: 'holding', writable: true, poll_s: 0.1 },
      ];
      const { s, values, logs, link, done } = await session(r, map);
      assert.equal(values.good, 1000);
      await until('five failed reads', () => link.reads.filter((x) => x === 'holding 150+1').length, (n) => n >= 5);
      const errors = logs.filter((l) => l.level === ERROR);
      assert.deepEqual(errors.map((l) => l.msg), ['device meter: the device refused: Illegal data address (exception 2) reading holding 150']);
      await assert.rejects(s.writeField!('ghost', 1), (e: unknown) => e instanceof HubError && e.kind === 'unavailable' && /Illegal data address \(exception 2\) writing holding 150/.test(e.message));
      await done();
    });

    it('sends one request at a time, each answered with its own values', async () => {
      await r.server.set('holding', 50, [11, 12, 13, 14, 15, 16, 17, 18]);
      const link = await r.open();
      const answers = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((i) => link.read('holding', 50 + i, 1)));
      assert.deepEqual(answers, [[11], [12], [13], [14], [15], [16], [17], [18]]);
      assert.deepEqual(await link.read('coil', 10, 10), [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]);
      await link.close();
    });

    it('reports the connection lost once when it goes, and not at all after close()', async () => {
      const mine = await rig(kind);
      const quiet = recordingEvents();
      await (await mine.open(quiet)).close();
      const events = recordingEvents();
      const link = await mine.open(events);
      assert.equal((await link.read('holding', 0, 1)).length, 1);
      await mine.vanish();
      await until('the loss reported', () => events.losses, (l) => l.length > 0);
      assert.match(events.losses[0]!, kind === 'tcp' ? /closed the connection/ : /unplugged/);
      await assert.rejects(link.read('holding', 0, 1), /reading holding 0 failed: the connection was lost/);
      await link.close();
      assert.equal(events.losses.length, 1);
      assert.deepEqual(quiet.losses, []);
    });
  });
}

describe('modbus transports', () => {
  it('a unit id nobody answers times out', async () => {
    for (const kind of ['rtu', 'tcp'] as const) {
      const link = await (await rig(kind)).open(undefined, 9);
      await assert.rejects(link.read('holding', 0, 1), { message: 'the device did not answer within 1000 ms reading holding 0' });
    }
  });

  it('a TCP peer that never answers times out, and the next request still goes out', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => void sockets.push(s));
    await new Promise<void>((res) => silent.listen(0, '127.0.0.1', res));
    onCleanup(() => new Promise((res) => (sockets.forEach((s) => s.destroy()), silent.close(res))));
    const port = (silent.address() as { port: number }).port;
    const link = await openLink(() => modbusTcp.open({ transport: 'modbus-tcp', host: '127.0.0.1', port, unitId: 1 }, recordingEvents()));
    await assert.rejects(link.read('input', 3, 2), { message: 'the device did not answer within 1000 ms reading input 3-4' });
    await assert.rejects(link.write('holding', 3, [1, 2]), { message: 'the device did not answer within 1000 ms writing holding 3-4' });
  });

  it('says why it cannot connect or open', async () => {
    const port = await freePort();
    await assert.rejects(modbusTcp.open({ transport: 'modbus-tcp', host: '127.0.0.1', port, unitId: 1 }, recordingEvents()), {
      message: `could not connect to 127.0.0.1:${port}: nothing listens there (connection refused)`,
    });
    const rtu = (path: string): Parameters<typeof modbusRtu.open>[0] => ({ transport: 'modbus-rtu', path, baudRate: 9600, unitId: 1 });
    const missing = join(tempDir(), 'ttyUSB9');
    await assert.rejects(modbusRtu.open(rtu(missing), recordingEvents()), { message: `could not open ${missing}: it does not exist (is the adapter plugged in?)` });
    const pty = await openPtyPair();
    await openLink(() => modbusRtu.open(rtu(pty.a), recordingEvents()));
    await assert.rejects(modbusRtu.open(rtu(pty.a), recordingEvents()), { message: `could not open ${pty.a}: another program (or another device of this hub) is using it` });
  });

  it('checks that an RTU path is a serial port', async () => {
    const pty = await openPtyPair();
    const rtu = (path: string): Parameters<typeof modbusRtu.open>[0] => ({ transport: 'modbus-rtu', path, baudRate: 9600, unitId: 1 });
    assert.equal(await modbusRtu.check!(rtu(pty.a)), null);
    const file = join(tempDir(), 'not-a-port');
    writeFileSync(file, '');
    assert.equal(await modbusRtu.check!(rtu(file)), `${file} is not a serial port (a regular file).`);
    assert.equal(await modbusRtu.check!(rtu('/dev/ttyNOPE0')), '/dev/ttyNOPE0 does not exist: is the device plugged in?');
    assert.match((await modbusRtu.check!(rtu('/dev/null'))) ?? '', /not a terminal/);
  });

  it('the protocol wants a Modbus connection and a sound map', () => {
    const tcp = { transport: 'modbus-tcp' as const, host: 'h', unitId: 1 };
    assert.equal(modbus.check({ ...device(tcp, []), connection: { transport: 'tcp', host: 'h', port: 1 } }), 'protocol modbus needs a modbus-tcp or modbus-rtu connection, not tcp');
    assert.equal(modbus.check(device(tcp, [])), 'telemetry.registers: protocol modbus needs at least one register to read');
    assert.match(modbus.check(device(tcp, [{ name: 'a', address: 0, function: 'input', writable: true }])) ?? '', /only coils and holding registers can be writable/);
  });
});
