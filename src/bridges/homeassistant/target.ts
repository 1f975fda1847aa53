/**
 * Where the Home Assistant bridge connects: HEARTH_HA_URL with HEARTH_HA_TOKEN (a long-lived
 * access token), or, inside the add-on, the Supervisor's proxy to Home Assistant with the
 * SUPERVISOR_TOKEN it hands the add-on (`homeassistant_api: true`). Null: the bridge is off.
 */
import type { SocketTarget } from './socket.js';

/** The Supervisor's proxy to Home Assistant Core, as add-ons reach it. */
export const SUPERVISOR_CORE_WS = 'ws://supervisor/core/websocket';

export type TargetResult = { target: SocketTarget } | { off: string };

/** Home Assistant's WebSocket address from what a user would paste: its base URL or the socket's own. */
export function websocketUrl(raw: string): string {
  const url = new URL(raw);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/api/websocket';
  // A WebSocket URL has no fragment (`ws` refuses one): a pasted browser address may.
  url.hash = '';
  return url.toString();
}

export function haTarget(s: { haUrl: string; haToken: string }, env: NodeJS.ProcessEnv): TargetResult {
  if (s.haUrl) {
    if (!s.haToken) return { off: 'HEARTH_HA_URL is set but HEARTH_HA_TOKEN is not (a long-lived access token from your Home Assistant profile)' };
    return { target: { url: websocketUrl(s.haUrl), token: s.haToken } };
  }
  if (env.SUPERVISOR_TOKEN) return { target: { url: SUPERVISOR_CORE_WS, token: env.SUPERVISOR_TOKEN } };
  return { off: 'Home Assistant is not configured (HEARTH_HA_URL and HEARTH_HA_TOKEN)' };
}
