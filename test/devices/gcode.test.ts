/**
 * G-code over a real serial line: a socat pty pair, the serial transport on one end and a Marlin-like
 * simulator on the other. Also the text helpers, the serial checks and port listing, and TCP.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, statSync, existsSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { watchVanish } from '../../src/bridges/devices/serial-binding.js';
import { listPorts, serial } from '../../src/bridges/devices/serial.js';
import { tcp } from '../../src/bridges/devices/tcp.js';
import type { ByteLink } from '../../src/hub/devices/link.js';
import type { ByteSession, FieldValue } from '../../src/hub/devices/protocol.js';
import { gcode } from '../../src/hub/devices/protocols/gcode.js';
import { checksum, classify, numbered, parseFirmware, parseTemperatures, stripGcode } from '../../src/hub/devices/protocols/gcode-text.js';
import type { DeviceCreate, GcodeOptions, LineField } from '../../src/hub/devices/schema.js';
import { onCleanup } from '../helpers/cleanup.js';
import { openPtyPair, serialPortsOfThisMachine, startSim, type PtyPair, type Sim } from '../helpers/pty.js';
import { tempDir } from '../helpers/tmp.js';
import { until, untilTrue } from '../helpers/wait.js';

describe('gcode text', () => {
  it('numbers a line with the XOR checksum Marlin checks', () => {
    assert.equal(checksum('N0 M110 N0'), 125);
    assert.equal(numbered(12, 'G1 X10'), `N12 G1 X10*${checksum('N12 G1 X10')}`);
    assert.equal(numbered(0, 'M110 N0'), 'N0 M110 N0*125');
  });

  it('strips comments, blank lines, old line numbers and checksums', () => {
    assert.equal(stripGcode('G1  X10\tY2 ; move\r'), 'G1 X10 Y2');
    assert.equal(stripGcode('G1 (slow) F100'), 'G1 F100');
    assert.equal(stripGcode('   ; only a comment'), '');
    assert.equal(stripGcode(''), '');
    assert.equal(stripGcode('N7 G28*33'), 'G28');
  });

  it('reads temperatures from M105 answers and auto-reports', () => {
    assert.deepEqual(parseTemperatures('ok T:20.0 /0.0 B:20.0 /0.0 @:0 B@:0'), { hotend: 20, hotend_target: 0, bed: 20, bed_target: 0 });
    assert.deepEqual(parseTemperatures(' T:210.3 /210.0 B:60.1 /60.0 T0:210.3 /210.0 @:64 B@:0'), {
      hotend: 210.3,
      hotend_target: 210,
      bed: 60.1,
      bed_target: 60,
    });
    assert.equal(parseTemperatures('X:0.00 Y:0.00 Z:0.00 E:0.00 Count X:0 Y:0 Z:0'), null);
  });

  it('reads the firmware and machine from M115, and what each line means', () => {
    const m115 = 'FIRMWARE_NAME:Marlin 2.1.2 (sim) SOURCE_CODE_URL:https://github.com/MarlinFirmware/Marlin PROTOCOL_VERSION:1.0 MACHINE_TYPE:Ender-3 EXTRUDER_COUNT:1';
    assert.deepEqual(parseFirmware(m115), { firmware: 'Marlin 2.1.2 (sim)', machineType: 'Ender-3' });
    assert.equal(parseFirmware('echo:Marlin sim'), null);
    assert.deepEqual(classify('Resend: 97'), { kind: 'resend', line: 97 });
    assert.deepEqual(classify('rs N12'), { kind: 'resend', line: 12 });
    assert.deepEqual(classify('ok N12 P15 B3'), { kind: 'ok', rest: '' });
    assert.deepEqual(classify('ok T:20.0 /0.0'), { kind: 'ok', rest: 'T:20.0 /0.0' });
    assert.deepEqual(classify('Error:checksum mismatch, Last Line: 96'), { kind: 'error', message: 'checksum mismatch, Last Line: 96', resendRelated: true });
    assert.deepEqual(classify('Error:Printer halted. kill() called!'), { kind: 'error', message: 'Printer halted. kill() called!', resendRelated: false });
    assert.deepEqual(classify('echo:busy: processing'), { kind: 'busy' });
    assert.deepEqual(classify('busy: paused for user'), { kind: 'busy' });
    assert.deepEqual(classify('start'), { kind: 'start' });
  });
});

interface Printer {
  pair: PtyPair;
  sim: Sim;
  session: ByteSession;
  link: ByteLink;
  rx: string[];
  tx: string[];
  telemetry: Array<Record<string, FieldValue>>;
  firmware: string[];
  lost: string[];
  /** The simulator's --log: every numbered command it accepted, in order. */
  accepted(): Array<{ n: number; cmd: string }>;
}

const silent = pino({ level: 'silent' });

/** The hub's end of a pty with a gcode session on it, and the simulator on the other end, greeted. */
async function printer(simArgs: string[] = [], options: GcodeOptions = { autoreport_s: 1 }, fields: LineField[] = []): Promise<Printer> {
  const pair = await openPtyPair();
  const log = join(tempDir('hearth-gcode-'), 'accepted.jsonl');
  const connection = { transport: 'serial' as const, path: pair.a, baudRate: 115200 };
  const device: DeviceCreate = {
    name: 'printer',
    protocol: 'gcode',
    connection,
    gcode: options,
    telemetry: { fields },
  };
  const p: Omit<Printer, 'session' | 'link' | 'sim'> = {
    pair,
    rx: [],
    tx: [],
    telemetry: [],
    firmware: [],
    lost: [],
    accepted: () =>
      existsSync(log)
        ? readFileSync(log, 'utf8')
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as { n: number; cmd: string })
        : [],
  };
  let session: ByteSession | undefined;
  let partial = '';
  // What the device manager does with a byte link: lines to the session, loss to its close().
  const link = (await serial.open(connection, {
    data(chunk) {
      const parts = (partial + chunk.toString('latin1')).split('\n');
      partial = parts.pop() ?? '';
      for (const raw of parts) {
        const line = raw.replace(/\r$/, '');
        p.rx.push(line);
        session?.onLine(line);
      }
    },
    lost(reason) {
      p.lost.push(reason);
      session?.close(reason);
    },
  })) as ByteLink;
  onCleanup(() => link.close());
  session = gcode.create(device, link, {
    telemetry: (v) => p.telemetry.push(v),
    tx: (l) => p.tx.push(l),
    firmware: (v) => p.firmware.push(v),
    logger: silent,
  });
  onCleanup(() => session?.close('the test ended'));
  // The link is open before the simulator starts, so its boot "start" arrives before the greeting.
  const sim = await startSim('marlin-sim', pair.b, ['--log', log, ...simArgs]);
  await until('the printer booted', () => p.rx, (rx) => rx.includes('start'));
  await session.start();
  return { ...p, session, link, sim };
}

/** ~2000 lines of G-code with comments, blank lines and CRLF endings; `commands` is what must reach the printer. */
function gcodeFile(lines = 2000): { path: string; size: number; commands: string[] } {
  const commands: string[] = [];
  const text: string[] = ['; generated by the test', '(a header comment)', ''];
  for (let i = 0; text.length < lines; i++) {
    const cmd = `G1 X${(i % 200) / 2} Y${i % 150} E${(i * 0.01).toFixed(2)}`;
    commands.push(cmd);
    if (i % 10 === 0) text.push(`;LAYER:${i / 10}`);
    if (i % 13 === 0) text.push('');
    if (i % 7 === 0) text.push(`${cmd} ; extrude\r`);
    else if (i % 11 === 0) text.push(`  ${cmd.replace(' ', '  (inline) ')}`);
    else text.push(cmd);
  }
  commands.push('M107');
  text.push('M107 ; fan off', '; end');
  const path = join(tempDir('hearth-gcode-file-'), 'part.gcode');
  writeFileSync(path, text.join('\n') + '\n');
  return { path, size: statSync(path).size, commands };
}

/** A session on a link the test answers for, line by line: for what the simulator never does. */
function scripted(options: GcodeOptions = { autoreport_s: 0 }): { session: ByteSession; written: string[]; reply(...lines: string[]): void } {
  const written: string[] = [];
  const link: ByteLink = {
    kind: 'bytes',
    write: async (data) => void written.push(String(data).trimEnd()),
    close: async () => undefined,
  };
  const device: DeviceCreate = { name: 'printer', protocol: 'gcode', connection: { transport: 'tcp', host: 'printer.local', port: 23 }, gcode: options };
  const ctx = { telemetry: () => undefined, tx: () => undefined, firmware: () => undefined, logger: silent };
  const session = gcode.create(device, link, ctx);
  onCleanup(() => session.close('the test ended')); // an unanswered greeting's ok timer must not hold the file open
  return { session, written, reply: (...lines) => lines.forEach((l) => session.onLine(l)) };
}

describe('gcode session flow', () => {
  it('an Error: line rejects its command, and the ok after it is still that command’s', async () => {
    const { session, written, reply } = scripted();
    const halted = assert.rejects(session.command!('M112'), /^Error: The printer answered "M112" with an error: Printer halted\. kill\(\) called!$/);
    reply('Error:Printer halted. kill() called!');
    await halted;
    const m114 = session.command!('M114');
    assert.equal(written.length, 1, 'M114 must wait for the ok of M112');
    reply('ok');
    assert.equal(written.at(-1), numbered(2, 'M114'));
    reply('X:1.00 Y:0.00', 'ok');
    assert.deepEqual((await m114).response, ['X:1.00 Y:0.00']);
  });

  it('a printer restart fails what was in flight and greets it again from line 0', async () => {
    const { session, written, reply } = scripted();
    const started = session.start();
    assert.deepEqual(written, ['N0 M110 N0*125']);
    reply('ok');
    await until('M115', () => written, (w) => w.length === 2 && w[1] === numbered(1, 'M115'));
    reply('FIRMWARE_NAME:Marlin 2.1.2 (sim) MACHINE_TYPE:Sim', 'Cap:AUTOREPORT_TEMP:0', 'ok');
    await started;
    const g28 = assert.rejects(session.command!('G28'), /^Error: The printer restarted \(it printed "start"\) before answering "G28"\.$/);
    reply('start');
    await g28;
    assert.equal(written.at(-1), 'N0 M110 N0*125');
  });

  it('a command without ok times out; the printer asking for its line later still gets it', async () => {
    const { session, written, reply } = scripted({ autoreport_s: 0, ok_timeout_s: 1 });
    await assert.rejects(session.command!('G1 X1'), /^Error: The printer did not answer "G1 X1" within 1 s\.$/);
    const second = session.command!('G1 X2');
    reply('Error:Line Number is not Last Line Number+1, Last Line: 0', 'Resend: 1', 'ok');
    reply('ok');
    reply('ok');
    await second;
    assert.deepEqual(written, [numbered(1, 'G1 X1'), numbered(2, 'G1 X2'), numbered(1, 'G1 X1'), numbered(2, 'G1 X2')]);
  });
});

describe('gcode over a serial pty', () => {
  it('greets the printer: numbering reset, firmware from M115, temperatures auto-reported', async () => {
    const p = await printer();
    assert.deepEqual(p.firmware, ['Marlin 2.1.2 (sim)']);
    assert.deepEqual(p.tx.slice(0, 3), ['N0 M110 N0*125', numbered(1, 'M115'), numbered(2, 'M155 S1')]);
    await p.session.command!('M104 S200');
    // No M105 goes out: the values come from the lines the printer sends by itself.
    const report = await until('an auto-report at the target', () => p.telemetry.find((t) => t.hotend === 200 && t.hotend_target === 200), (t) => t !== undefined);
    assert.equal(typeof report!.bed, 'number');
    assert.ok(!p.tx.some((l) => l.includes('M105')));
    assert.ok(p.rx.some((l) => /^\s*T:/.test(l)));
  });

  it("answers a command with the lines between it and its ok; busy: extends the ok timeout", async () => {
    const p = await printer(['--home-ms', '2500', '--busy-ms', '200'], { autoreport_s: 0, ok_timeout_s: 1 });
    const m114 = await p.session.command!('M114 ; where are we');
    assert.deepEqual(m114.response, ['X:0.00 Y:0.00 Z:0.00 E:0.00 Count X:0 Y:0 Z:0']);
    assert.ok(p.tx.at(-1)?.startsWith('N2 M114*'), p.tx.join('\n'));
    const m105 = await p.session.command!('M105');
    assert.match(m105.response[0] ?? '', /^T:21\.00 \/0\.00 B:21\.00/);
    // Homing takes 2.5 s, well past the 1 s ok timeout, but the printer says busy: meanwhile.
    const busyBefore = p.rx.filter((l) => l.includes('busy:')).length;
    const g28 = await p.session.command!('G28');
    assert.deepEqual(g28.response, []);
    assert.ok(p.rx.filter((l) => l.includes('busy:')).length - busyBefore >= 2, 'the printer kept saying busy: while it homed');
    const unknown = await p.session.command!('M9999');
    assert.deepEqual(unknown.response, ['echo:Unknown command: "M9999"']);
    await assert.rejects(p.session.command!('; nothing'), /no G-code to send/);
  });

  it('applies the telemetry fields to every received line', async () => {
    const fields: LineField[] = [{ name: 'x_pos', pattern: 'X:(?<x_pos>-?[\\d.]+) Y:' }];
    const p = await printer([], { autoreport_s: 0 }, fields);
    await p.session.command!('G1 X12.5');
    await p.session.command!('M114');
    assert.ok(p.telemetry.some((t) => t.x_pos === 12.5), JSON.stringify(p.telemetry));
  });

  it('uploads 2000 lines: each command accepted once and in order through resends, progress to 100', async (t) => {
    const p = await printer(['--resend-every', '97', '--move-ms', '0']);
    const file = gcodeFile();
    const before = p.accepted().length;
    const resendsBefore = p.rx.filter((l) => l.startsWith('Resend:')).length;
    const progress: number[] = [];
    const started = Date.now();
    const result = await p.session.upload!(file, { progress: (n) => progress.push(n), signal: new AbortController().signal });
    const accepted = p.accepted().slice(before);
    assert.deepEqual(
      accepted.map((a) => a.cmd),
      file.commands,
    );
    accepted.forEach((a, i) => i > 0 && assert.equal(a.n, (accepted[i - 1]?.n ?? 0) + 1));
    const resends = p.rx.filter((l) => l.startsWith('Resend:')).length - resendsBefore;
    assert.ok(resends >= Math.floor(file.commands.length / 97), `only ${resends} resends`);
    assert.deepEqual(result, { sent: file.commands.length, bytes: file.size, resent: resends });
    assert.equal(progress.at(-1), 100);
    progress.forEach((n, i) => i > 0 && assert.ok(n > (progress[i - 1] ?? -1), `progress went ${progress[i - 1]} -> ${n}`));
    assert.ok(progress.length <= 101);
    t.diagnostic(`upload of ${file.commands.length} lines with ${resends} resends took ${Date.now() - started} ms`);
  });

  it('cancelling an upload stops sending at once; the session goes on', async () => {
    const p = await printer();
    const file = gcodeFile();
    const before = p.accepted().length;
    const abort = new AbortController();
    let txAtAbort = -1;
    const upload = p.session.upload!(file, {
      progress: (n) => {
        if (n < 20 || abort.signal.aborted) return;
        txAtAbort = p.tx.length;
        abort.abort();
      },
      signal: abort.signal,
    });
    await assert.rejects(upload, /^Error: upload cancelled$/);
    assert.equal(p.tx.length, txAtAbort, `sent after the cancel: ${p.tx.slice(txAtAbort).join(', ')}`);
    const m114 = await p.session.command!('M114');
    assert.equal(m114.response.length, 1);
    assert.deepEqual(p.tx.slice(txAtAbort).map((l) => l.replace(/^N\d+ (.*)\*\d+$/, '$1')), ['M114'], 'the next line out is the command');
    const accepted = p.accepted().slice(before).map((a) => a.cmd);
    assert.equal(accepted.at(-1), 'M114');
    const uploaded = accepted.slice(0, -1);
    assert.ok(uploaded.length > 0 && uploaded.length < file.commands.length, `${uploaded.length} of ${file.commands.length} lines went out`);
    assert.deepEqual(uploaded, file.commands.slice(0, uploaded.length), 'what went out is the start of the file, in order');
  });

  it('the port vanishing mid-upload rejects the upload with where it stopped', async () => {
    const p = await printer();
    const file = gcodeFile();
    let closing: Promise<void> | undefined;
    const upload = p.session.upload!(file, {
      progress: (n) => void (n >= 30 && (closing ??= p.pair.close())),
      signal: new AbortController().signal,
    });
    await assert.rejects(upload, /^Error: The device disconnected at line \d+ of part\.gcode \(\d+% sent\): the serial port .* went away/);
    await closing;
    assert.equal(p.lost.length, 1);
    await assert.rejects(p.session.command!('M114'), /not connected/);
    await p.sim.exited;
  });

  it('the simulator dying mid-command fails the command once the port goes', async () => {
    const p = await printer(['--home-ms', '5000'], { autoreport_s: 0 });
    const g28 = assert.rejects(p.session.command!('G28'), /^Error: The device disconnected before answering "G28": the serial port/);
    await until('the printer busy homing', () => p.rx, (rx) => rx.some((l) => l.includes('busy')));
    await p.sim.stop();
    await p.pair.close();
    await g28;
    assert.equal(p.lost.length, 1);
  });
});

describe('serial transport', () => {
  it('check() refuses a regular file, a directory and a missing path, and accepts a pty', async () => {
    const dir = tempDir('hearth-serial-');
    const file = join(dir, 'x');
    writeFileSync(file, '');
    const check = serial.check!;
    assert.equal(await check({ transport: 'serial', path: file, baudRate: 115200 }), `${file} is not a serial port (a regular file).`);
    assert.equal(await check({ transport: 'serial', path: dir, baudRate: 115200 }), `${dir} is not a serial port (a directory).`);
    assert.match((await check({ transport: 'serial', path: join(dir, 'ttyUSB9'), baudRate: 115200 })) ?? '', /ttyUSB9 does not exist/);
    assert.equal(await check({ transport: 'serial', path: '/dev/null', baudRate: 115200 }), '/dev/null is not a serial port (a character device that is not a terminal).');
    const pair = await openPtyPair();
    assert.equal(await check({ transport: 'serial', path: pair.a, baudRate: 9600 }), null);
  });

  it('does not report lost after its owner closed it', async () => {
    const pair = await openPtyPair();
    const lost: string[] = [];
    const link = (await serial.open({ transport: 'serial', path: pair.a, baudRate: 115200 }, { data: () => undefined, lost: (r) => lost.push(r) })) as ByteLink;
    // The link notices a vanished path with a watch like this one, started earlier: once this one
    // fired, the link's would have too.
    let vanished = false;
    const stopWatch = watchVanish(pair.a, () => (vanished = true));
    onCleanup(stopWatch);
    // A link nobody closed on a port that vanishes alike: it must say lost, so the silence is the close's.
    const other = await openPtyPair();
    const otherLost: string[] = [];
    const otherLink = await serial.open({ transport: 'serial', path: other.a, baudRate: 115200 }, { data: () => undefined, lost: (r) => otherLost.push(r) });
    onCleanup(() => otherLink.close());
    await link.write('M105\n');
    await link.close();
    await Promise.all([pair.close(), other.close()]);
    await untilTrue('the vanished path seen and the other link lost', () => vanished && otherLost.length > 0);
    await assert.rejects(link.write('M105\n'), /is closed/);
    assert.deepEqual(lost, []);
  });

  it('refuses to open a path that is not there with a sentence', async () => {
    await assert.rejects(
      serial.open({ transport: 'serial', path: join(tempDir('hearth-serial-'), 'ttyACM0'), baudRate: 115200 }, { data: () => undefined, lost: () => undefined }),
      /^Error: The serial port .*ttyACM0 could not be opened: .*\.$/,
    );
  });

  it('listPorts() answers without udevadm: the serial ports this machine has, and no other terminal', async () => {
    const pair = await openPtyPair(); // a pty is a terminal, not a port: never listed
    const ports = await listPorts();
    assert.deepEqual(ports.map((p) => p.path).sort(), serialPortsOfThisMachine(), JSON.stringify(ports));
    assert.ok(!ports.some((p) => p.path === pair.a || p.path === pair.devices?.a));
  });
});

describe('tcp transport', () => {
  async function server(): Promise<{ server: Server; port: number; sockets: Socket[] }> {
    const sockets: Socket[] = [];
    const s = createServer((socket) => {
      sockets.push(socket);
      socket.on('data', (d) => socket.write(`echo ${String(d)}`));
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    onCleanup(() => new Promise((r) => s.close(r)));
    const address = s.address();
    assert.ok(address && typeof address === 'object');
    return { server: s, port: address.port, sockets };
  }

  it('carries bytes both ways and reports the peer closing, once', async () => {
    const { port, sockets } = await server();
    const data: string[] = [];
    const lost: string[] = [];
    const link = (await tcp.open({ transport: 'tcp', host: '127.0.0.1', port }, { data: (c) => data.push(String(c)), lost: (r) => lost.push(r) })) as ByteLink;
    onCleanup(() => link.close());
    await link.write('M115\n');
    await until('the echo', () => data.join(''), (text) => text === 'echo M115\n');
    sockets[0]?.destroy();
    await until('lost', () => lost, (l) => l.length === 1);
    assert.deepEqual(lost, [`127.0.0.1:${port} closed the connection`]);
    await assert.rejects(link.write('x'), /is closed/);
  });

  it('does not report lost after its owner closed it', async () => {
    const { port, sockets } = await server();
    const lost: string[] = [];
    const link = (await tcp.open({ transport: 'tcp', host: '127.0.0.1', port }, { data: () => undefined, lost: (r) => lost.push(r) })) as ByteLink;
    await until('the server saw the connection', () => sockets.length, (n) => n === 1);
    const serverSawEnd = new Promise((r) => sockets[0]!.once('close', r));
    await link.close();
    // The server's side closed too: the connection is over, nothing more can come of it.
    await serverSawEnd;
    assert.deepEqual(lost, []);
  });

  it('says why it could not connect', async () => {
    const { server: s, port } = await server();
    await new Promise((r) => s.close(r));
    await assert.rejects(tcp.open({ transport: 'tcp', host: '127.0.0.1', port }, { data: () => undefined, lost: () => undefined }), {
      message: `127.0.0.1:${port} refused the connection: is the device listening on that port?`,
    });
  });
});
