/**
 * The line protocol: text commands ending with a terminator, answers recognised by the first line,
 * a prompt or a pattern; telemetry read from any line by the device's fields; uploads sent in
 * paced chunks. One command is in flight at a time: the others wait their turn.
 */
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { conflict, HubError } from '../../errors.js';
import { compilePattern } from '../../safe-regex.js';
import type { ByteLink } from '../link.js';
import type { ByteProtocol, ByteSession, CommandResult, SessionContext, UploadControl, UploadResult, UploadSource } from '../protocol.js';
import type { CommandOptions, DeviceCreate } from '../schema.js';
import { checkFields, compileFields, readFields } from './fields.js';

const DEFAULTS = { terminator: '\n', until: 'line', timeout_ms: 2000 } as const;
const UPLOAD_DEFAULTS = { chunk_bytes: 256, pace_ms: 20 } as const;

interface Pending {
  lines: string[];
  started: number;
  resolve(r: CommandResult): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

class LineSession implements ByteSession {
  private readonly fields;
  private readonly opts: Required<Pick<CommandOptions, 'terminator' | 'until' | 'timeout_ms'>> & CommandOptions;
  private readonly pattern: RegExp | null;
  private pending: Pending | null = null;
  /** The tail of the queue of commands: each waits for the one before. */
  private queue: Promise<unknown> = Promise.resolve();
  private closedReason: string | null = null;

  constructor(
    private readonly device: DeviceCreate,
    private readonly link: ByteLink,
    private readonly ctx: SessionContext,
  ) {
    this.fields = compileFields(device.telemetry?.fields);
    this.opts = { ...DEFAULTS, ...device.command };
    // Linear time (safe-regex.ts); one stored before lookaround was refused matches no line.
    const p = this.opts.pattern ? compilePattern(this.opts.pattern) : null;
    this.pattern = p?.ok ? p.re : null;
  }

  async start(): Promise<void> {}

  onLine(line: string): void {
    const values = readFields(this.fields, line);
    if (values) this.ctx.telemetry(values);
    const p = this.pending;
    if (!p) return;
    const until = this.opts.until;
    // The prompt itself may come as a line of its own: it ends the answer and is not part of it.
    if (until === 'prompt' && line.trim() === this.opts.prompt!.trim()) return this.settle();
    p.lines.push(line);
    if (until === 'line' || (until === 'pattern' && this.pattern?.test(line) === true)) this.settle();
  }

  onPartial(text: string): boolean {
    if (!this.pending || this.opts.until !== 'prompt' || !text.endsWith(this.opts.prompt!)) return false;
    const before = text.slice(0, -this.opts.prompt!.length);
    if (before.trim() !== '') this.pending.lines.push(before);
    this.settle();
    return true;
  }

  command(text: string): Promise<CommandResult> {
    if (/[\r\n]/.test(text)) return Promise.reject(new HubError('invalid', 'a command is one line: it must not contain line breaks'));
    const run = this.queue.then(() => this.send(text));
    this.queue = run.catch(() => undefined);
    return run;
  }

  async upload(file: UploadSource, control: UploadControl): Promise<UploadResult> {
    const { chunk_bytes, pace_ms } = { ...UPLOAD_DEFAULTS, ...this.device.upload };
    // Commands wait while the file goes out: a chunk and a command must not interleave.
    let release!: () => void;
    const turn = this.queue.then(() => undefined);
    this.queue = turn.then(() => new Promise<void>((r) => (release = r)));
    await turn;
    const fh = await open(file.path, 'r').catch((e: unknown) => {
      release();
      throw e;
    });
    try {
      const buf = Buffer.alloc(chunk_bytes);
      let bytes = 0;
      let sent = 0;
      let shown = -1;
      for (;;) {
        this.alive(`at byte ${bytes} of ${file.size}`);
        if (control.signal.aborted) throw new HubError('conflict', 'upload cancelled');
        const { bytesRead } = await fh.read(buf, 0, chunk_bytes, bytes);
        if (bytesRead === 0) break;
        await this.link.write(Buffer.from(buf.subarray(0, bytesRead)));
        bytes += bytesRead;
        sent++;
        const percent = file.size === 0 ? 100 : Math.floor((bytes / file.size) * 100);
        if (percent !== shown) control.progress((shown = percent));
        if (pace_ms > 0 && bytes < file.size) await sleep(pace_ms, undefined, { signal: control.signal }).catch(() => undefined);
      }
      this.alive(`at byte ${bytes} of ${file.size}`);
      if (shown !== 100) control.progress(100);
      return { sent, bytes };
    } finally {
      await fh.close();
      release();
    }
  }

  close(reason: string): void {
    this.closedReason = reason;
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    clearTimeout(p.timer);
    p.reject(new HubError('unavailable', `the device disconnected before it answered: ${reason}`));
  }

  private alive(where: string): void {
    if (this.closedReason !== null) throw new HubError('unavailable', `the device disconnected ${where}: ${this.closedReason}`);
  }

  private async send(text: string): Promise<CommandResult> {
    if (this.closedReason !== null) throw conflict(`the device is not connected (${this.closedReason})`);
    const started = performance.now();
    const answered = new Promise<CommandResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        const got = this.pending?.lines ?? [];
        this.pending = null;
        const so = got.length ? `; it sent ${JSON.stringify(got.slice(-5))}` : '';
        reject(new HubError('unavailable', `no complete answer within ${this.opts.timeout_ms} ms (waiting for ${this.waitingFor()})${so}`));
      }, this.opts.timeout_ms);
      this.pending = { lines: [], started, resolve, reject, timer };
    });
    this.ctx.tx(text);
    try {
      await this.link.write(text + this.opts.terminator);
    } catch (e) {
      this.close((e as Error).message);
    }
    return answered;
  }

  private settle(): void {
    const p = this.pending!;
    this.pending = null;
    clearTimeout(p.timer);
    p.resolve({ response: p.lines, ms: Math.round((performance.now() - p.started) * 100) / 100 });
  }

  private waitingFor(): string {
    if (this.opts.until === 'prompt') return `the prompt ${JSON.stringify(this.opts.prompt)}`;
    if (this.opts.until === 'pattern') return `a line matching ${this.opts.pattern}`;
    return 'a line';
  }
}

export const line: ByteProtocol = {
  name: 'line',
  link: 'bytes',
  check(device) {
    const t = device.connection.transport;
    if (t !== 'serial' && t !== 'tcp') return `protocol line needs transport serial or tcp, not ${t}`;
    if (device.telemetry?.registers) return 'telemetry.registers: registers are for protocol modbus; the line protocol reads telemetry.fields';
    const c = device.command;
    if (c?.until === 'prompt' && !c.prompt) return 'command.prompt: required when command.until is "prompt"';
    if (c?.until === 'pattern' && !c.pattern) return 'command.pattern: required when command.until is "pattern"';
    if (c?.pattern) {
      const p = compilePattern(c.pattern);
      if (!p.ok) return `command.pattern: ${p.error}`;
    }
    return checkFields(device.telemetry?.fields);
  },
  create: (device, link, ctx) => new LineSession(device, link, ctx),
};
