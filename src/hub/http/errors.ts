/** Every error leaves as { "error": "clear message" } with the status that fits. */
import type { FastifyError, FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';

export const ErrorBody = Type.Object({ error: Type.String() }, { $id: 'Error' });

/** A route's refusal with its HTTP status. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err.validation) {
      const where = err.validationContext ?? 'request';
      const first = err.validation[0];
      const path = first?.instancePath ? first.instancePath.slice(1).replace(/\//g, '.') : '';
      const what =
        first?.keyword === 'additionalProperties'
          ? `unknown field "${String(first.params.additionalProperty)}"`
          : first?.keyword === 'required'
            ? `missing field "${String(first.params.missingProperty)}"`
            : `${path ? path + ' ' : ''}${first?.message ?? err.message}`;
      return reply.code(400).send({ error: `${where}: ${what}` });
    }
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    if (status >= 500) {
      req.log.error({ err }, 'request failed');
      return reply.code(status).send({ error: 'internal error; see the hub log' });
    }
    return reply.code(status).send({ error: err.message });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}` }));
}
