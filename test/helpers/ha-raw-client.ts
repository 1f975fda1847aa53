/**
 * A bare WebSocket client of Home Assistant's API for tests that check the wire itself: every
 * frame kept as received (a coalesced frame is one JSON array), messages flattened in order, and
 * waits on what arrives, never on time.
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { onCleanup } from './cleanup.js';
import { untilEmitted, type Watched } from './wait.js';

export type Msg = Record<string, unknown>;

export class RawHaClient {
  /** Each frame as parsed: an object, or an array when the server coalesced messages. */
  readonly frames: unknown[] = [];
  /** Every message, arrays flattened. */
  readonly messages: Msg[] = [];
  /** The close code and reason, once closed. */
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  /** 'change' after every frame; a timeout shows the last messages. */
  private readonly arrivals: Watched = { emitter: this.emitter, event: 'change', seen: () => ({ lastMessages: this.messages.slice(-5) }) };
  private lastId = 0;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const frame: unknown = JSON.parse(data.toString());
      this.frames.push(frame);
      for (const m of Array.isArray(frame) ? frame : [frame]) this.messages.push(m as Msg);
      this.emitter.emit('change');
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('error', () => undefined);
    onCleanup(() => ws.terminate());
  }

  static async connect(url: string): Promise<RawHaClient> {
    const ws = new WebSocket(url);
    // Listening from the start: auth_required can come in the same tick as 'open'.
    const client = new RawHaClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }

  /** Connects and signs in; fails unless the answer is auth_ok. */
  static async signedIn(url: string, token: string): Promise<RawHaClient> {
    const c = await RawHaClient.connect(url);
    const reply = await c.login(token);
    if (reply.type !== 'auth_ok') throw new Error(`expected auth_ok, got ${JSON.stringify(reply)}`);
    return c;
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Waits for auth_required, sends the token, returns the answer. */
  async login(token: string): Promise<Msg> {
    await this.waitFor((m) => m.type === 'auth_required');
    const from = this.messages.length;
    this.send({ type: 'auth', access_token: token });
    return this.waitFor((m) => m.type === 'auth_ok' || m.type === 'auth_invalid', from);
  }

  /** Sends a command with the next id; resolves with its result (or pong). */
  async command(message: Msg): Promise<Msg> {
    const id = this.nextId();
    this.send({ id, ...message });
    return this.waitFor((m) => m.id === id && (m.type === 'result' || m.type === 'pong'));
  }

  /** An id above every one used so far. */
  nextId(): number {
    return ++this.lastId;
  }

  /** The first message from index `from` on that `match` accepts. */
  waitFor(match: (m: Msg) => boolean, from = 0, timeoutMs = 5000): Promise<Msg> {
    return untilEmitted('a matching message', this.arrivals, () => this.messages.slice(from).find(match), timeoutMs);
  }

  /** The frame at index `i`, once it has arrived. */
  frame(i: number, timeoutMs = 5000): Promise<unknown> {
    return untilEmitted(`frame ${i}`, this.arrivals, () => (this.frames.length > i ? { f: this.frames[i] } : undefined), timeoutMs).then((x) => x.f);
  }

  close(): Promise<{ code: number; reason: string }> {
    this.ws.close();
    return this.closed;
  }
}
