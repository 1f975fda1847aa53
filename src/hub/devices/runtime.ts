/**
 * One device's connection: opens its link through its transport, runs its protocol's session,
 * reconnects with backoff when the port vanishes or the peer closes, and keeps the status, the
 * reason, the telemetry and the firmware version current. Generations tell a new link's events
 * from a stale one's.
 */
import { StringDecoder } from 'node:string_decoder';
import { conflict, HubError, invalid } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Link, LinkEvents, Transports, Transport } from './link.js';
import { LineSplitter } from './lines.js';
import type { ByteSession, CommandResult, FieldValue, Protocol, Session, UploadControl, UploadResult, UploadSource } from './protocol.js';
import type { Connection, DeviceCreate, DeviceStatus } from './schema.js';
import { fieldSpecs, type DeviceState, type FieldSpec, type UploadProgress } from './state.js';

export const BACKOFF = { firstMs: 1000, maxMs: 30_000 } as const;

export interface RuntimeDeps {
  transports: Transports;
  protocol: Protocol;
  logger: Logger;
  /** Status, firmware or upload changed: publish (and persist when `persist`). */
  changed(persist: boolean): void;
  telemetry(values: Record<string, FieldValue>): void;
  line(direction: 'rx' | 'tx', line: string): void;
}

export class DeviceRuntime {
  status: DeviceStatus = 'disconnected';
  reason: string | null = null;
  firmware: string | null;
  lastSeen: number | null;
  telemetry: Record<string, FieldValue> = {};
  upload: UploadProgress | null = null;
  readonly fields: FieldSpec[];
  private link: Link | null = null;
  private session: Session | null = null;
  private byteSession: ByteSession | null = null;
  private readonly splitter = new LineSplitter();
  private decoder = new StringDecoder('utf8');
  private generation = 0;
  private wanted = false;
  private failures = 0;
  private retry: NodeJS.Timeout | null = null;
  private nextAttemptAt: number | null = null;

  constructor(
    readonly id: string,
    readonly device: DeviceCreate,
    private readonly d: RuntimeDeps,
    known: { firmware: string | null; lastSeen: number | null },
  ) {
    this.firmware = known.firmware;
    this.lastSeen = known.lastSeen;
    this.fields = fieldSpecs(device, d.protocol);
  }

  /** Connects now (and keeps reconnecting) unless it is connected or on its way. */
  connect(): void {
    this.wanted = true;
    if (this.status === 'connected' || this.status === 'connecting') return;
    this.clearRetry();
    void this.attempt();
  }

  /** Closes the link and stops reconnecting. */
  async disconnect(reason = 'disconnected by the user'): Promise<void> {
    this.wanted = false;
    this.clearRetry();
    this.generation++;
    await this.drop(reason);
    this.set('disconnected', null);
  }

  async command(text: string): Promise<CommandResult> {
    const s = this.ready('a command');
    if (!s.command) throw invalid(`device ${this.id} (protocol ${this.device.protocol}) takes no text commands`);
    return s.command(text);
  }

  async sendFile(file: UploadSource, control: UploadControl): Promise<UploadResult> {
    const s = this.ready('an upload');
    if (!s.upload) throw invalid(`device ${this.id} (protocol ${this.device.protocol}) does not take uploads`);
    return s.upload(file, control);
  }

  async writeField(name: string, value: number | boolean): Promise<void> {
    const spec = this.fields.find((f) => f.name === name);
    if (!spec) throw new HubError('not_found', `device ${this.id} has no field "${name}"`);
    if (!spec.writable) throw invalid(`field "${name}" of device ${this.id} is read-only`);
    const s = this.ready(`a write of "${name}"`);
    if (!s.writeField) throw invalid(`device ${this.id} (protocol ${this.device.protocol}) has no writable fields`);
    await s.writeField(name, value);
  }

  state(base: Pick<DeviceState, 'id' | 'name' | 'type' | 'desired'>): DeviceState {
    return {
      ...base,
      protocol: this.device.protocol,
      transport: this.device.connection.transport,
      status: this.status,
      reason: this.reason,
      connected: this.status === 'connected',
      next_attempt_at: this.nextAttemptAt === null ? null : new Date(this.nextAttemptAt).toISOString(),
      last_seen: this.lastSeen === null ? null : new Date(this.lastSeen).toISOString(),
      firmware_version: this.firmware,
      telemetry: this.telemetry,
      fields: this.fields,
      upload: this.upload,
      accepts: this.accepts,
      problem: this.status === 'error',
    };
  }

  /** Text commands and files go over bytes (line, gcode); registers take neither. */
  get accepts(): { command: boolean; upload: boolean } {
    const bytes = this.d.protocol.link === 'bytes';
    return { command: bytes, upload: bytes };
  }

  private ready(what: string): Session {
    if (this.status !== 'connected' || !this.session) {
      throw conflict(`device ${this.id} is ${this.status}${this.reason ? ` (${this.reason})` : ''}: connect it before ${what}`);
    }
    return this.session;
  }

  private async attempt(): Promise<void> {
    const gen = ++this.generation;
    this.nextAttemptAt = null;
    this.set('connecting', this.reason);
    const transport = this.d.transports[this.device.connection.transport] as Transport<Connection>;
    let link: Link;
    try {
      const problem = await transport.check?.(this.device.connection);
      if (problem) throw new Error(problem);
      link = await transport.open(this.device.connection, this.events(gen));
    } catch (e) {
      if (gen === this.generation) this.failed((e as Error).message);
      return;
    }
    if (gen !== this.generation || !this.wanted) {
      await link.close().catch(() => undefined);
      return;
    }
    this.link = link;
    this.decoder = new StringDecoder('utf8');
    this.splitter.reset();
    const ctx = {
      telemetry: (values: Record<string, FieldValue>) => {
        if (gen !== this.generation) return;
        Object.assign(this.telemetry, values);
        this.lastSeen = Date.now();
        this.d.telemetry(values);
      },
      tx: (line: string) => this.d.line('tx', line),
      firmware: (version: string) => {
        if (gen !== this.generation || version === this.firmware) return;
        this.firmware = version;
        this.d.changed(true);
      },
      logger: this.d.logger,
    };
    const p = this.d.protocol;
    if (p.link === 'bytes' && link.kind === 'bytes') this.session = this.byteSession = p.create(this.device, link, ctx);
    else if (p.link === 'registers' && link.kind === 'registers') this.session = p.create(this.device, link, ctx);
    else throw new Error(`transport ${transport.name} gives ${link.kind}, protocol ${p.name} needs ${p.link}`);
    try {
      await this.session.start();
    } catch (e) {
      if (gen !== this.generation) return;
      await this.drop((e as Error).message);
      this.failed(`the device did not answer the greeting: ${(e as Error).message}`);
      return;
    }
    if (gen !== this.generation) return;
    this.failures = 0;
    this.lastSeen = Date.now();
    this.set('connected', null);
  }

  private events(gen: number): LinkEvents {
    return {
      data: (chunk) => {
        if (gen !== this.generation) return;
        this.lastSeen = Date.now();
        const s = this.byteSession;
        if (!s) return;
        for (const line of this.splitter.push(this.decoder.write(chunk))) {
          this.d.line('rx', line);
          s.onLine(line);
        }
        const partial = this.splitter.partial;
        if (partial !== '' && s.onPartial?.(partial)) this.splitter.consume();
      },
      lost: (reason) => {
        if (gen !== this.generation) return;
        this.generation++;
        void this.drop(reason).then(() => this.failed(reason));
      },
    };
  }

  /** Ends the session and closes the link (a failure to close is no news: it is going anyway). */
  private async drop(reason: string): Promise<void> {
    const { session, link } = this;
    this.session = this.byteSession = null;
    this.link = null;
    session?.close(reason);
    await link?.close().catch(() => undefined);
  }

  /** An error now, another try after the backoff (while the user wants it connected). */
  private failed(reason: string): void {
    this.d.logger.warn({ device: this.id, reason, failures: this.failures + 1 }, `device ${this.id}: ${reason}`);
    if (!this.wanted) return this.set('disconnected', reason);
    const delay = Math.min(BACKOFF.firstMs * 2 ** this.failures, BACKOFF.maxMs);
    this.failures++;
    this.nextAttemptAt = Date.now() + delay;
    this.retry = setTimeout(() => {
      this.retry = null;
      if (this.wanted) void this.attempt();
    }, delay);
    this.set('error', reason);
  }

  private clearRetry(): void {
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.nextAttemptAt = null;
  }

  private set(status: DeviceStatus, reason: string | null): void {
    const changed = status !== this.status || reason !== this.reason;
    this.status = status;
    this.reason = reason;
    if (changed || status === 'connecting') this.d.changed(status !== 'connecting');
  }
}
