/** The register map without a device: checks, read planning, decoding and encoding. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HubError } from '../../src/hub/errors.js';
import { checkRegisters, decode, decodeRegister, encode, MAX_BITS, MAX_WORDS, planReads, type ReadBlock } from '../../src/hub/devices/protocols/modbus-map.js';
import type { Register } from '../../src/hub/devices/schema.js';

const reg = (name: string, address: number, rest: Partial<Register> = {}): Register => ({ name, address, function: 'holding', ...rest });

/** The words a 32-bit value is on the wire, high word first. */
function words32(set: (v: DataView) => void): [number, number] {
  const v = new DataView(new ArrayBuffer(4));
  set(v);
  return [v.getUint16(0), v.getUint16(2)];
}

function refusal(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof HubError, `not a HubError: ${String(e)}`);
    assert.equal(e.kind, 'invalid');
    assert.match(e.message, pattern);
    return true;
  });
}

describe('checkRegisters', () => {
  it('accepts a sound map, with the types each function defaults to', () => {
    assert.equal(
      checkRegisters([
        reg('a', 0),
        reg('b', 1, { type: 'float32', word_order: 'little', scale: 0.1, writable: true, min: 0, max: 10 }),
        reg('c', 0, { function: 'input', type: 'int32' }),
        reg('d', 0, { function: 'coil', writable: true }),
        reg('e', 0, { function: 'discrete', type: 'bool' }),
        reg('f', 65534, { type: 'uint32' }),
      ]),
      null,
    );
  });

  const cases: Array<[string, Register[], RegExp]> = [
    ['a name twice', [reg('a', 0), reg('a', 5)], /register "a" is named twice/],
    ['a numeric coil', [reg('c', 0, { function: 'coil', type: 'uint16' })], /"c": a coil is one bit, so its type is bool, not uint16/],
    ['a numeric discrete input', [reg('d', 0, { function: 'discrete', type: 'int16' })], /"d": a discrete input is one bit/],
    ['a bool holding register', [reg('h', 0, { type: 'bool' })], /"h": bool is for coils and discrete inputs; a holding register is a number/],
    ['a writable input register', [reg('i', 0, { function: 'input', writable: true })], /"i": only coils and holding registers can be writable, not an input register/],
    ['a writable discrete input', [reg('i', 0, { function: 'discrete', writable: true })], /only coils and holding registers can be writable, not a discrete input/],
    ['word_order on 16 bits', [reg('w', 0, { word_order: 'little' })], /"w": word_order applies to 32-bit types .*, not uint16/],
    ['word_order on a coil', [reg('w', 0, { function: 'coil', word_order: 'big' })], /word_order applies to 32-bit types/],
    ['scale 0', [reg('s', 0, { scale: 0 })], /"s": scale must not be 0/],
    ['scale on a coil', [reg('s', 0, { function: 'coil', scale: 2 })], /"s": scale is for numbers/],
    ['min above max', [reg('m', 0, { min: 5, max: 1 })], /"m": min \(5\) is greater than max \(1\)/],
    ['a 32-bit value past 65535', [reg('x', 65535, { type: 'int32' })], /"x": a 32-bit int32 at 65535 would run past the last address, 65535/],
    ['overlapping 32-bit and 16-bit', [reg('b', 11), reg('a', 10, { type: 'uint32' })], /registers "a" and "b" overlap: holding 11 is already part of "a"/],
    ['the same address twice', [reg('a', 3), reg('b', 3)], /registers "a" and "b" overlap/],
    ['the same coil twice', [reg('a', 3, { function: 'coil' }), reg('b', 3, { function: 'coil' })], /overlap: coil 3/],
  ];
  for (const [what, map, pattern] of cases) {
    it(`refuses ${what}`, () => assert.match(checkRegisters(map) ?? 'accepted', pattern));
  }

  it('lets different functions share addresses, and 32-bit values touch without overlapping', () => {
    assert.equal(checkRegisters([reg('a', 0, { type: 'int32' }), reg('b', 2, { type: 'float32' }), reg('c', 0, { function: 'input' }), reg('d', 0, { function: 'coil' })]), null);
  });
});

describe('planReads', () => {
  const shape = (blocks: ReadBlock[]): Array<[string, number, number, number, string[]]> =>
    blocks.map((b) => [b.fn, b.address, b.count, b.poll_s, b.registers.map((r) => r.name)]);

  it('reads adjacent registers together and leaves gaps alone', () => {
    const blocks = planReads([reg('c', 4), reg('a', 0, { type: 'uint32' }), reg('b', 2), reg('far', 10), reg('far2', 11, { type: 'float32' })], 5);
    assert.deepEqual(shape(blocks), [
      ['holding', 0, 3, 5, ['a', 'b']],
      ['holding', 4, 1, 5, ['c']],
      ['holding', 10, 3, 5, ['far', 'far2']],
    ]);
  });

  it('groups by function and by poll period', () => {
    const blocks = planReads(
      [reg('h0', 0), reg('h1', 1, { poll_s: 1 }), reg('h2', 2, { poll_s: 1 }), reg('i0', 0, { function: 'input' }), reg('i1', 1, { function: 'input' }), reg('c0', 0, { function: 'coil' }), reg('c1', 1, { function: 'coil' })],
      30,
    );
    assert.deepEqual(shape(blocks), [
      ['holding', 0, 1, 30, ['h0']],
      ['holding', 1, 2, 1, ['h1', 'h2']],
      ['input', 0, 2, 30, ['i0', 'i1']],
      ['coil', 0, 2, 30, ['c0', 'c1']],
    ]);
  });

  it('merges overlapping ranges into one read', () => {
    // checkRegisters refuses such a map; the planner still covers it without reading twice.
    assert.deepEqual(shape(planReads([reg('a', 0, { type: 'int32' }), reg('b', 1)], 5)), [['holding', 0, 2, 5, ['a', 'b']]]);
  });

  it(`caps a read at ${MAX_WORDS} registers and ${MAX_BITS} bits`, () => {
    const words = Array.from({ length: 70 }, (_, i) => reg(`w${i}`, i * 2, { type: 'uint32' }));
    const wordBlocks = planReads(words, 5);
    assert.deepEqual(wordBlocks.map((b) => [b.address, b.count]), [[0, 124], [124, 16]]);
    assert.equal(wordBlocks[0]!.registers.length, 62);
    const bits = Array.from({ length: 2001 }, (_, i) => reg(`b${i}`, i, { function: 'discrete' }));
    assert.deepEqual(planReads(bits, 5).map((b) => [b.address, b.count]), [[0, 2000], [2000, 1]]);
    const exact = Array.from({ length: 125 }, (_, i) => reg(`x${i}`, i, { function: 'input' }));
    assert.deepEqual(planReads(exact, 5).map((b) => [b.address, b.count]), [[0, 125]]);
  });
});

describe('decode', () => {
  it('reads every type from its words, and both word orders', () => {
    const f = words32((v) => v.setFloat32(0, 23.1));
    const i = words32((v) => v.setInt32(0, -123456));
    const u = words32((v) => v.setUint32(0, 4_000_000_000));
    const block: ReadBlock = {
      fn: 'holding',
      address: 100,
      count: 12,
      poll_s: 5,
      registers: [
        reg('s', 100, { type: 'int16' }),
        reg('u', 101),
        reg('i32', 102, { type: 'int32' }),
        reg('u32', 104, { type: 'uint32', word_order: 'little' }),
        reg('f', 106, { type: 'float32' }),
        reg('fl', 108, { type: 'float32', word_order: 'little' }),
        reg('neg', 110, { type: 'int16' }),
      ],
    };
    const words = [0xfffe, 0xfffe, ...i, u[1], u[0], ...f, f[1], f[0], 0x8000, 0];
    assert.deepEqual(decode(block, words), { s: -2, u: 65534, i32: -123456, u32: 4_000_000_000, f: 23.1, fl: 23.1, neg: -32768 });
  });

  it('gives bits as booleans', () => {
    const block: ReadBlock = { fn: 'coil', address: 0, count: 3, poll_s: 5, registers: [reg('a', 0, { function: 'coil' }), reg('c', 2, { function: 'coil' })] };
    assert.deepEqual(decode(block, [1, 1, 0]), { a: true, c: false });
  });

  it('applies scale and offset, rounded to the decimals they imply', () => {
    assert.equal(decodeRegister(reg('t', 0, { type: 'int16', scale: 0.1 }), [0xff17]), -23.3); // -233
    assert.equal(decodeRegister(reg('t', 0, { scale: 0.1 }), [3]), 0.3); // not 0.30000000000000004
    assert.equal(decodeRegister(reg('t', 0, { scale: 0.01, offset: -40 }), [6543]), 25.43);
    assert.equal(decodeRegister(reg('t', 0, { scale: 2, offset: 0.5 }), [7]), 14.5);
    assert.equal(decodeRegister(reg('t', 0, { scale: 10 }), [7]), 70);
    assert.equal(decodeRegister(reg('e', 0, { type: 'uint32', scale: 0.001 }), words32((v) => v.setUint32(0, 4_294_967_295))), 4_294_967.295);
    assert.equal(decodeRegister(reg('f', 0, { type: 'float32', scale: 0.1, offset: 1 }), words32((v) => v.setFloat32(0, 0.3))), 1.03);
  });

  it('keeps a float32 exact where it is, and says NaN as unknown', () => {
    assert.equal(decodeRegister(reg('f', 0, { type: 'float32' }), words32((v) => v.setFloat32(0, 16_777_216))), 16_777_216);
    assert.equal(decodeRegister(reg('f', 0, { type: 'float32' }), words32((v) => v.setFloat32(0, -0.000123))), -0.000123);
    assert.equal(decodeRegister(reg('f', 0, { type: 'float32' }), words32((v) => v.setFloat32(0, NaN))), null);
    assert.equal(decodeRegister(reg('f', 0, { type: 'float32' }), words32((v) => v.setFloat32(0, -Infinity))), null);
  });
});

describe('encode', () => {
  const w = (r: Partial<Register>): Register => reg('x', 0, { writable: true, ...r });

  it('turns values into the words of every type', () => {
    assert.deepEqual(encode(w({}), 65535), [65535]);
    assert.deepEqual(encode(w({ type: 'int16' }), -2), [0xfffe]);
    assert.deepEqual(encode(w({ type: 'int32' }), -123456), words32((v) => v.setInt32(0, -123456)));
    assert.deepEqual(encode(w({ type: 'uint32', word_order: 'little' }), 4_000_000_000), words32((v) => v.setUint32(0, 4_000_000_000)).reverse());
    assert.deepEqual(encode(w({ type: 'float32' }), 23.1), words32((v) => v.setFloat32(0, 23.1)));
    assert.deepEqual(encode(w({ function: 'coil' }), true), [1]);
    assert.deepEqual(encode(w({ function: 'coil' }), false), [0]);
  });

  it('undoes scale and offset, to the nearest step', () => {
    assert.deepEqual(encode(w({ scale: 0.1 }), 21.5), [215]); // 214.99999999999997 before rounding
    assert.deepEqual(encode(w({ scale: 0.1 }), 21.53), [215]);
    assert.deepEqual(encode(w({ type: 'int16', scale: 0.01, offset: -40 }), -50), [(-1000) & 0xffff]);
    assert.deepEqual(encode(w({ type: 'float32', scale: 2, offset: 1 }), 2), words32((v) => v.setFloat32(0, 0.5)));
  });

  it('round-trips through decode', () => {
    const r = w({ type: 'int32', scale: 0.01, offset: 5, word_order: 'little' });
    assert.equal(decodeRegister(r, encode(r, -12.34)), -12.34);
  });

  it('refuses what the register cannot take, saying why', () => {
    refusal(() => encode(reg('ro', 0), 1), /"ro" is not writable/);
    refusal(() => encode(reg('ro', 0, { function: 'coil' }), true), /"ro" is not writable/);
    refusal(() => encode(w({ function: 'coil' }), 1), /"x" is on or off: give true or false, not 1/);
    refusal(() => encode(w({}), true), /"x" takes a number, not true/);
    refusal(() => encode(w({}), NaN), /"x" takes a number/);
    refusal(() => encode(w({}), -1), /"x": -1 is out of range: it would be -1 in the register, which \(uint16\) holds 0 to 65535/);
    refusal(() => encode(w({ scale: 0.1 }), 6553.6), /it would be 65536 in the register, which \(uint16\) holds 0 to 65535/);
    refusal(() => encode(w({ type: 'int16', offset: 100 }), 32868), /would be 32768 .*\(int16\) holds -32768 to 32767/);
    refusal(() => encode(w({ type: 'uint32' }), 2 ** 32), /\(uint32\) holds 0 to 4294967295/);
    refusal(() => encode(w({ type: 'float32' }), 1e39), /"x": 1e\+39 is beyond what a float32 register holds/);
    refusal(() => encode(w({ min: 5, max: 30 }), 31), /"x" must be between 5 and 30, not 31/);
    refusal(() => encode(w({ min: 5 }), 4.9), /"x" must be at least 5, not 4.9/);
    refusal(() => encode(w({ max: 5 }), 6), /"x" must be at most 5, not 6/);
    assert.deepEqual(encode(w({ min: 5, max: 30 }), 30), [30]);
  });
});
