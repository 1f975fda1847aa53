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

export class MqttProbe {
  readonly messages: Seen[] = [];
  private waiters: Array<{ match: (m: Seen) => boolean; resolve: (m: Seen) => void }> = [];

  private constructor(readonly client: MqttClient) {
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

  static async connect(url: string, subscribe: string[] = ['#'], opts: IClientOptions = {}): Promise<MqttProbe> {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    const probe = new MqttProbe(client);
    if (subscribe.length) await client.subscribeAsync(subscribe, { qos: 1 });
    return probe;
  }

  /** The first message (already seen or still to come) on a topic matching the filter and test. */
  async next(filter: string, test: (m: Seen) => boolean = () => true, timeoutMs = 10_000, fromIndex = 0): Promise<Seen> {
    const match = (m: Seen): boolean => topicMatches(filter, m.topic) && test(m);
    const seen = this.messages.slice(fromIndex).find(match);
    if (seen) return seen;
    return new Promise<Seen>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no message on ${filter} within ${timeoutMs} ms (saw ${this.messages.length}: ${[...new Set(this.messages.map((m) => m.topic))].slice(-15).join(', ')})`));
      }, timeoutMs);
      const done = (m: Seen): void => {
        clearTimeout(timer);
        resolve(m);
      };
      this.waiters.push({ match, resolve: done });
    });
  }

  /** Waits for a message that arrives after this call. */
  async upcoming(filter: string, test: (m: Seen) => boolean = () => true, timeoutMs = 10_000): Promise<Seen> {
    return this.next(filter, test, timeoutMs, this.messages.length);
  }

  /** The latest payload seen on exactly this topic. */
  last(topic: string): Seen | undefined {
    for (let i = this.messages.length - 1; i >= 0; i--) if (this.messages[i]!.topic === topic) return this.messages[i];
    return undefined;
  }

  async publish(topic: string, payload: string, opts: { retain?: boolean; qos?: 0 | 1; properties?: Record<string, unknown> } = {}): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: 1, ...opts } as never);
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
