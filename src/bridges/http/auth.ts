/**
 * Bearer-token auth, denied by default: every route needs the token but those that say they are
 * public (the health check) and the API's documentation. Decided on the route Fastify matched,
 * never on the raw URL (which could be percent-encoded).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { tokenMatches } from '../../hub/auth/admin-token.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Answered without a token. */
    public?: boolean;
  }
}

function isPublic(req: FastifyRequest): boolean {
  const route = req.routeOptions.url ?? '';
  return req.routeOptions.config.public === true || route === '/docs' || route.startsWith('/docs/');
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
    // No route matched: the 404 answer gives nothing away.
    if (req.routeOptions.url === undefined || isPublic(req)) return;
    const given = presented(req);
    if (given === undefined) return reply.code(401).send({ error: 'missing bearer token (Authorization: Bearer <token>)' });
    if (!tokenMatches(token, given)) return reply.code(401).send({ error: 'invalid token' });
  });
}
