/**
 * One WebSocket client of the stand-in, as homeassistant/components/websocket_api handles it
 * (http.py, auth.py, connection.py, messages.py): the auth phase, then id-numbered commands, each
 * answered in Home Assistant's shapes and error codes, and messages coalesced into a JSON array when
 * the client asked for `coalesce_messages` and several are waiting. On the Supervisor's path
 * (/core/websocket) the auth phase is the Supervisor proxy's (supervisor/api/proxy.py).
 */
import type { RawData, WebSocket } from 'ws';
import { HomeAssistantError, Unauthorized } from './core.js';
import { COMMANDS, type Conn, type Core, type HaUser, type ServiceCallRecord, type SubscriptionKind } from './commands.js';
import { positiveInt } from './cv.js';
import { Invalid, dict, humanize, isDict, literal, str, validate } from './schema.js';

export type WsPath = 'core' | 'supervisor';

/** What a connection needs from the server it belongs to. */
export interface Hub {
  readonly core: Core;
  readonly authTimeoutMs: number;
  /** The user this token signs in on this path, or null. */
  authenticate(token: unknown, path: WsPath): HaUser | null;
  onReceived(conn: HaConnection, message: unknown): void;
  recordCall(call: ServiceCallRecord): void;
  changed(): void;
}

export interface Subscription {
  connection: number;
  id: number;
  kind: SubscriptionKind;
  detail: Record<string, unknown>;
}

const AUTH_SCHEMA = dict({
  type: { v: literal('auth'), required: true },
  api_password: { v: str, exclusive: 'auth' },
  access_token: { v: str, exclusive: 'auth' },
});

export function errorMessage(id: unknown, code: string, message: string, translation?: HomeAssistantError['translation']): Record<string, unknown> {
  const error: Record<string, unknown> = { code, message };
  if (translation) Object.assign(error, { translation_key: translation.key, translation_placeholders: translation.placeholders, translation_domain: translation.domain });
  return { id, type: 'result', success: false, error };
}

export class HaConnection implements Conn {
  user: HaUser = { id: '', is_admin: false };
  token: string | undefined;
  authenticated = false;
  closed = false;
  private closing = false;
  readonly subscriptions = new Map<number, Subscription & { remove: () => void }>();
  private lastId = 0;
  private canCoalesce = false;
  private queue: string[] = [];
  private flushing = false;
  private readonly authTimer: NodeJS.Timeout;

  constructor(
    readonly id: number,
    private readonly ws: WebSocket,
    private readonly hub: Hub,
    readonly path: WsPath,
  ) {
    ws.on('message', (data, isBinary) => this.receive(data, isBinary));
    ws.on('close', () => this.ended());
    ws.on('error', () => undefined);
    ws.send(JSON.stringify({ type: 'auth_required', ha_version: hub.core.haVersion }));
    // "Did not receive auth message within 10 seconds"
    this.authTimer = setTimeout(() => this.close(), hub.authTimeoutMs);
  }

  get core(): Core {
    return this.hub.core;
  }

  /** Closes as Home Assistant does: what is queued is written first, then a normal close. */
  close(): void {
    if (this.closed || this.closing) return;
    this.flush();
    this.closing = true;
    this.ws.close(1000);
  }

  /** Drops the TCP connection without a close frame, as a network failure would. */
  terminate(): void {
    this.ws.terminate();
  }

  send(message: unknown): void {
    if (this.closed || this.closing) return;
    this.queue.push(JSON.stringify(message));
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
  }

  result(id: number, result: unknown = null): void {
    this.send({ id, type: 'result', success: true, result });
  }

  error(id: number, code: string, message: string, translation?: HomeAssistantError['translation']): void {
    this.send(errorMessage(id, code, message, translation));
  }

  setFeatures(features: Record<string, unknown>): void {
    this.canCoalesce = 'coalesce_messages' in features;
  }

  subscribe(id: number, remove: () => void, kind: SubscriptionKind, detail: Record<string, unknown>): void {
    this.subscriptions.set(id, { connection: this.id, id, kind, detail, remove });
    this.hub.changed();
  }

  unsubscribe(id: number): boolean {
    const sub = this.subscriptions.get(id);
    if (!sub) return false;
    this.subscriptions.delete(id);
    sub.remove();
    this.hub.changed();
    return true;
  }

  recordCall(call: ServiceCallRecord): void {
    this.hub.recordCall(call);
  }

  /** The writer: one message alone, several as one JSON array when the client can take that. */
  private flush(): void {
    this.flushing = false;
    const pending = this.queue.splice(0);
    if (this.closed || pending.length === 0) return;
    if (pending.length > 1 && this.canCoalesce) this.ws.send(`[${pending.join(',')}]`);
    else for (const m of pending) this.ws.send(m);
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (this.closed || this.closing) return;
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    // In the auth phase anything but text ends the connection; later a binary frame goes to a
    // binary handler (none here: Home Assistant logs it and carries on) unless it is empty.
    if (isBinary) {
      if (!this.authenticated || bytes.length < 1) this.close();
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(bytes.toString('utf8'));
    } catch {
      this.close(); // "Received invalid JSON."
      return;
    }
    if (!this.authenticated) {
      this.auth(msg);
      return;
    }
    for (const m of Array.isArray(msg) ? msg : [msg]) {
      this.hub.onReceived(this, m);
      this.handle(m);
    }
  }

  private auth(msg: unknown): void {
    clearTimeout(this.authTimer);
    this.hub.onReceived(this, redacted(msg));
    if (this.path === 'supervisor') {
      if (!isDict(msg)) return this.close();
      const token = msg.api_password || msg.access_token;
      const user = this.hub.authenticate(token, 'supervisor');
      return user ? this.accept(user, token as string) : this.reject('Invalid access');
    }
    let valid: Record<string, unknown>;
    try {
      valid = validate(AUTH_SCHEMA, msg) as Record<string, unknown>;
    } catch (e) {
      if (!(e instanceof Invalid)) throw e;
      return this.reject(`Auth message incorrectly formatted: ${humanize(msg, e)}`);
    }
    const token = valid.access_token as string | undefined;
    const user = token ? this.hub.authenticate(token, 'core') : null;
    if (!user) return this.reject('Invalid access token or password');
    this.accept(user, token as string);
  }

  private accept(user: HaUser, token: string): void {
    this.user = user;
    this.token = token;
    this.authenticated = true;
    this.ws.send(JSON.stringify({ type: 'auth_ok', ha_version: this.core.haVersion }));
    this.hub.changed();
  }

  private reject(message: string): void {
    this.ws.send(JSON.stringify({ type: 'auth_invalid', message }));
    this.close();
  }

  /** ActiveConnection.async_handle. */
  private handle(msg: unknown): void {
    const id = isDict(msg) ? msg.id : undefined;
    const type = isDict(msg) ? msg.type : undefined;
    if (!isDict(msg) || !id || typeof id !== 'number' || !Number.isInteger(id) || id < 0 || !type || typeof type !== 'string') {
      this.send(errorMessage(isDict(msg) ? (msg.id ?? null) : 0, 'invalid_format', 'Message incorrectly formatted.'));
      return;
    }
    if (id <= this.lastId) {
      this.send(errorMessage(id, 'id_reuse', 'Identifier values have to increase.'));
      return;
    }
    const cmd = COMMANDS[type];
    if (!cmd) {
      this.send(errorMessage(id, 'unknown_command', 'Unknown command.'));
      return;
    }
    try {
      let valid = msg;
      if (cmd.schema === false) {
        if (Object.keys(msg).length > 2) throw new Invalid('extra keys not allowed');
      } else {
        valid = validate(dict({ id: { v: positiveInt, required: true }, type: { v: literal(type), required: true }, ...cmd.schema }), msg) as Record<string, unknown>;
      }
      if (cmd.admin && !this.user.is_admin) throw new Unauthorized();
      if (cmd.async) {
        void (async () => cmd.run(this, valid))().catch((err: unknown) => this.failed(valid, err));
      } else {
        cmd.run(this, valid);
      }
    } catch (err) {
      this.failed(msg, err);
    }
    this.lastId = id;
  }

  /** ActiveConnection.async_handle_exception. */
  private failed(msg: Record<string, unknown>, err: unknown): void {
    const id = msg.id as number;
    if (err instanceof Unauthorized) this.error(id, 'unauthorized', 'Unauthorized');
    else if (err instanceof Invalid) this.error(id, 'invalid_format', humanize(msg, err));
    else if (err instanceof HomeAssistantError) this.error(id, 'home_assistant_error', err.message || 'Unknown error', err.translation);
    else this.error(id, 'unknown_error', 'Unknown error');
  }

  private ended(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.authTimer);
    this.queue = [];
    for (const sub of this.subscriptions.values()) sub.remove();
    this.subscriptions.clear();
    this.hub.changed();
  }
}

/** The auth message as logged: the token never kept. */
function redacted(msg: unknown): unknown {
  if (!isDict(msg)) return msg;
  const out = { ...msg };
  for (const k of ['access_token', 'api_password']) if (typeof out[k] === 'string') out[k] = '<redacted>';
  return out;
}
