/**
 * The hub's MQTT client (mqtt.js): last will on bridge/state, reconnects with exponential backoff,
 * dispatches messages to handlers by topic filter.
 */
import mqtt, { type IClientOptions, type IClientPublishOptions, type MqttClient, type IPublishPacket } from 'mqtt';
import type { Logger } from '../../hub/logger.js';
import { redactUrl } from '../../hub/url-secrets.js';

export interface ConnectionOptions {
  url: string;
  username: string;
  password: string;
  clientId: string;
  /** 5 where the broker speaks it (external brokers); aedes speaks 3.1.1. */
  protocolVersion: 4 | 5;
  will: { topic: string; payload: string };
}

export type MessageHandler = (topic: string, payload: Buffer, packet: IPublishPacket) => void;

const BACKOFF_START_MS = 1000;
const BACKOFF_MAX_MS = 30_000;

/** MQTT topic filter match (+ one level, # the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

export class MqttConnection {
  private client: MqttClient | null = null;
  private readonly handlers: Array<{ filter: string; handler: MessageHandler }> = [];
  private readonly connectListeners: Array<() => void> = [];
  private readonly disconnectListeners: Array<() => void> = [];

  constructor(
    private readonly o: ConnectionOptions,
    private readonly logger: Logger,
  ) {}

  get connected(): boolean {
    return this.client?.connected === true;
  }

  onConnect(listener: () => void): void {
    this.connectListeners.push(listener);
  }

  onDisconnect(listener: () => void): void {
    this.disconnectListeners.push(listener);
  }

  /**
   * Registers a handler; the subscription is made now if connected, and again on every connect.
   * Returns the function that removes it (and unsubscribes when no other handler wants the filter).
   */
  handle(filter: string, handler: MessageHandler): () => void {
    const entry = { filter, handler };
    this.handlers.push(entry);
    if (this.client?.connected) this.client.subscribe(filter, { qos: 1 });
    return () => {
      const i = this.handlers.indexOf(entry);
      if (i >= 0) this.handlers.splice(i, 1);
      if (this.client?.connected && !this.handlers.some((h) => h.filter === filter)) this.client.unsubscribe(filter);
    };
  }

  /** Resolves at the first successful connection; later losses reconnect by themselves. */
  async connect(): Promise<void> {
    const options: IClientOptions = {
      clientId: this.o.clientId,
      protocolVersion: this.o.protocolVersion,
      clean: true,
      keepalive: 30,
      reconnectPeriod: BACKOFF_START_MS,
      connectTimeout: 10_000,
      resubscribe: false,
      // mqtt-packet (shared with aedes) would otherwise keep a 2-byte Buffer for each of the 65536
      // packet ids and lengths: 6 MiB of heap that every garbage collection walks, to save
      // allocating 2 bytes per packet.
      writeCache: false,
      will: { topic: this.o.will.topic, payload: Buffer.from(this.o.will.payload), retain: true, qos: 1 },
      ...(this.o.username ? { username: this.o.username, password: this.o.password } : {}),
    };
    const client = mqtt.connect(this.o.url, options);
    this.client = client;
    client.on('message', (topic, payload, packet) => {
      for (const h of [...this.handlers]) {
        if (!topicMatches(h.filter, topic)) continue;
        // One handler's bug must not stop the others, nor throw into mqtt.js.
        try {
          h.handler(topic, payload, packet);
        } catch (e) {
          this.logger.error({ err: e, topic }, 'MQTT message handler failed');
        }
      }
    });
    client.on('connect', () => {
      client.options.reconnectPeriod = BACKOFF_START_MS;
      // Commands and states are small: send each at once rather than wait for more (Nagle).
      const socket = client.stream as unknown as { setNoDelay?: (on: boolean) => void };
      socket.setNoDelay?.(true);
      this.logger.info({ url: redactUrl(this.o.url) }, 'MQTT connected');
      const filters = [...new Set(this.handlers.map((h) => h.filter))];
      client.subscribeAsync(filters, { qos: 1 }).then(
        () => this.connectListeners.forEach((l) => l()),
        (e: unknown) => this.logger.error({ err: e }, 'MQTT subscribe failed'),
      );
    });
    client.on('close', () => {
      // mqtt.js reads reconnectPeriod each time it schedules a reconnect: doubling it is the backoff.
      const next = Math.min((client.options.reconnectPeriod ?? BACKOFF_START_MS) * 2, BACKOFF_MAX_MS);
      if (!client.disconnecting) client.options.reconnectPeriod = next;
      this.disconnectListeners.forEach((l) => l());
    });
    client.on('error', (e) => this.logger.warn({ err: e.message }, 'MQTT error'));
    client.on('offline', () => this.logger.warn('MQTT connection lost; reconnecting with backoff'));
    await new Promise<void>((resolve, reject) => {
      const onConnect = (): void => {
        client.off('error', onFirstError);
        resolve();
      };
      // Authentication refused at the first attempt is a configuration error, not a transient fault.
      const onFirstError = (e: Error & { code?: number }): void => {
        if (e.code === 4 || e.code === 5 || e.code === 134 || e.code === 135) {
          client.off('connect', onConnect);
          client.end(true);
          reject(new Error(`MQTT broker ${redactUrl(this.o.url)} refused the connection: ${e.message}`));
        }
      };
      client.once('connect', onConnect);
      client.on('error', onFirstError);
    });
  }

  async publish(topic: string, payload: string | Buffer, opts: IClientPublishOptions = {}): Promise<void> {
    if (!this.client) throw new Error('MQTT is not connected');
    await this.client.publishAsync(topic, payload, { qos: 1, ...opts });
  }

  /** Publishes the given last words, then closes the connection cleanly (no will). */
  async close(last?: { topic: string; payload: string }): Promise<void> {
    const client = this.client;
    this.client = null;
    if (!client) return;
    if (client.connected) {
      // Nothing more comes in while closing, so nothing needs acknowledging after the end.
      await client.unsubscribeAsync([...new Set(this.handlers.map((h) => h.filter))]).catch(() => undefined);
    }
    if (last && client.connected) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        client.publishAsync(last.topic, last.payload, { qos: 1, retain: true }),
        new Promise((resolve) => (timer = setTimeout(resolve, 2000))),
      ]).catch(() => undefined);
      clearTimeout(timer);
    }
    await client.endAsync(!client.connected);
  }
}
