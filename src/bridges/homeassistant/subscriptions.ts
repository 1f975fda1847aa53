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
import { read, States, StateTriggerEvent, type StateObject } from './messages.js';

type Message = { type: string } & Record<string, unknown>;

interface Sub {
  message: Message;
  event(e: unknown): void;
  refused(message: string): void;
  /** Home Assistant took it (on this connection). */
  accepted?(): void;
  /** Set while subscribed on the current connection. */
  unsubscribe?: () => Promise<void>;
}

interface Follower {
  changed(s: EntityState | null): void;
  refused(message: string): void;
}

interface Watched {
  followers: Set<Follower>;
  /** What Home Assistant said last (undefined: nothing yet), for a follower that comes later. */
  last: EntityState | null | undefined;
  /** Why Home Assistant will not let the hub follow it; no state is told then (it could not be kept current). */
  refusal: string | undefined;
  off: () => void;
}

const entityState = (s: StateObject | null | undefined): EntityState | null => (s ? { state: s.state, attributes: s.attributes } : null);

export class Subscriptions {
  private readonly subs = new Set<Sub>();
  /** Each followed entity has one state trigger, and gets its state at every connect. */
  private readonly watched = new Map<string, Watched>();
  private conn: Connection | null = null;

  constructor(private readonly logger: Logger) {}

  add(message: Message, event: (e: unknown) => void, refused: (message: string) => void, accepted?: () => void): () => void {
    const sub: Sub = { message, event, refused, ...(accepted ? { accepted } : {}) };
    this.subs.add(sub);
    if (this.conn) this.subscribe(this.conn, sub);
    return () => {
      this.subs.delete(sub);
      const off = sub.unsubscribe;
      sub.unsubscribe = undefined;
      off?.().catch(() => undefined);
    };
  }

  watch(entityId: string, follower: Follower): () => void {
    let w = this.watched.get(entityId);
    if (w) {
      if (w.refusal !== undefined) follower.refused(w.refusal);
      else if (w.last !== undefined) follower.changed(w.last);
    } else {
      const entry: Watched = { followers: new Set(), last: undefined, refusal: undefined, off: () => undefined };
      entry.off = this.add(
        { type: 'subscribe_trigger', trigger: { platform: 'state', entity_id: entityId } },
        (e) => {
          const event = read(StateTriggerEvent, e);
          if (!event) return this.logger.warn({ entity_id: entityId }, 'Home Assistant sent a state trigger event without a state: ignored');
          this.tell(entry, entityState(event.variables.trigger.to_state));
        },
        (message) => {
          this.logger.warn({ entity_id: entityId, err: message }, 'Home Assistant would not let the hub follow this entity');
          entry.refusal = message;
          for (const f of entry.followers) f.refused(message);
        },
        () => (entry.refusal = undefined),
      );
      w = entry;
      this.watched.set(entityId, w);
      if (this.conn) void this.currentStates(this.conn, [entityId]);
    }
    w.followers.add(follower);
    const entry = w;
    return () => {
      entry.followers.delete(follower);
      if (entry.followers.size === 0 && this.watched.get(entityId) === entry) {
        entry.off();
        this.watched.delete(entityId);
      }
    };
  }

  connected(conn: Connection): void {
    this.conn = conn;
    for (const sub of this.subs) this.subscribe(conn, sub);
    if (this.watched.size) void this.currentStates(conn, [...this.watched.keys()]);
  }

  disconnected(): void {
    this.conn = null;
    for (const sub of this.subs) sub.unsubscribe = undefined;
  }

  private tell(w: Watched, state: EntityState | null): void {
    if (w.refusal !== undefined) return;
    w.last = state;
    for (const f of w.followers) f.changed(state);
  }

  private subscribe(conn: Connection, sub: Sub): void {
    conn
      .subscribeMessage((e) => sub.event(e), sub.message, { resubscribe: false })
      .then((off) => {
        // Dropped while Home Assistant was answering, or answered on a connection since replaced.
        if (!this.subs.has(sub) || this.conn !== conn) return void off().catch(() => undefined);
        sub.unsubscribe = off;
        sub.accepted?.();
      })
      .catch((e: unknown) => {
        if (this.subs.has(sub) && this.conn === conn) sub.refused(haError(e));
      });
  }

  /** The states followed entities have now: one get_states per connect, not one per entity. */
  private async currentStates(conn: Connection, ids: string[]): Promise<void> {
    let answer: unknown;
    try {
      answer = await conn.sendMessagePromise({ type: 'get_states' });
    } catch (e) {
      return this.logger.warn({ err: haError(e) }, 'could not read the states of followed entities');
    }
    if (this.conn !== conn) return;
    const states = read(States, answer);
    if (!states) return this.logger.warn('Home Assistant answered get_states with something that is not a list of states: ignored');
    const byId = new Map(states.map((s) => [s.entity_id, s]));
    for (const id of ids) {
      const w = this.watched.get(id);
      if (w) this.tell(w, entityState(byId.get(id)));
    }
  }
}
