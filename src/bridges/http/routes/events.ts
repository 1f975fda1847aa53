/**
 * WebSocket /api/events: every bus event as { type, data }, as it happens; `?types=a,b` for only
 * those. A client that does not keep up is closed (1013) rather than buffered without limit.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { BUS_EVENT_NAMES } from '../../../hub/events.js';
import type { ApiContext } from '../context.js';

/** What may wait in a client's send buffer before it counts as too slow. */
export const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** 1013 "try again later": the client may reconnect and carry on from the current state. */
export const TOO_SLOW = { code: 1013, reason: 'too slow: reconnect' } as const;
/** 1008 "policy violation": the query asked for an event type that does not exist. */
export const UNKNOWN_TYPE_CODE = 1008;


const Query = Type.Object({
  token: Type.Optional(Type.String({ description: 'The admin token, for browsers (which cannot set headers on a WebSocket)' })),
  types: Type.Optional(
    Type.String({ description: 'Comma-separated event types to receive (e.g. `log.line`); all when absent', examples: ['thing.changed,log.line'] }),
  ),
});

/**
 * Sends `{ type, data }` while the socket is open. Unread data piles up in the hub's memory: past
 * the limit the client is let go (1013, after `tooSlow`) rather than buffered without end.
 */
export function jsonSender(socket: WebSocket, tooSlow: () => void): (type: string, data: unknown) => void {
  return (type, data) => {
    if (socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      tooSlow();
      socket.close(TOO_SLOW.code, TOO_SLOW.reason);
      return;
    }
    socket.send(JSON.stringify({ type, data }));
  };
}

/** The types asked for, all when none; or the first name that is not an event type. */
export function parseTypes(query: string | undefined): { types: Set<string> | null } | { unknown: string } {
  const names = (query ?? '').split(',').map((t) => t.trim()).filter((t) => t !== '');
  if (names.length === 0) return { types: null };
  const unknown = names.find((n) => !(BUS_EVENT_NAMES as string[]).includes(n));
  return unknown === undefined ? { types: new Set(names) } : { unknown };
}

export async function eventRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get<{ Querystring: Static<typeof Query> }>(
    '/api/events',
    {
      websocket: true,
      schema: {
        summary: 'WebSocket: every state change and event as { type, data }',
        description: [
          'The first message is `hello` with the hub info. `?types=thing.changed,log.line` sends only those event types;',
          'an unknown type name closes the socket with 1008 and the name in the reason.',
          `A client that lets more than ${MAX_BUFFERED_BYTES / 1024 / 1024} MiB pile up unread is closed with 1013 ("too slow: reconnect").`,
        ].join(' '),
        tags: ['live'],
        querystring: Query,
      },
    },
    (socket, req) => {
      const asked = parseTypes(req.query.types);
      if ('unknown' in asked) {
        // A close reason is at most 123 bytes.
        socket.close(UNKNOWN_TYPE_CODE, `unknown event type: ${asked.unknown}`.slice(0, 120));
        return;
      }
      const { types } = asked;
      let off = (): void => undefined;
      const send = jsonSender(socket, () => {
        off();
        ctx.logger.warn({ buffered: socket.bufferedAmount }, 'closing an /api/events client that does not keep up');
      });
      off = ctx.bus.onAny((type, data) => {
        if (types === null || types.has(type)) send(type, data);
      });
      send('hello', ctx.info());
      socket.on('close', off);
      socket.on('error', off);
    },
  );
}
