/**
 * Discovery republish: 1000 entities (100 things x 10 sensors) = 100 discovery configs + 100 states,
 * retained, QoS 1, to the embedded aedes broker, until a subscriber on `#` has all 200.
 *
 * Path A (Hearth): a real MqttConnection + DiscoveryPublisher.republishAll(things), views computed
 * by a synthetic entity module. Path B (baseline): a bare mqtt.js client publishing exactly the
 * topic/payload pairs path A sent, precomputed. The clock starts once the publishing client is
 * connected (and, for Hearth, subscribed like the bridge is) and stops when the subscriber has all
 * 200 messages. Retained messages are cleared between runs so every run does the same work.
 */
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { EmbeddedBroker } from '../src/bridges/mqtt/broker.js';
import { MqttConnection } from '../src/bridges/mqtt/connection.js';
import { DiscoveryPublisher, type Outbox } from '../src/bridges/mqtt/publisher.js';
import { component, discoveryMessage, thingDevice, thingDeviceId, valueOf } from '../src/entities/discovery.js';
import type { Component, EntityContext, ThingView } from '../src/entities/types.js';
import type { DiscoveryVisibility } from '../src/hub/discovery-visibility.js';
import { createLogger } from '../src/hub/logger.js';
import type { ThingChange } from '../src/hub/thing-types.js';
import { median, ratioRow, round, withTimeout, type Result } from './types.js';

const THINGS = 100;
const SENSORS_PER_THING = 10;
const MESSAGES = THINGS * 2;
const WARMUP_ROUNDS = 3;
const MEASURED_ROUNDS = 15;
const WAIT_MS = 30_000;
const GOAL_RATIO = 1.5;

const ctx: EntityContext = { nodeId: 'bench', base: 'hearth/bench', discoveryPrefix: 'homeassistant', version: '0.0.0-bench' };
const logger = createLogger('silent');

// ---------------------------------------------------------------------------------------------
// The synthetic things and their entity module.

interface SyntheticState {
  name: string;
  values: Record<string, number>;
}

function syntheticThings(): ThingChange[] {
  const things: Array<{ kind: string; id: string; state: SyntheticState }> = [];
  for (let i = 0; i < THINGS; i++) {
    const values: Record<string, number> = {};
    for (let j = 0; j < SENSORS_PER_THING; j++) values[`sensor_${j}`] = round(20 + i / 10 + j, 1);
    things.push({ kind: 'device', id: `synthetic_${String(i).padStart(3, '0')}`, state: { name: `Synthetic ${i}`, values } });
  }
  // ThingChange only admits the hub's real kinds; these reach nothing but syntheticView below.
  return things as unknown as ThingChange[];
}

/** A plausible entity module: one device per thing, ten temperature sensors reading its state. */
function syntheticView(c: EntityContext, thing: ThingChange): ThingView {
  const s = thing.state as unknown as SyntheticState;
  const deviceId = thingDeviceId(c, 'device', thing.id);
  const components: Record<string, Component> = {};
  for (const field of Object.keys(s.values)) {
    components[field] = component(deviceId, field, 'sensor', {
      name: `Sensor ${field.slice('sensor_'.length)}`,
      device_class: 'temperature',
      unit_of_measurement: '°C',
      state_class: 'measurement',
      value_template: valueOf(field),
      suggested_display_precision: 1,
    });
  }
  return {
    deviceId,
    stateTopic: `${c.base}/device/${thing.id}/state`,
    device: thingDevice(c, 'device', thing.id, s.name, 'Synthetic sensor block'),
    components,
    state: { ...s.values },
  };
}

// Nothing is hidden; the publisher only calls isHidden() on this path.
const visibility = { isHidden: (_deviceId: string): boolean => false, hide: async (_deviceId: string): Promise<void> => undefined };

// ---------------------------------------------------------------------------------------------
// The subscriber on `#`.

/** Only these topics are counted: anything else (a will, say) would be noise, reported apart. */
const counted = (topic: string): boolean => topic.startsWith(`${ctx.discoveryPrefix}/device/`) || topic.startsWith(`${ctx.base}/device/`);

class Collector {
  /** Non-empty messages of the current window, in arrival order. */
  data: Array<[string, string]> = [];
  empties = 0;
  other: string[] = [];
  private target: { kind: 'data' | 'empty'; n: number; resolve: (at: number) => void } | null = null;

  constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload) => {
      if (!counted(topic)) {
        this.other.push(topic);
        return;
      }
      if (payload.length === 0) this.empties++;
      else this.data.push([topic, payload.toString()]);
      const t = this.target;
      if (t && (t.kind === 'data' ? this.data.length : this.empties) >= t.n) {
        this.target = null;
        t.resolve(performance.now());
      }
    });
  }

  /** Starts a new window; resolves with the time the n-th message of that kind arrives. */
  arm(kind: 'data' | 'empty', n: number): Promise<number> {
    this.data = [];
    this.empties = 0;
    return new Promise((resolve) => (this.target = { kind, n, resolve }));
  }
}

// ---------------------------------------------------------------------------------------------
// The two paths.

interface Run {
  /** Clock start to the subscriber holding all messages. */
  deliveredMs: number;
  /** Clock start to the last of the publish calls being made (CPU work before any I/O). */
  issuedMs: number;
  /** Clock start to the publisher's own promise resolving (every PUBACK in). */
  ackedMs: number;
  received: Array<[string, string]>;
}

let clientSeq = 0;

async function runHearth(url: string, things: ThingChange[], sub: Collector): Promise<Run> {
  const conn = new MqttConnection(
    {
      url,
      username: '',
      password: '',
      clientId: `bench_hearth_${clientSeq++}`,
      protocolVersion: 4,
      will: { topic: `${ctx.base}/bridge/state`, payload: 'offline' },
    },
    logger,
  );
  // Like the bridge: a subscription made on connect; the clock starts once it is in place.
  conn.handle(`${ctx.discoveryPrefix}/status`, () => undefined);
  const ready = new Promise<void>((resolve) => conn.onConnect(resolve));
  try {
    await withTimeout(conn.connect(), WAIT_MS, 'the Hearth connection');
    await withTimeout(ready, WAIT_MS, 'the Hearth subscription');
    // The outbox MqttBridge builds (src/bridges/mqtt/bridge.ts)...
    const publish = (topic: string, payload: string, opts: { retain: boolean }): Promise<void> => conn.publish(topic, payload, opts);
    // ...plus one counter, to see when the last publish call is made.
    let calls = 0;
    let tIssued = Number.NaN;
    const outbox: Outbox = {
      get connected() {
        return conn.connected;
      },
      publish: (topic, payload, opts) => {
        const p = publish(topic, payload, opts);
        if (++calls === MESSAGES) tIssued = performance.now();
        return p;
      },
    };
    const publisher = new DiscoveryPublisher(ctx, outbox, visibility as unknown as DiscoveryVisibility, logger, syntheticView);
    const delivered = sub.arm('data', MESSAGES);
    const t0 = performance.now();
    const acked = publisher.republishAll(things).then(() => performance.now());
    const [tDelivered, tAcked] = await withTimeout(Promise.all([delivered, acked]), WAIT_MS, 'Hearth messages to arrive');
    return { deliveredMs: tDelivered - t0, issuedMs: tIssued - t0, ackedMs: tAcked - t0, received: sub.data };
  } finally {
    await conn.close();
  }
}

async function runBaseline(url: string, pairs: Array<[string, string]>, sub: Collector): Promise<Run> {
  const client = await withTimeout(
    mqtt.connectAsync(url, { clientId: `bench_baseline_${clientSeq++}`, protocolVersion: 4, clean: true, keepalive: 30, reconnectPeriod: 0 }),
    WAIT_MS,
    'the baseline connection',
  );
  try {
    const delivered = sub.arm('data', MESSAGES);
    const t0 = performance.now();
    const acked = Promise.all(pairs.map(([topic, payload]) => client.publishAsync(topic, payload, { qos: 1, retain: true }))).then(() =>
      performance.now(),
    );
    const tIssued = performance.now();
    const [tDelivered, tAcked] = await withTimeout(Promise.all([delivered, acked]), WAIT_MS, 'baseline messages to arrive');
    return { deliveredMs: tDelivered - t0, issuedMs: tIssued - t0, ackedMs: tAcked - t0, received: sub.data };
  } finally {
    await client.endAsync();
  }
}

/** Empties every retained topic and waits until the subscriber has seen every removal. */
async function clearRetained(cleaner: MqttClient, topics: string[], sub: Collector): Promise<void> {
  const seen = sub.arm('empty', topics.length);
  await Promise.all(topics.map((t) => cleaner.publishAsync(t, '', { qos: 1, retain: true })));
  await withTimeout(seen, WAIT_MS, 'retained messages to be cleared');
}

function sameMessages(got: Array<[string, string]>, want: Map<string, string>): boolean {
  if (got.length !== want.size) return false;
  return got.every(([t, p]) => want.get(t) === p);
}

/** CPU cost alone of what republishAll computes: views, discovery messages, JSON. No I/O. */
function computeOnly(things: ThingChange[]): number {
  const t0 = performance.now();
  let bytes = 0;
  for (const t of things) {
    const v = syntheticView(ctx, t);
    bytes += JSON.stringify(discoveryMessage(ctx, v, {})).length + JSON.stringify(v.state).length;
  }
  const ms = performance.now() - t0;
  if (bytes === 0) throw new Error('nothing computed');
  return ms;
}

// ---------------------------------------------------------------------------------------------

export async function benchDiscovery(): Promise<Result> {
  // Every client of the bench signs in as the hub: it publishes discovery, as the hub does.
  const broker = new EmbeddedBroker({
    host: '127.0.0.1',
    port: 0,
    base: ctx.base,
    discoveryPrefix: ctx.discoveryPrefix,
    hub: { username: 'hearth', password: 'bench', clientId: 'bench_hub' },
    homeassistant: { username: 'homeassistant', password: 'bench-ha' },
    anonymous: false,
    auth: { bearer: async () => null, login: async () => null },
    logger: createLogger('silent'),
  });
  const port = await broker.start();
  const url = `mqtt://hearth:bench@127.0.0.1:${port}`;
  const opened: MqttClient[] = [];
  try {
    const connect = async (clientId: string): Promise<MqttClient> => {
      const c = await withTimeout(mqtt.connectAsync(url, { clientId, protocolVersion: 4, clean: true, reconnectPeriod: 0 }), WAIT_MS, clientId);
      opened.push(c);
      return c;
    };
    const subClient = await connect('bench_subscriber');
    const sub = new Collector(subClient);
    await subClient.subscribeAsync('#', { qos: 1 });
    const cleaner = await connect('bench_cleaner');
    const things = syntheticThings();

    // The first Hearth run yields the pairs the baseline sends; every later run must match them.
    const first = await runHearth(url, things, sub);
    const pairs = first.received;
    const expected = new Map(pairs);
    const topics = [...expected.keys()];
    if (pairs.length !== MESSAGES || expected.size !== MESSAGES) throw new Error(`Hearth sent ${pairs.length} messages on ${expected.size} topics, expected ${MESSAGES}`);
    const entities = pairs
      .filter(([t]) => t.endsWith('/config'))
      .reduce((n, [, p]) => n + Object.keys((JSON.parse(p) as { cmps: object }).cmps).length, 0);
    await clearRetained(cleaner, topics, sub);

    // Warm-up rounds (discarded), then measured ones; the order alternates so neither path always goes first.
    const a: Run[] = [];
    const b: Run[] = [];
    const mismatches: string[] = [];
    for (let r = 0; r < WARMUP_ROUNDS + MEASURED_ROUNDS; r++) {
      const order = r % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const);
      for (const path of order) {
        const run = path === 'A' ? await runHearth(url, things, sub) : await runBaseline(url, pairs, sub);
        if (!sameMessages(run.received, expected)) mismatches.push(`round ${r} path ${path}`);
        if (r >= WARMUP_ROUNDS) (path === 'A' ? a : b).push(run);
        await clearRetained(cleaner, topics, sub);
      }
    }
    if (mismatches.length) throw new Error(`runs did not deliver the same messages: ${mismatches.join(', ')}`);

    const compute = Array.from({ length: MEASURED_ROUNDS }, () => computeOnly(things));
    const ms = (runs: Run[], k: 'deliveredMs' | 'issuedMs' | 'ackedMs'): number[] => runs.map((x) => round(x[k]));
    const mA = median(a.map((x) => x.deliveredMs));
    const mB = median(b.map((x) => x.deliveredMs));
    const spread = (runs: Run[]): string => {
      const d = runs.map((x) => x.deliveredMs);
      return `${round(Math.min(...d), 1)}-${round(Math.max(...d), 1)}`;
    };
    const bytes = pairs.reduce((n, [t, p]) => n + Buffer.byteLength(t) + Buffer.byteLength(p), 0);
    const mIssuedA = median(a.map((x) => x.issuedMs));
    const mIssuedB = median(b.map((x) => x.issuedMs));
    return {
      name: 'discovery',
      rows: [ratioRow(`discovery republish, ${entities} entities (${MESSAGES} msgs), median ms`, 'ms', round(mA), round(mB), GOAL_RATIO)],
      details: {
        things: THINGS,
        entities,
        messages: MESSAGES,
        payload_bytes: bytes,
        warmup_rounds: WARMUP_ROUNDS,
        measured_rounds: MEASURED_ROUNDS,
        hearth_delivered_ms: ms(a, 'deliveredMs'),
        baseline_delivered_ms: ms(b, 'deliveredMs'),
        hearth_issued_ms: ms(a, 'issuedMs'),
        baseline_issued_ms: ms(b, 'issuedMs'),
        hearth_acked_ms: ms(a, 'ackedMs'),
        baseline_acked_ms: ms(b, 'ackedMs'),
        hearth_compute_only_median_ms: round(median(compute), 3),
        other_topics_seen: [...new Set(sub.other)],
      },
      notes: [
        `discovery: ${THINGS} things x ${SENSORS_PER_THING} sensors, ${bytes} bytes of topics+payloads, retained QoS 1 to embedded aedes; ` +
          `clock from connected to a '#' subscriber holding all ${MESSAGES}; ${MEASURED_ROUNDS} rounds alternating A/B after ${WARMUP_ROUNDS} warm-up rounds; ` +
          `range Hearth ${spread(a)} ms, baseline ${spread(b)} ms.`,
        `discovery: last publish call made after ${round(mIssuedA)} ms (Hearth) vs ${round(mIssuedB)} ms (baseline), median; ` +
          `Hearth's views + JSON alone take ${round(median(compute))} ms; median time to every PUBACK ` +
          `${round(median(a.map((x) => x.ackedMs)))} vs ${round(median(b.map((x) => x.ackedMs)))} ms.`,
      ],
    };
  } finally {
    await Promise.all(opened.map((c) => c.endAsync().catch(() => undefined)));
    await broker.stop();
  }
}
