/**
 * GET /: until the panel (a later capability) is served here, a browser that opens the hub (the
 * add-on's sidebar entry among them) lands on the API's documentation instead of a 404. Under
 * ingress the redirect gets Home Assistant's path prefix (ingress.ts).
 */
import type { FastifyInstance } from 'fastify';

export async function rootRoutes(app: FastifyInstance): Promise<void> {
  app.get('/', { config: { public: true }, schema: { hide: true } }, async (_req, reply) => reply.redirect('/docs/'));
}
