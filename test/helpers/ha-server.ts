/**
 * A stand-in Home Assistant for tests: its WebSocket API at /api/websocket on 127.0.0.1, following
 * Home Assistant's published protocol and its source (homeassistant/components/websocket_api, the
 * state and event triggers, the service registry), with the controls a test needs: states to set,
 * services to register, every message and service call seen, and a server that drops its clients,
 * goes away and comes back on the same port. Stopped when the test file ends at the latest.
 *
 * What it does not do (templates, most trigger platforms, registries) is refused with a clear
 * error rather than imitated; ha-server/*.ts say where each rule comes from.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { onCleanup } from './cleanup.js';
import type { Core, HaUser, ServiceCallRecord } from './ha-server/commands.js';
import { HaConnection, type Hub, type Subscription, type WsPath } from './ha-server/connection.js';
import { Bus, ServiceRegistry, StateMachine, type HaEvent, type ServiceHandler, type ServiceOptions } from './ha-server/core.js';
import { WsListener } from './ha-server/listener.js';
import { registerToggleServices } from './ha-server/toggle.js';
import { untilEmitted, type Watched } from './wait.js';

export { HomeAssistantError, ServiceValidationError, type ServiceCall, type ServiceHandler, type ServiceOptions } from './ha-server/core.js';
export { Invalid } from './ha-server/schema.js';
export type { ServiceCallRecord, Subscription };

export interface HaServerOptions {
  /** The long-lived access token it accepts (default: a random one, in `server.token`). */
  token?: string;
  /** Also serve the Supervisor's proxy at /core/websocket, accepting this SUPERVISOR_TOKEN. */
  supervisorToken?: string;
  /** Sent in auth_required and auth_ok (default 2026.1.0). */
  haVersion?: string;
  /** Whether the token's user is an admin (default true); a non-admin cannot subscribe_trigger. */
  admin?: boolean;
  /** Listen on this port (default: one the system picks, kept across restarts). */
  port?: number;
  /** How long a client may take to authenticate (Home Assistant: 10 s). */
  authTimeoutMs?: number;
  /** States present from the start. */
  states?: Array<{ entity_id: string; state: string; attributes?: Record<string, unknown> }>;
}

export interface ReceivedMessage {
  connection: number;
  at: number;
  /** As parsed; an auth message's token replaced by "<redacted>". */
  message: unknown;
}

/** A state as get_states gives it. */
export type StateDict = Record<string, unknown> & { entity_id: string; state: string; attributes: Record<string, unknown> };

const hex = (n: number) => randomBytes(n).toString('hex');

export async function startHaServer(opts: HaServerOptions = {}): Promise<HaServer> {
  const server = new HaServer(opts);
  onCleanup(() => server.close());
  await server.start();
  return server;
}

export class HaServer implements Hub {
  readonly core: Core;
  readonly authTimeoutMs: number;
  /** Every message a client sent, in order (batched ones one by one). */
  readonly received: ReceivedMessage[] = [];
  /** Every call_service, in order, with its outcome once answered. */
  readonly calls: ServiceCallRecord[] = [];
  readonly user: HaUser;
  private tokenValue: string;
  private readonly supervisorUser: HaUser = { id: hex(16), is_admin: true };
  private readonly listener: WsListener;
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  /** 'change' after every connection, message, call, subscription and event. */
  private readonly changes: Watched = { emitter: this.emitter, event: 'change', seen: () => this.summary() };
  private nextConnection = 1;

  constructor(private readonly opts: HaServerOptions) {
    this.tokenValue = opts.token ?? hex(32);
    this.authTimeoutMs = opts.authTimeoutMs ?? 10_000;
    this.user = { id: hex(16), is_admin: opts.admin ?? true };
    const bus = new Bus(() => this.changed());
    const states = new StateMachine(bus);
    this.core = { bus, states, services: new ServiceRegistry(bus, states), haVersion: opts.haVersion ?? '2026.1.0' };
    for (const s of opts.states ?? []) states.set(s.entity_id, s.state, s.attributes);
    this.listener = new WsListener({
      port: opts.port,
      supervisor: Boolean(opts.supervisorToken),
      open: (ws, path) => new HaConnection(this.nextConnection++, ws, this, path),
      changed: () => this.changed(),
    });
  }

  get token(): string {
    return this.tokenValue;
  }
  get port(): number {
    return this.listener.port;
  }
  /** ws://127.0.0.1:<port>/api/websocket */
  get url(): string {
    return `ws://127.0.0.1:${this.listener.port}/api/websocket`;
  }
  /** http://127.0.0.1:<port>, what a user types as Home Assistant's URL. */
  get httpUrl(): string {
    return `http://127.0.0.1:${this.listener.port}`;
  }
  /** ws://127.0.0.1:<port>/core/websocket, the Supervisor's proxy (with `supervisorToken`). */
  get supervisorUrl(): string {
    return `ws://127.0.0.1:${this.listener.port}/core/websocket`;
  }
  get haVersion(): string {
    return this.core.haVersion;
  }
  set haVersion(v: string) {
    this.core.haVersion = v;
  }
  /** Open WebSocket connections, authenticated or not. */
  get connections(): number {
    return this.listener.open.length;
  }
  /** Open connections past auth_ok. */
  get authenticated(): number {
    return this.listener.open.filter((c) => c.authenticated).length;
  }
  /** Subscriptions live on open connections (events, triggers). */
  get subscriptions(): Subscription[] {
    return this.listener.open.flatMap((c) => [...c.subscriptions.values()].map(({ remove: _r, ...s }) => s));
  }
  /** Every event fired on the bus (state_changed, call_service, client fire_event, ...). */
  get events(): readonly HaEvent[] {
    return this.core.bus.log;
  }

  setState(entityId: string, state: string, attributes: Record<string, unknown> = {}): StateDict {
    return this.core.states.set(entityId, state, attributes).toJSON() as StateDict;
  }
  getState(entityId: string): StateDict | undefined {
    return this.core.states.get(entityId)?.toJSON() as StateDict | undefined;
  }
  /** Removes an entity: state_changed with new_state null. */
  removeState(entityId: string): boolean {
    return this.core.states.remove(entityId);
  }
  fireEvent(eventType: string, data: Record<string, unknown> = {}): HaEvent {
    return this.core.bus.fire(eventType, data);
  }

  /** Registers `domain.service`; the handler's return value is the response (when asked for and supported). */
  onService(name: string, handler: ServiceHandler, opts: ServiceOptions = {}): void {
    const [domain, service] = splitService(name);
    this.core.services.register(domain, service, handler, opts);
  }
  removeService(name: string): void {
    this.core.services.remove(...splitService(name));
  }

  /** turn_on / turn_off / toggle for a domain's entities (see ha-server/toggle.ts). */
  addToggleServices(domain: string): void {
    registerToggleServices(this.core, domain);
  }

  /** The token stops working, and the connections it opened are closed (as when a user deletes it). */
  revokeToken(): void {
    const old = this.tokenValue;
    this.tokenValue = hex(32);
    for (const c of this.listener.open) if (c.token === old && c.path === 'core') c.close();
  }

  /** Every connection cut without a close frame, as a network failure; the server stays up. */
  drop(): void {
    this.listener.drop();
  }
  /**
   * Home Assistant going away: no new connections, open ones closed (normal close frame, or cut
   * when `abrupt`). States and services stay for start().
   */
  stop(opts: { abrupt?: boolean } = {}): Promise<void> {
    return this.listener.stop(opts);
  }
  /** Listens again (on the same port once it has one). */
  start(): Promise<void> {
    return this.listener.start();
  }
  async restart(opts: { abrupt?: boolean } = {}): Promise<void> {
    await this.stop(opts);
    await this.start();
  }
  /** Stops for good: nothing left listening, connected or timed. */
  close(): Promise<void> {
    return this.listener.close();
  }

  /**
   * Waits for `find` to return something, checked now and after every change (a connection, a
   * message, a call, a subscription, an event); a timeout says what it waited for and what it saw.
   */
  waitFor<T>(what: string, find: () => T | undefined | null | false, timeoutMs?: number): Promise<T> {
    return untilEmitted(what, this.changes, find, timeoutMs);
  }
  waitForConnections(n: number, timeoutMs?: number): Promise<true> {
    return this.waitFor(`${n} connection(s)`, () => this.connections === n, timeoutMs);
  }
  waitForAuthenticated(n: number, timeoutMs?: number): Promise<true> {
    return this.waitFor(`${n} authenticated connection(s)`, () => this.authenticated === n, timeoutMs);
  }
  /** The first message from `from` on (an index into `received`) that `match` accepts. */
  waitForMessage(match: (m: Record<string, unknown>, r: ReceivedMessage) => boolean, from = 0, timeoutMs?: number): Promise<ReceivedMessage> {
    return this.waitFor('a matching message', () => this.received.slice(from).find((r) => isObj(r.message) && match(r.message, r)), timeoutMs);
  }
  /** The first call of `domain.service` (or accepted by `match`) from `from` on. */
  waitForCall(match: string | ((c: ServiceCallRecord) => boolean), from = 0, timeoutMs?: number): Promise<ServiceCallRecord> {
    const ok = typeof match === 'string' ? (c: ServiceCallRecord) => `${c.domain}.${c.service}` === match : match;
    return this.waitFor(`a call of ${typeof match === 'string' ? match : 'a matching service'}`, () => this.calls.slice(from).find(ok), timeoutMs);
  }
  /** A live subscription `match` accepts. */
  waitForSubscription(match: (s: Subscription) => boolean, timeoutMs?: number): Promise<Subscription> {
    return this.waitFor('a matching subscription', () => this.subscriptions.find(match), timeoutMs);
  }
  /** The first bus event of this type (or accepted by `match`) from `from` on (an index into `events`). */
  waitForEvent(match: string | ((e: HaEvent) => boolean), from = 0, timeoutMs?: number): Promise<HaEvent> {
    const ok = typeof match === 'string' ? (e: HaEvent) => e.event_type === match : match;
    return this.waitFor(`event ${typeof match === 'string' ? match : '(matching)'}`, () => this.events.slice(from).find(ok), timeoutMs);
  }

  authenticate(token: unknown, path: WsPath): HaUser | null {
    if (typeof token !== 'string' || token === '') return null;
    if (path === 'supervisor') return token === this.opts.supervisorToken ? this.supervisorUser : null;
    return token === this.tokenValue ? this.user : null;
  }
  onReceived(conn: HaConnection, message: unknown): void {
    this.received.push({ connection: conn.id, at: Date.now(), message });
    this.changed();
  }
  recordCall(call: ServiceCallRecord): void {
    this.calls.push(call);
    this.changed();
  }
  changed(): void {
    // Outcomes and subscriptions change inside a command; waiters look once it is done.
    queueMicrotask(() => this.emitter.emit('change'));
  }

  private summary(): Record<string, unknown> {
    return {
      connections: this.connections,
      authenticated: this.authenticated,
      lastMessages: this.received.slice(-5).map((r) => (isObj(r.message) ? r.message.type : typeof r.message)),
      calls: this.calls.map((c) => `${c.domain}.${c.service}`),
    };
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function splitService(name: string): [string, string] {
  const dot = name.indexOf('.');
  if (dot <= 0 || dot === name.length - 1) throw new Error(`a service is named domain.service, not ${name}`);
  return [name.slice(0, dot), name.slice(dot + 1)];
}
