/**
 * Commands on `<base>/<kind>/<id>/set`: a bare word (`start`) or JSON (`{ "action": "start", … }`).
 * Each kind registers its schema and handler in one line; the MQTT bridge only routes.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import type { Caller } from './operations/context.js';
import { HubError, invalid } from './errors.js';
import { parse } from './validate.js';

interface Route {
  schema: TSchema;
  handler: (id: string, command: never, caller: Caller) => Promise<unknown> | unknown;
}

/** `<base>/<kind>/<id>/<field>/set`: a bare value for one field, as Home Assistant's number/switch/text send it. */
type FieldHandler = (id: string, field: string, value: string, caller: Caller) => Promise<unknown> | unknown;

export class CommandRegistry {
  private readonly routes = new Map<string, Route>();
  private readonly fieldRoutes = new Map<string, FieldHandler>();

  register<S extends TSchema>(kind: string, schema: S, handler: (id: string, command: Static<S>, caller: Caller) => Promise<unknown> | unknown): void {
    if (this.routes.has(kind)) throw new Error(`commands for ${kind} are registered twice`);
    this.routes.set(kind, { schema, handler: handler as Route['handler'] });
  }

  registerField(kind: string, handler: FieldHandler): void {
    if (this.fieldRoutes.has(kind)) throw new Error(`field commands for ${kind} are registered twice`);
    this.fieldRoutes.set(kind, handler);
  }

  clear(): void {
    this.routes.clear();
    this.fieldRoutes.clear();
  }

  hasFields(kind: string): boolean {
    return this.fieldRoutes.has(kind);
  }

  /** The value is the payload's text; the handler reads it as its field needs. */
  async runField(kind: string, id: string, field: string, value: string, caller: Caller): Promise<unknown> {
    const handler = this.fieldRoutes.get(kind);
    if (!handler) throw new HubError('not_found', `things of kind "${kind}" have no settable fields`);
    return await handler(id, field, value, caller);
  }

  kinds(): string[] {
    return [...this.routes.keys()];
  }

  /** Rejects with a HubError saying why, when the command cannot be carried out. */
  async run(kind: string, id: string, command: Record<string, unknown>, caller: Caller): Promise<unknown> {
    const route = this.routes.get(kind);
    if (!route) throw new HubError('not_found', `no commands for things of kind "${kind}"`);
    const parsed = parse(route.schema, command);
    if (!parsed.ok) throw invalid(parsed.error);
    return await route.handler(id, parsed.value as never, caller);
  }
}
