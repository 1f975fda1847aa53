/**
 * An operation's input as an HTTP request, built by the tests themselves (not by the hub's own
 * mapping, which they check): path fields in the path, everything else in the query (GET, DELETE)
 * or the body (the one body field, where the operation has one).
 */
import { httpParts, pathFields, type Operation } from '../../src/hub/operations/operation.js';
import type { HubHandle } from './hub.js';

export async function overHttp(h: HubHandle, op: Operation, input: Record<string, unknown>): Promise<{ status: number; body: unknown }> {
  const inPath = pathFields(op.http.path);
  const path = op.http.path.replace(/:([a-z_]+)/g, (_m, k: string) => encodeURIComponent(String(input[k])));
  const rest = Object.fromEntries(Object.entries(input).filter(([k]) => !inPath.includes(k)));
  if (op.http.method === 'GET' || op.http.method === 'DELETE') {
    const q = new URLSearchParams(Object.entries(rest).map(([k, v]) => [k, String(v)])).toString();
    return h.api(op.http.method, q ? `${path}?${q}` : path);
  }
  const parts = httpParts(op);
  const body = parts.body !== null && 'field' in parts.body ? rest[parts.body.field] : Object.keys(rest).length ? rest : undefined;
  return h.api(op.http.method, path, body);
}
