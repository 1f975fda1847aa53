/**
 * The Home Assistant core the stand-in serves: contexts, states, the event bus, the service
 * registry, with Home Assistant's semantics (homeassistant/core.py, exceptions.py) where they reach
 * the WebSocket API: what a state change fires, when last_changed moves, what a service call may
 * return, and the errors it raises (their English texts from homeassistant/strings.json).
 */
import { randomBytes } from 'node:crypto';
import { isDict, pyEquals } from './schema.js';

export interface ContextDict {
  id: string;
  parent_id: string | null;
  user_id: string | null;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** A ULID, as Home Assistant's context ids are. */
export function ulid(now = Date.now()): string {
  let time = '';
  for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time;
  return time + [...randomBytes(16)].map((b) => CROCKFORD[b % 32]).join('');
}

export function newContext(userId: string | null = null): ContextDict {
  return { id: ulid(), parent_id: null, user_id: userId };
}

/** Python's datetime.isoformat() of a UTC time: microseconds only when not zero. */
export function isoformat(ms: number): string {
  const s = new Date(ms).toISOString();
  const frac = ms % 1000 === 0 ? '' : `.${s.slice(20, 23)}000`;
  return `${s.slice(0, 19)}${frac}+00:00`;
}

/** A datetime.timedelta as Home Assistant's ExtendedJSONEncoder writes it. */
export class Timedelta {
  constructor(readonly seconds: number) {}
  toJSON(): { __type: string; total_seconds: number } {
    return { __type: "<class 'datetime.timedelta'>", total_seconds: this.seconds };
  }
}

/** A state, serialised as State.as_dict(). Timestamps are epoch milliseconds. */
export class State {
  constructor(
    readonly entity_id: string,
    readonly state: string,
    readonly attributes: Record<string, unknown>,
    readonly context: ContextDict,
    readonly lastChanged: number,
    public lastReported: number,
    readonly lastUpdated: number,
  ) {}
  toJSON(): Record<string, unknown> {
    return {
      entity_id: this.entity_id,
      state: this.state,
      attributes: this.attributes,
      last_changed: isoformat(this.lastChanged),
      last_reported: isoformat(this.lastReported),
      last_updated: isoformat(this.lastUpdated),
      context: this.context,
    };
  }
}

/** An event, serialised as Event.as_dict(). */
export class HaEvent {
  constructor(
    readonly event_type: string,
    readonly data: Record<string, unknown>,
    readonly origin: 'LOCAL' | 'REMOTE',
    readonly timeFired: number,
    readonly context: ContextDict,
  ) {}
  toJSON(): Record<string, unknown> {
    return { event_type: this.event_type, data: this.data, origin: this.origin, time_fired: isoformat(this.timeFired), context: this.context };
  }
}

/** homeassistant.exceptions.HomeAssistantError, with its translation fields. */
export class HomeAssistantError extends Error {
  constructor(
    message: string,
    readonly translation?: { domain: string; key: string; placeholders: Record<string, string> },
  ) {
    super(message);
  }
}
export class ServiceValidationError extends HomeAssistantError {}
export class Unauthorized extends HomeAssistantError {
  constructor() {
    super('Unauthorized');
  }
}
/** A service that does not exist (ServiceNotFound). */
export class ServiceNotFound extends ServiceValidationError {
  constructor(
    readonly domain: string,
    readonly service: string,
  ) {
    super(`Action ${domain}.${service} not found.`, { domain: 'homeassistant', key: 'service_not_found', placeholders: { domain, service } });
  }
}

/** The English text of one of the `homeassistant` domain's exception translations. */
function translated(key: string, placeholders: Record<string, string>, text: string, Cls = ServiceValidationError): HomeAssistantError {
  return new Cls(text, { domain: 'homeassistant', key, placeholders });
}

export const MATCH_ALL = '*';
export const STATE_CHANGED = 'state_changed';
/** Fired when a state is set to what it already was; MATCH_ALL listeners never get it. */
export const STATE_REPORTED = 'state_reported';
const MAX_EVENT_TYPE = 64;

type Listener = (e: HaEvent) => void;

export class Bus {
  private listeners = new Map<string, Set<Listener>>();
  /** Every event fired, for the test to look at. */
  readonly log: HaEvent[] = [];
  constructor(private readonly fired: (e: HaEvent) => void) {}

  /** EventBus.async_listen: state_reported only with a filter, as Home Assistant requires. */
  listen(eventType: string, listener: Listener, filter?: (e: HaEvent) => boolean): () => void {
    if (eventType === STATE_REPORTED && !filter) throw new HomeAssistantError(`Event filter is required for event ${eventType}`);
    const set = this.listeners.get(eventType) ?? new Set<Listener>();
    this.listeners.set(eventType, set);
    const l: Listener = filter ? (e) => filter(e) && listener(e) : listener;
    set.add(l);
    return () => set.delete(l);
  }

  fire(eventType: string, data: Record<string, unknown> | null | undefined, context: ContextDict = newContext(), origin: 'LOCAL' | 'REMOTE' = 'LOCAL'): HaEvent {
    if (eventType.length > MAX_EVENT_TYPE) {
      throw translated(
        'max_length_exceeded',
        { value: eventType, property_name: 'event_type', max_length: String(MAX_EVENT_TYPE) },
        `Value ${eventType} for property event_type has a maximum length of ${MAX_EVENT_TYPE} characters.`,
        HomeAssistantError,
      );
    }
    const event = new HaEvent(eventType, data ?? {}, origin, Date.now(), context);
    this.log.push(event);
    // Specific listeners first, then MATCH_ALL ones (core.py async_fire_internal).
    const specific = [...(this.listeners.get(eventType) ?? [])];
    const all = eventType === STATE_REPORTED ? [] : [...(this.listeners.get(MATCH_ALL) ?? [])];
    for (const l of [...specific, ...all]) l(event);
    this.fired(event);
    return event;
  }
}

const ENTITY_ID = /^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$/;
export const validEntityId = (id: string): boolean => ENTITY_ID.test(id);

export class StateMachine {
  readonly states = new Map<string, State>();
  constructor(private readonly bus: Bus) {}

  get(entityId: string): State | undefined {
    return this.states.get(entityId.toLowerCase());
  }

  /** StateMachine.async_set: same state and attributes only bump last_reported. */
  set(entityId: string, state: string, attributes: Record<string, unknown> = {}, context: ContextDict = newContext()): State {
    const id = entityId.toLowerCase();
    if (!validEntityId(id)) throw new Error(`Invalid entity ID: ${entityId}`);
    if (state.length > 255) throw new Error(`Invalid state with length ${state.length}. State max length is 255 characters.`);
    const old = this.states.get(id);
    const now = Date.now();
    const sameState = old !== undefined && old.state === state;
    if (old && sameState && pyEquals(old.attributes, attributes)) {
      const oldReported = old.lastReported;
      old.lastReported = now;
      this.bus.fire(STATE_REPORTED, { entity_id: id, old_last_reported: isoformat(oldReported), new_state: old }, context);
      return old;
    }
    const next = new State(id, state, structuredClone(attributes), context, sameState && old ? old.lastChanged : now, now, now);
    this.states.set(id, next);
    this.bus.fire(STATE_CHANGED, { entity_id: id, old_state: old ?? null, new_state: next }, context);
    return next;
  }

  remove(entityId: string, context: ContextDict = newContext()): boolean {
    const id = entityId.toLowerCase();
    const old = this.states.get(id);
    if (!old) return false;
    this.states.delete(id);
    this.bus.fire(STATE_CHANGED, { entity_id: id, old_state: old, new_state: null }, context);
    return true;
  }
}

export type SupportsResponse = 'none' | 'optional' | 'only';

/** What a service handler gets (homeassistant.core.ServiceCall, plus a way to set states in its context). */
export interface ServiceCall {
  domain: string;
  service: string;
  /** service_data with the target merged in, as the handler sees it. */
  data: Record<string, unknown>;
  context: ContextDict;
  return_response: boolean;
  /** Sets a state with this call's context, as an integration acting on the call would. */
  setState(entityId: string, state: string, attributes?: Record<string, unknown>): State;
}

export type ServiceHandler = (call: ServiceCall) => unknown;

export interface ServiceOptions {
  response?: SupportsResponse;
  /** Validates (and may convert) service_data; throw schema.Invalid as a voluptuous schema would. */
  schema?: (data: Record<string, unknown>) => Record<string, unknown>;
}

interface Registered extends ServiceOptions {
  handler: ServiceHandler;
}

export class ServiceRegistry {
  private readonly services = new Map<string, Map<string, Registered>>();
  constructor(
    private readonly bus: Bus,
    private readonly states: StateMachine,
  ) {}

  register(domain: string, service: string, handler: ServiceHandler, opts: ServiceOptions = {}): void {
    const d = domain.toLowerCase();
    const s = service.toLowerCase();
    const services = this.services.get(d) ?? new Map<string, Registered>();
    this.services.set(d, services);
    services.set(s, { ...opts, handler });
    this.bus.fire('service_registered', { domain: d, service: s });
  }

  remove(domain: string, service: string): void {
    const d = domain.toLowerCase();
    const s = service.toLowerCase();
    if (!this.services.get(d)?.delete(s)) return;
    if (this.services.get(d)?.size === 0) this.services.delete(d);
    this.bus.fire('service_removed', { domain: d, service: s });
  }

  /** ServiceRegistry.async_call with blocking=True, as the WebSocket API calls it. */
  async call(domain: string, service: string, serviceData: Record<string, unknown> | undefined, context: ContextDict, target: Record<string, unknown> | undefined, returnResponse: boolean): Promise<unknown> {
    const found = this.services.get(domain)?.get(service) ?? this.services.get(domain.toLowerCase())?.get(service.toLowerCase());
    if (!found) throw new ServiceNotFound(domain.toLowerCase(), service.toLowerCase());
    const supports = found.response ?? 'none';
    const rr = { return_response: 'return_response=True' };
    if (returnResponse && supports === 'none') throw translated('service_does_not_support_response', rr, "An action which does not return responses can't be called with return_response=True.");
    if (!returnResponse && supports === 'only') throw translated('service_lacks_response_request', rr, 'The action requires responses and must be called with return_response=True.');
    const data: Record<string, unknown> = { ...(serviceData ?? {}), ...(target ?? {}) };
    const processed = found.schema ? found.schema(data) : data;
    this.bus.fire('call_service', { domain: domain.toLowerCase(), service: service.toLowerCase(), service_data: data }, context);
    const response = await found.handler({
      domain,
      service,
      data: processed,
      context,
      return_response: returnResponse,
      setState: (entityId, state, attributes) => this.states.set(entityId, state, attributes, context),
    });
    if (!returnResponse) return null;
    if (!isDict(response)) {
      const type = pyType(response);
      throw translated('service_reponse_invalid', { response_data_type: type }, `Failed to process the returned action response data, expected a dictionary, but got ${type}.`, HomeAssistantError);
    }
    return response;
  }
}

function pyType(v: unknown): string {
  const name =
    v === null || v === undefined ? 'NoneType' : Array.isArray(v) ? 'list' : typeof v === 'string' ? 'str' : typeof v === 'boolean' ? 'bool' : typeof v === 'number' ? (Number.isInteger(v) ? 'int' : 'float') : 'object';
  return `<class '${name}'>`;
}
