/**
 * The Modbus register map, pure: what the schema cannot check, which reads cover it, and the
 * conversion between register words and the values users see.
 */
import { invalid } from '../../errors.js';
import type { Register, RegisterFunction, RegisterType } from '../schema.js';

/** The most one request may ask for (Modbus application protocol, functions 1-4). */
export const MAX_WORDS = 125;
export const MAX_BITS = 2000;

const isBitFunction = (fn: RegisterFunction): boolean => fn === 'coil' || fn === 'discrete';

const NOUN: Record<RegisterFunction, string> = { coil: 'a coil', discrete: 'a discrete input', holding: 'a holding register', input: 'an input register' };

export const typeOf = (r: Register): RegisterType => r.type ?? (isBitFunction(r.function) ? 'bool' : 'uint16');

/** Registers (or bits) a value spans. */
export const sizeOf = (type: RegisterType): number => (type === 'int32' || type === 'uint32' || type === 'float32' ? 2 : 1);

export const INTEGER_RANGE: Partial<Record<RegisterType, [number, number]>> = {
  int16: [-0x8000, 0x7fff],
  uint16: [0, 0xffff],
  int32: [-0x80000000, 0x7fffffff],
  uint32: [0, 0xffffffff],
};

/** The map's problems that its schema cannot express; null if there are none. */
export function checkRegisters(registers: Register[]): string | null {
  const seen = new Set<string>();
  for (const r of registers) {
    const at = `register "${r.name}"`;
    if (seen.has(r.name)) return `${at} is named twice: names must be unique`;
    seen.add(r.name);
    const type = typeOf(r);
    const bits = isBitFunction(r.function);
    if (bits && type !== 'bool') return `${at}: ${NOUN[r.function]} is one bit, so its type is bool, not ${type}`;
    if (!bits && type === 'bool') return `${at}: bool is for coils and discrete inputs; ${NOUN[r.function]} is a number (int16, uint16, …)`;
    if (r.writable && r.function !== 'coil' && r.function !== 'holding') return `${at}: only coils and holding registers can be writable, not ${NOUN[r.function]}`;
    if (r.word_order !== undefined && sizeOf(type) !== 2) return `${at}: word_order applies to 32-bit types (int32, uint32, float32), not ${type}`;
    if (type === 'bool') {
      const numeric = (['scale', 'offset', 'min', 'max'] as const).find((k) => r[k] !== undefined);
      if (numeric) return `${at}: ${numeric} is for numbers; a ${type} is on or off`;
    }
    if (r.scale === 0) return `${at}: scale must not be 0 (value = raw * scale + offset)`;
    if (r.min !== undefined && r.max !== undefined && r.min > r.max) return `${at}: min (${r.min}) is greater than max (${r.max})`;
    if (r.address + sizeOf(type) - 1 > 0xffff) return `${at}: a 32-bit ${type} at ${r.address} would run past the last address, 65535`;
  }
  const byFunction = new Map<RegisterFunction, Register[]>();
  for (const r of registers) byFunction.set(r.function, [...(byFunction.get(r.function) ?? []), r]);
  for (const [fn, list] of byFunction) {
    const sorted = [...list].sort((a, b) => a.address - b.address);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!;
      const cur = sorted[i]!;
      if (cur.address <= prev.address + sizeOf(typeOf(prev)) - 1) {
        return `registers "${prev.name}" and "${cur.name}" overlap: ${fn} ${cur.address} is already part of "${prev.name}"`;
      }
    }
  }
  return null;
}

/** One read request and the registers it answers. */
export interface ReadBlock {
  fn: RegisterFunction;
  address: number;
  count: number;
  poll_s: number;
  registers: Register[];
}

/**
 * The fewest reads that cover the map: per function and poll period, registers whose ranges touch
 * are read together, up to what one request may carry. Gaps are not bridged: a device may refuse
 * addresses it does not have.
 */
export function planReads(registers: Register[], defaultPollS: number): ReadBlock[] {
  const groups = new Map<string, Register[]>();
  for (const r of registers) {
    const key = `${r.function}/${r.poll_s ?? defaultPollS}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const blocks: ReadBlock[] = [];
  for (const list of groups.values()) {
    const fn = list[0]!.function;
    const cap = isBitFunction(fn) ? MAX_BITS : MAX_WORDS;
    let block: ReadBlock | null = null;
    for (const r of [...list].sort((a, b) => a.address - b.address)) {
      const end = r.address + sizeOf(typeOf(r));
      if (block && r.address <= block.address + block.count && end - block.address <= cap) {
        block.count = Math.max(block.count, end - block.address);
        block.registers.push(r);
      } else {
        block = { fn, address: r.address, count: end - r.address, poll_s: r.poll_s ?? defaultPollS, registers: [r] };
        blocks.push(block);
      }
    }
  }
  return blocks;
}

/** Decimal places of a number as written (0.1 -> 1, 0.25 -> 2), capped where doubles stop meaning it. */
function decimalsOf(x: number): number {
  for (let d = 0; d < 15; d++) if (Number(x.toFixed(d)) === x) return d;
  return 15;
}

/** The shortest decimal that is the same float32: 23.1, not 23.100000381469727. */
function shortestFloat32(x: number): number {
  for (let p = 1; p < 9; p++) {
    const candidate = Number(x.toPrecision(p));
    if (Math.fround(candidate) === x) return candidate;
  }
  return x;
}

function rawValue(type: RegisterType, words: number[], wordOrder: 'big' | 'little'): number {
  if (sizeOf(type) === 1) return type === 'int16' ? (words[0]! << 16) >> 16 : words[0]!;
  const view = new DataView(new ArrayBuffer(4));
  const [high, low] = wordOrder === 'big' ? [words[0]!, words[1]!] : [words[1]!, words[0]!];
  view.setUint16(0, high);
  view.setUint16(2, low);
  if (type === 'int32') return view.getInt32(0);
  if (type === 'uint32') return view.getUint32(0);
  return view.getFloat32(0);
}

/** One register's value from its words: raw * scale + offset, rounded to what the scale means. */
export function decodeRegister(r: Register, words: number[]): number | boolean | null {
  const type = typeOf(r);
  if (type === 'bool') return words[0] !== 0;
  const raw = rawValue(type, words, r.word_order ?? 'big');
  // A float32 NaN or infinity is how many meters say "no reading": unknown, not a number.
  if (!Number.isFinite(raw)) return null;
  const scale = r.scale ?? 1;
  const offset = r.offset ?? 0;
  if (type === 'float32') {
    // The raw value carries float32's precision; the arithmetic may only add binary noise.
    return Number((shortestFloat32(raw) * scale + offset).toPrecision(15));
  }
  return Number((raw * scale + offset).toFixed(Math.max(decimalsOf(scale), decimalsOf(offset))));
}

/** A block's values by register name, from the words (or 0/1 bits) read for it. */
export function decode(block: ReadBlock, words: number[]): Record<string, number | boolean | null> {
  const out: Record<string, number | boolean | null> = {};
  for (const r of block.registers) {
    const at = r.address - block.address;
    out[r.name] = decodeRegister(r, words.slice(at, at + sizeOf(typeOf(r))));
  }
  return out;
}

/** The words (or 0/1 bits) that write `value` to the register; refuses with a sentence. */
export function encode(r: Register, value: number | boolean): number[] {
  const type = typeOf(r);
  if (!r.writable) throw invalid(`"${r.name}" is not writable`);
  if (type === 'bool') {
    if (typeof value !== 'boolean') throw invalid(`"${r.name}" is on or off: give true or false, not ${JSON.stringify(value)}`);
    return [value ? 1 : 0];
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(`"${r.name}" takes a number, not ${JSON.stringify(value)}`);
  if ((r.min !== undefined && value < r.min) || (r.max !== undefined && value > r.max)) {
    throw invalid(`"${r.name}" must be ${r.min !== undefined && r.max !== undefined ? `between ${r.min} and ${r.max}` : r.min !== undefined ? `at least ${r.min}` : `at most ${r.max}`}, not ${value}`);
  }
  const exact = (value - (r.offset ?? 0)) / (r.scale ?? 1);
  const view = new DataView(new ArrayBuffer(4));
  if (type === 'float32') {
    if (!Number.isFinite(Math.fround(exact))) throw invalid(`"${r.name}": ${value} is beyond what a float32 register holds`);
    view.setFloat32(0, exact);
  } else {
    // A value between two steps of the scale goes to the nearest one, as a user turning a knob expects.
    const raw = Math.round(exact);
    const [lo, hi] = INTEGER_RANGE[type]!;
    if (raw < lo || raw > hi) {
      throw invalid(`"${r.name}": ${value} is out of range: it would be ${raw} in the register, which (${type}) holds ${lo} to ${hi}`);
    }
    if (sizeOf(type) === 1) return [raw & 0xffff];
    if (type === 'int32') view.setInt32(0, raw);
    else view.setUint32(0, raw);
  }
  const high = view.getUint16(0);
  const low = view.getUint16(2);
  return (r.word_order ?? 'big') === 'big' ? [high, low] : [low, high];
}
