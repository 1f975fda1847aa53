/**
 * The hub's Server-Sent Events stream (GET /api/events/stream) read as a client would: the request
 * with the bearer token, and the stream cut into its events and comments.
 */
import assert from 'node:assert/strict';
import { get, type IncomingMessage } from 'node:http';
import { onCleanup } from './cleanup.js';

/** Opens the stream with a bearer token; the response once its 200 headers are in (destroyed at cleanup). */
export async function sseGet(http: string, token: string, query = ''): Promise<IncomingMessage> {
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = get(`${http}/api/events/stream${query}`, { headers: { authorization: `Bearer ${token}` } }, resolve);
    req.on('error', reject);
    onCleanup(() => req.destroy());
  });
  assert.equal(res.statusCode, 200);
  // The hub may cut the stream (stopping, or a client let go): that is what some tests wait for.
  res.on('error', () => undefined);
  return res;
}

/**
 * Calls `onEvent` for each event of the stream as an EventSource would frame it (blocks split on a
 * blank line, `event:` defaulting to "message", `data:` lines joined), and `onComment` for each
 * `:` line.
 */
export function onSseEvents(res: IncomingMessage, onEvent: (event: string, data: string) => void, onComment?: (text: string) => void): void {
  const dispatch = (block: string): void => {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) onComment?.(line.slice(1).trim());
      else if (line.startsWith('event: ')) event = line.slice('event: '.length);
      else if (line.startsWith('data: ')) data.push(line.slice('data: '.length));
    }
    if (data.length > 0) onEvent(event, data.join('\n'));
  };
  let text = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    text += chunk;
    let end;
    while ((end = text.indexOf('\n\n')) >= 0) {
      dispatch(text.slice(0, end));
      text = text.slice(end + 2);
    }
  });
}
