/** Every error leaves as { "error": "clear message" } with the status that fits. */
import type { FastifyError, FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { HTTP_STATUS, HubError } from '../../hub/errors.js';
import { firstError } from '../../hub/validate.js';

export const ErrorBody = Type.Object({ error: Type.String() }, { $id: 'Error' });

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | HubError, req, reply) => {
    if (err instanceof HubError) return reply.code(HTTP_STATUS[err.kind]).send({ error: err.message });
    if (err.validation?.[0]) {
      const where = err.validationContext ?? 'request';
      const text = firstError(err.validation as Parameters<typeof firstError>[0], where);
      return reply.code(400).send({ error: text.startsWith(where) ? text : `${where}: ${text}` });
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
