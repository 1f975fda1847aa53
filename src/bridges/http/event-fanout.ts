/**
 * Events to many clients at once: the /api/events WebSocket, the /api/events/stream SSE and the
 * device telemetry WebSocket.
 *
 * Each event is serialised once (`Frame`) and those bytes are shared by every client that asked for
 * its type: a WebSocket sends them as they are, an SSE stream wraps a batch of them in one write. A client gets at most BATCH_BYTES on its socket at a time; the rest waits in its own
 * queue (references to the shared frames), where it can be dropped the moment the client is let go.
 * What waits for a client is counted against two caps: its own (MAX_BUFFERED_BYTES) and, for all
 * clients of the process together, MAX_TOTAL_BUFFERED_BYTES, past which the slowest go first. Shared
 * frames are counted once per client, so the counted total is an upper bound of the memory held.
 */
import type { EventBus } from '../../hub/events.js';

/** What may wait in the hub for one client before it counts as too slow. */
export const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** What may wait for all clients together; past it the clients with the most waiting are closed first. */
export const MAX_TOTAL_BUFFERED_BYTES = 32 * 1024 * 1024;
/** 1013 "try again later": the client may reconnect and carry on from the current state. */
export const TOO_SLOW = { code: 1013, reason: 'too slow: reconnect' } as const;
/** At most this much of a client's backlog is on its socket at once (a frame bigger than this goes alone). */
const BATCH_BYTES = 64 * 1024;

/** One message as every client gets it: the JSON `{ type, data }`, serialised once. */
export interface Frame {
  readonly type: string;
  readonly json: Buffer;
}

export function frame(type: string, data: unknown): Frame {
  return { type, json: Buffer.from(JSON.stringify({ type, data })) };
}

/** Which cap let a client go. */
export type Limit = 'client' | 'overall';

/** How frames reach one client (a WebSocket, an SSE response). */
export interface Transport {
  /** Puts the frames on the socket, in order; `written` once they have all left the hub. */
  write(frames: readonly Frame[], written: () => void): void;
  /** The client is let go: say why after what is already on its socket, close, and forget it. */
  tooSlow(limit: Limit, buffered: number): void;
}

/** Every open outbox of the process and what waits in them: memory is the process's. */
const ledger = { boxes: new Set<Outbox>(), total: 0 };

/** The bytes that wait for all clients together (counted per client). */
export function totalBuffered(): number {
  return ledger.total;
}

function slowest(): Outbox | undefined {
  let worst: Outbox | undefined;
  for (const box of ledger.boxes) if (!worst || box.buffered > worst.buffered) worst = box;
  return worst;
}

/** What waits for one client: a batch on its socket, the rest queued. */
export class Outbox {
  private queue: Frame[] = [];
  private head = 0;
  private queued = 0;
  private onSocket = 0;
  private open = true;

  constructor(private readonly transport: Transport) {
    ledger.boxes.add(this);
  }

  get buffered(): number {
    return this.queued + this.onSocket;
  }

  /** Nothing waits: the client has everything it was sent. */
  get idle(): boolean {
    return this.open && this.buffered === 0;
  }

  push(f: Frame): void {
    if (!this.open) return;
    this.queue.push(f);
    this.queued += f.json.length;
    ledger.total += f.json.length;
    if (this.onSocket === 0) this.flush();
    if (this.buffered > MAX_BUFFERED_BYTES) {
      this.tooSlow('client');
      return;
    }
    while (ledger.total > MAX_TOTAL_BUFFERED_BYTES) slowest()?.tooSlow('overall');
  }

  /** The client went (or was let go): what waited for it is dropped and no longer counted. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    ledger.boxes.delete(this);
    ledger.total -= this.buffered;
    this.queue = [];
    this.head = 0;
    this.queued = 0;
    // What is on the socket already stays there until the socket goes (at most one batch).
    this.onSocket = 0;
  }

  private tooSlow(limit: Limit): void {
    const buffered = this.buffered;
    this.close();
    this.transport.tooSlow(limit, buffered);
  }

  /** The last batch left the hub: send the next one. Also the transport's `written` callback. */
  private readonly flush = (): void => {
    if (!this.open) return;
    ledger.total -= this.onSocket;
    this.onSocket = 0;
    if (this.head === this.queue.length) return;
    let end = this.head;
    let bytes = 0;
    while (end < this.queue.length && bytes < BATCH_BYTES) bytes += this.queue[end++]!.json.length;
    const batch = this.queue.slice(this.head, end);
    this.head = end;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      // Drop the sent references now and then, not at every batch (that would copy the queue each time).
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.queued -= bytes;
    this.onSocket = bytes;
    this.transport.write(batch, this.flush);
  };
}

/** Who a client is, and how to end its stream when that user's credentials change. */
export interface Holder {
  username: string;
  end(): void;
}

interface Subscriber {
  types: ReadonlySet<string> | null;
  box: Outbox;
  holder: Holder;
}

/** The bus's events to every subscribed client: one bus listener while any is connected, one frame per event. */
export class EventFanout {
  private readonly clients = new Set<Subscriber>();
  /** Streams of their own (device telemetry) that end with their user all the same. */
  private readonly held = new Set<Holder>();
  private off: (() => void) | null = null;

  constructor(private readonly bus: EventBus) {}

  /** Sends the client the events of these types (all when null) until the returned function is called. */
  add(types: ReadonlySet<string> | null, box: Outbox, holder: Holder): () => void {
    const client = { types, box, holder };
    this.clients.add(client);
    this.off ??= this.bus.onAny((type, data) => this.send(type, data));
    return () => {
      box.close();
      if (!this.clients.delete(client) || this.clients.size > 0) return;
      this.off?.();
      this.off = null;
    };
  }

  /** A stream that is not fed from here, to be ended by endUser all the same, until the returned function is called. */
  hold(holder: Holder): () => void {
    this.held.add(holder);
    return () => void this.held.delete(holder);
  }

  /** Ends the streams of this user: demoted, disabled, deleted, or a token of theirs revoked. */
  endUser(username: string): void {
    const holders = [...[...this.clients].map((c) => c.holder), ...this.held];
    for (const h of holders) if (h.username === username) h.end();
  }

  private send(type: string, data: unknown): void {
    let f: Frame | null = null;
    for (const c of this.clients) if (c.types === null || c.types.has(type)) c.box.push((f ??= frame(type, data)));
  }
}

const fanouts = new WeakMap<EventBus, EventFanout>();

/** The one fan-out of a hub's bus, shared by its WebSocket and SSE routes. */
export function eventFanout(bus: EventBus): EventFanout {
  let f = fanouts.get(bus);
  if (!f) fanouts.set(bus, (f = new EventFanout(bus)));
  return f;
}
