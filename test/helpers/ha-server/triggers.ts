/**
 * subscribe_trigger's triggers, as Home Assistant validates and runs them: cv.TRIGGER_SCHEMA (with
 * `trigger:` as the alias of `platform:`), helpers/trigger.py (id, idx, alias, enabled, variables)
 * and the state and event platforms (components/homeassistant/triggers/state.py, event.py).
 */
import { HaEvent, HomeAssistantError, STATE_CHANGED, Timedelta, type Bus, type ContextDict, type State } from './core.js';
import { entityIdsOrUuids, ensureList, hasTemplate, matchAll, positiveTimePeriodTemplate, template, triggerBaseKeys } from './cv.js';
import { Invalid, all, any, dict, dictType, fn, isDict, literal, pyEquals, seq, str, validate, type V } from './schema.js';

export type TriggerAction = (variables: Record<string, unknown>, context: ContextDict) => void;
type Config = Record<string, unknown>;

/** Home Assistant renders templates with Jinja; the stand-in cannot, and says so. */
const NO_TEMPLATES = 'the stand-in Home Assistant does not render templates';
/** Real trigger platforms the stand-in does not run (anything else is unknown to Home Assistant too). */
const NOT_IMPLEMENTED = new Set(['numeric_state', 'time', 'time_pattern', 'template', 'homeassistant', 'sun', 'zone', 'mqtt', 'webhook', 'device', 'tag', 'calendar', 'conversation', 'geo_location', 'persistent_notification']);

/** cv.TRIGGER_SCHEMA: one trigger or a list, `trigger:` renamed to `platform:`, base keys checked. */
export const triggerSchema: V = all(
  ensureList,
  seq(
    all(
      fn((v) => {
        if (!isDict(v)) return v;
        if ('trigger' in v) {
          if ('platform' in v) throw new Invalid("Cannot specify both 'platform' and 'trigger'. Please use 'trigger' only.");
          const { trigger, ...rest } = v;
          return { ...rest, platform: trigger };
        }
        if (!('platform' in v)) throw new Invalid('required key not provided', ['trigger']);
        return v;
      }),
      (path, v) => {
        dict(triggerBaseKeys, 'allow')(path, v);
        return v;
      },
    ),
  ),
);

const stateKeys = (value: V) => ({
  ...triggerBaseKeys,
  platform: { v: literal('state'), required: true },
  entity_id: { v: entityIdsOrUuids, required: true },
  for: { v: positiveTimePeriodTemplate },
  attribute: { v: matchAll },
  from: { v: value, exclusive: 'from' },
  not_from: { v: value, exclusive: 'from' },
  to: { v: value, exclusive: 'to' },
  not_to: { v: value, exclusive: 'to' },
});
// "These are str on purpose. Want to catch YAML conversions" (state.py); any value for an attribute.
const STATE_SCHEMA = dict(stateKeys(any(str, seq(str), literal(null))));
const ATTRIBUTE_SCHEMA = dict(stateKeys(matchAll));
const EVENT_SCHEMA = dict({
  ...triggerBaseKeys,
  platform: { v: literal('event'), required: true },
  event_type: { v: all(ensureList, seq(template)), required: true },
  event_data: { v: all(dictType, matchAll) },
  context: { v: all(dictType, matchAll) },
});

/** helpers/trigger.py async_validate_trigger_config, for the platforms the stand-in runs. */
export function validateTriggers(configs: Config[]): Config[] {
  return configs.map((conf) => {
    const platform = String(conf.platform).split('.')[0] ?? '';
    let c: Config;
    if (platform === 'state') {
      c = validate('attribute' in conf ? ATTRIBUTE_SCHEMA : STATE_SCHEMA, conf) as Config;
      for (const id of c.entity_id as string[]) if (/^[0-9a-f]{32}$/.test(id)) throw new Invalid(`Unknown entity registry entry ${id}`);
    } else if (platform === 'event') {
      c = validate(EVENT_SCHEMA, conf) as Config;
    } else if (NOT_IMPLEMENTED.has(platform)) {
      throw new HomeAssistantError(`the stand-in Home Assistant does not run '${platform}' triggers`);
    } else {
      throw new Invalid(`Invalid trigger '${platform}' specified`);
    }
    if (['for', 'variables', 'event_type', 'event_data', 'context'].some((k) => hasTemplate(c[k])) || (typeof c.enabled === 'string' && hasTemplate(c.enabled))) {
      throw new HomeAssistantError(NO_TEMPLATES);
    }
    return c;
  });
}

/** helpers/trigger.py async_initialize_triggers: null when nothing was attached (all disabled). */
export function attachTriggers(bus: Bus, configs: Config[], action: TriggerAction): (() => void) | null {
  const removes: Array<() => void> = [];
  configs.forEach((conf, idx) => {
    if (conf.enabled === false || conf.enabled === '') return;
    const data = { id: (conf.id as string | undefined) ?? String(idx), idx: String(idx), alias: (conf.alias as string | undefined) ?? null };
    const vars = conf.variables as Config | undefined;
    const act: TriggerAction = vars ? (v, ctx) => action({ ...v, ...vars }, ctx) : action;
    removes.push(conf.platform === 'state' ? attachState(bus, conf, data, act) : attachEvent(bus, conf, data, act));
  });
  return removes.length ? () => removes.forEach((r) => r()) : null;
}

/** process_state_match: a value, a list of them, or anything ("*" or absent). */
function stateMatch(param: unknown, invert = false): (v: unknown) => boolean {
  if (param === null || param === undefined || param === '*') return () => !invert;
  if (Array.isArray(param)) return (v) => invert !== param.some((p) => pyEquals(v, p));
  return (v) => invert !== pyEquals(v, param);
}

function attachState(bus: Bus, conf: Config, data: Config, action: TriggerAction): () => void {
  const entityIds = new Set(conf.entity_id as string[]);
  const attribute = conf.attribute ?? null;
  const valueOf = (s: State | null): unknown => (s === null ? null : attribute === null ? s.state : (s.attributes[String(attribute)] ?? null));
  const matchFrom = conf.from != null ? stateMatch(conf.from) : stateMatch(conf.not_from, conf.not_from != null);
  const matchTo = conf.to != null ? stateMatch(conf.to) : stateMatch(conf.not_to, conf.not_to != null);
  const forSeconds = conf.for as number | undefined;
  // Neither from nor to (not even `to: null`): attribute changes fire too.
  const matchAllChanges = !['from', 'not_from', 'not_to', 'to'].some((k) => k in conf);
  const pending = new Set<() => void>();
  const onEntity = (listener: (e: HaEvent) => void) => bus.listen(STATE_CHANGED, listener, (e) => entityIds.has(e.data.entity_id as string));

  const remove = onEntity((event) => {
    const entity = event.data.entity_id as string;
    const from = event.data.old_state as State | null;
    const to = event.data.new_state as State | null;
    const oldValue = valueOf(from);
    const newValue = valueOf(to);
    if (attribute !== null && pyEquals(oldValue, newValue)) return;
    if (!matchFrom(oldValue) || !matchTo(newValue) || (!matchAllChanges && pyEquals(oldValue, newValue))) return;
    const fire = () =>
      action(
        {
          trigger: {
            ...data,
            platform: 'state',
            entity_id: entity,
            from_state: from,
            to_state: to,
            for: forSeconds === undefined ? null : new Timedelta(forSeconds),
            attribute,
            description: `state of ${entity}`,
          },
        },
        event.context,
      );
    if (!forSeconds) {
      fire();
      return;
    }
    // async_track_same_state: fire after the period unless the entity leaves the state meanwhile.
    const same = (s: State | null): boolean => {
      if (s === null) return false;
      if ('from' in conf && !('to' in conf)) return !pyEquals(valueOf(s), oldValue);
      return pyEquals(valueOf(s), newValue);
    };
    const clear = () => {
      clearTimeout(timer);
      stopWatching();
      pending.delete(clear);
    };
    const timer = setTimeout(() => {
      clear();
      fire();
    }, forSeconds * 1000);
    const stopWatching = onEntity((e) => {
      if (e.data.entity_id === entity && !same(e.data.new_state as State | null)) clear();
    });
    pending.add(clear);
  });
  return () => {
    remove();
    for (const clear of [...pending]) clear();
  };
}

/** The event platform's match: a voluptuous schema of literals, nested dicts optional-keyed. */
function matches(expected: unknown, actual: unknown, top: boolean, listIsIn: boolean): boolean {
  if (isDict(expected)) {
    if (!isDict(actual)) return false;
    return Object.entries(expected).every(([k, v]) => (k in actual ? matches(v, actual[k], false, false) : !top));
  }
  if (Array.isArray(expected)) {
    if (listIsIn) return expected.some((x) => pyEquals(x, actual));
    return Array.isArray(actual) && actual.every((a) => expected.some((x) => matches(x, a, false, false)));
  }
  return pyEquals(expected, actual);
}

function attachEvent(bus: Bus, conf: Config, data: Config, action: TriggerAction): () => void {
  const eventData = conf.event_data as Config | undefined;
  const context = conf.context as Config | undefined;
  const accept = (e: HaEvent) =>
    (!eventData || matches(eventData, e.data, true, false)) &&
    (!context || Object.entries(context).every(([k, v]) => k in e.context && matches(v, (e.context as unknown as Config)[k], false, true)));
  const removes = (conf.event_type as string[]).map((type) =>
    bus.listen(type, (event) => action({ trigger: { ...data, platform: 'event', event, description: `event '${event.event_type}'` } }, event.context), accept),
  );
  return () => removes.forEach((r) => r());
}
