/** What the schema cannot say about a device: its protocol's rules, a path that is not a port, a value's type. */
import { stat } from 'node:fs/promises';
import { invalid } from '../errors.js';
import { PROTOCOL_BY_NAME } from './protocols/index.js';
import type { DeviceCreate } from './schema.js';
import { fieldSpecs, RESERVED_FIELDS, type FieldSpec } from './state.js';

/** Refuses (400) what cannot work. A serial path that does not exist yet is fine: the device may be plugged in later. */
export async function checkDevice(device: DeviceCreate): Promise<void> {
  const protocol = PROTOCOL_BY_NAME[device.protocol];
  const problem = protocol.check(device);
  if (problem) throw invalid(problem);
  const seen = new Set<string>();
  for (const f of fieldSpecs(device, protocol)) {
    if (RESERVED_FIELDS.has(f.name)) throw invalid(`telemetry: the field name "${f.name}" is taken by the device's own entities (${[...RESERVED_FIELDS].join(', ')})`);
    if (seen.has(f.name)) throw invalid(`telemetry: the field name "${f.name}" is used twice${protocol.builtinFields?.some((b) => b.name === f.name) ? ` (protocol ${protocol.name} reports it already)` : ''}`);
    seen.add(f.name);
  }
  const c = device.connection;
  if (c.transport !== 'serial' && c.transport !== 'modbus-rtu') return;
  const st = await stat(c.path).catch(() => null);
  if (st && !st.isCharacterDevice()) {
    const what = st.isDirectory() ? 'a directory' : st.isFile() ? 'a regular file' : 'not a character device';
    throw invalid(`connection.path: ${c.path} is not a serial port (${what})`);
  }
}

/** A value for a writable field, from JSON or from a bare MQTT payload ("21.5", "ON"), as its kind needs. */
export function coerceField(spec: FieldSpec, raw: unknown): number | boolean {
  const text = typeof raw === 'string' ? raw.trim() : null;
  if (spec.kind === 'bool') {
    if (typeof raw === 'boolean') return raw;
    if (raw === 0 || raw === 1) return raw === 1;
    if (text !== null && /^(on|true|1)$/i.test(text)) return true;
    if (text !== null && /^(off|false|0)$/i.test(text)) return false;
    throw invalid(`field "${spec.name}" is on/off: give true/false, ON/OFF or 1/0, not ${JSON.stringify(raw)}`);
  }
  const n = typeof raw === 'number' ? raw : text !== null && text !== '' ? Number(text) : NaN;
  if (!Number.isFinite(n)) throw invalid(`field "${spec.name}" is a number, not ${JSON.stringify(raw)}`);
  return n;
}
