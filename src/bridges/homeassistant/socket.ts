/**
 * The socket home-assistant-js-websocket runs on. Its own createSocket needs a browser's global
 * WebSocket, which Node 20 lacks: this one does the same authentication phase on `ws`. Like the
 * library's, it resolves with an authenticated socket carrying `haVersion`, and rejects with
 * ERR_INVALID_AUTH (do not retry) or ERR_CANNOT_CONNECT (try again later).
 */
import { ERR_CANNOT_CONNECT, ERR_INVALID_AUTH, type HaWebSocket } from 'home-assistant-js-websocket';
import WebSocket from 'ws';

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

function atLeast(version: string, [major, minor]: readonly [number, number]): boolean {
  const [y, m] = version.split('.').map(Number);
  return y! > major || (y === major && m! >= minor);
}

/**
 * Opens and authenticates one socket. `failed` hears why an attempt failed, in words, since the
 * library's error codes carry none.
 */
export function openSocket(target: SocketTarget, failed: (why: string) => void): Promise<HaWebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(target.url, { maxPayload: MAX_PAYLOAD, handshakeTimeout: CONNECT_TIMEOUT_MS });
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
    const timer = setTimeout(() => fail(ERR_CANNOT_CONNECT, `no answer from ${target.url} within ${CONNECT_TIMEOUT_MS / 1000} s`), CONNECT_TIMEOUT_MS);
    ws.on('error', (e: NodeJS.ErrnoException) => fail(ERR_CANNOT_CONNECT, e.code ?? e.message));
    ws.on('close', (code) => fail(ERR_CANNOT_CONNECT, `closed during authentication (${code})`));
    ws.on('message', (data) => {
      let msg: { type?: unknown; ha_version?: unknown; message?: unknown };
      try {
        msg = JSON.parse(data.toString()) as typeof msg;
      } catch {
        return fail(ERR_CANNOT_CONNECT, 'not Home Assistant: a message that is not JSON');
      }
      if (msg.type === 'auth_required') {
        ws.send(JSON.stringify({ type: 'auth', access_token: target.token }));
      } else if (msg.type === 'auth_invalid') {
        fail(ERR_INVALID_AUTH, `Home Assistant refused the token${typeof msg.message === 'string' ? `: ${msg.message}` : ''}`);
      } else if (msg.type === 'auth_ok') {
        settled = true;
        clearTimeout(timer);
        ws.removeAllListeners();
        // Errors after this point end in a close, which the library handles (it reconnects).
        ws.on('error', () => undefined);
        const socket = ws as unknown as HaWebSocket;
        socket.haVersion = typeof msg.ha_version === 'string' ? msg.ha_version : '0.0.0';
        if (atLeast(socket.haVersion, COALESCE_SINCE)) ws.send(JSON.stringify({ type: 'supported_features', id: 1, features: { coalesce_messages: 1 } }));
        resolve(socket);
      }
    });
  });
}
