/**
 * The WebSocket commands the stand-in answers, each as homeassistant/components/websocket_api
 * (commands.py, decorators.py) defines it: its schema (extra keys refused), whether it needs an
 * admin, whether it runs as a task, and what it sends back. Only the commands the hub sends are
 * here; any other is an unknown_command, as Home Assistant answers a command it lacks.
 */
import {
  HomeAssistantError,
  STATE_CHANGED,
  ServiceNotFound,
  ServiceValidationError,
  Unauthorized,
  newContext,
  type Bus,
  type ContextDict,
  type ServiceRegistry,
  type StateMachine,
} from './core.js';
import { entityServiceFields, hasTemplate, positiveInt } from './cv.js';
import { Invalid, bool, dictType, int, mapOf, str, type KeySpec } from './schema.js';
import { attachTriggers, triggerSchema, validateTriggers } from './triggers.js';

export interface HaUser {
  id: string;
  is_admin: boolean;
}

export interface Core {
  bus: Bus;
  states: StateMachine;
  services: ServiceRegistry;
  haVersion: string;
}

export type SubscriptionKind = 'events' | 'trigger';
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
