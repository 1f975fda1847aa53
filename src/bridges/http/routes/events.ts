/**
 * WebSocket /api/events: every bus event as { type, data }, as it happens; `?types=a,b` for only
 * those. Sent through the hub's one event fan-out (event-fanout.ts), shared with the SSE stream: a
 * client that does not keep up is closed (1013) rather than buffered without limit.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { BUS_EVENT_NAMES } from '../../../hub/events.js';
import type { ApiContext } from '../context.js';
import { eventFanout, frame, MAX_BUFFERED_BYTES, MAX_TOTAL_BUFFERED_BYTES, Outbox, TOO_SLOW, type Limit, type Transport } from '../event-fanout.js';

/** 1008 "policy violation": the query asked for an event type that does not exist. */
export const UNKNOWN_TYPE_CODE = 1008;
/** The user's credentials changed (demoted, disabled, deleted, a token revoked): sign in again. */
export const REVOKED_CODE = 4401;

const MIB = 1024 * 1024;
/** The caps as the routes' descriptions (and the README) state them. */
export const SLOW_CLIENTS_TEXT =
  `A client that lets more than ${MAX_BUFFERED_BYTES / MIB} MiB pile up unread is closed, and so are the slowest clients ` +
  `(most unread first) while all clients together have more than ${MAX_TOTAL_BUFFERED_BYTES / MIB} MiB unread`;

const Query = Type.Object({
  token: Type.Optional(Type.String({ description: 'The admin token, for browsers (which cannot set headers on a WebSocket)' })),
  types: Type.Optional(
    Type.String({ description: 'Comma-separated event types to receive (e.g. `log.line`); all when absent', examples: ['thing.changed,log.line'] }),
  ),
});

/** Frames as WebSocket text messages, the same bytes for every client; let go with 1013. */
function webSocketTransport(socket: WebSocket, letGo: (limit: Limit, buffered: number) => void): Transport {
  return {
    write(frames, written) {
      frames.forEach((f, i) => socket.send(f.json, { binary: false }, i === frames.length - 1 ? written : undefined));
    },
    tooSlow(limit, buffered) {
      letGo(limit, buffered);
      socket.close(TOO_SLOW.code, TOO_SLOW.reason);
    },
  };
}

/**
 * Sends `{ type, data }` while the socket is open, counted against the same caps as /api/events
 * (for the device telemetry WebSocket, whose messages are its own); `tooSlow` when it is let go.
 */
export function jsonSender(socket: WebSocket, tooSlow: () => void): (type: string, data: unknown) => void {
  const box = new Outbox(webSocketTransport(socket, tooSlow));
  socket.on('close', () => box.close());
  return (type, data) => box.push(frame(type, data));
}

/** The types asked for, all when none; or the first name that is not an event type. */
export function parseTypes(query: string | undefined): { types: Set<string> | null } | { unknown: string } {
  const names = (query ?? '').split(',').map((t) => t.trim()).filter((t) => t !== '');
  if (names.length === 0) return { types: null };
  const unknown = names.find((n) => !(BUS_EVENT_NAMES as string[]).includes(n));
  return unknown === undefined ? { types: new Set(names) } : { unknown };
}

export async function eventRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const fanout = eventFanout(ctx.bus);
  app.get<{ Querystring: Static<typeof Query> }>(
    '/api/events',
    {
      websocket: true,
      config: { socket: true },
      schema: {
        summary: 'WebSocket: every state change and event as { type, data }',
        description: [
          'The first message is `hello` with the hub info. `?types=thing.changed,log.line` sends only those event types;',
          'an unknown type name closes the socket with 1008 and the name in the reason.',
          `${SLOW_CLIENTS_TEXT}, with 1013 ("${TOO_SLOW.reason}"). The same events as Server-Sent Events: GET /api/events/stream.`,
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
      const box = new Outbox(
        webSocketTransport(socket, (limit, buffered) => {
          leave();
          ctx.logger.warn({ buffered, limit }, 'closing an /api/events client that does not keep up');
        }),
      );
      const leave = fanout.add(asked.types, box, { username: req.principal?.username ?? '', end: () => socket.close(REVOKED_CODE, 'credentials changed: sign in again') });
      box.push(frame('hello', ctx.info()));
      socket.on('close', leave);
    },
  );
}
