/**
 * GET /api/events/stream: the /api/events events as Server-Sent Events, through a real hub: the same
 * messages as the WebSocket for the same actions, `?types=`, the refusals (unknown type, no bearer,
 * `?token=`), the keep-alive comment, and a hub that stops with a stream open.
 */
import assert from 'node:assert/strict';
import { get, type IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { KEEP_ALIVE_MS } from '../src/bridges/http/routes/event-stream.js';
import { onCleanup } from './helpers/cleanup.js';
import { created, startHub, type HubHandle } from './helpers/hub.js';
import { onSseEvents, sseGet } from './helpers/sse.js';
import { until } from './helpers/wait.js';

type Msg = { type: string; data: Record<string, unknown> };

interface SseClient {
  res: IncomingMessage;
  /** Each event as `event:` and its `data:` parsed (the WebSocket's message). */
  events: Array<{ event: string; msg: Msg }>;
  comments: string[];
  /** Resolves when the hub ends the stream (or the connection breaks). */
  ended: Promise<void>;
}

/** Opens the stream with the hub's bearer token and parses it as an EventSource would. */
async function openSse(h: HubHandle, query = ''): Promise<SseClient> {
  const res = await sseGet(h.http, h.token, query);
  const client: SseClient = { res, events: [], comments: [], ended: new Promise((resolve) => res.once('close', resolve)) };
  onSseEvents(
    res,
    (event, data) => client.events.push({ event, msg: JSON.parse(data) as Msg }),
    (comment) => client.comments.push(comment),
  );
  await until('the hello', () => client.events.map((e) => e.event), (ev) => ev[0] === 'hello');
  return client;
}

/** The status of a GET, without waiting for a body that may be a stream. */
async function statusOf(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = get(url, { headers }, (res) => {
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    req.on('error', reject);
  });
}

/** A WebSocket on /api/events (bearer in the header), its messages as they come. */
async function openWs(h: HubHandle, query = ''): Promise<Msg[]> {
  const ws = new WebSocket(`${h.http.replace('http', 'ws')}/api/events${query}`, { headers: { authorization: `Bearer ${h.token}` } });
  const seen: Msg[] = [];
  ws.on('message', (raw) => seen.push(JSON.parse(raw.toString()) as Msg));
  ws.on('error', () => undefined);
  onCleanup(() => ws.terminate());
  await until('the hello', () => seen.map((m) => m.type), (types) => types[0] === 'hello');
  return seen;
}

const about = (id: string) => (m: Msg): boolean => m.data.id === id || (m.data as { state?: { id?: string } }).state?.id === id;

describe('GET /api/events/stream (Server-Sent Events)', { concurrency: true }, () => {
  it('sends the same messages as the /api/events WebSocket for the same actions, with the SSE headers', async () => {
    const h = await startHub();
    const types = '?types=thing.changed,thing.removed,log.line';
    const ws = await openWs(h, types);
    const sse = await openSse(h, types);
    assert.match(sse.res.headers['content-type'] ?? '', /^text\/event-stream/);
    assert.equal(sse.res.headers['cache-control'], 'no-cache');
    assert.equal(sse.res.headers['x-accel-buffering'], 'no');
    const info = await h.api<{ node_id: string; version: string }>('GET', '/api/info');
    assert.deepEqual([sse.events[0]!.msg.data.node_id, sse.events[0]!.msg.data.version], [info.body.node_id, info.body.version]);

    await created(h, '/api/agents', { name: 'echoer', command: 'sh', args: ['-c', 'echo one; echo two; exec sleep 600'], autostart: false });
    assert.equal((await h.api('POST', '/api/agents/echoer/start')).status, 200);
    const sseMsgs = (): Msg[] => sse.events.map((e) => e.msg);
    await until('both to see the second line', () => [ws, sseMsgs()], (both) => both.every((ms) => ms.some((m) => m.type === 'log.line' && m.data.line === 'two')));
    assert.equal((await h.api('DELETE', '/api/agents/echoer')).status, 200);
    const removed = (ms: Msg[]): number => ms.findIndex((m) => m.type === 'thing.removed' && m.data.id === 'echoer');
    await until('both to see the agent removed', () => [ws, sseMsgs()], (both) => both.every((ms) => removed(ms) >= 0));

    // From the agent's first event to its removal: the same messages, in the same order.
    const story = (ms: Msg[]): Msg[] => ms.slice(ms.findIndex(about('echoer')), removed(ms) + 1);
    assert.deepEqual(story(sseMsgs()), story(ws));
    const told = story(ws).filter(about('echoer'));
    assert.deepEqual(told.filter((m) => m.type === 'log.line').map((m) => m.data.line), ['one', 'two']);
    assert.ok(told.some((m) => m.type === 'thing.changed' && (m.data.state as { status: string }).status === 'running'), 'the agent running');
    // Each event's name is its message's type.
    assert.ok(sse.events.every((e) => e.event === e.msg.type));
  });

  it('sends only the ?types= asked for, and every type without it', async () => {
    const h = await startHub();
    const lines = await openSse(h, '?types=log.line');
    const all = await openSse(h);
    await created(h, '/api/agents', { name: 'talker', command: 'sh', args: ['-c', 'echo hi; exec sleep 600'] });
    await until('the line on the unfiltered stream', () => all.events, (ev) => ev.some((e) => e.event === 'log.line' && e.msg.data.line === 'hi'));
    await until('the line on the filtered stream', () => lines.events, (ev) => ev.some((e) => e.event === 'log.line' && e.msg.data.line === 'hi'));
    assert.deepEqual([...new Set(lines.events.map((e) => e.event))].sort(), ['hello', 'log.line']);
    assert.ok(all.events.some((e) => e.event === 'thing.changed' && e.msg.data.id === 'talker'), 'thing.changed on the unfiltered stream');
  });

  it('refuses an unknown type with 400 before the stream starts, naming it', async () => {
    const h = await startHub();
    const res = await fetch(`${h.http}/api/events/stream?types=log.line,log.lines`, { headers: { authorization: `Bearer ${h.token}` } });
    assert.equal(res.status, 400);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.match(((await res.json()) as { error: string }).error, /unknown event type: log\.lines/);
  });

  it('needs Authorization: Bearer: no token and ?token= are 401', async () => {
    const h = await startHub();
    assert.equal(await statusOf(`${h.http}/api/events/stream`), 401);
    assert.equal(await statusOf(`${h.http}/api/events/stream?token=${encodeURIComponent(h.token)}`), 401);
    assert.equal(await statusOf(`${h.http}/api/events/stream`, { authorization: 'Bearer not-the-token' }), 401);
    assert.equal(await statusOf(`${h.http}/api/events/stream`, { authorization: `bearer ${h.token}` }), 200);
  });

  it('takes ?token= on /api/events only for a real WebSocket upgrade, not for a GET that merely says Upgrade: websocket', async () => {
    const h = await startHub();
    assert.equal(await statusOf(`${h.http}/api/events?token=${encodeURIComponent(h.token)}`, { upgrade: 'websocket' }), 401);
    // The same token in the query of a real upgrade is taken.
    const ws = await openWsWithQueryToken(h);
    assert.equal(ws, 'hello');
  });

  it(`sends a keep-alive comment within ${KEEP_ALIVE_MS / 1000} s on a quiet stream`, async () => {
    const h = await startHub();
    const quiet = await openSse(h, '?types=discovery.shown');
    await until('a keep-alive comment', () => quiet.comments, (c) => c.includes('keep-alive'), { timeoutMs: KEEP_ALIVE_MS + 10_000, everyMs: 200 });
    assert.deepEqual(quiet.events.map((e) => e.event), ['hello']);
  });

  it('ends the stream when the hub stops, without waiting for the client', async () => {
    const h = await startHub();
    const sse = await openSse(h);
    await h.stop();
    await sse.ended;
  });
});

/** The first message of a WebSocket authenticated by ?token= (the panel's way). */
async function openWsWithQueryToken(h: HubHandle): Promise<string> {
  const ws = new WebSocket(`${h.http.replace('http', 'ws')}/api/events?token=${encodeURIComponent(h.token)}`);
  onCleanup(() => ws.terminate());
  return new Promise((resolve, reject) => {
    ws.once('message', (raw) => resolve((JSON.parse(raw.toString()) as Msg).type));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)));
    ws.once('error', reject);
  });
}
