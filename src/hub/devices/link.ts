/**
 * The hub's side of a connection to a device: what a transport (src/bridges/devices) gives the
 * device manager. The manager only knows these interfaces; hub.ts hands it the transports.
 */
import type { Connection, RegisterFunction, TransportName } from './schema.js';

/** What the link tells its owner: bytes that came in, and that it is gone (with why). */
export interface LinkEvents {
  data(chunk: Buffer): void;
  /** The port vanished, the peer closed, a read failed: `reason` says which. Not called on close(). */
  lost(reason: string): void;
}

/** A byte stream: a serial port or a TCP socket. */
export interface ByteLink {
  readonly kind: 'bytes';
  /** Resolves once the OS has taken the bytes (drained), so a caller can pace itself. */
  write(data: Buffer | string): Promise<void>;
  close(): Promise<void>;
}

/** Modbus registers and bits of one unit, over TCP or RTU. */
export interface RegisterLink {
  readonly kind: 'registers';
  /** 16-bit words for holding/input, 0/1 for coil/discrete. */
  read(fn: RegisterFunction, address: number, count: number): Promise<number[]>;
  /** Coils take 0/1 values, holding registers 16-bit words. */
  write(fn: 'coil' | 'holding', address: number, values: number[]): Promise<void>;
  close(): Promise<void>;
}

export type Link = ByteLink | RegisterLink;

/** One transport: opens a link for a connection of its form, or rejects with a sentence. */
export interface Transport<C extends Connection = Connection> {
  readonly name: C['transport'];
  readonly link: Link['kind'];
  /** A human check of the settings beyond the schema (a path that is not a serial port, …); null if fine. */
  check?(connection: C): Promise<string | null>;
  open(connection: C, events: LinkEvents): Promise<Link>;
}

export type Transports = { [T in TransportName]: Transport<Extract<Connection, { transport: T }>> };

/** A serial port the system knows of (GET /api/devices/ports). */
export interface PortInfo {
  path: string;
  manufacturer?: string;
  serialNumber?: string;
  vendorId?: string;
  productId?: string;
  pnpId?: string;
}
