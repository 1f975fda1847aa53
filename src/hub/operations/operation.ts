/**
 * An operation, declared once: its bridge path (`<noun>/<verb>`), its HTTP route, its input and
 * output schemas, the role it needs, its summary, how the CLI shows it, and its handler. The HTTP
 * API, the MQTT bridge and the CLI are generated from the table of them (operations/index.ts), so
 * the edges cannot drift apart and every edge checks the same role.
 */
import type { Static, TObject, TSchema } from '@sinclair/typebox';
import type { Caller, OperationContext } from './context.js';

import type { Role } from '../users/types.js';

export type { Role } from '../users/types.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface HttpBinding<O> {
  method: Method;
  /** The route; each `:name` segment is the input field of that name. */
  path: string;
  /** The status of a success (default 200). */
  status?: number;
  /** A status chosen by the answer instead (health: 503 when unhealthy). */
  statusOf?(out: O): number;
  /** The one input field that is the whole body (device/write's values); default: every field not in the path. */
  body?: string;
  /** Answered without a token (the health check, login). */
  public?: true;
  /** At most `max` calls per window from one address for one user name, `addressMax` from one address (login). */
  rateLimit?: { max: number; addressMax: number; windowMs: number };
}

/** How `hearth <noun> <verb>` presents the operation; the arguments follow from the input schema. */
export interface CliBinding<I, O> {
  /** The CLI's verb, where it differs from the bridge path's (`agent/get` is `hearth agent show`). */
  verb?: string;
  /** Input fields taken as positional text arguments, in order (default: the route's path fields). */
  args?: string[];
  /** Option names for query fields where they differ from the field's (`--task` for task_id). */
  flags?: Record<string, string>;
  /** One line for a person (with --json, or without `say`, the answer is printed as JSON). */
  say?(out: O, input: I): string;
}

export interface Operation<I extends TObject = TObject, O extends TSchema = TSchema> {
  /** The bridge path, `<noun>/<verb>` (a few hub paths are one word: info, health_check, options, restart). */
  name: string;
  summary: string;
  role: Role;
  http: HttpBinding<Static<O>>;
  /** Every field the operation takes, from path, query or body over HTTP, from the payload over MQTT. */
  input: I;
  output: O;
  /** Its answer holds a secret (a password, a token): over HTTP only, never as a bridge path, whose answers travel on a shared topic. */
  secret?: true;
  /** `false`: no generated CLI command (a hand-written one, or none). */
  cli?: CliBinding<Static<I>, Static<O>> | false;
  handler(input: Static<I>, hub: OperationContext, caller: Caller): Promise<Static<O>> | Static<O>;
}

/** Declares one operation, keeping its input and output types for the handler. */
export function operation<I extends TObject, O extends TSchema>(op: Operation<I, O>): Operation<I, O> {
  return op;
}

/** The route's path fields, in order (`/api/agents/:id/start` → ['id']). */
export function pathFields(path: string): string[] {
  return [...path.matchAll(/:([a-z_]+)/g)].map((m) => m[1]!);
}

/** Where each input field travels over HTTP. */
export function httpParts(op: Operation): { path: string[]; query: string[]; body: string[] | { field: string } | null } {
  const path = pathFields(op.http.path);
  const rest = Object.keys(op.input.properties).filter((k) => !path.includes(k));
  if (op.http.method === 'GET' || op.http.method === 'DELETE') return { path, query: rest, body: null };
  // The body is one field; the others (PM2's --env) come in the query.
  if (op.http.body) return { path, query: rest.filter((k) => k !== op.http.body), body: { field: op.http.body } };
  return { path, query: [], body: rest.length > 0 ? rest : null };
}
