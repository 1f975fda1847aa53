/**
 * The MQTT bridge: the embedded broker (or an external one), the hub's connection, discovery and
 * state publishing, bridge requests and events. It maps bus events to topics; no business rules.
 */
import { randomBytes } from 'node:crypto';
import { viewOf } from '../../entities/registry.js';
import type { EntityContext } from '../../entities/types.js';
import type { EventBus } from '../../hub/events.js';
import type { CommandRegistry } from '../../hub/commands.js';
import { resolveBrokerUsers, type MqttCredential } from '../../hub/auth/mqtt-credentials.js';
import type { Settings } from '../../hub/config/settings.js';
import type { DiscoveryVisibility } from '../../hub/discovery-visibility.js';
import type { Extension } from '../../hub/extension.js';
import type { HubInfo } from '../../hub/info.js';
import type { Logger } from '../../hub/logger.js';
import type { MqttAccess } from '../../hub/mqtt-access.js';
import type { OperationTable } from '../../hub/operations/table.js';
import type { ThingRegistry } from '../../hub/things.js';
import type { Authenticator, Principal } from '../../hub/users/types.js';
import { redactUrl } from '../../hub/url-secrets.js';
import { EmbeddedBroker, type Published } from './broker.js';
import { CommandRouter } from './command-router.js';
import { MqttConnection } from './connection.js';
import { DiscoveryPublisher } from './publisher.js';
import { RequestRouter } from './request-router.js';

/** Who sent a request through an external broker, which does not say: its own ACL decided it may. */
const EXTERNAL_CLIENT: Principal = { username: 'mqtt', role: 'admin', via: 'broker_user' };

export interface MqttBridgeDeps {
  settings: Settings;
  entityContext: EntityContext;
  bus: EventBus;
  things: ThingRegistry;
  operations: OperationTable;
  commands: CommandRegistry;
  visibility: DiscoveryVisibility;
  logger: Logger;
  info: () => HubInfo;
  /** Checks the credentials of the embedded broker's clients (Hearth users, the admin token). */
  auth: Authenticator;
}

/** Also the managers' MqttAccess: their subscriptions outlive reconnects and hub restarts. */
export class MqttBridge implements Extension, MqttAccess {
  readonly name = 'mqtt';
  /** Subscriptions asked for by managers, kept across (re)connections. */
  private readonly subscriptions = new Set<{ filter: string; handler: (topic: string, payload: string) => void; off?: () => void }>();
  private broker: EmbeddedBroker | null = null;
  /** Where listen() bound the embedded broker, and how the hub's own client signs in to it. */
  private embedded: { clientId: string; url: string; username: string; password: string } | null = null;
  private conn: MqttConnection | null = null;
  private publisher: DiscoveryPublisher | null = null;
  private offs: Array<() => void> = [];
  private brokerUrl = '';
  private stopping = false;
  /** What a client needs to sign in as the hub or as Home Assistant (the external broker's: the hub's, if configured). */
  private signIns: MqttCredential[] = [];

  constructor(private readonly d: MqttBridgeDeps) {}

  get connected(): boolean {
    return this.conn?.connected === true;
  }

  /** The embedded broker's connected clients; null on an external broker (its own to count). */
  get brokerClients(): number | null {
    return this.broker ? this.broker.clientCount : null;
  }

  get brokerInfo(): { mode: 'embedded' | 'external'; url: string } {
    return { mode: this.d.settings.mqttUrl ? 'external' : 'embedded', url: this.brokerUrl };
  }

  /** The embedded broker's users (the hub's, then Home Assistant's); on an external broker the hub's, if it has one. */
  get credentials(): MqttCredential[] {
    return this.signIns.map((c) => ({ ...c }));
  }

  /**
   * Binds the embedded broker's port (an external broker has nothing to bind). The hub calls it
   * before any agent starts, so that a port in use stops the hub before it has touched anything;
   * start() calls it when the hub did not.
   */
  async listen(): Promise<{ clientId: string; broker: EmbeddedBroker | null }> {
    const { settings: s, entityContext: ctx, logger } = this.d;
    if (this.broker && this.embedded) return { clientId: this.embedded.clientId, broker: this.broker };
    // Unguessable, so no client can take the hub's session (the embedded broker refuses it anyway).
    const clientId = `hearth_${s.nodeId}_${randomBytes(16).toString('hex')}`;
    if (s.mqttUrl) return { clientId, broker: null };
    const users = resolveBrokerUsers(s.dataDir, { username: s.brokerUsername, password: s.brokerPassword });
    if (users.generated.length) logger.info({ file: users.file, users: users.generated }, 'generated MQTT passwords (`hearth mqtt credentials` shows them)');
    const broker = new EmbeddedBroker({
      host: s.brokerHost,
      port: s.brokerPort,
      base: ctx.base,
      discoveryPrefix: ctx.discoveryPrefix,
      hub: { ...users.hub, clientId },
      homeassistant: users.homeassistant,
      anonymous: s.brokerAnonymous,
      auth: this.d.auth,
      logger: logger.child({ component: 'broker' }),
    });
    this.broker = broker;
    const port = await broker.start();
    const host = s.brokerHost === '0.0.0.0' || s.brokerHost === '::' ? '127.0.0.1' : s.brokerHost;
    this.embedded = { clientId, url: `mqtt://${host.includes(':') ? `[${host}]` : host}:${port}`, ...users.hub };
    this.signIns = [users.hub, users.homeassistant];
    logger.info({ host: s.brokerHost, port, anonymous: s.brokerAnonymous }, 'embedded MQTT broker listening');
    return { clientId, broker };
  }

  async start(): Promise<void> {
    const { settings: s, entityContext: ctx, logger } = this.d;
    this.stopping = false;
    let url = s.mqttUrl;
    let username = s.mqttUsername;
    let password = s.mqttPassword;
    const { clientId, broker } = await this.listen();
    if (this.embedded) {
      ({ url, username, password } = this.embedded);
    } else {
      this.signIns = externalSignIn(url, username, password);
    }
    this.brokerUrl = redactUrl(url);
    const stateTopic = `${ctx.base}/bridge/state`;
    const conn = new MqttConnection(
      {
        url,
        username,
        password,
        clientId,
        protocolVersion: s.mqttUrl ? 5 : 4,
        will: { topic: stateTopic, payload: 'offline' },
      },
      logger.child({ component: 'mqtt' }),
    );
    this.conn = conn;
    const publish = (topic: string, payload: string, opts: { retain: boolean }): Promise<void> => conn.publish(topic, payload, opts);
    const outbox = { get connected() { return conn.connected; }, publish };
    const publisher = new DiscoveryPublisher(ctx, outbox, this.d.visibility, logger, viewOf);
    this.publisher = publisher;
    // Whatever a message starts runs on its own: a failure there is logged, never an unhandled
    // rejection that would end the process.
    const detached = (what: string, work: Promise<unknown>): void =>
      void work.catch((e: unknown) => logger.warn({ err: e instanceof Error ? e.message : e }, `${what} failed`));
    const commands = new CommandRouter(ctx.base, this.d.commands, this.d.bus, logger);
    if (broker) {
      // The broker says who published: each request and command runs with its publisher's role,
      // and an answer goes back to its asker alone (it may hold env values).
      const router = new RequestRouter<Published>(ctx.base, this.d.operations, (topic, payload, _c, request) => request.answer(topic, payload), logger);
      broker.onPublished(router.filter, (m) => detached('bridge request', router.route(m.topic, m.payload, m, m.principal)));
      for (const filter of [commands.filter, commands.fieldFilter]) {
        broker.onPublished(filter, (m) => detached('command', commands.route(m.topic, m.payload, m, m.principal)));
      }
    } else {
      const router = new RequestRouter(
        ctx.base,
        this.d.operations,
        // A request that outlived its connection (the broker went away, the hub restarted) is not
        // answered: the requester has to ask again anyway.
        async (topic, payload, correlationData) => {
          if (!conn.connected) throw new Error('MQTT is not connected');
          await conn.publish(topic, payload, { retain: false, ...(correlationData ? { properties: { correlationData } } : {}) });
        },
        logger,
      );
      conn.handle(router.filter, (topic, payload, packet) => detached('bridge request', router.route(topic, payload, packet, EXTERNAL_CLIENT)));
      conn.handle(commands.filter, (topic, payload, packet) => detached('command', commands.route(topic, payload, packet, EXTERNAL_CLIENT)));
      conn.handle(commands.fieldFilter, (topic, payload, packet) => detached('command', commands.route(topic, payload, packet, EXTERNAL_CLIENT)));
    }
    for (const sub of this.subscriptions) sub.off = conn.handle(sub.filter, (t, p) => sub.handler(t, p.toString('utf8')));
    conn.handle(`${ctx.discoveryPrefix}/status`, (_t, payload) => {
      if (payload.toString() === 'online') detached('republishing for Home Assistant', this.republish());
    });
    // A stale will (an earlier process of this hub that died) must not leave us shown offline.
    conn.handle(stateTopic, (_t, payload) => {
      if (payload.toString() === 'offline' && !this.stopping && conn.connected) detached('saying online again', conn.publish(stateTopic, 'online', { retain: true }));
    });
    const startup = this.retainedConfigs(conn);
    let ready!: () => void;
    const online = new Promise<void>((resolve) => (ready = resolve));
    conn.onConnect(() => void this.onConnect(startup).finally(ready));
    conn.onDisconnect(() => this.d.bus.emit('mqtt.connection', { connected: false }));

    const bus = this.d.bus;
    this.offs = [
      bus.on('thing.changed', async (t) => {
        await publisher.update(t);
        if (t.kind === 'hub') await this.publishInfo();
      }),
      bus.on('thing.removed', (ref) => publisher.remove(ref)),
      bus.on('bridge.event', (e) => {
        if (conn.connected) return conn.publish(`${ctx.base}/bridge/event`, JSON.stringify(e), { retain: false });
      }),
      bus.on('thing.event', (e) => {
        if (conn.connected) return conn.publish(`${ctx.base}/${e.kind}/${e.id}/event`, JSON.stringify(e.payload), { retain: false });
      }),
      // Raw device lines: not retained, QoS 0 (thousands a second; a missed one is not worth a resend).
      bus.on('device.line', (l) => {
        if (conn.connected) return conn.publish(`${ctx.base}/device/${l.id}/${l.direction}`, l.line, { retain: false, qos: 0 });
      }),
      bus.on('settings.changed', () => this.publishInfo()),
      bus.on('discovery.shown', () => this.republish()),
    ];
    await conn.connect();
    // start() returns once the hub is online and its discovery is out.
    await online;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.offs.forEach((off) => off());
    this.offs = [];
    const base = this.d.entityContext.base;
    await this.conn?.close({ topic: `${base}/bridge/state`, payload: 'offline' });
    this.conn = null;
    await this.broker?.stop();
    this.broker = null;
    this.embedded = null;
    this.signIns = [];
  }

  /** Closes the embedded broker's connections signed in as this Hearth user (its credentials changed); an external broker's are its own. */
  disconnectUser(username: string): void {
    this.broker?.disconnectUser(username);
  }

  subscribe(filter: string, handler: (topic: string, payload: string) => void): () => void {
    const sub: { filter: string; handler: typeof handler; off?: () => void } = { filter, handler };
    this.subscriptions.add(sub);
    if (this.conn) sub.off = this.conn.handle(filter, (t, p) => handler(t, p.toString('utf8')));
    return () => {
      this.subscriptions.delete(sub);
      sub.off?.();
    };
  }

  async publish(topic: string, payload: string, opts: { retain?: boolean; qos?: 0 | 1 | 2 } = {}): Promise<void> {
    if (!this.conn?.connected) throw new Error('not connected to the MQTT broker');
    await this.conn.publish(topic, payload, { retain: opts.retain ?? false, qos: opts.qos ?? 1 });
  }

  private async republish(): Promise<void> {
    if (!this.conn?.connected || !this.publisher) return;
    await this.publishInfo();
    await this.publisher.republishAll(this.d.things.all());
  }

  private async publishInfo(): Promise<void> {
    if (!this.conn?.connected) return;
    await this.conn.publish(`${this.d.entityContext.base}/bridge/info`, JSON.stringify(this.d.info()), { retain: true });
  }

  private async onConnect(startup: { done: Promise<Map<string, string | undefined>> }): Promise<void> {
    const conn = this.conn;
    if (!conn || !this.publisher) return;
    try {
      await conn.publish(`${this.d.entityContext.base}/bridge/state`, 'online', { retain: true });
      this.d.bus.emit('mqtt.connection', { connected: true });
      await this.republish();
      const stale = await this.publisher.clearStale(await startup.done);
      if (stale.length) this.d.logger.info({ devices: stale }, 'cleared discovery of things that no longer exist');
    } catch (e) {
      this.d.logger.warn({ err: e }, 'publishing after connect failed');
    }
  }

  /**
   * Collects the retained discovery configs under this hub's ids, once, at the first connect. A
   * marker published after subscribing comes back after every retained message: then it is done.
   */
  private retainedConfigs(conn: MqttConnection): { done: Promise<Map<string, string | undefined>> } {
    const { entityContext: ctx } = this.d;
    const found = new Map<string, string | undefined>();
    const marker = `${ctx.base}/bridge/sync/${randomBytes(6).toString('hex')}`;
    let finished = false;
    let resolve!: (m: Map<string, string | undefined>) => void;
    const done = new Promise<Map<string, string | undefined>>((r) => (resolve = r));
    conn.handle(`${ctx.discoveryPrefix}/device/+/config`, (topic, payload, packet) => {
      const deviceId = topic.split('/').at(-2)!;
      if (!this.publisher?.isOurs(deviceId)) return;
      if (payload.length === 0) {
        if (!packet.retain) {
          void this.publisher.onConfigCleared(deviceId).catch((e: unknown) => this.d.logger.warn({ err: e, device: deviceId }, 'hiding a device failed'));
        }
        return;
      }
      if (finished || !packet.retain) return;
      let stateTopic: string | undefined;
      try {
        const doc = JSON.parse(payload.toString()) as { state_topic?: unknown };
        if (typeof doc.state_topic === 'string') stateTopic = doc.state_topic;
      } catch {
        // Not ours to judge: a config we cannot read is cleared all the same.
      }
      found.set(deviceId, stateTopic);
    });
    conn.handle(`${ctx.base}/bridge/sync/+`, (topic) => {
      if (topic !== marker || finished) return;
      finished = true;
      resolve(found);
    });
    conn.onConnect(() => {
      if (!finished) void conn.publish(marker, '', { retain: false }).catch((e: unknown) => this.d.logger.warn({ err: e }, 'publishing the sync marker failed'));
    });
    return { done };
  }
}

/** The hub's sign-in on an external broker: the settings' username, or the URL's; none without a username. */
function externalSignIn(url: string, username: string, password: string): MqttCredential[] {
  if (username) return [{ username, password }];
  try {
    const u = new URL(url);
    if (u.username) return [{ username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) }];
  } catch {
    // settings.ts checked the URL; an unreadable one has no credentials to show
  }
  return [];
}
