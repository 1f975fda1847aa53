/**
 * 200 event clients that never read (WebSocket and SSE alike) while an agent floods log.line, on a
 * spawned hub: they are let go with the documented reason, the overall cap acts before each reaches
 * its own, the hub's memory stays bounded, it keeps answering, and a client that reads gets it all.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { MAX_BUFFERED_BYTES, MAX_TOTAL_BUFFERED_BYTES, TOO_SLOW } from '../src/bridges/http/event-fanout.js';
import { onCleanup } from './helpers/cleanup.js';
import { api, spawnHub, type HubProcess } from './helpers/hub.js';
import { onSseEvents, sseGet } from './helpers/sse.js';
import { until } from './helpers/wait.js';

const MIB = 1024 * 1024;
const SLOW = 200;
const LINE = 4000;
/** A TCP buffer size of this machine (min, default, max), from /proc/sys/net/ipv4. */
const tcpBuffer = (name: 'tcp_wmem' | 'tcp_rmem'): number[] => readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim().split(/\s+/).map(Number);
/**
 * How many lines the flood prints: past what the kernel takes for a client that does not read (the
 * hub's send buffer grows to tcp_wmem's max, the client's receive buffer stays at tcp_rmem's
 * default: about 4 MiB on a stock Linux) plus the per-client cap and 2 MiB, so that every slow
 * client ends up let go.
 */
const LINES = Math.ceil((tcpBuffer('tcp_wmem')[2]! + tcpBuffer('tcp_rmem')[1]! + MAX_BUFFERED_BYTES + 2 * MIB) / LINE);
/**
 * The hub's RSS, measured once the clients are connected, may grow by the overall cap (an upper
 * bound: shared frames are counted once per client) plus this slack: what the cap does not count
 * (each client let go keeps at most one 64 KiB batch on its socket: 12.5 MiB for 200) and the
 * hub's own cost of the same flood with no slow client (reading the pipe, the log files, garbage not
 * yet collected: 10-14 MiB measured), with room for a busy machine. Measured with the 200 clients:
 * 28-44 MiB of growth; with a copy per client and no overall cap (as before): 871 MiB.
 */
const SLACK = 64 * MIB;

const rss = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

interface Reader {
  lines: number;
  last: string;
  open(): boolean;
}

/** A WebSocket that reads everything (subscribed to log.line), counting the flood's lines. */
async function wsReader(h: HubProcess): Promise<Reader> {
  const ws = new WebSocket(`${h.http.replace('http', 'ws')}/api/events?types=log.line`, { headers: { authorization: `Bearer ${h.token}` } });
  onCleanup(() => ws.terminate());
  const r = { lines: 0, last: '', open: () => ws.readyState === WebSocket.OPEN };
  const hello = new Promise((resolve) => ws.once('message', resolve));
  ws.on('message', (raw) => {
    const m = JSON.parse(raw.toString()) as { type: string; data: { line: string } };
    if (m.type !== 'log.line') return;
    if (m.data.line.length === LINE) r.lines++;
    r.last = m.data.line.slice(0, 10);
  });
  ws.on('error', () => undefined);
  await hello;
  return r;
}

/** An SSE stream that reads everything, counting the flood's lines. */
async function sseReader(h: HubProcess): Promise<Reader> {
  const res = await sseGet(h.http, h.token, '?types=log.line');
  const r = { lines: 0, last: '', open: () => !res.complete && !res.destroyed };
  onSseEvents(res, (_event, data) => {
    const m = JSON.parse(data) as { type: string; data: { line: string } };
    if (m.type !== 'log.line') return;
    if (m.data.line.length === LINE) r.lines++;
    r.last = m.data.line.slice(0, 10);
  });
  return r;
}

interface Slow {
  /** Reads again, and resolves with how the hub let the client go. */
  resume(): Promise<{ code: number; reason: string }>;
}

/** A WebSocket that stops reading once it has its hello. */
async function slowWs(h: HubProcess): Promise<Slow> {
  let socket: Socket | undefined;
  const ws = new WebSocket(`${h.http.replace('http', 'ws')}/api/events?types=log.line`, {
    headers: { authorization: `Bearer ${h.token}` },
    // The TCP socket itself, to stop reading it (ws passes its request options; a path would mean IPC).
    createConnection: ((opts: { host: string; port: number }) => (socket = connect({ host: opts.host, port: opts.port }))) as never,
  });
  onCleanup(() => ws.terminate());
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise((resolve) => ws.once('message', resolve));
  socket!.pause();
  return {
    resume: () => {
      socket!.resume();
      return closed;
    },
  };
}

/** An SSE stream that stops reading once it has its hello; its last event says why it ended. */
async function slowSse(h: HubProcess): Promise<Slow> {
  const res = await sseGet(h.http, h.token, '?types=log.line');
  let tail = '';
  await new Promise((resolve) => res.once('data', resolve));
  res.pause();
  return {
    resume: async () => {
      res.on('data', (chunk: Buffer) => (tail = (tail + chunk.toString('latin1')).slice(-500)));
      res.resume();
      await new Promise((resolve) => res.once('end', resolve));
      const last = /event: close\ndata: (.*)\n\n$/.exec(tail);
      assert.ok(last, `the stream ended with a close event: …${tail.slice(-200)}`);
      return (JSON.parse(last[1]!) as { data: { code: number; reason: string } }).data;
    },
  };
}

describe('event clients that do not read', () => {
  it(`lets ${SLOW} of them go (WebSocket and SSE) while log lines flood, keeps the hub's memory bounded, and serves those that read`, async (t) => {
    const h = await spawnHub();
    const pid = h.proc.pid!;
    const flood = `head -c ${LINE * LINES} /dev/zero | tr '\\0' x | fold -w ${LINE}; printf '\\nEND\\n'; exec sleep 600`;
    const agent = await api(h.http, h.token, 'POST', '/api/agents', { name: 'flood', command: 'sh', args: ['-c', flood], autostart: false });
    assert.equal(agent.status, 201, JSON.stringify(agent.body));

    const readers = [await wsReader(h), await sseReader(h)];
    const slow: Slow[] = [];
    for (let i = 0; i < SLOW; i++) slow.push(await (i % 2 === 0 ? slowWs(h) : slowSse(h)));

    const baseline = rss(pid);
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rss(pid))), 20);
    onCleanup(() => clearInterval(sampler));
    assert.equal((await api(h.http, h.token, 'POST', '/api/agents/flood/start')).status, 200);
    const health: number[] = [];
    const flooded = until(
      'the readers to get the whole flood (or be cut off)',
      () => readers.map((r) => (r.open() ? r.last : 'closed')),
      (last) => last.every((l) => l === 'END') || last.includes('closed'),
      { timeoutMs: 60_000 },
    );
    let done = false;
    void flooded.finally(() => (done = true)).catch(() => undefined);
    while (!done) health.push((await api(h.http, null, 'GET', '/api/health')).status);
    assert.deepEqual(await flooded, readers.map(() => 'END'), 'the reading clients got the whole flood and stayed connected');
    // Every slow client has been let go by now (the hub logs each): what it held is freed.
    const letGo = (): Array<{ limit: string; buffered: number }> =>
      h.lines.filter((l) => /client that does not keep up/.test(l.msg ?? '')) as unknown as Array<{ limit: string; buffered: number }>;
    await until('every slow client let go', () => letGo().length, (n) => n === SLOW);
    peak = Math.max(peak, rss(pid));
    clearInterval(sampler);

    const growth = peak - baseline;
    t.diagnostic(`RSS ${(baseline / MIB).toFixed(0)} MiB with the clients connected, grew by ${(growth / MIB).toFixed(0)} MiB at most`);
    assert.ok(
      growth < MAX_TOTAL_BUFFERED_BYTES + SLACK,
      `the hub's RSS grew by ${(growth / MIB).toFixed(0)} MiB (from ${(baseline / MIB).toFixed(0)} MiB), over the ${MAX_TOTAL_BUFFERED_BYTES / MIB} MiB cap + ${SLACK / MIB} MiB`,
    );
    // With 200 slow clients the overall cap lets the first ones go long before any has its own cap's worth waiting.
    const overall = letGo().filter((l) => l.limit === 'overall');
    assert.ok(overall.length > 0 && overall.every((l) => l.buffered < MAX_BUFFERED_BYTES), `let go by the overall cap: ${JSON.stringify(letGo().slice(0, 3))}`);
    assert.ok(letGo().every((l) => l.buffered <= MAX_BUFFERED_BYTES + LINE + 100), 'none held more than its own cap');

    assert.ok(health.length > 0 && health.every((s) => s === 200), `the hub answered /api/health during the flood: ${health.join(',')}`);
    for (const r of readers) assert.equal(r.lines, LINES, 'a reading client got every line');

    const ends = await Promise.all(slow.map((s) => s.resume()));
    const reasons = new Set(ends.map((e) => `${e.code} ${e.reason}`));
    assert.deepEqual([...reasons], [`${TOO_SLOW.code} ${TOO_SLOW.reason}`]);
    assert.equal((await api(h.http, null, 'GET', '/api/health')).status, 200);
  });
});
