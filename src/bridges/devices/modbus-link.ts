/**
 * A RegisterLink over a modbus-serial client, shared by Modbus TCP and RTU: one request at a time,
 * errors as sentences, and the loss of the connection reported once.
 */
import ModbusSerial from 'modbus-serial';
import type { LinkEvents, RegisterLink } from '../../hub/devices/link.js';
import type { RegisterFunction } from '../../hub/devices/schema.js';

/**
 * The client class. modbus-serial's types declare an ES default export for a CommonJS module, so
 * TypeScript sees the default import as the module; at run time `.default` is the class as well.
 */
export const ModbusRTU = ModbusSerial.default;
export type ModbusClient = InstanceType<typeof ModbusRTU>;

/** How long a request may wait for its answer before it fails. */
export const REQUEST_TIMEOUT_MS = 1000;

/** The standard names of Modbus exception codes (the library's own texts add guesses in brackets). */
const EXCEPTIONS: Record<number, string> = {
  1: 'Illegal function',
  2: 'Illegal data address',
  3: 'Illegal data value',
  4: 'Server device failure',
  5: 'Acknowledge',
  6: 'Server device busy',
  8: 'Memory parity error',
  10: 'Gateway path unavailable',
  11: 'Gateway target device failed to respond',
};

/** What the transport hands over: the opened client, and how to let go of its connection. */
export interface ModbusConnection {
  client: ModbusClient;
  /** Ends the connection; must settle even when the connection is already gone. */
  shutdown(): Promise<void>;
}

function span(fn: string, address: number, count: number): string {
  return count > 1 ? `${fn} ${address}-${address + count - 1}` : `${fn} ${address}`;
}

/** A modbus-serial error as the sentence a user reads, naming the request. */
function explain(e: unknown, what: string): Error {
  const err = e as { modbusCode?: unknown; errno?: unknown } | null;
  if (typeof err?.modbusCode === 'number') {
    const name = EXCEPTIONS[err.modbusCode] ?? 'Unknown exception';
    return new Error(`the device refused: ${name} (exception ${err.modbusCode}) ${what}`);
  }
  if (err?.errno === 'ETIMEDOUT') return new Error(`the device did not answer within ${REQUEST_TIMEOUT_MS} ms ${what}`);
  return new Error(`${what} failed: ${messageOf(e)}`);
}

/** modbus-serial's errors are not always Error instances, but all carry a message. */
export function messageOf(e: unknown): string {
  const message = (e as { message?: unknown } | null)?.message;
  return typeof message === 'string' && message ? message : String(e);
}

export class ModbusLink implements RegisterLink {
  readonly kind = 'registers' as const;
  /** Requests chain here: modbus-serial mixes up answers of concurrent requests on RTU. */
  private tail: Promise<unknown> = Promise.resolve();
  private ended: string | null = null;
  private readonly endWaiters = new Set<(reason: string) => void>();
  /** The port's last error, which explains a loss that follows it. */
  lastError: string | null = null;

  constructor(
    private readonly conn: ModbusConnection,
    private readonly events: LinkEvents,
  ) {
    conn.client.setTimeout(REQUEST_TIMEOUT_MS);
    // Without a listener, EventEmitter would throw the port's errors and take the hub down.
    conn.client.on('error', (e: unknown) => {
      this.lastError = messageOf(e);
    });
  }

  /** The transport saw the connection go: tell the owner once, and fail what waits without the timeout. */
  lost(reason: string): void {
    if (this.ended !== null) return;
    this.end(`the connection was lost: ${reason}`);
    this.events.lost(reason);
  }

  read(fn: RegisterFunction, address: number, count: number): Promise<number[]> {
    return this.request(`reading ${span(fn, address, count)}`, async (c) => {
      const isBits = fn === 'coil' || fn === 'discrete';
      const res =
        fn === 'coil'
          ? await c.readCoils(address, count)
          : fn === 'discrete'
            ? await c.readDiscreteInputs(address, count)
            : fn === 'holding'
              ? await c.readHoldingRegisters(address, count)
              : await c.readInputRegisters(address, count);
      // Bits come padded to whole bytes; words come as many as asked, unless the device misbehaves.
      if (res.data.length < count) throw new Error(`the device answered with ${res.data.length} values instead of ${count}`);
      return res.data.slice(0, count).map((v: number | boolean) => (isBits ? (v ? 1 : 0) : Number(v)));
    });
  }

  write(fn: 'coil' | 'holding', address: number, values: number[]): Promise<void> {
    return this.request(`writing ${span(fn, address, values.length)}`, async (c) => {
      // The single-value functions (5, 6) are the ones every device has; 15 and 16 only when needed.
      if (fn === 'coil') {
        if (values.length === 1) await c.writeCoil(address, values[0] !== 0);
        else await c.writeCoils(address, values.map((v) => v !== 0));
      } else if (values.length === 1) await c.writeRegister(address, values[0]!);
      else await c.writeRegisters(address, values);
    });
  }

  async close(): Promise<void> {
    if (this.ended === null) this.end('the connection was closed');
    // modbus-serial's close() unhooks its error listener from the port before closing it: a write
    // still in flight then fails (EBADF) with nobody listening, and an unheard 'error' is thrown.
    (this.conn.client as unknown as { _port?: { on(event: 'error', fn: () => void): unknown } })._port?.on('error', () => undefined);
    await this.conn.shutdown();
  }

  private end(reason: string): void {
    this.ended = reason;
    for (const w of this.endWaiters) w(reason);
    this.endWaiters.clear();
  }

  private request<T>(what: string, op: (c: ModbusClient) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.ended !== null) throw new Error(`${what} failed: ${this.ended}`);
      let onEnd: ((reason: string) => void) | undefined;
      const ended = new Promise<never>((_, reject) => {
        onEnd = (reason) => reject(new Error(`${what} failed: ${reason}`));
        this.endWaiters.add(onEnd);
      });
      try {
        return await Promise.race([
          op(this.conn.client).catch((e: unknown) => {
            throw explain(e, what);
          }),
          ended,
        ]);
      } finally {
        this.endWaiters.delete(onEnd!);
      }
    };
    const result = this.tail.then(run, run);
    // The next request waits for this one to settle, whatever its outcome.
    this.tail = result.catch(() => undefined);
    return result;
  }
}
