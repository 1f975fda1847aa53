/** The HTTP API (Fastify): auth, errors, OpenAPI at /docs, one plugin per resource. */
import type { AddressInfo } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import type { Extension } from '../extension.js';
import { ajv, ajvText } from '../validate.js';
import { installAuth } from './auth.js';
import type { ApiContext } from './context.js';
import { installErrorHandling } from './errors.js';
import { agentRoutes } from './routes/agents.js';
import { deviceRoutes } from './routes/devices.js';
import { discoveryRoutes } from './routes/discovery.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { importRoutes } from './routes/import.js';
import { jobRoutes } from './routes/jobs.js';
import { infoRoutes } from './routes/info.js';
import { metricsRoutes } from './routes/metrics.js';
import { taskRoutes } from './routes/tasks.js';

export type RoutePlugin = (app: FastifyInstance, ctx: ApiContext) => Promise<void>;

/** Every resource's routes. A new resource is one file in routes/ plus one line here. */
const ROUTES: RoutePlugin[] = [healthRoutes, infoRoutes, metricsRoutes, eventRoutes, discoveryRoutes, agentRoutes, importRoutes, taskRoutes, jobRoutes, deviceRoutes];

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
      logController: new LogController({ disableRequestLogging: true }),
    });
    await app.register(swagger, {
      openapi: {
        info: { title: 'Hearth API', version: this.version, description: 'Every route but GET /api/health needs Authorization: Bearer <token>.' },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        security: [{ bearer: [] }],
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
    await app.register(websocket, { options: { maxPayload: BODY_LIMIT } });
    // Bodies are validated as strictly as MQTT payloads; query strings and params are text.
    app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? ajv : ajvText).compile(schema));
    installAuth(app, this.ctx.token);
    installErrorHandling(app);
    for (const routes of ROUTES) await app.register(async (scope) => routes(scope, this.ctx));
    await app.listen({ host: this.host, port: this.port });
    this.boundPort = (app.server.address() as AddressInfo).port;
    this.app = app;
  }

  async stop(): Promise<void> {
    const app = this.app;
    this.app = null;
    if (!app) return;
    for (const client of app.websocketServer?.clients ?? []) client.terminate();
    await app.close();
  }
}
