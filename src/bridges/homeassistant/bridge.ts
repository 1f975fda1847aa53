/**
 * The Home Assistant WebSocket bridge (an extension): one connection, through
 * home-assistant-js-websocket, that calls services, has Home Assistant evaluate triggers, follows
 * entities and fires the hub's events. It connects in the background: the hub runs the same with
 * Home Assistant away, and the bridge keeps trying (the library reconnects a lost connection; a
 * first connection that fails is retried here, with backoff). A refused token stops it: trying
 * the same token again cannot help.
 */
import { createConnection, ERR_INVALID_AUTH, type Connection } from 'home-assistant-js-websocket';
import type { EventBus } from '../../hub/events.js';
import type { Extension } from '../../hub/extension.js';
import type { EntityState, HaAccess, ServiceCall, TriggerFired } from '../../hub/ha-access.js';
import type { HaState, HaStatus } from '../../hub/ha-types.js';
import type { Logger } from '../../hub/logger.js';
import { redactUrl } from '../../hub/url-secrets.js';
import { haError } from './errors.js';
import { forwardJobResults } from './job-events.js';
import { EventTriggerEvent, read, ServiceResult } from './messages.js';
import { openSocket } from './socket.js';
import { Subscriptions } from './subscriptions.js';
import { haTarget, type TargetResult } from './target.js';

/** Retries of a first connection: 1 s, 2 s, 4 s… up to this. */
const RETRY_MAX_MS = 60_000;
/**
 * A connection that ends sooner than this after it was made (Home Assistant closing on the hub at
 * once, a proxy in between that drops it) is followed by a wait before the next, doubling each
 * time: the library would reconnect at once, forever, resending every subscription.
 */
const STABLE_MS = 10_000;
/** A connection that answers no ping for this long is dead (a half-open TCP connection never closes by itself). */
const PING_EVERY_MS = 30_000;
const PING_TIMEOUT_MS = 10_000;

export interface HaBridgeDeps {
  settings: { haUrl: string; haToken: string; nodeId: string };
  env: NodeJS.ProcessEnv;
  bus: EventBus;
  logger: Logger;
}

export class HomeAssistantBridge implements Extension, HaAccess {
  readonly name = 'home assistant';
  private conn: Connection | null = null;
  private status: HaStatus;
  private stopped = true;
  private retry: NodeJS.Timeout | null = null;
  private connectedAt = 0;
  /** Connections in a row that ended soon after they were made. */
  private shortLived = 0;
  private pinger: NodeJS.Timeout | null = null;
  private offJobs: (() => void) | null = null;
  private readonly subs: Subscriptions;
  /** Where it connects, or why it is off (Home Assistant not configured). */
  private readonly target: TargetResult;

  constructor(private readonly d: HaBridgeDeps) {
    this.status = { state: 'off', since: new Date().toISOString() };
    this.target = haTarget(d.settings, d.env);
    this.subs = new Subscriptions(d.logger.child({ component: 'home-assistant' }));
  }

  get connected(): boolean {
    return this.conn?.connected === true;
  }

  /** What info, status and the hub's entity show. */
  get info(): HaStatus {
    return this.status;
  }

  async start(): Promise<void> {
    this.stopped = false;
    const t = this.target;
    if ('off' in t) {
      this.setStatus('off', { last_error: t.off });
      this.d.logger.info(t.off);
      return;
    }
    const target = t.target;
    this.setStatus('connecting', { url: redactUrl(target.url) });
    this.offJobs = forwardJobResults(this.d.bus, this.d.settings.nodeId, (type, data) => this.fireEvent(type, data));
    const connect = async (attempt: number): Promise<void> => {
      let why = '';
      try {
        const conn = await createConnection({ createSocket: () => openSocket(target, (w) => (why = w)) });
        if (this.stopped) return conn.close();
        this.conn = conn;
        conn.addEventListener('ready', () => this.onReady(conn));
        conn.addEventListener('disconnected', () => this.onDisconnected(conn, why));
        conn.addEventListener('reconnect-error', () => this.refused(why));
        this.onReady(conn);
      } catch (e) {
        if (this.stopped) return;
        if (e === ERR_INVALID_AUTH) return this.refused(why);
        const wait = Math.min(RETRY_MAX_MS, 1000 * 2 ** attempt);
        if (attempt === 0) this.d.logger.warn({ url: this.status.url, err: why }, 'cannot reach Home Assistant; trying again in the background');
        this.setStatus('connecting', { last_error: why });
        this.retry = setTimeout(() => void connect(attempt + 1), wait);
      }
    };
    void connect(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.offJobs?.();
    this.offJobs = null;
    if (this.retry) clearTimeout(this.retry);
    if (this.pinger) clearInterval(this.pinger);
    this.retry = this.pinger = null;
    this.subs.disconnected();
    this.conn?.close();
    this.conn = null;
    if (this.status.state !== 'off') this.setStatus('off', {});
  }

  async callService(call: ServiceCall): Promise<unknown> {
    const conn = this.conn;
    if (!conn?.connected) throw new Error(this.notConnected());
    try {
      const r = read(ServiceResult, await conn.sendMessagePromise({ type: 'call_service', ...call }));
      return r?.response;
    } catch (e) {
      throw new Error(haError(e));
    }
  }

  subscribeTrigger(trigger: Record<string, unknown>, fired: (t: TriggerFired) => void, refused: (message: string) => void): () => void {
    // Without Home Assistant configured it would wait forever, saying nothing.
    if ('off' in this.target) refused(this.target.off);
    return this.subs.add({ type: 'subscribe_trigger', trigger }, (e) => {
      const data = read(EventTriggerEvent, e)?.variables.trigger.event.data;
      fired(data ? { eventData: data } : {});
    }, refused);
  }

  watchEntity(entityId: string, changed: (state: EntityState | null) => void, refused: (message: string) => void): () => void {
    if ('off' in this.target) refused(this.target.off);
    return this.subs.watch(entityId, { changed, refused });
  }

  private async fireEvent(event_type: string, event_data: Record<string, unknown>): Promise<void> {
    if (!this.conn?.connected) return;
    await this.conn.sendMessagePromise({ type: 'fire_event', event_type, event_data }).catch((e: unknown) => {
      this.d.logger.warn({ event_type, err: haError(e) }, 'Home Assistant did not take the event');
    });
  }

  private notConnected(): string {
    if ('off' in this.target) return this.target.off;
    const why = this.status.last_error;
    return `not connected to Home Assistant${why ? ` (${why})` : ''}`;
  }

  private onReady(conn: Connection): void {
    if (this.stopped || conn !== this.conn) return;
    this.connectedAt = Date.now();
    this.setStatus('connected', { version: conn.haVersion });
    this.d.logger.info({ url: this.status.url, version: conn.haVersion }, 'connected to Home Assistant');
    this.subs.connected(conn);
    if (this.pinger) clearInterval(this.pinger);
    this.pinger = setInterval(() => void this.ping(conn), PING_EVERY_MS);
    this.pinger.unref();
  }

  private async ping(conn: Connection): Promise<void> {
    if (!conn.connected) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), PING_TIMEOUT_MS)));
    const r = await Promise.race([conn.ping().catch(() => 'lost' as const), late]);
    clearTimeout(timer);
    if (r === 'late' && conn === this.conn && !this.stopped) {
      this.d.logger.warn('Home Assistant did not answer a ping: reconnecting');
      conn.reconnect(true);
    }
  }

  private onDisconnected(conn: Connection, why: string): void {
    if (this.stopped) return;
    this.shortLived = Date.now() - this.connectedAt < STABLE_MS ? this.shortLived + 1 : 0;
    if (this.shortLived > 0) {
      const wait = Math.min(RETRY_MAX_MS, 1000 * 2 ** (this.shortLived - 1));
      conn.suspendReconnectUntil(new Promise((resolve) => (this.retry = setTimeout(resolve, wait))));
    }
    this.subs.disconnected();
    this.setStatus('disconnected', { last_error: why || 'the connection closed' });
    this.d.logger.warn({ err: this.status.last_error }, 'lost the connection to Home Assistant; reconnecting');
  }

  private refused(why: string): void {
    this.subs.disconnected();
    this.conn?.close();
    this.conn = null;
    this.setStatus('auth_failed', { last_error: why || 'Home Assistant refused the token' });
    this.d.logger.error({ url: this.status.url }, 'Home Assistant refused the access token: the bridge stays off until the token is fixed and the hub restarted');
  }

  private setStatus(state: HaState, change: Partial<Omit<HaStatus, 'state' | 'since'>>): void {
    const { url, version } = this.status;
    const since = state === this.status.state ? this.status.since : new Date().toISOString();
    this.status = { state, ...(url ? { url } : {}), ...(version ? { version } : {}), ...change, since };
    if (state === 'connected') delete this.status.last_error;
    this.d.bus.emit('homeassistant.status', this.status);
  }
}
