/**
 * The device test infrastructure itself, for real: socat pty pairs, the Marlin and meter simulators,
 * the pymodbus server over TCP and over RTU on a pty, driven by the same libraries the hub uses
 * (serialport, modbus-serial). Later device tests trust these helpers; this file is why they can.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, describe, it } from 'node:test';
import ModbusSerial from 'modbus-serial';
import { startModbusServer } from '../helpers/modbus-server.js';
import { pidsWith } from '../helpers/procs.js';
import { openPtyEnd, openPtyPair, startSim, type PtyEnd } from '../helpers/pty.js';
import { tempDir } from '../helpers/tmp.js';

// Registered after the helpers' own cleanup hook (imported above), so it runs once they have reaped
// everything: no child of this process may be left, whatever the tests did.
after(() => {
  const children = ['socat', 'marlin-sim.mjs', 'meter-sim.mjs', 'modbus-server.py']
    .flatMap((marker) => pidsWith(marker))
    .filter((pid) => {
      try {
        return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]) === process.pid;
      } catch {
        return false; // gone meanwhile
      }
    });
  assert.deepEqual(children, [], 'helper processes left behind');
});

// modbus-serial's types declare an ES default export for a CommonJS module: the class is `.default`.
const ModbusRTU = ModbusSerial.default;
type ModbusClient = InstanceType<typeof ModbusRTU>;

/** Marlin's checksummed line: XOR of every byte before the '*'. */
function numbered(n: number, cmd: string): string {
  const line = `N${n} ${cmd}`;
  let sum = 0;
  for (const ch of line) sum ^= ch.charCodeAt(0);
  return `${line}*${sum}\n`;
}

describe('pty pairs', () => {
  it('carry raw bytes both ways, vanish on close and come back at the same path', async () => {
    const pair = await openPtyPair();
    assert.match(pair.devices!.a, /^\/dev\/pts\/\d+$/);
    let a = await openPtyEnd(pair.a);
    let b = await openPtyEnd(pair.b);
    // Bytes a cooked tty would mangle: CR (ICRNL), ^C (ISIG), XON/XOFF (IXON), DEL, 8-bit.
    const raw = Buffer.from([0x0d, 0x0a, 0x03, 0x11, 0x13, 0x7f, 0x00, 0xff, 0x41, 0x0a]);
    await a.write(raw);
    await b.waitLine((l) => l.endsWith('A')); // the last line of `raw`: everything before it has arrived
    assert.deepEqual(Buffer.from(b.text, 'latin1'), raw);
    await b.write('pong\r\n');
    assert.equal(await a.waitLine(/pong/), 'pong');

    const closed = new Promise((r) => a.port.once('close', r));
    await pair.close();
    assert.equal(existsSync(pair.a) || existsSync(pair.b), false, 'links removed');
    await closed; // the open end notices the port is gone (EIO), as with an unplugged USB adapter
    await b.close();

    await pair.open();
    a = await openPtyEnd(pair.a);
    b = await openPtyEnd(pair.b);
    await a.write('again\n');
    assert.equal(await b.waitLine(/again/), 'again');
  });
});

describe('marlin-sim', () => {
  async function printer(args: string[] = []): Promise<PtyEnd> {
    const pair = await openPtyPair();
    // The host's end first: serialport flushes what is pending when it opens a port, and "start" is
    // printed when the printer boots, i.e. when the sim opens its end.
    const host = await openPtyEnd(pair.b);
    await startSim('marlin-sim', pair.a, args);
    await host.waitLine(/^start$/);
    await host.waitLine(/^echo:Marlin sim$/);
    return host;
  }

  it('identifies itself, reports temperatures and keeps a busy host informed', async () => {
    const host = await printer(['--busy-ms', '50']);
    await host.write('M115\n');
    assert.match(await host.waitLine(/^FIRMWARE_NAME:/), /^FIRMWARE_NAME:Marlin 2\.1\.2 .*EXTRUDER_COUNT:1 UUID:/);
    assert.equal(await host.waitLine(/^Cap:/), 'Cap:AUTOREPORT_TEMP:1');
    await host.waitLine(/^ok$/);

    await host.write('M104 S200\nM140 S60\nM105\n');
    await host.waitLine(/^ok$/);
    await host.waitLine(/^ok$/);
    assert.match(await host.waitLine(/^ok T:/), /^ok T:\d+\.\d\d \/200\.00 B:\d+\.\d\d \/60\.00 @:0 B@:0$/);

    // A partial line waits for its end; G4 is busy until its time is up.
    const from = host.lines.length;
    await host.write('G4 P2');
    await host.write('00\n');
    await host.waitLine(/^ok$/);
    assert.ok(host.lines.slice(from).filter((l) => l === 'echo:busy: processing').length >= 2, host.lines.slice(from).join('\n'));

    await host.write('M155 S1\n');
    await host.waitLine(/^ok$/);
    assert.match(await host.waitLine(/^ T:/), /^ T:\d+\.\d\d \/200\.00 B:/);
    await host.write('M999\n');
    assert.equal(await host.waitLine(/Unknown/), 'echo:Unknown command: "M999"');
  });

  it('checks line numbers and checksums, asking for a resend', async () => {
    const host = await printer();
    await host.write(numbered(0, 'M110 N0'));
    await host.waitLine(/^ok$/);
    await host.write(numbered(1, 'G28').replace(/\*\d+/, '*1')); // corrupted checksum
    assert.equal(await host.waitLine(/^Error:/), 'Error:checksum mismatch, Last Line: 0');
    assert.equal(await host.waitLine(/^Resend:/), 'Resend: 1');
    await host.waitLine(/^ok$/);
    await host.write(numbered(2, 'G28')); // skips line 1
    assert.equal(await host.waitLine(/^Error:/), 'Error:Line Number is not Last Line Number+1, Last Line: 0');
    assert.equal(await host.waitLine(/^Resend:/), 'Resend: 1');
    await host.waitLine(/^ok$/);
    await host.write(numbered(1, 'G28') + numbered(2, 'M114'));
    await host.waitLine(/^ok$/);
    assert.match(await host.waitLine(/^X:/), /^X:0\.00 Y:0\.00 Z:0\.00/);
    await host.waitLine(/^ok$/);
    // M110 sets the number the next line follows.
    await host.write(numbered(41, 'M110 N40') + numbered(41, 'M105'));
    await host.waitLine(/^ok$/);
    await host.waitLine(/^ok T:/);
  });

  it('--resend-every makes a host resend, and --log shows each line accepted once, in order', async () => {
    const log = join(tempDir(), 'accepted.jsonl');
    const host = await printer(['--resend-every', '3', '--log', log]);
    const lines = [numbered(0, 'M110 N0'), ...Array.from({ length: 10 }, (_, i) => numbered(i + 1, `G1 X${i + 1}`))];
    // A print host's send loop: one line in flight, the next after "ok", the asked one after "Resend".
    const resends: number[] = [];
    let next = 0;
    while (next < lines.length) {
      await host.write(lines[next]!);
      let resend: number | null = null;
      for (;;) {
        const l = await host.waitLine(/^(ok|Resend: \d+)$/);
        if (l === 'ok') break;
        resend = Number(l.slice('Resend: '.length));
      }
      if (resend === null) next++;
      else resends.push((next = resend));
    }
    // Intact numbered lines (M110 aside) 3, 6, 9, 12 were "corrupted": lines 3, 5, 7, 9.
    assert.deepEqual(resends, [3, 5, 7, 9]);
    const accepted = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { n: number; cmd: string });
    assert.deepEqual(accepted, [{ n: 0, cmd: 'M110 N0' }, ...Array.from({ length: 10 }, (_, i) => ({ n: i + 1, cmd: `G1 X${i + 1}` }))]);
  });
});

describe('meter-sim', () => {
  const TELEMETRY = /^V=\d+\.\d I=\d+\.\d{3} P=\d+\.\d E=\d+\.\d$/;

  it('prints telemetry and answers commands, with a prompt', async () => {
    const pair = await openPtyPair();
    await startSim('meter-sim', pair.a, ['--interval-ms', '0', '--prompt']);
    const host = await openPtyEnd(pair.b);
    await host.write('ID?\r\nREAD V?\nSET RATE 50\r\nFOO\n');
    await host.waitLine(/ERR unknown command/);
    assert.match(host.text, /^METER-SIM,1\.0\r\n> V=2\d\d\.\d\r\n> OK\r\n> ERR unknown command\r\n> /);
    // SET RATE switched telemetry on: lines keep coming (the first carries the last prompt).
    await host.waitLine((l) => TELEMETRY.test(l.replace(/^> /, '')));
    await host.waitLine(TELEMETRY);
  });

  it('--rate sends numbered, timestamped lines comparable with this process clock', async () => {
    const pair = await openPtyPair();
    await startSim('meter-sim', pair.a, ['--rate', '500']);
    const host = await openPtyEnd(pair.b);
    const parse = (l: string): { seq: number; t: number } => {
      const m = /^SEQ=(\d+) T=(\d+\.\d{3}) V=/.exec(l);
      assert.ok(m, l);
      return { seq: Number(m[1]), t: Number(m[2]) };
    };
    const first = parse(await host.waitLine(/^SEQ=/));
    const last = parse(await host.waitLine((l) => /^SEQ=/.test(l) && parse(l).seq >= first.seq + 200));
    const now = performance.timeOrigin + performance.now();
    assert.ok(last.t <= now && now - last.t < 1000, `sent at ${last.t}, received at ${now}`);
    const seqs = host.lines.filter((l) => l.startsWith('SEQ=')).map((l) => parse(l).seq);
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => first.seq + i), 'no line lost or reordered');
    // 200 lines at 500/s take 0.4 s of the sender's clock.
    assert.ok(last.t - first.t >= 300, `${last.t - first.t} ms for 200 lines`);
  });
});

describe('modbus-server', () => {
  /** Both transports hold the same data and see the same writes; only the link differs. */
  async function exercise(client: ModbusClient, server: Awaited<ReturnType<typeof startModbusServer>>): Promise<void> {
    client.setID(server.unitId);
    client.setTimeout(2000);
    assert.deepEqual((await client.readHoldingRegisters(0, 4)).data, [7, 8, 9, 3]);
    assert.deepEqual((await client.readInputRegisters(98, 2)).data, [1098, 1099]);
    assert.deepEqual((await client.readCoils(0, 4)).data.slice(0, 4), [true, false, true, false]);
    assert.deepEqual((await client.readDiscreteInputs(0, 4)).data.slice(0, 4), [true, false, false, true]);

    await client.writeRegisters(10, [1, 2]);
    assert.deepEqual(await server.waitForWrite((w) => w.table === 'holding'), { table: 'holding', fc: 16, address: 10, values: [1, 2] });
    assert.deepEqual(await server.get('holding', 10, 2), [1, 2]);
    await client.writeCoil(5, true);
    assert.deepEqual(await server.waitForWrite((w) => w.table === 'coils'), { table: 'coils', fc: 5, address: 5, values: [true] });

    await server.set('input', 0, [123, 456]);
    assert.deepEqual((await client.readInputRegisters(0, 2)).data, [123, 456]);
    await assert.rejects(client.readHoldingRegisters(99, 2), (e: { modbusCode?: number }) => e.modbusCode === 2); // illegal data address
    await assert.rejects(server.get('holding', 100, 1), /outside/);
  }

  it('serves TCP on a free port', async () => {
    const server = await startModbusServer({ transport: 'tcp' }, { unitId: 3, initial: { holding: [7, 8, 9] } });
    const client = new ModbusRTU();
    await client.connectTCP('127.0.0.1', { port: server.port! });
    try {
      await exercise(client, server);
    } finally {
      await new Promise((r) => client.close(r));
    }
  });

  it('serves RTU on a pty, and reopens it when the port comes back', async () => {
    const pair = await openPtyPair();
    const server = await startModbusServer({ transport: 'rtu', path: pair.a }, { initial: { holding: [7, 8, 9] } });
    let client = new ModbusRTU();
    await client.connectRTUBuffered(pair.b, { baudRate: 9600 });
    await exercise(client, server);
    await new Promise((r) => client.close(r));

    await pair.close();
    await server.waitForSerial('lost');
    const seen = server.serialEvents.length;
    await pair.open();
    await server.waitForSerial('open', { from: seen });
    client = new ModbusRTU();
    await client.connectRTUBuffered(pair.b, { baudRate: 9600 });
    client.setID(1);
    client.setTimeout(2000);
    assert.deepEqual((await client.readHoldingRegisters(10, 2)).data, [1, 2], 'same data after the reconnect');
    await new Promise((r) => client.close(r));
  });

  it('refuses to start with a clear error when the port does not exist', async () => {
    await assert.rejects(startModbusServer({ transport: 'rtu', path: join(tempDir(), 'nope') }), /exited with .* before serving/);
  });
});
