/** Validation of outside payloads into typed values, once, at the edge (TypeBox schemas, Ajv). */
import type { Static, TSchema } from '@sinclair/typebox';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule as unknown as (a: Ajv) => void;

/** For JSON bodies and MQTT payloads: types must be right as sent, unknown fields refused. */
export const ajv = new Ajv({ allErrors: false, coerceTypes: false, useDefaults: true, removeAdditional: false, discriminator: true, verbose: true });
addFormats(ajv);

/** For query strings and path parameters, which are text on the wire: numbers are read from it. */
export const ajvText = new Ajv({ allErrors: false, coerceTypes: 'array', useDefaults: true, removeAdditional: false, discriminator: true, verbose: true });
addFormats(ajvText);

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** One validation error as a sentence; `root` names the whole value (payload, body, querystring). */
export function describeError(e: Pick<ErrorObject, 'instancePath' | 'keyword' | 'params' | 'message' | 'parentSchema'>, root = 'payload'): string {
  const where = e.instancePath === '' ? root : e.instancePath.slice(1).replace(/\//g, '.');
  if (e.keyword === 'additionalProperties') return `${where}: unknown field "${String(e.params.additionalProperty)}"`;
  if (e.keyword === 'required') return `${where}: missing field "${String(e.params.missingProperty)}"`;
  if (e.keyword === 'enum') return `${where}: must be one of ${(e.params.allowedValues as unknown[]).join(', ')}`;
  if (e.keyword === 'discriminator') {
    const tag = String(e.params.tag);
    const forms = ((e.parentSchema as { oneOf?: Array<{ properties?: Record<string, { const?: unknown }> }> } | undefined)?.oneOf ?? [])
      .map((f) => f.properties?.[tag]?.const)
      .filter((v) => v !== undefined);
    return `${where}.${tag}: must be one of ${forms.join(', ')}`;
  }
  return `${where}: ${e.message ?? 'is invalid'}`;
}

/**
 * How deep any value given to the hub may nest. Nothing Hearth takes needs more than a few levels;
 * thousands overflow the stack of whatever walks the value next (TypeORM's merge did: a 500).
 */
export const MAX_DEPTH = 32;
/** How large a field the schema leaves open (Unknown, a Record, extra fields, a list of any length) may be, as JSON. */
export const MAX_OPEN_KIB = 64;

type Schema = { [k: string]: unknown } | boolean;

/** Whether the schema leaves the size of its values open: only then does MAX_OPEN_KIB apply. */
function isOpen(s: Schema): boolean {
  if (typeof s === 'boolean') return s;
  if (s.const !== undefined || s.enum !== undefined) return false;
  const branches = (s.anyOf ?? s.oneOf ?? s.allOf) as Schema[] | undefined;
  if (branches) return branches.some(isOpen);
  switch (s.type) {
    case 'object': {
      if (s.patternProperties !== undefined || s.additionalProperties !== false) return true;
      return Object.values((s.properties ?? {}) as Record<string, Schema>).some(isOpen);
    }
    case 'array':
      return s.maxItems === undefined || s.items === undefined || isOpen(s.items as Schema);
    case 'string': // text does not nest, and the edges' own limits (a body's, a packet's) bound it
    case 'number':
    case 'integer':
    case 'boolean':
    case 'null':
      return false;
    default:
      return true; // Unknown: anything
  }
}

/** Where the schema leaves sizes open: named fields, fields it does not name, or (not an object schema) the whole value. */
interface OpenParts {
  whole: boolean;
  fields: Set<string>;
  named: Set<string>;
  unnamed: boolean;
}

function openParts(schema: TSchema): OpenParts {
  const s = schema as { [k: string]: unknown };
  const props = s.properties as Record<string, Schema> | undefined;
  if (s.type !== 'object' || !props || s.anyOf || s.oneOf || s.allOf) return { whole: isOpen(s), fields: new Set(), named: new Set(), unnamed: false };
  return {
    whole: false,
    fields: new Set(Object.entries(props).filter(([, p]) => isOpen(p)).map(([k]) => k)),
    named: new Set(Object.keys(props)),
    unnamed: s.additionalProperties !== false || s.patternProperties !== undefined,
  };
}

const isContainer = (v: unknown): v is object => typeof v === 'object' && v !== null;

/**
 * What no schema can say about a value: nested deeper than MAX_DEPTH (counted from each field of
 * the input), a NUL byte in any text (it cannot be part of a program's arguments or environment,
 * an MQTT topic, or PostgreSQL's text), an open part larger than MAX_OPEN_KIB. Walked without
 * recursion, so the check cannot overflow the stack it protects.
 */
function boundsError(open: OpenParts, value: unknown, root: string): string | null {
  const fields = isContainer(value) && !Array.isArray(value) ? Object.entries(value) : null;
  const stack = fields ? fields.map(([k, v]) => ({ v, path: k, field: k, depth: 1 })) : [{ v: value, path: root, field: root, depth: 1 }];
  if (fields?.some(([k]) => k.includes('\0'))) return `${root}: a field name contains a NUL byte`;
  while (stack.length > 0) {
    const { v, path, field, depth } = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\0')) return `${path} contains a NUL byte`;
      continue;
    }
    if (!isContainer(v)) continue;
    if (depth > MAX_DEPTH) return `${field} is nested deeper than ${MAX_DEPTH} levels`;
    for (const [k, c] of Object.entries(v)) {
      if (k.includes('\0')) return `${path}: a field name contains a NUL byte`;
      stack.push({ v: c, path: `${path}.${k}`, field, depth: depth + 1 });
    }
  }
  // Within MAX_DEPTH by now, so JSON.stringify cannot overflow either.
  const tooLarge = (v: unknown): boolean => v !== undefined && Buffer.byteLength(JSON.stringify(v)) > MAX_OPEN_KIB * 1024;
  if (open.whole) return tooLarge(value) ? `${root} is larger than ${MAX_OPEN_KIB} KiB` : null;
  for (const [k, v] of fields ?? []) {
    const isOpenField = open.fields.has(k) || (open.unnamed && !open.named.has(k));
    if (isOpenField && tooLarge(v)) return `${k} is larger than ${MAX_OPEN_KIB} KiB`;
  }
  return null;
}

interface Checker {
  check: ValidateFunction;
  open: OpenParts;
}
const checkers = new WeakMap<TSchema, Checker>();

/** The value checked against the schema, and against the bounds no schema says (boundsError). */
export function parse<S extends TSchema>(schema: S, value: unknown): Parsed<Static<S>> {
  let c = checkers.get(schema);
  if (!c) {
    c = { check: ajv.compile(schema), open: openParts(schema) };
    checkers.set(schema, c);
  }
  const bounds = boundsError(c.open, value, 'payload');
  if (bounds) return { ok: false, error: bounds };
  if (c.check(value)) return { ok: true, value: value as Static<S> };
  return { ok: false, error: firstError(c.check.errors ?? []) };
}

/**
 * The error to tell: a value outside a list of constants (a union of literals) is told with the
 * list, not with the first constant it did not equal.
 */
export function firstError(errors: ErrorObject[], root = 'payload'): string {
  const first = errors[0];
  if (!first) return 'invalid payload';
  const choice = errors.find((e) => e.keyword === 'anyOf' && e.instancePath === first.instancePath);
  const options = (choice?.schema as Array<{ const?: unknown }> | undefined)?.map((b) => b.const);
  if (first.keyword === 'const' && options?.every((o) => o !== undefined)) {
    const where = first.instancePath === '' ? root : first.instancePath.slice(1).replace(/\//g, '.');
    return `${where}: must be one of ${options.join(', ')}`;
  }
  return describeError(first, root);
}
