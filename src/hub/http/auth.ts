/** Bearer-token auth on everything under /api but GET /api/health. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { tokenMatches } from '../auth/admin-token.js';

function presented(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice(7).trim();
  // Browsers cannot set headers on a WebSocket: the panel passes the token in the query there.
  if (req.headers.upgrade?.toLowerCase() === 'websocket') {
    const q = req.query as Record<string, unknown> | undefined;
    if (typeof q?.token === 'string') return q.token;
  }
  return undefined;
}

export function installAuth(app: FastifyInstance, token: string): void {
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0] ?? '';
    if (!path.startsWith('/api/') && path !== '/api') return;
    if (req.method === 'GET' && path === '/api/health') return;
    const given = presented(req);
    if (given === undefined) return reply.code(401).send({ error: 'missing bearer token (Authorization: Bearer <token>)' });
    if (!tokenMatches(token, given)) return reply.code(401).send({ error: 'invalid token' });
  });
}
