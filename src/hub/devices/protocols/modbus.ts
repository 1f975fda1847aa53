/**
 * Modbus: the register map read in as few requests as it allows, each poll period on its own
 * timer, and writes confirmed by reading the register back.
 */
import { HubError, invalid } from '../../errors.js';
import type { RegisterLink } from '../link.js';
import type { RegisterProtocol, Session, SessionContext } from '../protocol.js';
import type { DeviceCreate, Register } from '../schema.js';
import { checkRegisters, decode, encode, planReads, sizeOf, typeOf, type ReadBlock } from './modbus-map.js';

const DEFAULT_POLL_S = 5;

/** The map as `Register`s: the schema's unions come out loosely typed, but Ajv has checked them. */
const registersOf = (device: DeviceCreate): Register[] => (device.telemetry?.registers ?? []) as Register[];

const describe = (b: ReadBlock): string => `${b.fn} ${b.address}${b.count > 1 ? `-${b.address + b.count - 1}` : ''}`;

class ModbusSession implements Session {
  private readonly blocks: ReadBlock[];
  private readonly timers = new Set<NodeJS.Timeout>();
  /** The error each failing block last logged, so a device that stays down is not logged every poll. */
  private readonly failing = new Map<ReadBlock, { message: string; count: number }>();
  private closed = false;

  constructor(
    private readonly device: DeviceCreate,
    private readonly registers: Register[],
    private readonly link: RegisterLink,
    private readonly ctx: SessionContext,
  ) {
    this.blocks = planReads(registers, device.telemetry?.poll_s ?? DEFAULT_POLL_S);
  }

  /**
   * Reads everything once, so the first values are there on connect. If nothing at all could be
   * read, this is no working device (wrong unit id, wrong map): the connection fails with why.
   */
  async start(): Promise<void> {
    const errors: string[] = [];
    for (const block of this.blocks) {
      const error = await this.read(block);
      if (error) errors.push(error);
    }
    if (errors.length === this.blocks.length) throw new Error(errors[0]);
    const periods = new Set(this.blocks.map((b) => b.poll_s));
    for (const period of periods) this.schedule(period, period * 1000);
  }

  async writeField(name: string, value: number | boolean): Promise<void> {
    const r = this.registers.find((x) => x.name === name);
    if (!r) throw invalid(`there is no register "${name}"`);
    const words = encode(r, value);
    if (this.closed) throw new HubError('unavailable', `the device is not connected, so "${name}" was not written`);
    try {
      // encode() took it as writable, which checkRegisters allows coils and holding registers only.
      await this.link.write(r.function as 'coil' | 'holding', r.address, words);
    } catch (e) {
      throw new HubError('unavailable', (e as Error).message);
    }
    // The device may clamp or ignore a value: what it holds now is what the user sees.
    const block: ReadBlock = { fn: r.function, address: r.address, count: sizeOf(typeOf(r)), poll_s: 0, registers: [r] };
    const error = await this.read(block);
    if (error) throw new HubError('unavailable', `"${name}" was written, but reading it back failed: ${error}`);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** One period's blocks, read in turn; the next round is timed from this one's start, never overlapping it. */
  private schedule(period: number, delayMs: number): void {
    if (this.closed) return;
    const timer = setTimeout(async () => {
      this.timers.delete(timer);
      const started = Date.now();
      for (const block of this.blocks) if (block.poll_s === period && !this.closed) await this.read(block);
      this.schedule(period, Math.max(0, period * 1000 - (Date.now() - started)));
    }, delayMs);
    this.timers.add(timer);
  }

  /** Reads one block and publishes its values; returns the error instead of throwing it. */
  private async read(block: ReadBlock): Promise<string | null> {
    let words: number[];
    try {
      words = await this.link.read(block.fn, block.address, block.count);
    } catch (e) {
      if (!this.closed) this.failed(block, (e as Error).message);
      return (e as Error).message;
    }
    if (this.closed) return null;
    const before = this.failing.get(block);
    if (before) {
      this.failing.delete(block);
      this.ctx.logger.info({ device: this.device.name, block: describe(block), failures: before.count }, `device ${this.device.name}: reading ${describe(block)} works again`);
    }
    this.ctx.telemetry(decode(block, words));
    return null;
  }

  private failed(block: ReadBlock, message: string): void {
    const before = this.failing.get(block);
    this.failing.set(block, { message, count: (before?.count ?? 0) + 1 });
    if (before?.message === message) return;
    this.ctx.logger.error({ device: this.device.name, block: describe(block) }, `device ${this.device.name}: ${message}`);
  }
}

export const modbus: RegisterProtocol = {
  name: 'modbus',
  link: 'registers',

  check(device) {
    const transport = device.connection.transport;
    if (transport !== 'modbus-tcp' && transport !== 'modbus-rtu') {
      return `protocol modbus needs a modbus-tcp or modbus-rtu connection, not ${transport}`;
    }
    const registers = registersOf(device);
    if (registers.length === 0) return 'telemetry.registers: protocol modbus needs at least one register to read';
    return checkRegisters(registers);
  },

  create(device, link, ctx) {
    return new ModbusSession(device, registersOf(device), link, ctx);
  },
};
