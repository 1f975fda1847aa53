/** Agent log files: line splitting, listeners, rotation, tail, bursts, close. Real files in temp dirs. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AgentLogs, MAX_LINE_BYTES, type LogLimits, type Stream } from '../src/hub/supervisor/log-files.js';
import { onCleanup } from './helpers/cleanup.js';
import { tempDir } from './helpers/tmp.js';

const BIG: LogLimits = { maxBytes: 64 * 1024 * 1024, files: 3 };

function logs(limits: LogLimits = BIG): { l: AgentLogs; dir: string } {
  const dir = join(tempDir('hearth-logs-'), 'agent-a'); // not created yet: the constructor must
  const l = new AgentLogs(dir, limits);
  onCleanup(() => l.close());
  return { l, dir };
}

const read = (path: string): string => readFileSync(path, 'utf8');
const lines = (path: string): string[] => read(path).split('\n').slice(0, -1);
const put = (l: AgentLogs, stream: Stream, text: string): void => l.write(stream, Buffer.from(text));

describe('AgentLogs', () => {
  it('joins lines split across chunks, splits chunks holding several, strips a trailing \\r', async () => {
    const { l, dir } = logs();
    for (const c of ['hel', 'lo\nwor', 'ld\r', '\none\ntwo\n\nthree\n']) put(l, 'stdout', c);
    put(l, 'stderr', 'oops\r\n');
    await l.close();
    assert.equal(read(join(dir, 'stdout.log')), 'hello\nworld\none\ntwo\n\nthree\n');
    assert.equal(read(join(dir, 'stderr.log')), 'oops\n');
  });

  it('keeps a partial last line until its newline, and flushes it on close', async () => {
    const { l, dir } = logs();
    const seen: string[] = [];
    l.onLine((_s, line) => seen.push(line));
    put(l, 'stdout', 'a\nb');
    put(l, 'stdout', 'c');
    assert.deepEqual(seen, ['a']);
    assert.deepEqual(await l.tail('stdout', 10), ['a']);
    await l.close();
    assert.deepEqual(seen, ['a', 'bc']);
    assert.equal(read(join(dir, 'stdout.log')), 'a\nbc\n');
  });

  it('gives every listener each line once, with its stream, until it unsubscribes', async () => {
    const { l } = logs();
    const first: Array<[Stream, string]> = [];
    const second: Array<[Stream, string]> = [];
    const off = l.onLine((s, line) => first.push([s, line]));
    l.onLine((s, line) => second.push([s, line]));
    put(l, 'stdout', 'out 1\nout');
    put(l, 'stderr', 'err 1\n');
    put(l, 'stdout', ' 2\n');
    off();
    put(l, 'stderr', 'err 2\n');
    const expected: Array<[Stream, string]> = [['stdout', 'out 1'], ['stderr', 'err 1'], ['stdout', 'out 2']];
    assert.deepEqual(first, expected);
    assert.deepEqual(second, [...expected, ['stderr', 'err 2']]);
  });

  it('a throwing listener costs neither the other listeners nor the file their line', async () => {
    const { l, dir } = logs();
    const seen: string[] = [];
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarning);
    l.onLine(() => {
      throw new Error('bad listener');
    });
    l.onLine((_s, line) => seen.push(line));
    put(l, 'stdout', 'x\ny\n');
    await l.close();
    await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    process.off('warning', onWarning);
    assert.deepEqual(seen, ['x', 'y']);
    assert.equal(read(join(dir, 'stdout.log')), 'x\ny\n');
    assert.ok(warnings.some((m) => m.includes('bad listener')), String(warnings));
  });

  it('rotates by size, keeps at most `files` rotated files, newest content in stdout.log', async () => {
    const { l, dir } = logs({ maxBytes: 100, files: 2 });
    const all = Array.from({ length: 60 }, (_, i) => `line-${String(i).padStart(3, '0')}`); // 9 bytes with \n
    for (const line of all) put(l, 'stdout', `${line}\n`);
    await l.close();
    // stderr.log is created by its first line, so there is none.
    assert.deepEqual(readdirSync(dir).sort(), ['stdout.log', 'stdout.log.1', 'stdout.log.2']);
    for (const f of ['stdout.log', 'stdout.log.1', 'stdout.log.2']) assert.ok(statSync(join(dir, f)).size <= 100, f);
    // Full files hold 11 lines (99 bytes); 60 = 5 * 11 + 5, so the current one holds the last 5.
    assert.deepEqual(lines(join(dir, 'stdout.log')), all.slice(55));
    assert.deepEqual(lines(join(dir, 'stdout.log.1')), all.slice(44, 55));
    assert.deepEqual(lines(join(dir, 'stdout.log.2')), all.slice(33, 44));
  });

  it('writes a line longer than maxBytes whole, into a file of its own', async () => {
    const { l, dir } = logs({ maxBytes: 20, files: 4 });
    const [long1, long2] = ['L'.repeat(50), 'M'.repeat(30)];
    put(l, 'stdout', `${long1}\nshort\n${long2}\nafter\n`);
    await l.close();
    // No empty file is rotated away before the first, oversized line.
    assert.equal(existsSync(join(dir, 'stdout.log.4')), false);
    assert.equal(read(join(dir, 'stdout.log.3')), `${long1}\n`);
    assert.equal(read(join(dir, 'stdout.log.2')), 'short\n');
    assert.equal(read(join(dir, 'stdout.log.1')), `${long2}\n`);
    assert.equal(read(join(dir, 'stdout.log')), 'after\n');
  });

  it('counts what an earlier run left in stdout.log before rotating', async () => {
    const dir = join(tempDir('hearth-logs-'), 'agent-b');
    mkdirSync(dir);
    writeFileSync(join(dir, 'stdout.log'), 'old-1\nold-2\n'); // 12 bytes
    const l = new AgentLogs(dir, { maxBytes: 20, files: 1 });
    put(l, 'stdout', 'new-1\nnew-2\n');
    await l.close();
    assert.equal(read(join(dir, 'stdout.log.1')), 'old-1\nold-2\nnew-1\n');
    assert.equal(read(join(dir, 'stdout.log')), 'new-2\n');
  });

  it('tail reads back across rotated files, oldest first', async () => {
    const { l } = logs({ maxBytes: 50, files: 4 });
    const all = Array.from({ length: 40 }, (_, i) => `entry ${String(i).padStart(2, '0')}`); // 9 bytes with \n
    for (const line of all) put(l, 'stderr', `${line}\n`);
    // 5 lines a file: the current file has 40 - 35 = 5 lines, .1 to .4 hold the 20 before.
    for (const n of [1, 5, 6, 12, 25]) assert.deepEqual(await l.tail('stderr', n), all.slice(-n), `n=${n}`);
    assert.deepEqual(await l.tail('stderr', 1000), all.slice(15), 'everything still kept');
    assert.deepEqual(await l.tail('stdout', 5), []);
    assert.deepEqual(await l.tail('stderr', 0), []);
  });

  it('tail reads a long file backwards correctly past its 64 KiB read chunks', async () => {
    const { l } = logs();
    const all = Array.from({ length: 30_000 }, (_, i) => `row ${i} ${'.'.repeat(i % 17)}`);
    put(l, 'stdout', all.map((x) => `${x}\n`).join(''));
    for (const n of [1, 3000, 9999]) assert.deepEqual(await l.tail('stdout', n), all.slice(-n), `n=${n}`);
    // The last 64 KiB hold exactly two newlines, but the first of the last two lines starts before them.
    const [y, z] = ['y'.repeat(40_000), 'z'.repeat(40_000)];
    put(l, 'stdout', `${y}\n${z}\n`);
    assert.deepEqual(await l.tail('stdout', 2), [y, z]);
  });

  it('a burst of 20,000 lines written in one tick arrives complete and in order', async () => {
    const { l, dir } = logs();
    const N = 20_000;
    for (let i = 0; i < N; i++) put(l, 'stdout', `burst line ${i}\n`);
    await l.close();
    const got = lines(join(dir, 'stdout.log'));
    assert.equal(got.length, N);
    assert.equal(got[0], 'burst line 0');
    assert.equal(got[N - 1], `burst line ${N - 1}`);
    assert.ok(got.every((line, i) => line === `burst line ${i}`), 'every line in order');
  });

  it('a burst with rotation loses no line and keeps the order across files', async () => {
    const { l, dir } = logs({ maxBytes: 4096, files: 1000 });
    const N = 20_000;
    for (let i = 0; i < N; i++) put(l, 'stdout', `r${i}\n`);
    await l.close();
    const rotated = readdirSync(dir).filter((f) => /^stdout\.log\.\d+$/.test(f));
    const ordered = rotated.map((f) => Number(f.split('.').pop())).sort((a, b) => b - a);
    const got = [...ordered.flatMap((k) => lines(join(dir, `stdout.log.${k}`))), ...lines(join(dir, 'stdout.log'))];
    assert.ok(rotated.length > 10, `rotated ${rotated.length} times`);
    assert.equal(got.length, N);
    assert.ok(got.every((line, i) => line === `r${i}`), 'every line in order');
  });

  it('tail right after writes sees them, including writes made while a flush is under way', async () => {
    const { l } = logs({ maxBytes: 200, files: 10 });
    put(l, 'stdout', 'one\ntwo\n');
    assert.deepEqual(await l.tail('stdout', 5), ['one', 'two']);
    const all: string[] = [];
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 10; i++) all.push(`r${round}-${i}`);
      put(l, 'stdout', all.slice(-10).map((x) => `${x}\n`).join(''));
      await Promise.resolve(); // let a drain start, then write again before it ends
    }
    assert.deepEqual(await l.tail('stdout', 50), all.slice(-50));
  });

  it('cuts a line over 64 KiB into pieces, without splitting a UTF-8 character', async () => {
    const { l } = logs();
    const seen: string[] = [];
    l.onLine((_s, line) => seen.push(line));
    const text = `x${'é'.repeat(MAX_LINE_BYTES)}`; // 2 bytes each after one: a cut at 64 KiB splits an é
    for (let i = 0; i < text.length; i += 1000) put(l, 'stdout', text.slice(i, i + 1000));
    assert.ok(seen.length >= 1, 'pieces are emitted before any newline arrives');
    put(l, 'stdout', '\n');
    assert.equal(seen.join(''), text);
    assert.ok(seen.every((p) => Buffer.byteLength(p) <= MAX_LINE_BYTES && !p.includes('\uFFFD')));
    assert.deepEqual(await l.tail('stdout', 10), seen);
  });

  it('survives invalid UTF-8', async () => {
    const { l, dir } = logs();
    l.write('stdout', Buffer.from([0x61, 0xff, 0xfe, 0x62, 0xc3, 0x0a]));
    await l.close();
    assert.equal(read(join(dir, 'stdout.log')), 'a\uFFFD\uFFFDb\uFFFD\n');
  });

  it('refuses limits it cannot honour', () => {
    const dir = tempDir('hearth-logs-');
    assert.throws(() => new AgentLogs(dir, { maxBytes: 0, files: 1 }), RangeError);
    assert.throws(() => new AgentLogs(dir, { maxBytes: 10, files: -1 }), RangeError);
    assert.throws(() => new AgentLogs(dir, { maxBytes: 10, files: 1.5 }), RangeError);
  });

  it('close is idempotent; writes after it are dropped; tail still reads', async () => {
    const { l, dir } = logs();
    put(l, 'stdout', 'kept\npartial');
    const a = l.close();
    const b = l.close();
    assert.equal(a, b);
    await Promise.all([a, b, l.close()]);
    put(l, 'stdout', 'late\n');
    await l.close();
    assert.equal(read(join(dir, 'stdout.log')), 'kept\npartial\n');
    assert.deepEqual(await l.tail('stdout', 5), ['kept', 'partial']);
    assert.equal(existsSync(join(dir, 'stderr.log')), false);
  });
});
