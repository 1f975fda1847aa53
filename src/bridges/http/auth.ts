/**
 * Who is calling, denied by default: every route needs a credential but those that say they are
 * public (health, login) and the API's documentation. A credential is a bearer one (the admin
 * token, a session JWT or a personal API token) or, in the add-on, Home Assistant's ingress proxy
 * naming its user (ingress.ts). Decided on the route Fastify matched, never on the raw URL (which
 * could be percent-encoded). The role each operation needs is checked by the operation table.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Caller, Edge } from '../../hub/operations/context.js';
import { CLI_AGENT, refusal, roleAllows, type Authenticator, type Principal, type Role } from '../../hub/users/types.js';
import type { Ingress } from './ingress.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Answered without a credential. */
    public?: boolean;
    /** A WebSocket route: the only kind that takes `?token=` (browsers cannot set headers there). */
    socket?: boolean;
    /** The role a stream route needs (default viewer); operation routes are checked by the operation table. */
    role?: Role;
  }
  interface FastifyRequest {
    /** Who presented the credential; set on every route that is not public. */
    principal?: Principal;
  }
}

function isPublic(req: FastifyRequest): boolean {
  const route = req.routeOptions.url ?? '';
  return req.routeOptions.config.public === true || route === '/docs' || route.startsWith('/docs/');
}

/** A real upgrade (the server's upgrade event, not a header) on a WebSocket route. */
function isWebSocketRoute(req: FastifyRequest): boolean {
  return req.ws === true && req.routeOptions.config.socket === true;
}

function presented(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  const m = header ? /^bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (m) return m[1];
  // Browsers cannot set headers on a WebSocket: the panel passes the token in the query there, and only there.
  if (isWebSocketRoute(req)) {
    const q = req.query as Record<string, unknown> | undefined;
    if (typeof q?.token === 'string') return q.token;
  }
  return undefined;
}

/** The edge a request came through: the CLI names itself in its User-Agent. */
function edgeOf(req: FastifyRequest): Edge {
  return req.headers['user-agent']?.startsWith(CLI_AGENT + '/') ? 'cli' : 'http';
}

/** Who answers a public route: nobody in particular. */
const PUBLIC_CALLER: Principal = { username: 'anonymous', role: 'viewer', via: 'anonymous' };

/** The caller of a request past the auth hook (a public route's is anonymous). */
export function callerOf(req: FastifyRequest): Caller {
  return { edge: edgeOf(req), principal: req.principal ?? PUBLIC_CALLER };
}

export function installAuth(app: FastifyInstance, auth: Authenticator, ingress: Ingress): void {
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (req, reply) => {
    // No route matched: the 404 answer gives nothing away.
    if (req.routeOptions.url === undefined || isPublic(req)) return;
    const given = presented(req);
    // A bearer credential wins over ingress: it says whom the caller means to be (a wrong one is a
    // 401, never the Home Assistant user instead). Other schemes are not credentials here: a
    // reverse proxy's Basic auth in front of Home Assistant reaches the hub on every ingress request.
    const principal = given === undefined ? ingress.principal(req) : await auth.bearer(given);
    if (!principal) {
      const why = given === undefined ? 'missing bearer token (Authorization: Bearer <token>)' : 'invalid token (unknown, revoked or expired)';
      return reply.code(401).send({ error: why });
    }
    req.principal = principal;
    const needed = req.routeOptions.config.role;
    if (needed && !roleAllows(principal.role, needed)) {
      return reply.code(403).send({ error: refusal(`${req.method} ${req.routeOptions.url}`, needed, principal) });
    }
  });
}
