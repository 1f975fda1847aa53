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
const compiled = new WeakMap<TSchema, ValidateFunction>();

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

export function parse<S extends TSchema>(schema: S, value: unknown): Parsed<Static<S>> {
  let check = compiled.get(schema);
  if (!check) {
    check = ajv.compile(schema);
    compiled.set(schema, check);
  }
  if (check(value)) return { ok: true, value: value as Static<S> };
  return { ok: false, error: firstError(check.errors ?? []) };
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
