/**
 * The edges under stress: answers that cannot be sent, WebSocket clients that stop reading,
 * retained commands, and the publisher's bookkeeping when things go and come back at once.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import WebSocket from 'ws';
import { DiscoveryPublisher, type Outbox } from '../src/bridges/mqtt/publisher.js';
import { RETAINED_COMMAND } from '../src/bridges/mqtt/command-router.js';
import { RequestRouter } from '../src/bridges/mqtt/request-router.js';
import { component, thingDevice, thingDeviceId } from '../src/entities/discovery.js';
import type { EntityContext, ThingView } from '../src/entities/types.js';
import type { AgentView } from '../src/hub/agents/state.js';
import type { BridgeEvent } from '../src/hub/events.js';
import type { Logger } from '../src/hub/logger.js';
import type { OperationContext } from '../src/hub/operations/context.js';
import { NoInput } from '../src/hub/operations/common.js';
import { operation } from '../src/hub/operations/operation.js';
import { OperationTable } from '../src/hub/operations/table.js';
import type { ThingChange } from '../src/hub/thing-types.js';
import { onCleanup } from './helpers/cleanup.js';
import { BASE, NODE, startHub, type HubHandle } from './helpers/hub.js';
import { startMosquitto } from './helpers/mosquitto.js';
import { MqttProbe } from './helpers/mqtt-probe.js';
import { until } from './helpers/wait.js';
import { SYSTEM } from '../src/hub/users/types.js';

/** A logger that records warnings (and errors), for the code under test to report to. */
function recordingLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger = {
    warn: (_o: unknown, msg?: string) => void warnings.push(String(msg ?? _o)),
    error: (_o: unknown, msg?: string) => void warnings.push(String(msg ?? _o)),
    info: () => undefined,
    debug: () => undefined,
    child: () => logger,
  };
  return { logger: logger as unknown as Logger, warnings };
}

/** Every unhandled rejection while `work` runs (and in the turn after). */
async function unhandledDuring(work: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const spy = (reason: unknown): void => void seen.push(reason);
  process.on('unhandledRejection', spy);
  try {
    await work();
    // Rejections are reported after the microtask queue drains: let it.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('unhandledRejection', spy);
  }
  return seen;
}

/** The promise's value, or a failure naming what did not happen in time. */
async function within<T>(what: string, p: Promise<T>, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function createAgent(h: HubHandle, body: Record<string, unknown>): Promise<AgentView> {
  const r = await h.api<AgentView>('POST', '/api/agents', body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

describe('bridge requests whose answer cannot be sent', () => {
  it('route() resolves and logs when the reply rejects', async () => {
    const ping = operation({
      name: 'ping',
      summary: 'answers pong',
      role: 'viewer',
      http: { method: 'GET', path: '/ping' },
      input: NoInput,
      output: Type.Object({ pong: Type.Boolean() }),
      handler: () => ({ pong: true }),
    });
    const table = new OperationTable([ping], () => ({}) as OperationContext);
    const { logger, warnings } = recordingLogger();
    const router = new RequestRouter('hearth/n1', table, () => Promise.reject(new Error('MQTT is not connected')), logger);
    const unhandled = await unhandledDuring(async () => {
      await router.route('hearth/n1/bridge/request/ping', Buffer.from('{}'), { retain: false, properties: {} } as never, SYSTEM);
      // As the bridge calls it: nothing awaits it.
      void router.route('hearth/n1/bridge/request/ping', Buffer.from('{}'), { retain: false } as never, SYSTEM);
      await until('the second warning', () => warnings.length, (n) => n >= 2);
    });
    assert.deepEqual(unhandled, []);
    assert.match(warnings[0]!, /could not answer a bridge request/);
  });

  it('a slow request answered after the hub closed its MQTT connection crashes nothing', async () => {
    const h = await startHub();
    // A stop that takes two seconds: the agent ignores SIGTERM until it is killed.
    await createAgent(h, { name: 'stubborn', command: 'sh', args: ['-c', "trap '' TERM; echo ready; exec sleep 3005"], stop_timeout_s: 2 });
    await until('the agent running', async () => (await h.api<AgentView>('GET', '/api/agents/stubborn')).body.status, (st) => st === 'running');
    const warnings: string[] = [];
    const warn = h.hub.logger.warn.bind(h.hub.logger);
    h.hub.logger.warn = ((o: unknown, msg?: string, ...rest: unknown[]) => {
      warnings.push(String(msg ?? ''));
      return (warn as (...a: unknown[]) => void)(o, msg, ...rest);
    }) as typeof h.hub.logger.warn;
    const probe = await MqttProbe.connect(h.brokerUrl, []);
    const unhandled = await unhandledDuring(async () => {
      await probe.publish(`${BASE}/bridge/request/agent/stop`, '{"id": "stubborn"}');
      await until('the stop to begin', () => h.hub.things.get('agent', 'stubborn')?.status, (st) => st === 'stopping');
      await probe.close();
      // The hub stops (as in a restart in place) while the request still runs.
      await h.stop();
      await until('the hub to say it could not answer', () => warnings, (w) => w.some((line) => /could not answer a bridge request/.test(line)));
    });
    assert.deepEqual(unhandled, []);
  });
});

describe('/api/events WebSocket', () => {
  type Msg = { type: string; data: Record<string, unknown> };
  interface Client {
    ws: WebSocket;
    seen: Msg[];
    closed: Promise<{ code: number; reason: string }>;
  }
  const open = async (h: HubHandle, query = ''): Promise<Client> => {
    const ws = new WebSocket(`${h.http.replace('http', 'ws')}/api/events?token=${encodeURIComponent(h.token)}${query}`);
    const seen: Msg[] = [];
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString()) as Msg;
      // Kept small: the test must not hold what it measures the hub for holding.
      if (m.type === 'log.line' && String(m.data.line).length > 100) m.data = { ...m.data, line: '(long)' };
      seen.push(m);
    });
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('error', () => undefined);
    await until('the hello', () => seen.map((m) => m.type), (types) => types.includes('hello'));
    return { ws, seen, closed };
  };

  it('closes a client that stops reading (1013) and keeps its memory bounded; others carry on', async () => {
    const h = await startHub();
    const slow = await open(h);
    const logs = await open(h, '&types=log.line');
    const bridge = await open(h, '&types=bridge.event');
    onCleanup(() => [slow, logs, bridge].forEach((c) => c.ws.terminate()));
    (slow.ws as unknown as { _socket: Socket })._socket.pause();

    const line = 'x'.repeat(10 * 1024);
    const BATCH = 100;
    const BATCHES = 300; // 300 MB in all, were it all kept for the slow client
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    let sent = 0;
    for (let b = 0; b < BATCHES; b++) {
      for (let i = 0; i < BATCH; i++) h.hub.bus.emit('log.line', { kind: 'agent', id: 'chatty', stream: 'stdout', line });
      sent += BATCH;
      if (b === BATCHES / 2) h.hub.bus.emit('bridge.event', { type: 'test_mid_flood', data: {} });
      // The client that reads keeps up before the next batch: only the paused one falls behind.
      await until('the reading client to keep up', () => logs.seen.filter((m) => m.type === 'log.line').length, (n) => n === sent, { timeoutMs: 30_000, everyMs: 1 });
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    const growthMb = (peak - rss0) / 1024 / 1024;
    assert.ok(growthMb < 200, `RSS grew by ${growthMb.toFixed(0)} MB while a client did not read`);

    (slow.ws as unknown as { _socket: Socket })._socket.resume();
    const closed = await within('the slow client closed', slow.closed, 20_000);
    assert.deepEqual(closed, { code: 1013, reason: 'too slow: reconnect' });
    const slowLines = slow.seen.filter((m) => m.type === 'log.line').length;
    assert.ok(slowLines < sent, `the slow client was cut off (got ${slowLines} of ${sent})`);

    // The others are still served, each with only what it asked for.
    h.hub.bus.emit('bridge.event', { type: 'test_after_flood', data: {} });
    h.hub.bus.emit('log.line', { kind: 'agent', id: 'chatty', stream: 'stderr', line: 'last' });
    await until('the bridge client to get the event', () => bridge.seen.filter((m) => m.type === 'bridge.event').map((m) => m.data.type), (types) => types.includes('test_after_flood'));
    await until('the log client to get the last line', () => logs.seen.filter((m) => m.type === 'log.line').map((m) => m.data.line), (lines) => lines.includes('last'));
    assert.ok(bridge.seen.some((m) => m.data.type === 'test_mid_flood'));
    assert.deepEqual([...new Set(bridge.seen.map((m) => m.type))].sort(), ['bridge.event', 'hello']);
    assert.deepEqual([...new Set(logs.seen.map((m) => m.type))].sort(), ['hello', 'log.line']);
    assert.equal(logs.ws.readyState, WebSocket.OPEN);
    assert.equal(bridge.ws.readyState, WebSocket.OPEN);
  });

  it('refuses an unknown event type with 1008 and its name', async () => {
    const h = await startHub();
    const ws = new WebSocket(`${h.http.replace('http', 'ws')}/api/events?token=${encodeURIComponent(h.token)}&types=log.line,log.lines`);
    ws.on('error', () => undefined);
    const closing = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    try {
      assert.deepEqual(await within('the socket closed', closing), { code: 1008, reason: 'unknown event type: log.lines' });
    } finally {
      ws.terminate();
    }
  });
});

describe('retained commands', () => {
  it('a retained /set command runs when sent, not again when the hub resubscribes or the broker restarts', async () => {
    // Persistence: the retained command outlives a broker restart, as on a real installation.
    const broker = await startMosquitto({ persistence: true });
    const h = await startHub({ HEARTH_MQTT_URL: broker.url });
    const agent = await createAgent(h, { name: 'retained target', command: 'sleep', args: ['3701'] });
    const restarts = async (): Promise<number> => (await h.api<AgentView>('GET', `/api/agents/${agent.id}`)).body.restarts;
    const setTopic = `${BASE}/agent/${agent.id}/set`;
    // What the hub publishes on bridge/event, recorded where it starts: the test's own MQTT
    // client cannot follow the hub through a broker restart.
    const rejections: Array<{ topic: string; payload: string; error: string }> = [];
    const connections: boolean[] = [];
    const offs = [
      h.hub.bus.on('bridge.event', (e: BridgeEvent) => {
        if (e.type === 'command_rejected') rejections.push(e.data as { topic: string; payload: string; error: string });
      }),
      h.hub.bus.on('mqtt.connection', (e) => void connections.push(e.connected)),
    ];
    onCleanup(() => offs.forEach((off) => off()));
    const backOnline = async (what: string, from: number): Promise<void> => {
      await until(what, () => connections.slice(from), (c) => c.includes(false) && c.at(-1) === true, { timeoutMs: 40_000 });
    };
    const retainedRejection = (r: { topic: string; error: string }): boolean => r.topic === setTopic && r.error === RETAINED_COMMAND;

    let probe = await MqttProbe.connect(broker.url, []);
    try {
      // Delivered live (retain flag 0 on an established subscription): it is carried out.
      await probe.publish(setTopic, 'restart', { retain: true });
      await until('the live restart', restarts, (n) => n === 1);
      assert.equal(rejections.length, 0, 'a live command is not rejected');

      // A new connection and subscription: the broker hands the hub the retained command again.
      let from = connections.length;
      const mqtt = (h.hub as unknown as { mqtt: { conn: { client: { stream: Socket } } } }).mqtt;
      mqtt.conn.client.stream.destroy();
      await backOnline('the hub online again', from);
      await until('the retained command rejected', () => rejections, (r) => r.some(retainedRejection), { timeoutMs: 20_000 });
      assert.equal(await restarts(), 1, 'not run again');
      assert.equal((await h.api<AgentView>('GET', `/api/agents/${agent.id}`)).body.status, 'running');

      // The broker restarts and still holds the command: the hub, subscribing again, is handed it once more.
      await probe.close();
      from = connections.length;
      const before = rejections.length;
      await broker.stop();
      await broker.start();
      probe = await MqttProbe.connect(broker.url, [setTopic]);
      assert.equal((await probe.seenOrNext(setTopic)).payload, 'restart', 'the broker kept the retained command');
      await backOnline('the hub back on the restarted broker', from);
      await until('the retained command rejected after the broker restart', () => rejections.slice(before), (r) => r.some(retainedRejection), { timeoutMs: 20_000 });
      assert.equal(await restarts(), 1, 'not run after the broker restart');

      // Clearing it, as asked, is silent, and nothing is handed to the hub at the next subscription.
      const cleared = rejections.length;
      await probe.publish(setTopic, '', { retain: true });
      from = connections.length;
      mqtt.conn.client.stream.destroy();
      await backOnline('the hub online after the clearing', from);
      // A live command sent now is handled after anything the resubscription delivered.
      await probe.publish(setTopic, 'bogus_word');
      await until('the live bogus command rejected', () => rejections.slice(cleared), (r) => r.some((x) => x.payload === 'bogus_word'));
      assert.deepEqual(rejections.slice(cleared).map((r) => r.payload), ['bogus_word'], 'the clearing and the resubscription were not rejected');
      assert.equal(await restarts(), 1);
      // Its agent goes with it now, not at the end of the file among other hubs' agents.
      await h.stop();
    } finally {
      await probe.close().catch(() => undefined);
    }
  });
});

describe('discovery publisher: things that go and come back at once', () => {
  const ctx: EntityContext = { nodeId: 'n1', base: 'hearth/n1', discoveryPrefix: 'homeassistant', version: '1.0.0' };
  const CONFIG = 'homeassistant/device/hearth_n1_agent_a/config';
  const STATE = 'hearth/n1/agent/a';
  const thing = (id: string, value: number): ThingChange => ({ kind: 'agent', id, state: { value } }) as unknown as ThingChange;
  const view = (c: EntityContext, t: ThingChange): ThingView => {
    const dev = thingDeviceId(c, 'agent', t.id);
    return {
      deviceId: dev,
      stateTopic: `${c.base}/agent/${t.id}`,
      device: thingDevice(c, 'agent', t.id, t.id, 'Agent'),
      components: { cpu: component(dev, 'cpu', 'sensor', { name: 'cpu', value_template: '{{ value_json.value }}' }) },
      state: { value: (t.state as unknown as { value: number }).value },
    };
  };
  const visible = { isHidden: () => false, hide: async () => undefined, forget: async () => false } as never;

  /** Publishes resolve only when the test says so, as a broker's acknowledgements come later. */
  class DeferredOutbox implements Outbox {
    connected = true;
    sent: Array<{ topic: string; payload: string }> = [];
    private pending: Array<() => void> = [];
    publish(topic: string, payload: string): Promise<void> {
      this.sent.push({ topic, payload });
      return new Promise((resolve) => this.pending.push(resolve));
    }
    /** Acknowledges everything, including what the acknowledgements lead to. */
    async settle(): Promise<void> {
      for (let i = 0; i < 10; i++) {
        for (const ack of this.pending.splice(0)) ack();
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    last(topic: string): string | undefined {
      return this.sent.filter((m) => m.topic === topic).at(-1)?.payload;
    }
  }

  it('an update still out when the thing is removed does not record what it sent', async () => {
    const out = new DeferredOutbox();
    const p = new DiscoveryPublisher(ctx, out, visible, recordingLogger().logger, view);
    const first = p.update(thing('a', 1));
    const removed = p.remove({ kind: 'agent', id: 'a' });
    await out.settle();
    await Promise.all([first, removed]);
    assert.equal(out.last(CONFIG), '', 'removed: Home Assistant has an empty config');
    // Re-created with the very same state: it must be published again.
    const again = p.update(thing('a', 1));
    await out.settle();
    await again;
    assert.notEqual(out.last(CONFIG), '', 'the re-created device is published');
    assert.equal(out.last(STATE), '{"value":1}');
    // ... and recorded: the same state again sends nothing.
    const count = out.sent.length;
    const same = p.update(thing('a', 1));
    await out.settle();
    await same;
    assert.equal(out.sent.length, count);
  });

  it('a thing re-created while its removal is out is neither cleared nor forgotten', async () => {
    const out = new DeferredOutbox();
    const p = new DiscoveryPublisher(ctx, out, visible, recordingLogger().logger, view);
    const first = p.update(thing('a', 1));
    await out.settle();
    await first;
    const removed = p.remove({ kind: 'agent', id: 'a' });
    const recreated = p.update(thing('a', 2));
    await out.settle();
    await Promise.all([removed, recreated]);
    assert.notEqual(out.last(CONFIG), '', 'the last config sent is the re-created device');
    assert.equal(out.last(STATE), '{"value":2}');
    const count = out.sent.length;
    const same = p.update(thing('a', 2));
    await out.settle();
    await same;
    assert.equal(out.sent.length, count, 'what the re-created device was sent is recorded');
  });
});

describe('a device deleted in Home Assistant, then its thing', () => {
  it('clears its retained state and forgets it, so a new thing of that name is published', async () => {
    const h = await startHub();
    // Home Assistant's user: the one that may clear a config.
    const probe = await MqttProbe.connect(h.brokerUrl, ['homeassistant/#', `${BASE}/#`], h.brokerUsers!.homeassistant);
    try {
      const agent = await createAgent(h, { name: 'phoenix', command: 'sleep', args: ['3702'] });
      const device = `hearth_${NODE}_agent_${agent.id}`;
      const config = `homeassistant/device/${device}/config`;
      const state = `${BASE}/agent/${agent.id}`;
      await probe.seenOrNext(config, (m) => m.payload !== '');
      await probe.seenOrNext(state, (m) => m.payload !== '');

      // Home Assistant deletes the device at the user's request.
      const hiding = probe.mark();
      await probe.publish(config, '', { retain: true });
      await probe.next(`${BASE}/bridge/event`, (m) => (JSON.parse(m.payload) as BridgeEvent).type === 'device_hidden', { since: hiding });

      const deleting = probe.mark();
      assert.equal((await h.api('DELETE', `/api/agents/${agent.id}`)).status, 200);
      await probe.next(state, (m) => m.payload === '', { since: deleting });
      await until('the hidden row to go', async () => (await h.api<unknown[]>('GET', '/api/discovery/hidden')).body, (rows) => rows.length === 0);

      // A fresh subscriber: nothing retained on the state topic.
      const fresh = await MqttProbe.connect(h.brokerUrl, [state, 'test/marker']);
      try {
        // Retained messages come before the client's own marker.
        await fresh.publish('test/marker', 'after');
        await fresh.seenOrNext('test/marker');
        assert.equal(fresh.last(state), undefined, 'no retained state left behind');
      } finally {
        await fresh.close();
      }

      const from = probe.mark();
      const again = await createAgent(h, { name: 'phoenix', command: 'sleep', args: ['3703'] });
      assert.equal(again.id, agent.id);
      const published = await probe.next(config, (m) => m.payload !== '', { since: from });
      assert.equal((JSON.parse(published.payload) as { state_topic: string }).state_topic, state);
      await h.stop();
    } finally {
      await probe.close();
    }
  });
});
