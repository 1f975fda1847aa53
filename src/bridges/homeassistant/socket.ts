/**
 * The socket home-assistant-js-websocket runs on. Its own createSocket needs a browser's global
 * WebSocket, which Node 20 lacks: this one does the same authentication phase on `ws`. Like the
 * library's, it resolves with an authenticated socket carrying `haVersion`, and rejects with
 * ERR_INVALID_AUTH (do not retry) or ERR_CANNOT_CONNECT (try again later).
 */
import { ERR_CANNOT_CONNECT, ERR_INVALID_AUTH, type HaWebSocket } from 'home-assistant-js-websocket';
import WebSocket from 'ws';
import { redactUrl } from '../../hub/url-secrets.js';
import { AuthPhase, read } from './messages.js';

/** A connection that neither opens nor fails (a black-holed address) gives up after this. */
const CONNECT_TIMEOUT_MS = 10_000;
/** Home Assistant sends batches when asked (since 2022.9): fewer frames on a busy instance. */
const COALESCE_SINCE = [2022, 9] as const;
/** What a Home Assistant message may be as large as (get_states of a big instance). */
const MAX_PAYLOAD = 64 * 1024 * 1024;

export interface SocketTarget {
  url: string;
  token: string;
}

const VERSION = /^[\w.+-]{1,64}$/;

/** Text from the other side, without control characters (it reaches logs and terminals). */
const printable = (text: string): string => text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').slice(0, 500);

function atLeast(version: string, [major, minor]: readonly [number, number]): boolean {
  const [y, m] = version.split('.').map(Number);
  return y! > major || (y === major && m! >= minor);
}

/**
 * The library parses each message in its socket listener and reads fields without checking: a frame
 * that is not JSON, or `null`, would throw there, outside any handler of ours, and end the hub. Its
 * listeners run guarded: such a frame ends this connection (the library reconnects), not the hub.
 */
function guardMessages(ws: WebSocket, failed: (why: string) => void): void {
  const guarded = new Map<unknown, (e: WebSocket.MessageEvent) => void>();
  const add = ws.addEventListener.bind(ws);
  const remove = ws.removeEventListener.bind(ws);
  ws.addEventListener = ((type: string, listener: (e: WebSocket.MessageEvent) => void, options?: WebSocket.EventListenerOptions) => {
    if (type !== 'message') return add(type as 'close', listener as never, options);
    const wrapped = (e: WebSocket.MessageEvent): void => {
      try {
        listener(e);
      } catch (err) {
        failed(`Home Assistant sent a message the hub cannot read (${err instanceof Error ? err.message : String(err)}): reconnecting`);
        ws.terminate();
      }
    };
    guarded.set(listener, wrapped);
    add('message', wrapped, options);
  }) as typeof ws.addEventListener;
  ws.removeEventListener = ((type: string, listener: (e: WebSocket.MessageEvent) => void) => {
    remove(type as 'message', guarded.get(listener) ?? listener);
    guarded.delete(listener);
  }) as typeof ws.removeEventListener;
}

/**
 * Opens and authenticates one socket. `failed` hears why an attempt failed, in words, since the
 * library's error codes carry none.
 */
export function openSocket(target: SocketTarget, failed: (why: string) => void): Promise<HaWebSocket> {
  return new Promise((resolve, reject) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(target.url, { maxPayload: MAX_PAYLOAD });
    } catch (e) {
      failed(`cannot connect to ${redactUrl(target.url)}: ${e instanceof Error ? e.message : String(e)}`);
      return reject(ERR_CANNOT_CONNECT);
    }
    let settled = false;
    const fail = (code: number, why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      failed(why);
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
      reject(code);
    };
    const timer = setTimeout(() => fail(ERR_CANNOT_CONNECT, `no answer from ${redactUrl(target.url)} within ${CONNECT_TIMEOUT_MS / 1000} s`), CONNECT_TIMEOUT_MS);
    ws.on('error', (e: NodeJS.ErrnoException) => fail(ERR_CANNOT_CONNECT, e.code ?? e.message));
    ws.on('close', (code) => fail(ERR_CANNOT_CONNECT, `closed during authentication (${code})`));
    ws.on('message', (data) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(data.toString());
      } catch {
        return fail(ERR_CANNOT_CONNECT, 'not Home Assistant: a message that is not JSON');
      }
      const msg = read(AuthPhase, parsed);
      if (!msg) return fail(ERR_CANNOT_CONNECT, 'not Home Assistant: a message without a type');
      if (msg.type === 'auth_required') {
        ws.send(JSON.stringify({ type: 'auth', access_token: target.token }));
      } else if (msg.type === 'auth_invalid') {
        fail(ERR_INVALID_AUTH, `Home Assistant refused the token${msg.message ? `: ${printable(msg.message)}` : ''}`);
      } else if (msg.type === 'auth_ok') {
        settled = true;
        clearTimeout(timer);
        ws.removeAllListeners();
        // Errors after this point end in a close, which the library handles (it reconnects).
        ws.on('error', () => undefined);
        guardMessages(ws, failed);
        const socket = ws as unknown as HaWebSocket;
        // Shown in `hearth status` on a terminal: a version, not control sequences.
        socket.haVersion = msg.ha_version && VERSION.test(msg.ha_version) ? msg.ha_version : '0.0.0';
        if (atLeast(socket.haVersion, COALESCE_SINCE)) ws.send(JSON.stringify({ type: 'supported_features', id: 1, features: { coalesce_messages: 1 } }));
        resolve(socket);
      }
    });
  });
}
