/**
 * The validators of homeassistant/helpers/config_validation.py the stand-in's commands use, with
 * their conversions (entity ids lower-cased and split, durations to seconds) and messages.
 * Templates are recognised but never rendered: the stand-in refuses them (see ha-server.ts).
 */
import { validEntityId } from './core.js';
import { Invalid, ValueError, all, any, dict, dictType, fn, isDict, listType, literal, mapOf, pyRepr, pyStr, seq, str, type V } from './schema.js';

/** Python's int(str) and float(str) on the strings JSON can carry. */
function pyInt(s: string): number {
  if (!/^\s*[+-]?\d+(_\d+)*\s*$/.test(s)) throw new ValueError(s);
  return Number(s.replaceAll('_', ''));
}
function pyFloat(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string' && /^\s*[+-]?(\d+(_\d+)*\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(v)) return Number(v.replaceAll('_', ''));
  throw new ValueError(String(v));
}

/** vol.Coerce(float). */
const coerceFloat = fn((v) => {
  try {
    return pyFloat(v);
  } catch {
    throw new Invalid('expected float');
  }
});

/** cv.positive_int: vol.All(vol.Coerce(int), vol.Range(min=0)). */
export const positiveInt: V = fn((v) => {
  let n: number;
  if (typeof v === 'boolean') n = v ? 1 : 0;
  else if (typeof v === 'number' && Number.isFinite(v)) n = Math.trunc(v);
  else if (typeof v === 'string') {
    try {
      n = pyInt(v);
    } catch {
      throw new Invalid('expected int');
    }
  } else throw new Invalid('expected int');
  if (n < 0) throw new Invalid('value must be at least 0');
  return n;
});

export const isTemplateString = (s: string): boolean => s.includes('{') && (s.includes('{%') || s.includes('{{') || s.includes('{#'));
/** Whether a value holds a template anywhere (template.is_complex on a validated value). */
export const hasTemplate = (v: unknown): boolean =>
  typeof v === 'string' ? isTemplateString(v) : Array.isArray(v) ? v.some(hasTemplate) : isDict(v) ? Object.values(v).some(hasTemplate) : false;

/** cv.string. */
export const string = (v: unknown): string => {
  if (v === null || v === undefined) throw new Invalid('string value is None');
  if (typeof v === 'string') return v;
  if (Array.isArray(v) || isDict(v)) throw new Invalid('value should be a string');
  return pyStr(v);
};

/** cv.boolean. */
export const boolean = fn((v) => {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const s = v.toLowerCase().trim();
    if (['1', 'true', 'yes', 'on', 'enable'].includes(s)) return true;
    if (['0', 'false', 'no', 'off', 'disable'].includes(s)) return false;
  } else if (typeof v === 'number') return v !== 0;
  throw new Invalid(`invalid boolean value ${pyStr(v)}`);
});

/** cv.template (static strings pass; their text is the value). */
export const template = fn((v) => {
  if (v === null || v === undefined) throw new Invalid('template value is None');
  if (Array.isArray(v) || isDict(v)) throw new Invalid('template value should be a string');
  return pyStr(v);
});

/** cv.dynamic_template. */
export const dynamicTemplate = fn((v) => {
  const s = template([], v) as string;
  if (!isTemplateString(s)) throw new Invalid('template value does not contain a dynamic template');
  return s;
});

export const ensureList = fn((v) => (v === null || v === undefined ? [] : Array.isArray(v) ? v : [v]));
export const matchAll: V = (_p, v) => v;

function entityId(v: unknown): string {
  const s = string(v).toLowerCase();
  if (validEntityId(s)) return s;
  throw new Invalid(`Entity ID ${pyStr(v)} is an invalid entity ID`);
}
function entityIdOrUuid(v: unknown): string {
  try {
    return entityId(v);
  } catch {
    if (typeof v === 'string' && /^[0-9a-f]{32}$/.test(v)) return v;
    throw new Invalid(`Entity ${pyStr(v)} is neither a valid entity ID nor a valid UUID`);
  }
}
function entityList(v: unknown, one: (x: unknown) => string): string[] {
  if (v === null || v === undefined) throw new Invalid('Entity IDs cannot be None');
  if (typeof v === 'string') return v.split(',').map((s) => one(s.trim()));
  if (Array.isArray(v)) return v.map(one);
  // Python iterates a dict's keys, and fails on anything else with a TypeError voluptuous lets through.
  if (isDict(v)) return Object.keys(v).map(one);
  throw new TypeError(`${pyRepr(v)} is not iterable`);
}
const entityIds = fn((v) => entityList(v, entityId));
export const entityIdsOrUuids = fn((v) => entityList(v, entityIdOrUuid));
/** cv.comp_entity_ids: "all", "none" or entity ids. */
const compEntityIds = any(
  fn((v) => {
    const s = pyStr(v).toLowerCase();
    if (s === 'all' || s === 'none') return s;
    throw new Invalid('not a valid value');
  }),
  entityIds,
);

const targetList = any(literal('none'), all(ensureList, seq(any(dynamicTemplate, str))));
/** cv.ENTITY_SERVICE_FIELDS, a call_service target. */
export const entityServiceFields = dict({
  entity_id: { v: any(compEntityIds, dynamicTemplate, all(listType, matchAll)) },
  device_id: { v: targetList },
  area_id: { v: targetList },
  floor_id: { v: targetList },
  label_id: { v: targetList },
});

const TIME_PERIOD_ERROR = (v: unknown) => `offset ${pyStr(v)} should be format 'HH:MM', 'HH:MM:SS' or 'HH:MM:SS.F'`;
const PERIOD_KEYS = ['days', 'hours', 'minutes', 'seconds', 'milliseconds'] as const;
const PERIOD_SECONDS = { days: 86400, hours: 3600, minutes: 60, seconds: 1, milliseconds: 0.001 };

const timePeriodStr = fn((v) => {
  if (typeof v === 'boolean' || (typeof v === 'number' && Number.isInteger(v))) throw new Invalid('Make sure you wrap time values in quotes');
  if (typeof v !== 'string') throw new Invalid(TIME_PERIOD_ERROR(v));
  const negative = v.startsWith('-');
  const body = v.startsWith('-') || v.startsWith('+') ? v.slice(1) : v;
  const parts = body.split(':');
  if (parts.length !== 2 && parts.length !== 3) throw new Invalid(TIME_PERIOD_ERROR(body));
  try {
    const s = pyInt(parts[0] ?? '') * 3600 + pyInt(parts[1] ?? '') * 60 + (parts[2] === undefined ? 0 : pyFloat(parts[2]));
    return negative ? -s : s;
  } catch {
    throw new Invalid(TIME_PERIOD_ERROR(body));
  }
});
const timePeriodSeconds = fn((v) => {
  try {
    return pyFloat(v);
  } catch {
    throw new Invalid(`Expected seconds, got ${pyStr(v)}`);
  }
});
const timePeriodDict = all(
  dictType,
  dict(Object.fromEntries(PERIOD_KEYS.map((k) => [k, { v: coerceFloat }]))),
  fn((v) => {
    const d = v as Record<string, number>;
    if (!PERIOD_KEYS.some((k) => k in d)) throw new Invalid(`must contain at least one of ${PERIOD_KEYS.join(', ')}.`);
    return PERIOD_KEYS.reduce((s, k) => s + (d[k] ?? 0) * PERIOD_SECONDS[k], 0);
  }),
);
const positiveTimedelta = fn((s) => {
  if ((s as number) < 0) throw new Invalid('Time period should be positive');
  return s;
});
/** cv.positive_time_period_template, converted to seconds (templates are flagged, not rendered). */
export const positiveTimePeriodTemplate: V = any(
  all(any(timePeriodStr, timePeriodSeconds, timePeriodDict), positiveTimedelta),
  dynamicTemplate,
  fn((v) => {
    if (!isDict(v) || Object.keys(v).length === 0) throw new Invalid('template should be a dict');
    for (const [k, x] of Object.entries(v)) {
      if (!isTemplateString(k) && !(PERIOD_KEYS as readonly string[]).includes(k)) throw new Invalid(`value must be one of ${pyRepr([...PERIOD_KEYS].sort())}`);
      if (typeof x !== 'string' || !isTemplateString(x)) {
        const n = coerceFloat([], x) as number;
        if (n < 0) throw new Invalid('value must be at least 0');
      }
    }
    return v;
  }),
);

/** TRIGGER_BASE_SCHEMA's keys. */
export const triggerBaseKeys = {
  alias: { v: str },
  platform: { v: str, required: true },
  id: { v: str },
  variables: { v: mapOf(matchAll) },
  enabled: { v: any(boolean, template) },
};
