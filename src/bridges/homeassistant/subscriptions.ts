/**
 * What the hub has asked Home Assistant to tell it (triggers, followed entities), kept across
 * connections. The library's own resubscription is not used: a subscription made while
 * disconnected would wait for a connection that already came back. Here every subscription is
 * made again on each connect, and one made while disconnected waits for the next.
 */
import type { Connection } from 'home-assistant-js-websocket';
import type { EntityState } from '../../hub/ha-access.js';
import type { Logger } from '../../hub/logger.js';
import { haError } from './errors.js';

interface Sub {
  message: { type: string } & Record<string, unknown>;
  event(e: unknown): void;
  refused(message: string): void;
  /** Set while subscribed on the current connection. */
  unsubscribe?: () => Promise<void>;
}

interface HaStateObject {
  entity_id: string;
  state: string;
  attributes?: Record<string, unknown>;
}

function entityState(s: unknown): EntityState | null {
  if (typeof s !== 'object' || s === null || typeof (s as HaStateObject).state !== 'string') return null;
  const o = s as HaStateObject;
  return { state: o.state, attributes: o.attributes ?? {} };
}

export class Subscriptions {
  private readonly subs = new Set<Sub>();
  /** Followers of each entity; each entity has one state trigger, and gets its state at every connect. */
  private readonly watchers = new Map<string, { followers: Set<(s: EntityState | null) => void>; off: () => void }>();
  private conn: Connection | null = null;

  constructor(private readonly logger: Logger) {}

  add(message: { type: string } & Record<string, unknown>, event: (e: unknown) => void, refused: (message: string) => void): () => void {
    const sub: Sub = { message, event, refused };
    this.subs.add(sub);
    if (this.conn) this.subscribe(this.conn, sub);
    return () => {
      this.subs.delete(sub);
      const off = sub.unsubscribe;
      sub.unsubscribe = undefined;
      off?.().catch(() => undefined);
    };
  }

  watch(entityId: string, changed: (s: EntityState | null) => void): () => void {
    let w = this.watchers.get(entityId);
    if (!w) {
      const followers = new Set<(s: EntityState | null) => void>();
      const off = this.add(
        { type: 'subscribe_trigger', trigger: { platform: 'state', entity_id: entityId } },
        (e) => {
          const to = (e as { variables?: { trigger?: { to_state?: unknown } } }).variables?.trigger?.to_state;
          for (const f of followers) f(entityState(to));
        },
        (message) => this.logger.warn({ entity_id: entityId, err: message }, 'Home Assistant would not let the hub follow this entity'),
      );
      w = { followers, off };
      this.watchers.set(entityId, w);
      if (this.conn) void this.currentStates(this.conn, [entityId]);
    }
    w.followers.add(changed);
    const followers = w.followers;
    return () => {
      followers.delete(changed);
      if (followers.size === 0 && this.watchers.get(entityId)?.followers === followers) {
        this.watchers.get(entityId)!.off();
        this.watchers.delete(entityId);
      }
    };
  }

  connected(conn: Connection): void {
    this.conn = conn;
    for (const sub of this.subs) this.subscribe(conn, sub);
    if (this.watchers.size) void this.currentStates(conn, [...this.watchers.keys()]);
  }

  disconnected(): void {
    this.conn = null;
    for (const sub of this.subs) sub.unsubscribe = undefined;
  }

  private subscribe(conn: Connection, sub: Sub): void {
    conn
      .subscribeMessage((e) => sub.event(e), sub.message, { resubscribe: false })
      .then((off) => {
        // Dropped while Home Assistant was answering, or answered on a connection since replaced.
        if (!this.subs.has(sub) || this.conn !== conn) return void off().catch(() => undefined);
        sub.unsubscribe = off;
      })
      .catch((e: unknown) => {
        if (this.subs.has(sub) && this.conn === conn) sub.refused(haError(e));
      });
  }

  /** The states followed entities have now: one get_states per connect, not one per entity. */
  private async currentStates(conn: Connection, ids: string[]): Promise<void> {
    let states: HaStateObject[];
    try {
      states = await conn.sendMessagePromise<HaStateObject[]>({ type: 'get_states' });
    } catch (e) {
      this.logger.warn({ err: haError(e) }, 'could not read the states of followed entities');
      return;
    }
    if (this.conn !== conn) return;
    const byId = new Map(states.map((s) => [s.entity_id, s]));
    for (const id of ids) for (const f of this.watchers.get(id)?.followers ?? []) f(entityState(byId.get(id)));
  }
}
