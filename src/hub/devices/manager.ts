/**
 * The devices: created, changed and deleted from any interface, connected and disconnected on
 * request, commanded, written to and sent files (an upload is a job of kind `upload`). Whether the
 * user wants a device connected is written to the database before it is acted on.
 */
import { rm } from 'node:fs/promises';
import type { DataSource, Repository } from 'typeorm';
import type { EventBus } from '../events.js';
import { rowWriter } from '../db/row-writer.js';
import { Device, type DeviceRow } from '../db/schema.js';
import { conflict, invalid, notFound } from '../errors.js';
import { applyDeclared, type Declared } from '../kinds/declared.js';
import { ThingRows } from '../kinds/thing-rows.js';
import { ThingSet } from '../kinds/thing-set.js';
import type { Extension } from '../extension.js';
import type { JobManager } from '../jobs/manager.js';
import type { JobView } from '../jobs/types.js';
import type { Logger } from '../logger.js';
import type { ThingRegistry } from '../things.js';
import type { PortInfo, Transports } from './link.js';
import type { CommandResult, FieldValue } from './protocol.js';
import { PROTOCOL_BY_NAME } from './protocols/index.js';
import { encode } from './protocols/modbus-map.js';
import { DeviceRuntime } from './runtime.js';
import type { DeviceCreate, DeviceUpdate } from './schema.js';
import { deviceView, type DeviceView } from './state.js';
import { launchUpload, type UploadFile } from './upload.js';
import { checkDevice, coerceField } from './validate.js';

export interface DeviceManagerDeps {
  db: DataSource;
  bus: EventBus;
  things: ThingRegistry;
  jobs: JobManager;
  logger: Logger;
  transports: Transports;
  listPorts(): Promise<PortInfo[]>;
  /** Where uploaded files wait; what is left there from a hub that died is removed at start. */
  uploadsDir: string;
  /** Devices from hearth.yaml: created when new, changed to match when they exist (by id). */
  declared: Declared<DeviceCreate>;
}

/** Telemetry may change thousands of times a second; its state goes out at most this often. */
const STATE_EVERY_MS = 100;

interface Entry {
  rt: DeviceRuntime;
  row: DeviceRow;
  publishTimer: NodeJS.Timeout | null;
  publishedAt: number;
}

export class DeviceManager implements Extension {
  readonly name = 'devices';
  private readonly repo: Repository<DeviceRow>;
  private readonly rows: ThingRows<'device'>;
  private readonly devices = new ThingSet<Entry>('device');
  /** Set by stop(): state is written once, at the end, not by each status change on the way. */
  private closing = false;

  constructor(private readonly d: DeviceManagerDeps) {
    this.repo = d.db.getRepository(Device);
    this.rows = new ThingRows(rowWriter(d.db), 'device');
  }

  async start(): Promise<void> {
    this.closing = false;
    await rm(this.d.uploadsDir, { recursive: true, force: true });
    for (const row of await this.repo.find({ order: { created_at: 'ASC' } })) this.add(row);
    await applyDeclared(this.d.declared, this);
    for (const e of this.devices.values()) if (e.row.desired === 'connected') e.rt.connect();
  }

  /** Closes every link; devices that do not autoconnect stay disconnected next time. */
  async stop(): Promise<void> {
    this.closing = true;
    await Promise.all(
      [...this.devices.values()].map(async (e) => {
        if (e.rt.device.autoconnect === false && e.row.desired === 'connected') await this.persist(e, { desired: 'disconnected' });
        await e.rt.disconnect('the hub stopped');
        this.clearTimer(e);
        await this.persist(e, {});
      }),
    );
    this.devices.clear();
  }

  list(): DeviceView[] {
    return [...this.devices.values()].map((e) => this.view(e));
  }

  has(id: string): boolean {
    return this.devices.has(id);
  }

  get(id: string): DeviceView {
    return this.view(this.devices.find(id));
  }

  async create(body: DeviceCreate): Promise<DeviceView> {
    const { name, type, configuration, ...definition } = body;
    await checkDevice(body);
    // The id is held while the row is saved, and the device is in the set before it is let go.
    const e = await this.devices.claim(name, async (id) => {
      const now = Date.now();
      const row: DeviceRow = {
        id,
        name,
        type: type ?? 'device',
        definition: definition as Record<string, unknown>,
        configuration: configuration ?? {},
        desired: definition.autoconnect === false ? 'disconnected' : 'connected',
        status: 'disconnected',
        status_reason: null,
        last_seen: null,
        firmware_version: null,
        created_at: now,
        updated_at: now,
      };
      await this.repo.save(row);
      return this.add(row);
    });
    if (e.row.desired === 'connected') e.rt.connect();
    return this.view(e);
  }

  /** Changes what was given (with `replace`, exactly the body); a connected device reconnects to take it. */
  async update(id: string, body: DeviceUpdate, o: { replace?: boolean } = {}): Promise<DeviceView> {
    const e = this.devices.find(id);
    const { name, type, configuration, ...changes } = body;
    const definition = o.replace ? changes : { ...(e.row.definition as Partial<DeviceCreate>), ...changes };
    const whole = { ...definition, name: name ?? e.row.name } as DeviceCreate;
    await checkDevice(whole);
    if (e.rt.upload) throw conflict(`device ${id} is receiving a file (job ${e.rt.upload.job_id}): change it afterwards`);
    const row: DeviceRow = {
      ...e.row,
      name: whole.name,
      type: type ?? e.row.type,
      configuration: configuration ?? e.row.configuration,
      definition: definition as Record<string, unknown>,
      updated_at: Date.now(),
    };
    await this.repo.save(row);
    await e.rt.disconnect('the device was changed');
    this.clearTimer(e);
    const next = this.add(row);
    if (row.desired === 'connected') next.rt.connect();
    return this.view(next);
  }

  async delete(id: string): Promise<void> {
    const e = this.devices.find(id);
    this.devices.delete(id);
    this.clearTimer(e);
    await e.rt.disconnect('the device was deleted');
    await this.repo.delete({ id });
    this.d.things.remove('device', id);
  }

  async connect(id: string): Promise<DeviceView> {
    const e = this.devices.find(id);
    await this.persist(e, { desired: 'connected' });
    e.rt.connect();
    return this.view(e);
  }

  async disconnect(id: string): Promise<DeviceView> {
    const e = this.devices.find(id);
    if (e.rt.upload) throw conflict(`device ${id} is receiving a file (job ${e.rt.upload.job_id}): cancel the job first`);
    await this.persist(e, { desired: 'disconnected' });
    await e.rt.disconnect();
    return this.view(e);
  }

  /** Disconnects and connects again now (a stuck device, a new port). */
  async reconnect(id: string): Promise<DeviceView> {
    const e = this.devices.find(id);
    await this.disconnect(id);
    await this.persist(e, { desired: 'connected' });
    e.rt.connect();
    return this.view(e);
  }

  command(id: string, text: string): Promise<CommandResult> {
    return this.devices.find(id).rt.command(text);
  }

  /** Writes several fields; all are checked before the first is written. */
  async write(id: string, values: Record<string, unknown>): Promise<DeviceView> {
    const e = this.devices.find(id);
    const names = Object.keys(values);
    if (names.length === 0) throw invalid('nothing to write: give { "<field>": value }');
    const checked = names.map((name) => {
      const spec = e.rt.fields.find((f) => f.name === name);
      if (!spec) throw notFound(`device ${id} has no field "${name}"; it has ${e.rt.fields.map((f) => f.name).join(', ') || 'none'}`);
      if (!spec.writable) throw invalid(`field "${name}" of device ${id} is read-only`);
      const value = coerceField(spec, values[name]);
      // A register's own limits (min/max, what its type holds) too, or a good field is written before a bad one is refused.
      const register = e.rt.device.telemetry?.registers?.find((r) => r.name === name);
      if (register) encode(register, value);
      return { name, value };
    });
    for (const c of checked) await e.rt.writeField(c.name, c.value);
    return this.view(e);
  }

  ports(): Promise<PortInfo[]> {
    return this.d.listPorts();
  }

  /**
   * Sends a file already on disk (it is removed afterwards, also when refused). Resolves once the
   * job runs; the job carries the progress, the outcome and the cancel.
   */
  async upload(id: string, file: UploadFile): Promise<JobView> {
    let e: Entry;
    try {
      e = this.uploadable(id);
    } catch (err) {
      await rm(file.path, { force: true });
      throw err;
    }
    return launchUpload(this.d.jobs, e.rt, file, (now) => (now ? this.publish(e) : this.publishSoon(e)));
  }

  /** Throws why the device cannot take a file now (400, 404, 409). */
  checkUpload(id: string): void {
    this.uploadable(id);
  }

  private uploadable(id: string): Entry {
    const e = this.devices.find(id);
    if (!e.rt.accepts.upload) throw invalid(`device ${id} (protocol ${e.rt.device.protocol}) does not take uploads`);
    if (e.rt.status !== 'connected') throw conflict(`device ${id} is ${e.rt.status}: connect it before an upload`);
    if (e.rt.upload) throw conflict(`device ${id} is receiving a file already (job ${e.rt.upload.job_id})`);
    return e;
  }

  private add(row: DeviceRow): Entry {
    const device = { ...(row.definition as Omit<DeviceCreate, 'name'>), name: row.name } as DeviceCreate;
    const e: Entry = { row, publishTimer: null, publishedAt: 0, rt: null as unknown as DeviceRuntime };
    e.rt = new DeviceRuntime(
      row.id,
      device,
      {
        transports: this.d.transports,
        protocol: PROTOCOL_BY_NAME[device.protocol],
        logger: this.d.logger,
        changed: (persist) => this.onChanged(e, persist),
        telemetry: (values) => this.onTelemetry(e, values),
        line: (direction, line) => this.d.bus.emit('device.line', { id: row.id, direction, line, at: Date.now() }),
      },
      { firmware: row.firmware_version, lastSeen: row.last_seen },
    );
    this.devices.set(row.id, e);
    this.publish(e);
    return e;
  }

  private view(e: Entry): DeviceView {
    return deviceView(e.row, this.state(e));
  }

  private state(e: Entry) {
    return e.rt.state({ id: e.row.id, name: e.row.name, type: e.row.type, desired: e.row.desired });
  }

  private onChanged(e: Entry, persist: boolean): void {
    if (this.devices.get(e.row.id) !== e) return;
    this.publish(e);
    if (persist && !this.closing) void this.persist(e, {}).catch((err: unknown) => this.d.logger.error({ err, device: e.row.id }, 'saving device state failed'));
  }

  private onTelemetry(e: Entry, values: Record<string, FieldValue>): void {
    this.d.bus.emit('device.telemetry', { id: e.row.id, values, at: Date.now() });
    this.publishSoon(e);
  }

  private publish(e: Entry): void {
    this.clearTimer(e);
    // An upload ending after its device was deleted must not bring the device back.
    if (this.devices.get(e.row.id) !== e) return;
    e.publishedAt = Date.now();
    this.d.things.upsert('device', e.row.id, this.state(e));
  }

  /** At once if the last state went out long enough ago, else once the interval is up. */
  private publishSoon(e: Entry): void {
    if (e.publishTimer) return;
    const wait = e.publishedAt + STATE_EVERY_MS - Date.now();
    if (wait <= 0) return this.publish(e);
    e.publishTimer = setTimeout(() => {
      e.publishTimer = null;
      if (this.devices.get(e.row.id) === e) this.publish(e);
    }, wait);
  }

  private clearTimer(e: Entry): void {
    if (e.publishTimer) clearTimeout(e.publishTimer);
    e.publishTimer = null;
  }

  /** The runtime's status, firmware and last contact, plus `patch`, in one UPDATE. */
  private async persist(e: Entry, patch: Partial<Pick<DeviceRow, 'desired'>>): Promise<void> {
    const rt = e.rt;
    const state = {
      status: rt.status,
      status_reason: rt.reason === null ? null : rt.reason.slice(0, 300),
      firmware_version: rt.firmware === null ? null : rt.firmware.slice(0, 200),
      last_seen: rt.lastSeen,
      ...patch,
      updated_at: Date.now(),
    };
    e.row = { ...e.row, ...state };
    await this.rows.write(e.row.id, state);
    if (patch.desired) this.publish(e);
  }
}
