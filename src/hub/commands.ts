/**
 * Commands on `<base>/<kind>/<id>/set`: a bare word (`start`) or JSON (`{ "action": "start", … }`).
 * Each kind registers its schema and handler in one line; the MQTT bridge only routes.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { HubError } from './errors.js';
import { RequestError } from './requests.js';
import { parse } from './validate.js';

interface Route {
  schema: TSchema;
  handler: (id: string, command: never) => Promise<unknown> | unknown;
}

export class CommandRegistry {
  private readonly routes = new Map<string, Route>();

  register<S extends TSchema>(kind: string, schema: S, handler: (id: string, command: Static<S>) => Promise<unknown> | unknown): void {
    if (this.routes.has(kind)) throw new Error(`commands for ${kind} are registered twice`);
    this.routes.set(kind, { schema, handler: handler as Route['handler'] });
  }

  clear(): void {
    this.routes.clear();
  }

  kinds(): string[] {
    return [...this.routes.keys()];
  }

  /** Rejects with a RequestError saying why, when the command cannot be carried out. */
  async run(kind: string, id: string, command: Record<string, unknown>): Promise<unknown> {
    const route = this.routes.get(kind);
    if (!route) throw new HubError('not_found', `no commands for things of kind "${kind}"`);
    const parsed = parse(route.schema, command);
    if (!parsed.ok) throw new RequestError(parsed.error);
    return await route.handler(id, parsed.value as never);
  }
}
