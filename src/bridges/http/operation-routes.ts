/**
 * The HTTP face of the operation table: one Fastify route per operation, with its schemas for the
 * OpenAPI document. Input is not validated by Fastify: the route puts the path, query and body
 * together into the operation's one input and the table validates it, exactly as for a bridge
 * request, so both edges give the same answer and the same error for the same input.
 */
import { Type, type TObject, type TSchema } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { invalid } from '../../hub/errors.js';
import { httpParts, type Operation } from '../../hub/operations/operation.js';
import type { OperationTable } from '../../hub/operations/table.js';
import { ajvText, describeError } from '../../hub/validate.js';
import { callerOf } from './auth.js';
import { ErrorBody } from './errors.js';

type Parts = ReturnType<typeof httpParts>;

const pick = (op: Operation, keys: string[]): TObject => Type.Object(Object.fromEntries(keys.map((k) => [k, op.input.properties[k]!])));

/** Path and query fields are text on the wire: read as their schema's types (a job id is a number). */
function textReader(op: Operation, parts: Parts): (raw: Record<string, unknown>) => Record<string, unknown> {
  const keys = [...parts.path, ...parts.query];
  // A query field the operation does not take is left to the table, which refuses it.
  if (keys.length === 0) return (raw) => ({ ...raw });
  const check = ajvText.compile({ ...pick(op, keys), additionalProperties: true });
  return (raw) => {
    const value = { ...raw };
    if (!check(value)) throw invalid(check.errors?.[0] ? describeError(check.errors[0]) : 'invalid request');
    return value;
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

type InputReader = (req: FastifyRequest) => Record<string, unknown>;

/** Made once per operation: a restart in place builds the routes again, not their Ajv code. */
const readers = new WeakMap<Operation, InputReader>();

/** The operation's input from an HTTP request: path and query fields, and the body. */
function inputReader(op: Operation): InputReader {
  let reader = readers.get(op);
  if (!reader) {
    reader = makeInputReader(op);
    readers.set(op, reader);
  }
  return reader;
}

function makeInputReader(op: Operation): InputReader {
  const parts = httpParts(op);
  const readText = textReader(op, parts);
  return (req) => {
    const query = req.query as Record<string, unknown>;
    // A body's fields come in the body: a query may not add to them or override them (a password in a URL).
    if (parts.body !== null) {
      const extra = Object.keys(query).find((k) => !parts.query.includes(k));
      if (extra !== undefined) throw invalid(`query: unknown field "${extra}" (this route takes its fields in the JSON body)`);
    }
    const input = readText({ ...query, ...(req.params as Record<string, unknown>) });
    const body = parts.body;
    if (body !== null && 'field' in body) return { ...input, [body.field]: req.body };
    if (req.body === undefined) return input;
    // A body where the operation takes none is checked too: its fields are unknown ones.
    if (!isObject(req.body)) throw invalid('payload must be a JSON object');
    for (const k of parts.path) if (k in req.body) throw invalid(`payload: unknown field "${k}"`);
    return { ...req.body, ...input };
  };
}

function bodySchema(op: Operation, parts: Parts): TSchema | undefined {
  if (parts.body === null) return undefined;
  if ('field' in parts.body) return op.input.properties[parts.body.field];
  return parts.path.length === 0 ? op.input : Type.Omit(op.input, parts.path);
}

type Limit = NonNullable<Operation['http']['rateLimit']>;

/**
 * Two counts, after the body is read (login): per address and the user name in the body, and per
 * address whatever the name (one address trying many names). A refusal is a 429 like any other.
 */
function limits(app: FastifyInstance, limit: Limit): (req: FastifyRequest) => Promise<void> {
  const userName = (req: FastifyRequest): string => (isObject(req.body) && typeof req.body.username === 'string' ? req.body.username : '');
  const counts = [
    app.createRateLimit({ max: limit.max, timeWindow: limit.windowMs, keyGenerator: (req) => `${req.ip}|${userName(req)}` }),
    app.createRateLimit({ max: limit.addressMax, timeWindow: limit.windowMs, keyGenerator: (req) => req.ip }),
  ];
  return async (req) => {
    for (const count of counts) {
      const r = await count(req);
      if (!r.isAllowed && r.isExceeded) throw Object.assign(new Error(`too many attempts; try again in ${r.ttlInSeconds} s`), { statusCode: 429 });
    }
  };
}

export function operationRoutes(table: OperationTable): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    for (const op of table.list()) {
      const parts = httpParts(op);
      const read = inputReader(op);
      const status = op.http.status ?? 200;
      const body = bodySchema(op, parts);
      app.route({
        method: op.http.method,
        url: op.http.path,
        config: { public: op.http.public === true },
        ...(op.http.rateLimit ? { preHandler: limits(app, op.http.rateLimit) } : {}),
        schema: {
          tags: [op.name.split('/')[0]!],
          summary: op.summary,
          description: op.secret ? `Role ${op.role}. HTTP only: its answer holds a secret.` : `Bridge path \`${op.name}\`; role ${op.role}.`,
          operationId: op.name.replace(/\//g, '_'),
          ...(op.http.public ? { security: [] } : {}),
          ...(parts.path.length ? { params: pick(op, parts.path) } : {}),
          ...(parts.query.length ? { querystring: pick(op, parts.query) } : {}),
          ...(body ? { body } : {}),
          response: op.http.statusOf
            ? { 200: op.output, 503: Type.Union([op.output, ErrorBody]) }
            : { [status]: op.output, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody },
        },
        // Validated by the table (see above); Fastify only documents.
        validatorCompiler: () => () => true,
        handler: async (req, reply) => {
          const out = await table.runReading(op.name, () => read(req), callerOf(req));
          // The status is one the schema above declares; Fastify's types cannot know which.
          return reply.code((op.http.statusOf ? op.http.statusOf(out) : status) as 200).send(out);
        },
      });
    }
  };
}
