/**
 * Bridge request paths (`<base>/bridge/request/<path>`): each capability registers its own in one
 * line, with the schema of its payload. The MQTT bridge only routes; the handlers are here.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { HubError } from './errors.js';
import { parse } from './validate.js';

/** A payload that does not fit its path's schema. */
export class RequestError extends HubError {
  constructor(message: string) {
    super('invalid', message);
  }
}

export type RequestHandler<S extends TSchema> = (payload: Static<S>) => unknown;

interface Route {
  schema: TSchema;
  handler: (payload: never) => unknown;
}

export class RequestRegistry {
  private readonly routes = new Map<string, Route>();

  register<S extends TSchema>(path: string, schema: S, handler: RequestHandler<S>): void {
    if (this.routes.has(path)) throw new Error(`bridge request path ${path} is registered twice`);
    this.routes.set(path, { schema, handler: handler as (payload: never) => unknown });
  }

  clear(): void {
    this.routes.clear();
  }

  paths(): string[] {
    return [...this.routes.keys()].sort();
  }

  /** Runs the request; resolves to its data or rejects with a message fit for the requester. */
  async handle(path: string, payload: unknown): Promise<unknown> {
    const route = this.routes.get(path);
    if (!route) throw new HubError('not_found', `unknown request path "${path}" (known: ${this.paths().join(', ')})`);
    const parsed = parse(route.schema, payload);
    if (!parsed.ok) throw new RequestError(parsed.error);
    return await route.handler(parsed.value as never);
  }
}
