/**
 * The HTTP API (Fastify): auth, errors, OpenAPI at /docs, a route for every operation of the table,
 * and the streams beside it (WebSockets, uploads, job output), one plugin each.
 */
import type { AddressInfo } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import rateLimit from '@fastify/rate-limit';
import type { Extension } from '../../hub/extension.js';
import { ajv, ajvText } from '../../hub/validate.js';
import { installAuth } from './auth.js';
import type { ApiContext } from './context.js';
import { installErrorHandling } from './errors.js';
import { Ingress } from './ingress.js';
import { operationRoutes } from './operation-routes.js';
import { eventFanout } from './event-fanout.js';
import { eventRoutes } from './routes/events.js';
import { eventStreamRoutes } from './routes/event-stream.js';
import { jobOutputRoutes } from './routes/job-output.js';
import { deviceStreamRoutes } from './routes/device-streams.js';
import { metricsRoutes } from './routes/metrics.js';
import { livenessRoutes } from './routes/liveness.js';
import { rootRoutes } from './routes/root.js';

export type RoutePlugin = (app: FastifyInstance, ctx: ApiContext) => Promise<void>;

/** The routes beside the table (streams, liveness). A new one is one file in routes/ plus one line here. */
const STREAMS: RoutePlugin[] = [eventRoutes, eventStreamRoutes, jobOutputRoutes, deviceStreamRoutes, livenessRoutes, metricsRoutes, rootRoutes];

export const BODY_LIMIT = 1024 * 1024;

export class HttpServer implements Extension {
  readonly name = 'http';
  private app: FastifyInstance | null = null;
  private boundPort = 0;

  constructor(
    private readonly ctx: ApiContext,
    private readonly host: string,
    private readonly port: number,
    private readonly version: string,
  ) {}

  get address(): { host: string; port: number } {
    return { host: this.host, port: this.boundPort };
  }

  async start(): Promise<void> {
    const logger: FastifyBaseLogger = this.ctx.logger.child({ component: 'http' });
    const app = Fastify({
      loggerInstance: logger, bodyLimit: BODY_LIMIT,
      // On stop, every connection goes: one that opened and never sent a request would otherwise
      // hold the stop (and a restart in place) for as long as its client likes.
      forceCloseConnections: true,
      logController: new LogController({ disableRequestLogging: true }),
    });
    const ingress = new Ingress(this.ctx.ingress, this.ctx.logger.child({ component: 'ingress' }));
    // Before the documentation's routes, so that its redirect gets the prefix too.
    app.addHook('onSend', ingress.prefixRedirect);
    await app.register(swagger, {
      openapi: {
        info: { title: 'Hearth API', version: this.version, description: 'Every route but GET /api/health, GET /api/health/live and POST /api/auth/login needs Authorization: Bearer <token>: the admin token, a session token from POST /api/auth/login, or a personal API token. In the Home Assistant add-on\'s panel (ingress), the Home Assistant user is the caller, with the role HEARTH_INGRESS_ROLES gives it. Each operation names the role it needs (viewer, operator, admin); a refusal is 403 naming it. Every JSON operation but those that answer a secret is also the MQTT bridge path its description names.' },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        security: [{ bearer: [] }],
      },
    });
    await app.register(swaggerUi, {
      routePrefix: '/docs',
      // Links relative to the page, not to the host's root: under ingress the page is at
      // <X-Ingress-Path>/docs, and /docs/static/… would be Home Assistant's own path.
      indexPrefix: '.',
      // "Try it out" calls the server the document names: under ingress, the prefix (the host's root is Home Assistant's API).
      transformSpecificationClone: false,
      transformSpecification: (spec, req) => {
        const prefix = ingress.prefix(req);
        return prefix ? { ...spec, servers: [{ url: prefix }] } : spec;
      },
    });
    await app.register(websocket, { options: { maxPayload: BODY_LIMIT } });
    // Only routes that ask for it (login) are limited.
    await app.register(rateLimit, { global: false });
    // Bodies are validated as strictly as MQTT payloads; query strings and params are text.
    app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? ajv : ajvText).compile(schema));
    installAuth(app, this.ctx.auth, ingress);
    installErrorHandling(app);
    await app.register(operationRoutes(this.ctx.operations));
    for (const routes of STREAMS) await app.register(async (scope) => routes(scope, this.ctx));
    await app.listen({ host: this.host, port: this.port });
    this.boundPort = (app.server.address() as AddressInfo).port;
    this.app = app;
  }

  /** Ends the event streams of a user whose credentials changed. */
  endUser(username: string): void {
    eventFanout(this.ctx.bus).endUser(username);
  }

  async stop(): Promise<void> {
    const app = this.app;
    this.app = null;
    if (!app) return;
    for (const client of app.websocketServer?.clients ?? []) client.terminate();
    await app.close();
  }
}
