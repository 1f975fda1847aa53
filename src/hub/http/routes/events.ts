/** WebSocket /api/events: every bus event as { type, data }, as it happens. */
import type { FastifyInstance } from 'fastify';
import type { ApiContext } from '../context.js';

export async function eventRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  app.get(
    '/api/events',
    { websocket: true, schema: { summary: 'WebSocket: every state change and event as { type, data }', tags: ['live'] } },
    (socket) => {
      const off = ctx.bus.onAny((type, data) => {
        if (socket.readyState === socket.OPEN) socket.send(JSON.stringify({ type, data }));
      });
      socket.send(JSON.stringify({ type: 'hello', data: ctx.info() }));
      socket.on('close', off);
      socket.on('error', off);
    },
  );
}
