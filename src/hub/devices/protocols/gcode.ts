/**
 * G-code over Marlin's host protocol, the way OctoPrint speaks it: every line numbered with a
 * checksum, one command in flight until its `ok`, the rest queued, and lines the printer did not
 * get sent again from a history when it asks (`Resend: N`). Uploads go through the same queue, so a
 * command typed during a print can't break the numbering.
 */
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { HubError, invalid } from '../../errors.js';
import type { ByteLink } from '../link.js';
import type { ByteProtocol, ByteSession, CommandResult, FieldValue, SessionContext, UploadControl, UploadResult, UploadSource } from '../protocol.js';
import type { DeviceCreate } from '../schema.js';
import { checkFields, compileFields, readFields, type CompiledField } from './fields.js';
import { classify, isAutoReport, numbered, parseCapability, parseFirmware, parseTemperatures, stripGcode } from './gcode-text.js';

/** Sent lines kept for `Resend:`; with one line in flight the printer only ever asks for the last few. */
const HISTORY = 1000;
const DEFAULT_AUTOREPORT_S = 2;
const DEFAULT_OK_TIMEOUT_S = 30;
/** A printer that reboots while the hub greets it (DTR reset on open) gets greeted again, this often. */
const GREET_ATTEMPTS = 3;

const unavailable = (message: string): HubError => new HubError('unavailable', message);

interface Answer extends CommandResult {
  /** Times a line of this command went out again because the printer asked. */
  resent: number;
}

/** A command waiting for its turn, then for its `ok`. */
interface Entry {
  command: string;
  response: string[];
  resent: number;
  sentAt: number;
  /** The line number it went out with, once sent. */
  line?: number;
  /** Already rejected (an Error: line, a cancel) but its `ok` must still be waited for, or the next command would take it. */
  settled: boolean;
  resolve(answer: Answer): void;
  reject(error: Error): void;
}

class GcodeSession implements ByteSession {
  private readonly autoreportS: number;
  private readonly okTimeoutMs: number;
  private readonly fields: CompiledField[];
  private readonly queue: Entry[] = [];
  private inFlight: Entry | null = null;
  private nextLine = 1;
  private readonly history = new Map<number, string>();
  /** The line number last written: below the in-flight line while replaying after a `Resend:`. */
  private lastWritten = 0;
  private resendFrom: number | null = null;
  private okTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private greeted = false;
  private closedReason: string | null = null;

  constructor(
    device: DeviceCreate,
    private readonly link: ByteLink,
    private readonly ctx: SessionContext,
  ) {
    this.autoreportS = device.gcode?.autoreport_s ?? DEFAULT_AUTOREPORT_S;
    this.okTimeoutMs = (device.gcode?.ok_timeout_s ?? DEFAULT_OK_TIMEOUT_S) * 1000;
    this.fields = compileFields(device.telemetry?.fields);
  }

  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.greet();
      } catch (e) {
        if (!(e instanceof Restarted) || attempt >= GREET_ATTEMPTS) throw e;
      }
    }
  }

  /** Numbering from zero, who the firmware is, and temperatures without asking when it can send them itself. */
  private async greet(): Promise<void> {
    await this.send('M110 N0');
    const { response } = await this.send('M115');
    let autoreport = false;
    for (const line of response) {
      const info = parseFirmware(line);
      if (info) {
        this.ctx.firmware(info.firmware);
        this.ctx.logger.info({ firmware: info.firmware, machine_type: info.machineType }, 'printer identified');
      }
      const cap = parseCapability(line);
      if (cap?.[0] === 'AUTOREPORT_TEMP') autoreport = cap[1];
    }
    this.greeted = true;
    clearInterval(this.pollTimer);
    if (this.autoreportS === 0) return;
    if (autoreport) await this.send(`M155 S${this.autoreportS}`);
    else this.pollTimer = setInterval(() => this.poll(), this.autoreportS * 1000);
  }

  /** One M105 at a time: a printer slower than the period must not collect a queue of them. */
  private poll(): void {
    if (this.polling) return;
    this.polling = true;
    this.send('M105')
      .catch((e: Error) => this.ctx.logger.debug({ err: e }, 'temperature poll failed'))
      .finally(() => (this.polling = false));
  }

  async command(text: string): Promise<CommandResult> {
    if (/[\r\n]/.test(text.trim())) throw invalid('Send one G-code command at a time: the text holds several lines.');
    const command = stripGcode(text);
    if (!command) throw invalid('There is no G-code to send: the text is blank or only a comment.');
    const { response, ms } = await this.send(command);
    return { response, ms };
  }

  async upload(file: UploadSource, control: UploadControl): Promise<UploadResult> {
    const name = basename(file.path);
    let sent = 0;
    let bytes = 0;
    let resent = 0;
    let lineNo = 0;
    let percent = -1;
    const report = (): void => {
      const now = file.size > 0 ? Math.min(100, Math.floor((bytes * 100) / file.size)) : 100;
      if (now > percent) control.progress((percent = now));
    };
    const cancelled = (): HubError => new HubError('conflict', 'upload cancelled');
    try {
      for await (const line of fileLines(file.path)) {
        if (control.signal.aborted) throw cancelled();
        lineNo++;
        const command = stripGcode(line.text);
        if (command) {
          resent += (await this.send(command, control.signal)).resent;
          sent++;
        }
        bytes += line.bytes;
        report();
      }
    } catch (e) {
      if (control.signal.aborted) throw cancelled();
      const where = `at line ${lineNo} of ${name} (${Math.max(percent, 0)}% sent)`;
      if (this.closedReason !== null) throw unavailable(`The device disconnected ${where}: ${this.closedReason}.`);
      if (e instanceof HubError) throw new HubError(e.kind, `The upload stopped ${where}: ${e.message}`);
      throw invalid(`${name} could not be read ${where}: ${(e as Error).message}.`); // only the file fails otherwise
    }
    report();
    return { sent, bytes, resent };
  }

  /** Queues a command; it goes out when every command before it has its `ok`. */
  private send(command: string, signal?: AbortSignal): Promise<Answer> {
    if (this.closedReason !== null) return Promise.reject(unavailable(`The device is not connected (${this.closedReason}).`));
    return new Promise<Answer>((resolve, reject) => {
      const entry: Entry = { command, response: [], resent: 0, sentAt: 0, settled: false, resolve, reject };
      if (signal) {
        const onAbort = (): void => {
          const queued = this.queue.indexOf(entry);
          if (queued !== -1) this.queue.splice(queued, 1);
          this.settle(entry, new Error('cancelled'));
        };
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        const done = (): void => signal.removeEventListener('abort', onAbort);
        entry.resolve = (a) => (done(), resolve(a));
        entry.reject = (e) => (done(), reject(e));
      }
      this.queue.push(entry);
      this.pump();
    });
  }

  private pump(): void {
    if (this.inFlight || this.closedReason !== null) return;
    const entry = this.queue.shift();
    if (!entry) return;
    // M110 sets the number the printer expects; the line carrying it has that number too.
    const m110 = /^M110\b(?:.*\bN(\d+))?/i.exec(entry.command);
    const n = m110 ? Number(m110[1] ?? 0) : this.nextLine;
    if (m110) this.history.clear(); // numbers before it mean other lines now
    this.nextLine = n + 1;
    const text = numbered(n, entry.command);
    this.history.set(n, text);
    this.history.delete(n - HISTORY);
    entry.line = n;
    entry.sentAt = Date.now();
    this.inFlight = entry;
    this.resendFrom = null;
    this.write(n);
  }

  private write(n: number): void {
    const text = this.history.get(n);
    const entry = this.inFlight;
    if (text === undefined || !entry) return;
    this.lastWritten = n;
    this.armTimer();
    this.ctx.tx(text);
    this.link.write(`${text}\n`).catch((e: Error) => {
      if (this.inFlight !== entry) return;
      this.finish();
      this.settle(entry, unavailable(`Sending "${entry.command}" failed: ${e.message}.`));
      this.pump();
    });
  }

  private armTimer(): void {
    clearTimeout(this.okTimer);
    this.okTimer = setTimeout(() => this.timedOut(), this.okTimeoutMs);
  }

  /**
   * No `ok`: the command fails and the next one goes. If the printer never got the line, the next
   * one makes it ask for it (`Resend:`), which the history still answers.
   */
  private timedOut(): void {
    const entry = this.inFlight;
    if (!entry) return;
    this.finish();
    this.settle(entry, unavailable(`The printer did not answer "${entry.command}" within ${this.okTimeoutMs / 1000} s.`));
    this.pump();
  }

  onLine(line: string): void {
    const values: Record<string, FieldValue> = { ...parseTemperatures(line), ...readFields(this.fields, line) };
    if (Object.keys(values).length > 0) this.ctx.telemetry(values);

    const reply = classify(line);
    const entry = this.inFlight;
    switch (reply.kind) {
      case 'ok':
        if (reply.rest && entry) entry.response.push(reply.rest);
        return this.acknowledged();
      case 'resend':
        this.resendFrom = reply.line;
        return;
      case 'busy':
        if (entry) this.armTimer();
        return;
      case 'error':
        if (reply.resendRelated) return;
        if (entry) this.settle(entry, invalid(`The printer answered "${entry.command}" with an error: ${reply.message}`));
        else this.ctx.logger.warn({ line }, 'printer error outside a command');
        return;
      case 'start':
        return this.restarted();
      case 'other':
        if (entry && !isAutoReport(line)) entry.response.push(line);
    }
  }

  private acknowledged(): void {
    const entry = this.inFlight;
    if (!entry || entry.line === undefined) return; // the late ok of a command that timed out
    if (this.resendFrom !== null) {
      const from = this.resendFrom;
      this.resendFrom = null;
      if (!this.history.has(from) || from > entry.line) return this.lostSync(entry, from);
      entry.resent++;
      return this.write(from);
    }
    // Replaying after a Resend: each line up to the in-flight one goes out again, one ok at a time.
    if (this.lastWritten < entry.line) {
      entry.resent++;
      return this.write(this.lastWritten + 1);
    }
    this.finish();
    if (!entry.settled) entry.resolve({ response: entry.response, ms: Date.now() - entry.sentAt, resent: entry.resent });
    this.pump();
  }

  /** The printer asked for a line the history no longer has (or never sent): start its numbering over. */
  private lostSync(entry: Entry, asked: number): void {
    this.finish();
    this.settle(entry, unavailable(`The printer asked for line ${asked} again, which the hub can no longer send; the line numbering starts over.`));
    this.queue.unshift(this.internal('M110 N0'));
    this.pump();
  }

  /** An entry the session itself queues, whose failure only the log hears of. */
  private internal(command: string): Entry {
    const reject = (e: Error): void => this.ctx.logger.warn({ err: e, command }, 'internal G-code command failed');
    return { command, response: [], resent: 0, sentAt: 0, settled: false, resolve: () => undefined, reject };
  }

  /** `start`: the firmware rebooted, so what was in flight is gone and its numbering is back at zero. */
  private restarted(): void {
    this.ctx.logger.warn('printer restarted');
    this.failAll((entry) => new Restarted(entry.command));
    this.nextLine = 1;
    this.history.clear();
    clearInterval(this.pollTimer);
    // M155 is forgotten by a reboot; start() greets again itself when the reboot came during it.
    if (this.greeted) this.greet().catch((e: Error) => this.ctx.logger.warn({ err: e }, 'greeting the restarted printer failed'));
  }

  close(reason: string): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    clearInterval(this.pollTimer);
    this.failAll((entry) => unavailable(`The device disconnected before answering "${entry.command}": ${reason}.`));
  }

  private failAll(error: (entry: Entry) => Error): void {
    const entries = [...(this.inFlight ? [this.inFlight] : []), ...this.queue.splice(0)];
    this.finish();
    for (const entry of entries) this.settle(entry, error(entry));
  }

  /** The slot is free again. */
  private finish(): void {
    clearTimeout(this.okTimer);
    this.inFlight = null;
    this.resendFrom = null;
  }

  private settle(entry: Entry, error: Error): void {
    if (entry.settled) return;
    entry.settled = true;
    entry.reject(error);
  }
}

class Restarted extends HubError {
  constructor(command: string) {
    super('unavailable', `The printer restarted (it printed "start") before answering "${command}".`);
  }
}

/** The file's lines as they are read, each with its size in bytes (line ending included) for progress. */
async function* fileLines(path: string): AsyncGenerator<{ text: string; bytes: number }> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of createReadStream(path)) {
    const buf = rest.length > 0 ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
    let start = 0;
    for (let end = buf.indexOf(10); end !== -1; end = buf.indexOf(10, start)) {
      yield { text: buf.toString('utf8', start, end), bytes: end + 1 - start };
      start = end + 1;
    }
    rest = buf.subarray(start);
  }
  if (rest.length > 0) yield { text: rest.toString('utf8'), bytes: rest.length };
}

const temperature = (name: string): NonNullable<ByteProtocol['builtinFields']>[number] => ({
  name,
  unit: '°C',
  device_class: 'temperature',
  state_class: 'measurement',
});

export const gcode: ByteProtocol = {
  name: 'gcode',
  link: 'bytes',
  builtinFields: ['hotend', 'hotend_target', 'bed', 'bed_target'].map(temperature),
  check(device) {
    const transport = device.connection.transport;
    if (transport !== 'serial' && transport !== 'tcp') return `G-code goes over a serial port or TCP, not ${transport}.`;
    return checkFields(device.telemetry?.fields);
  },
  create: (device, link, ctx) => new GcodeSession(device, link, ctx),
};
