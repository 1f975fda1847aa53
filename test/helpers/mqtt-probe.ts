/** A test's own MQTT client: records every message it sees and waits for the ones a test expects. */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { topicMatches } from '../../src/bridges/mqtt/connection.js';

export interface Seen {
  topic: string;
  payload: string;
  retain: boolean;
  at: number;
  properties?: { correlationData?: Buffer | undefined } | undefined;
}

/** A bridge response: `{ status, data | error, transaction }`. */
export interface BridgeAnswer<T = unknown> {
  status: 'ok' | 'error';
  data?: T;
  error?: string;
  transaction?: unknown;
}

let transactions = 0;

/** The broker's URL without the user and password in it. */
export function withoutCredentials(url: string): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.toString();
}

export class MqttProbe {
  readonly messages: Seen[] = [];
  /** The transaction of the last bridge request ask() sent. */
  lastTransaction = '';
  private waiters: Array<{ match: (m: Seen) => boolean; resolve: (m: Seen) => void }> = [];
  /** Rejects when the connection closes: a publish the broker answered by disconnecting fails at once. */
  private readonly closed: Promise<never>;

  private constructor(readonly client: MqttClient) {
    this.closed = new Promise<never>((_, reject) => client.once('close', () => reject(new Error('the broker closed the connection'))));
    this.closed.catch(() => undefined);
    client.on('message', (topic, payload, packet) => {
      const m: Seen = { topic, payload: payload.toString(), retain: packet.retain, at: Date.now(), properties: packet.properties };
      this.messages.push(m);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(m)) return true;
        w.resolve(m);
        return false;
      });
    });
  }

  /**
   * Signs in with the URL's credentials (a hub's brokerUrl: the admin), or with `opts.username`
   * and `opts.password` when given (mqtt.js would otherwise let the URL's win); none with withoutCredentials(url).
   */
  static async connect(url: string, subscribe: string[] = ['#'], opts: IClientOptions = {}): Promise<MqttProbe> {
    const client = await mqtt.connectAsync(opts.username === undefined ? url : withoutCredentials(url), { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    const probe = new MqttProbe(client);
    if (subscribe.length) await client.subscribeAsync(subscribe, { qos: 1 });
    return probe;
  }

  /** Where the record ends now: pass it as `since` to wait for what an action that follows causes. */
  mark(): number {
    return this.messages.length;
  }

  /**
   * The first message on a topic matching the filter and test that arrives after this call (or,
   * with `since`, after that mark: `since: 0` also takes what was seen before, retained states).
   */
  async next(filter: string, test: (m: Seen) => boolean = () => true, opts: { timeoutMs?: number; since?: number } = {}): Promise<Seen> {
    const { timeoutMs = 10_000, since = this.messages.length } = opts;
    const match = (m: Seen): boolean => topicMatches(filter, m.topic) && test(m);
    const seen = this.messages.slice(since).find(match);
    if (seen) return seen;
    return new Promise<Seen>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        const onTopic = this.messages.filter((m) => topicMatches(filter, m.topic)).slice(-3);
        reject(
          new Error(
            `no matching message on ${filter} within ${timeoutMs} ms; last on it: ${onTopic.map((m) => `${m.topic} ${m.payload.slice(0, 200)}`).join(' | ') || 'none'} (saw ${this.messages.length}: ${[...new Set(this.messages.map((m) => m.topic))].slice(-15).join(', ')})`,
          ),
        );
      }, timeoutMs);
      const done = (m: Seen): void => {
        clearTimeout(timer);
        resolve(m);
      };
      this.waiters.push({ match, resolve: done });
    });
  }

  /** The first matching message seen so far or still to come (retained states, earlier answers). */
  async seenOrNext(filter: string, test: (m: Seen) => boolean = () => true, timeoutMs = 10_000): Promise<Seen> {
    return this.next(filter, test, { timeoutMs, since: 0 });
  }

  /**
   * Sends a bridge request under `base` with a transaction of its own and waits for the answer
   * that echoes it (the probe must be subscribed to `<base>/bridge/response/#` or `#`).
   */
  async ask<T = unknown>(base: string, path: string, body: object, timeoutMs = 10_000): Promise<BridgeAnswer<T>> {
    const transaction = `tx-${++transactions}`;
    this.lastTransaction = transaction;
    const since = this.mark();
    await this.publish(`${base}/bridge/request/${path}`, JSON.stringify({ ...body, transaction }));
    const m = await this.next(`${base}/bridge/response/${path}`, (x) => (JSON.parse(x.payload) as BridgeAnswer).transaction === transaction, { since, timeoutMs });
    return JSON.parse(m.payload) as BridgeAnswer<T>;
  }

  /** The latest payload seen on exactly this topic. */
  last(topic: string): Seen | undefined {
    for (let i = this.messages.length - 1; i >= 0; i--) if (this.messages[i]!.topic === topic) return this.messages[i];
    return undefined;
  }

  async publish(topic: string, payload: string, opts: { retain?: boolean; qos?: 0 | 1; properties?: Record<string, unknown> } = {}): Promise<void> {
    await Promise.race([this.client.publishAsync(topic, payload, { qos: 1, ...opts } as never), this.closed]);
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
