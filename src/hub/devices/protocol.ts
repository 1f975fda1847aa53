/**
 * The protocols: how the hub talks over a link (line, gcode, modbus). One file each under
 * protocols/, one line in protocols/index.ts. A session lives as long as one connection.
 */
import type { Logger } from '../logger.js';
import type { ByteLink, RegisterLink } from './link.js';
import type { DeviceCreate } from './schema.js';

export type FieldValue = number | string | boolean | null;

/** What a session may tell the device manager. */
export interface SessionContext {
  /** New values for telemetry fields (merged into the device's state). */
  telemetry(values: Record<string, FieldValue>): void;
  /** A line sent (for `…/tx`), without its line ending. Lines received are the runtime's to report. */
  tx(line: string): void;
  firmware(version: string): void;
  logger: Logger;
}

export interface CommandResult {
  /** The lines the device answered with, in order (for gcode without the final `ok`). */
  response: string[];
  ms: number;
}

/** A file to send; `size` in bytes so progress can be a percentage of what was read. */
export interface UploadSource {
  path: string;
  size: number;
}

export interface UploadResult {
  /** Lines (gcode) or chunks (line) sent, and bytes of the file consumed. */
  sent: number;
  bytes: number;
  /** gcode: lines sent again because the device asked (Resend). */
  resent?: number;
}

export interface UploadControl {
  /** 0-100, called as the file goes out (not more often than each percent). */
  progress(percent: number): void;
  /** Aborted on cancel; the upload rejects and stops sending. */
  signal: AbortSignal;
}

/** One connection's conversation. Rejections carry a sentence a user can read. */
export interface Session {
  /** After the link opened: greet the device (gcode: M110, M115, auto-report). */
  start(): Promise<void>;
  /** Send one command and resolve with its answer. */
  command?(text: string): Promise<CommandResult>;
  upload?(file: UploadSource, control: UploadControl): Promise<UploadResult>;
  /** Write one writable field (a Modbus register): a value already checked by its type. */
  writeField?(name: string, value: number | boolean): Promise<void>;
  /** The link is going or gone: fail whatever waits, stop timers. */
  close(reason: string): void;
}

/** A session over bytes also takes what comes in: complete lines, then any partial tail (a prompt). */
export interface ByteSession extends Session {
  onLine(line: string): void;
  /** Text after the last line ending; true when the session used it up (a prompt was seen). */
  onPartial?(text: string): boolean;
}

interface ProtocolBase {
  readonly name: DeviceCreate['protocol'];
  /** What a user must know before this protocol can run the device; null if fine. */
  check(device: DeviceCreate): string | null;
  /** Fields this protocol reports whatever the user configured (gcode: temperatures). */
  builtinFields?: Array<{ name: string; unit?: string; device_class?: string; state_class?: string }>;
}

export interface ByteProtocol extends ProtocolBase {
  readonly link: 'bytes';
  create(device: DeviceCreate, link: ByteLink, ctx: SessionContext): ByteSession;
}

export interface RegisterProtocol extends ProtocolBase {
  readonly link: 'registers';
  create(device: DeviceCreate, link: RegisterLink, ctx: SessionContext): Session;
}

export type Protocol = ByteProtocol | RegisterProtocol;
