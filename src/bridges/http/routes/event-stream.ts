/**
 * GET /api/events/stream: the events of the /api/events WebSocket as Server-Sent Events, for clients
 * and proxies that do not do WebSockets. The same fan-out, the same bytes per event, the same caps.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import { BUS_EVENT_NAMES } from '../../../hub/events.js';
import type { ApiContext } from '../context.js';
import { ErrorBody } from '../errors.js';
import { eventFanout, frame, Outbox, TOO_SLOW, type Frame } from '../event-fanout.js';
import { parseTypes, SLOW_CLIENTS_TEXT } from './events.js';

/** A comment line this often, so that proxies do not close a quiet stream. */
export const KEEP_ALIVE_MS = 15_000;
/** How long a client that was let go has to read its last event before its connection is cut. */
const CLOSE_GRACE_MS = 30_000;

const HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  // nginx would otherwise hold the events back to fill its buffer.
  'x-accel-buffering': 'no',
};
const KEEP_ALIVE = Buffer.from(': keep-alive\n\n');
const EVENT_END = Buffer.from('\n\n');
const prefixes = new Map<string, Buffer>();

/** `event: <type>` and `data: <the WebSocket's JSON>` (JSON has no raw line breaks: one data line). */
function sse(frames: readonly Frame[]): Buffer {
  return Buffer.concat(
    frames.flatMap((f) => {
      let prefix = prefixes.get(f.type);
      if (!prefix) prefixes.set(f.type, (prefix = Buffer.from(`event: ${f.type}\ndata: `)));
      return [prefix, f.json, EVENT_END];
    }),
  );
}

const LAST_WORDS = sse([frame('close', TOO_SLOW)]);

const Query = Type.Object({
  types: Type.Optional(
    Type.String({ description: 'Comma-separated event types to receive (e.g. `log.line`); all when absent', examples: ['thing.changed,log.line'] }),
  ),
});

interface Stream {
  res: ServerResponse;
  box: Outbox;
}

export async function eventStreamRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const fanout = eventFanout(ctx.bus);
  const streams = new Set<Stream>();
  let keepAlive: NodeJS.Timeout | null = null;
  const keepAlives = (): void => {
    // Only where nothing is on its way: a backlog is traffic enough, and must not grow.
    for (const s of streams) if (s.box.idle) s.res.write(KEEP_ALIVE);
  };
  // An open stream would hold the server's close: the hub is stopping, the clients reconnect.
  app.addHook('preClose', async () => streams.forEach((s) => s.res.destroy()));

  app.get<{ Querystring: Static<typeof Query> }>(
    '/api/events/stream',
    {
      exposeHeadRoute: false,
      schema: {
        summary: 'Server-Sent Events: every state change and event, as on the /api/events WebSocket',
        description: [
          'For clients and proxies that do not do WebSockets. Each event is `event: <type>` and `data: { "type", "data" }`',
          '(the WebSocket\'s message); the first is `hello` with the hub info. `?types=thing.changed,log.line` sends only those',
          'event types; an unknown name is a 400 before the stream starts. A comment line (`: keep-alive`) every',
          `${KEEP_ALIVE_MS / 1000} s keeps proxies from closing a quiet stream. ${SLOW_CLIENTS_TEXT}: such a client gets a last`,
          `\`close\` event with { "code": ${TOO_SLOW.code}, "reason": "${TOO_SLOW.reason}" } and the stream ends.`,
          'It needs Authorization: Bearer like every route; `?token=` is not taken here (a browser\'s own EventSource cannot',
          'set the header: read the stream with fetch(), or use the WebSocket, which takes `?token=`).',
        ].join(' '),
        tags: ['live'],
        querystring: Query,
        response: {
          200: { description: 'The event stream', content: { 'text/event-stream': { schema: Type.String() } } },
          400: ErrorBody,
        },
      },
    },
    (req, reply) => {
      const asked = parseTypes(req.query.types);
      if ('unknown' in asked) {
        void reply.code(400).send({ error: `unknown event type: ${asked.unknown} (types: ${BUS_EVENT_NAMES.join(', ')})` });
        return;
      }
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, HEADERS);
      let grace: NodeJS.Timeout | undefined;
      const box = new Outbox({
        write: (frames, written) => void res.write(sse(frames), written),
        tooSlow: (limit, buffered) => {
          leave();
          ctx.logger.warn({ buffered, limit }, 'closing an /api/events/stream client that does not keep up');
          res.end(LAST_WORDS);
          grace = setTimeout(() => res.destroy(), CLOSE_GRACE_MS).unref();
        },
      });
      const stream = { res, box };
      streams.add(stream);
      keepAlive ??= setInterval(keepAlives, KEEP_ALIVE_MS).unref();
      const leave = fanout.add(asked.types, box, { username: req.principal?.username ?? '', end: () => res.end() });
      res.on('close', () => {
        clearTimeout(grace);
        leave();
        streams.delete(stream);
        if (streams.size > 0 || !keepAlive) return;
        clearInterval(keepAlive);
        keepAlive = null;
      });
      box.push(frame('hello', ctx.info()));
    },
  );
}
