/**
 * Bearer-token auth, denied by default: every route needs the token but the public ones below.
 * Decided on the route Fastify matched, never on the raw URL (which could be percent-encoded).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { tokenMatches } from '../auth/admin-token.js';

/** Routes anyone may call: the health check and the API's documentation. */
function isPublic(method: string, route: string): boolean {
  return (method === 'GET' && route === '/api/health') || route === '/docs' || route.startsWith('/docs/');
}

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
    const route = req.routeOptions.url;
    // No route matched: the 404 answer gives nothing away.
    if (route === undefined || isPublic(req.method, route)) return;
    const given = presented(req);
    if (given === undefined) return reply.code(401).send({ error: 'missing bearer token (Authorization: Bearer <token>)' });
    if (!tokenMatches(token, given)) return reply.code(401).send({ error: 'invalid token' });
  });
}
