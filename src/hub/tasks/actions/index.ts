/**
 * The action types: one line each in ACTION_TYPES. parseAction checks a user's action at the edge
 * (its type's schema, then its type's check); runAction carries a stored one out.
 */
import type { TSchema } from '@sinclair/typebox';
import type { ValidateFunction } from 'ajv';
import type { JobHandle } from '../../jobs/types.js';
import { ajv, describeError } from '../../validate.js';
import { agent } from './agent.js';
import { command } from './command.js';
import { haService } from './ha-service.js';
import { http } from './http.js';
import { mqtt } from './mqtt.js';
import type { Action, ActionDeps, ActionOutcome, ActionType } from './types.js';
import { workflow } from './workflow.js';

export const ACTION_TYPES: ActionType[] = [
  command,
  agent,
  http,
  mqtt,
  workflow,
  haService,
];

const BY_TYPE = new Map(ACTION_TYPES.map((t) => [t.type, t]));

/** How deep actions may nest (a workflow in a workflow…): a bound on the checks' recursion. */
const MAX_NESTING = 10;

const compiled = new WeakMap<TSchema, ValidateFunction>();

/**
 * The schema's first complaint about value, or null if it fits. Every path starts at "action"
 * ("action.args.0: must be string"), as "action.type" does, so that a workflow can put its step's
 * path in front and the task's edge can report it as it is (the task's field is "action").
 */
function schemaError(schema: TSchema, value: unknown): string | null {
  let check = compiled.get(schema);
  if (!check) {
    check = ajv.compile(schema);
    compiled.set(schema, check);
  }
  if (check(value)) return null;
  const e = check.errors?.[0];
  if (!e) return 'action: is invalid';
  return describeError({ ...e, instancePath: '' }, `action${e.instancePath.replace(/\//g, '.')}`);
}

function typeOf(value: unknown): { ok: true; type: ActionType } | { ok: false; error: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, error: 'action: must be object' };
  const tag = (value as { type?: unknown }).type;
  if (tag === undefined) return { ok: false, error: 'action: missing field "type"' };
  const type = typeof tag === 'string' ? BY_TYPE.get(tag) : undefined;
  if (!type) return { ok: false, error: `action.type: must be one of ${ACTION_TYPES.map((t) => t.type).join(', ')}` };
  return { ok: true, type };
}

function parseAt(value: unknown, deps: Pick<ActionDeps, 'agents'>, depth: number): { ok: true; value: Action } | { ok: false; error: string } {
  if (depth > MAX_NESTING) return { ok: false, error: `action: nested deeper than ${MAX_NESTING} levels` };
  const t = typeOf(value);
  if (!t.ok) return t;
  const invalid = schemaError(t.type.schema, value);
  if (invalid) return { ok: false, error: invalid };
  const checkNested = (nested: unknown): string | null => {
    const r = parseAt(nested, deps, depth + 1);
    return r.ok ? null : r.error;
  };
  const refused = t.type.check?.(value, deps, checkNested) ?? null;
  if (refused) return { ok: false, error: refused };
  return { ok: true, value: value as Action };
}

/**
 * A user's action, checked. An error names where, from "action" down ("action.steps.2: missing
 * field "command""); a type's check may also refuse in plain words ('no agent "x"').
 */
export function parseAction(value: unknown, deps: Pick<ActionDeps, 'agents'>): { ok: true; value: Action } | { ok: false; error: string } {
  return parseAt(value, deps, 0);
}

/**
 * Carries out a stored action with its job. The schema is checked again (a stored action may predate
 * a change); a type's check is not (an agent deleted since fails when the agent manager refuses).
 */
export function runAction(action: Action, job: JobHandle, deps: Omit<ActionDeps, 'run'>): Promise<ActionOutcome> {
  const t = typeOf(action);
  if (!t.ok) return Promise.resolve({ ok: false, error: t.error });
  const invalid = schemaError(t.type.schema, action);
  if (invalid) return Promise.resolve({ ok: false, error: invalid });
  return t.type.run(action, job, { ...deps, run: (nested, nestedJob) => runAction(nested, nestedJob, deps) });
}
