/**
 * GET /api/health/live: the process answers. Beside the table on purpose: an operation is refused
 * (503) while the hub starts, stops or restarts in place, and a liveness probe (Docker's
 * HEALTHCHECK, the Supervisor) that saw that, or a broker outage in /api/health, would restart the
 * hub and every agent with it. It reads nothing (no MQTT, no database), and over MQTT it would
 * mean nothing: an answer there already proves the process alive.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';

const Alive = Type.Object({ alive: Type.Literal(true) });

export async function livenessRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/api/health/live',
    {
      config: { public: true },
      schema: { tags: ['health_check'], summary: 'Does the process answer? Open, no token; touches neither MQTT nor the database (readiness is GET /api/health)', security: [], response: { 200: Alive } },
    },
    async () => ({ alive: true as const }),
  );
}
