/** A device as the world sees it: its thing state (MQTT, WebSocket) and its API view. */
import type { DeviceRow } from '../db/schema.js';
import type { FieldValue, Protocol } from './protocol.js';
import { INTEGER_RANGE, typeOf } from './protocols/modbus-map.js';
import type { DeviceCreate, DeviceStatus, ProtocolName, Register, TransportName } from './schema.js';

/** Names of the device's own entities: a field may not take one. */
export const RESERVED_FIELDS: ReadonlySet<string> = new Set(['connection', 'connected', 'status', 'problem', 'last_seen', 'firmware', 'command', 'upload_progress']);

/** One value the device reports, as Home Assistant shows it (and sets it, when writable). */
export interface FieldSpec {
  name: string;
  kind: 'number' | 'bool' | 'string';
  unit?: string;
  device_class?: string;
  state_class?: string;
  icon?: string;
  writable: boolean;
  min?: number;
  max?: number;
  step?: number;
}

export interface UploadProgress {
  job_id: number;
  file: string;
  progress: number;
}

export interface DeviceState {
  id: string;
  name: string;
  type: string;
  protocol: ProtocolName;
  transport: TransportName;
  status: DeviceStatus;
  /** Why it is in error or (re)connecting: the port vanished, the peer closed, … */
  reason: string | null;
  connected: boolean;
  desired: 'connected' | 'disconnected';
  /** When the next connection attempt is due (after a failure). */
  next_attempt_at: string | null;
  last_seen: string | null;
  firmware_version: string | null;
  telemetry: Record<string, FieldValue>;
  fields: FieldSpec[];
  /** The file going to the device now, if any. */
  upload: UploadProgress | null;
  /** A command can be sent (line, gcode) / a file uploaded. */
  accepts: { command: boolean; upload: boolean };
  problem: boolean;
}

export interface DeviceView extends DeviceState {
  definition: Omit<DeviceCreate, 'name' | 'configuration'>;
  configuration: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

/** The fields a device reports: its protocol's own, then the user's telemetry fields or registers. */
export function fieldSpecs(device: DeviceCreate, protocol: Protocol): FieldSpec[] {
  const out: FieldSpec[] = (protocol.builtinFields ?? []).map((f) => ({ ...f, kind: 'number', writable: false }));
  for (const f of device.telemetry?.fields ?? []) {
    out.push({ name: f.name, kind: (f.type ?? 'number') === 'number' ? 'number' : 'string', ...meta(f), writable: false });
  }
  for (const r of device.telemetry?.registers ?? []) {
    const type = typeOf(r);
    const writable = r.writable === true;
    const spec: FieldSpec = { name: r.name, kind: type === 'bool' ? 'bool' : 'number', ...meta(r), writable };
    if (writable && type !== 'bool') Object.assign(spec, registerRange(r));
    out.push(spec);
  }
  return out;
}

/** What Home Assistant's number may offer: the register's type range through scale and offset, within min/max. */
function registerRange(r: Register): Pick<FieldSpec, 'min' | 'max' | 'step'> {
  const scale = r.scale ?? 1;
  const offset = r.offset ?? 0;
  const raw = INTEGER_RANGE[typeOf(r)];
  const ends = raw ? raw.map((x) => x * scale + offset) : [-1e9, 1e9];
  const round = (x: number): number => Number(x.toPrecision(12));
  return {
    min: round(Math.max(r.min ?? -Infinity, Math.min(...ends))),
    max: round(Math.min(r.max ?? Infinity, Math.max(...ends))),
    step: raw ? round(Math.abs(scale)) : 0.01,
  };
}

function meta(f: { unit?: string; device_class?: string; state_class?: string; icon?: string }): Partial<FieldSpec> {
  const out: Partial<FieldSpec> = {};
  if (f.unit !== undefined) out.unit = f.unit;
  if (f.device_class !== undefined) out.device_class = f.device_class;
  if (f.state_class !== undefined) out.state_class = f.state_class;
  if (f.icon !== undefined) out.icon = f.icon;
  return out;
}

export function deviceView(row: DeviceRow, state: DeviceState): DeviceView {
  return {
    ...state,
    definition: { ...(row.definition as Omit<DeviceCreate, 'name' | 'type' | 'configuration'>), type: row.type },
    configuration: row.configuration,
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
  };
}
