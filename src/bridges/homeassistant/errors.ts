import { ERR_CONNECTION_LOST } from 'home-assistant-js-websocket';

/**
 * Home Assistant's error in words: its `{ code, message }`, the library's own error message
 * (`{ error: { code, message } }`, as for a connection lost with a call in flight), or one of the
 * library's numeric codes.
 */
export function haError(e: unknown): string {
  const inner = typeof e === 'object' && e !== null && 'error' in e ? (e as { error: unknown }).error : e;
  if (typeof inner === 'object' && inner !== null && 'message' in inner) {
    const { code, message } = inner as { code?: unknown; message?: unknown };
    if (code === ERR_CONNECTION_LOST) return 'the connection to Home Assistant was lost';
    return typeof code === 'string' ? `${String(message)} (${code})` : String(message);
  }
  return inner === ERR_CONNECTION_LOST ? 'the connection to Home Assistant was lost' : `Home Assistant error ${String(inner)}`;
}
