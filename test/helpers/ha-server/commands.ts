/**
 * The WebSocket commands the stand-in answers, each as homeassistant/components/websocket_api
 * (commands.py, decorators.py) defines it: its schema (extra keys refused), whether it needs an
 * admin, whether it runs as a task, and what it sends back. Compressed states for subscribe_entities
 * follow messages.py.
 */
import {
  HaEvent,
  HomeAssistantError,
  STATE_CHANGED,
  ServiceNotFound,
  ServiceValidationError,
  Unauthorized,
  newContext,
  type Bus,
  type ContextDict,
  type ServiceRegistry,
  type State,
  type StateMachine,
} from './core.js';
import { entityIds, entityServiceFields, hasTemplate, positiveInt } from './cv.js';
import { Invalid, bool, dictType, int, mapOf, pyEquals, str, type KeySpec } from './schema.js';
import { attachTriggers, triggerSchema, validateTriggers } from './triggers.js';

export interface HaUser {
  id: string;
  name: string;
  is_owner: boolean;
  is_admin: boolean;
}

export interface Core {
  bus: Bus;
  states: StateMachine;
  services: ServiceRegistry;
  haVersion: string;
}

export type SubscriptionKind = 'events' | 'trigger' | 'entities';
export interface ServiceCallRecord {
  connection: number;
  domain: string;
  service: string;
  service_data?: Record<string, unknown>;
  target?: Record<string, unknown>;
  return_response: boolean;
  context: ContextDict;
  /** The result message's `result` or `error`, once sent. */
  outcome?: { success: true; result: unknown } | { success: false; error: { code: string; message: string } };
}

/** What a command may do with its connection. */
export interface Conn {
  readonly id: number;
  readonly user: HaUser;
  readonly core: Core;
  send(message: unknown): void;
  result(id: number, result?: unknown): void;
  error(id: number, code: string, message: string, translation?: HomeAssistantError['translation']): void;
  setFeatures(features: Record<string, unknown>): void;
  subscribe(id: number, remove: () => void, kind: SubscriptionKind, detail: Record<string, unknown>): void;
  unsubscribe(id: number): boolean;
  recordCall(call: ServiceCallRecord): void;
}

export interface Command {
  /** The keys besides id and type; false: none allowed (Home Assistant's fast path for such commands). */
  schema: Record<string, KeySpec> | false;
  admin?: boolean;
  /** Runs as a task (@async_response): its errors are answered when they happen. */
  async?: boolean;
  run(c: Conn, msg: Record<string, unknown>): void | Promise<void>;
}

/** Event types a non-admin may subscribe to (auth/permissions/events.py). */
const SUBSCRIBE_ALLOWLIST = new Set([
  'area_registry_updated', 'component_loaded', 'core_config_updated', 'device_registry_updated', 'entity_registry_updated',
  'floor_registry_updated', 'label_registry_updated', 'lovelace_updated', 'panels_updated', 'recorder_5min_statistics_generated',
  'recorder_hourly_statistics_generated', 'repairs_issue_registry_updated', 'service_registered', 'service_removed',
  'shopping_list_updated', STATE_CHANGED, 'themes_updated',
]);

const ctx = (c: Conn): ContextDict => newContext(c.user.id);
const id = (msg: Record<string, unknown>) => msg.id as number;

export const COMMANDS: Record<string, Command> = {
  ping: { schema: false, run: (c, m) => c.send({ id: id(m), type: 'pong' }) },
  supported_features: {
    schema: { features: { v: mapOf(int), required: true } },
    run: (c, m) => {
      c.setFeatures(m.features as Record<string, unknown>);
      c.result(id(m));
    },
  },
  get_states: { schema: false, run: (c, m) => c.result(id(m), [...c.core.states.states.values()]) },
  get_config: { schema: false, run: (c, m) => c.result(id(m), config(c.core.haVersion)) },
  get_services: { schema: false, async: true, run: (c, m) => c.result(id(m), services(c.core.services)) },
  'auth/current_user': {
    schema: false,
    async: true,
    run: (c, m) => c.result(id(m), { ...c.user, credentials: [{ auth_provider_type: 'homeassistant', auth_provider_id: null }], mfa_modules: [] }),
  },
  subscribe_events: {
    schema: { event_type: { v: str, default: () => '*' } },
    run: (c, m) => {
      const type = m.event_type as string;
      if (!c.user.is_admin && !SUBSCRIBE_ALLOWLIST.has(type)) throw new Unauthorized();
      c.subscribe(id(m), c.core.bus.listen(type, (e) => c.send({ id: id(m), type: 'event', event: e })), 'events', { event_type: type });
      c.result(id(m));
    },
  },
  unsubscribe_events: {
    schema: { subscription: { v: positiveInt, required: true } },
    run: (c, m) => (c.unsubscribe(m.subscription as number) ? c.result(id(m)) : c.error(id(m), 'not_found', 'Subscription not found.')),
  },
  fire_event: {
    schema: { event_type: { v: str, required: true }, event_data: { v: dictType } },
    admin: true,
    run: (c, m) => {
      const context = ctx(c);
      c.core.bus.fire(m.event_type as string, m.event_data as Record<string, unknown> | undefined, context);
      c.result(id(m), { context });
    },
  },
  call_service: {
    schema: {
      domain: { v: str, required: true },
      service: { v: str, required: true },
      target: { v: entityServiceFields },
      service_data: { v: dictType },
      return_response: { v: bool, default: () => false },
    },
    async: true,
    run: callService,
  },
  subscribe_trigger: {
    schema: { trigger: { v: triggerSchema, required: true }, variables: { v: dictType } },
    admin: true,
    async: true,
    run: (c, m) => {
      const configs = validateTriggers(m.trigger as Record<string, unknown>[]);
      const forward = (variables: Record<string, unknown>, context: ContextDict) => c.send({ id: id(m), type: 'event', event: { variables, context } });
      // A subscription whose triggers are all disabled still answers and unsubscribes.
      c.subscribe(id(m), attachTriggers(c.core.bus, configs, forward) ?? (() => undefined), 'trigger', { trigger: m.trigger });
      c.result(id(m));
    },
  },
  subscribe_entities: {
    schema: { entity_ids: { v: entityIds } },
    run: (c, m) => {
      const ids = (m.entity_ids as string[] | undefined)?.length ? new Set(m.entity_ids as string[]) : null;
      const states = [...c.core.states.states.values()].filter((s) => !ids || ids.has(s.entity_id));
      const listener = (e: HaEvent) => {
        if (!ids || ids.has(e.data.entity_id as string)) c.send({ id: id(m), type: 'event', event: stateDiff(e) });
      };
      c.subscribe(id(m), c.core.bus.listen(STATE_CHANGED, listener), 'entities', { entity_ids: m.entity_ids ?? null });
      c.result(id(m));
      c.send({ id: id(m), type: 'event', event: { a: Object.fromEntries(states.map((s) => [s.entity_id, compressed(s)])) } });
    },
  },
};

async function callService(c: Conn, m: Record<string, unknown>): Promise<void> {
  const target = m.target as Record<string, unknown> | undefined;
  if (hasTemplate(target)) throw new Invalid('Templates are not supported here');
  const domain = m.domain as string;
  const service = m.service as string;
  const returnResponse = m.return_response as boolean;
  const context = ctx(c);
  const call: ServiceCallRecord = { connection: c.id, domain, service, return_response: returnResponse, context };
  if (m.service_data !== undefined) call.service_data = m.service_data as Record<string, unknown>;
  if (target !== undefined) call.target = target;
  c.recordCall(call);
  const fail = (code: string, message: string, translation?: HomeAssistantError['translation']) => {
    call.outcome = { success: false, error: { code, message } };
    c.error(id(m), code, message, translation);
  };
  try {
    const response = await c.core.services.call(domain, service, call.service_data, context, target, returnResponse);
    const result: Record<string, unknown> = { context };
    if (returnResponse) result.response = response;
    call.outcome = { success: true, result };
    c.result(id(m), result);
  } catch (err) {
    if (err instanceof ServiceNotFound && err.domain === domain && err.service === service) {
      fail('not_found', `Service ${err.domain}.${err.service} not found.`, err.translation);
    } else if (err instanceof ServiceNotFound) {
      fail('home_assistant_error', `Service ${err.domain}.${err.service} called service ${domain}.${service} which was not found.`, {
        domain: 'websocket_api',
        key: 'child_service_not_found',
        placeholders: { domain, service, child_domain: err.domain, child_service: err.service },
      });
    } else if (err instanceof Invalid) fail('invalid_format', err.describe());
    else if (err instanceof ServiceValidationError) fail('service_validation_error', `Validation error: ${err.message}`, err.translation);
    else if (err instanceof HomeAssistantError) fail('home_assistant_error', err.message, err.translation);
    else fail('unknown_error', err instanceof Error ? err.message : String(err));
  }
}

/** Config.as_dict() of a metric home in UTC, RUNNING. */
function config(version: string): Record<string, unknown> {
  return {
    allowlist_external_dirs: ['/media', '/config/www'],
    allowlist_external_urls: [],
    components: ['homeassistant', 'websocket_api', 'api', 'http', 'auth'],
    config_dir: '/config',
    config_source: 'storage',
    country: null,
    currency: 'EUR',
    debug: false,
    elevation: 0,
    external_url: null,
    internal_url: null,
    language: 'en',
    latitude: 52.3731,
    location_name: 'Home',
    longitude: 4.8922,
    radius: 100,
    recovery_mode: false,
    safe_mode: false,
    state: 'RUNNING',
    time_zone: 'UTC',
    unit_system: { length: 'km', accumulated_precipitation: 'mm', area: 'm²', mass: 'g', pressure: 'Pa', temperature: '°C', volume: 'L', wind_speed: 'm/s' },
    version,
    whitelist_external_dirs: ['/media', '/config/www'],
  };
}

/** get_services: each registered service's description, with `response` when it can return one. */
function services(registry: ServiceRegistry): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [domain, services] of registry.services) {
    out[domain] = Object.fromEntries(
      [...services].map(([name, s]) => [
        name,
        { name, description: s.description ?? '', fields: {}, ...(s.response && s.response !== 'none' ? { response: { optional: s.response === 'optional' } } : {}) },
      ]),
    );
  }
  return out;
}

/** compressed_state_dict_add. */
function compressed(s: State): Record<string, unknown> {
  const out: Record<string, unknown> = {
    s: s.state,
    a: s.attributes,
    c: s.context.parent_id === null && s.context.user_id === null ? s.context.id : s.context,
    lc: s.lastChanged / 1000,
  };
  if (s.lastChanged !== s.lastUpdated) out.lu = s.lastUpdated / 1000;
  return out;
}

/** _state_diff_event: an addition, a removal, or what changed. */
function stateDiff(e: HaEvent): Record<string, unknown> {
  const entityId = e.data.entity_id as string;
  const next = e.data.new_state as State | null;
  const old = e.data.old_state as State | null;
  if (!next) return { r: [entityId] };
  if (!old) return { a: { [entityId]: compressed(next) } };
  const add: Record<string, unknown> = {};
  if (old.state !== next.state) add.s = next.state;
  if (old.lastChanged !== next.lastChanged) add.lc = next.lastChanged / 1000;
  else if (old.lastUpdated !== next.lastUpdated) add.lu = next.lastUpdated / 1000;
  const c: Record<string, unknown> = {};
  if (old.context.parent_id !== next.context.parent_id) c.parent_id = next.context.parent_id;
  if (old.context.user_id !== next.context.user_id) c.user_id = next.context.user_id;
  if (old.context.id !== next.context.id) {
    if (Object.keys(c).length) c.id = next.context.id;
    else add.c = next.context.id;
  }
  if (Object.keys(c).length) add.c = c;
  const attrs = Object.fromEntries(Object.entries(next.attributes).filter(([k, v]) => !pyEquals(old.attributes[k], v)));
  if (Object.keys(attrs).length) add.a = attrs;
  const diff: Record<string, unknown> = { '+': add };
  const removed = Object.keys(old.attributes).filter((k) => !(k in next.attributes));
  if (removed.length) diff['-'] = { a: removed };
  return { c: { [entityId]: diff } };
}
