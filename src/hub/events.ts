/** The hub's events: what managers tell the bridges (and the API's WebSockets) through the bus. */
import { TypedBus, type ListenerErrors } from './bus.js';
import type { FieldValue } from './devices/protocol.js';
import type { HaStatus } from './ha-types.js';
import type { JobView } from './jobs/types.js';
import type { HostMetrics } from './metrics/types.js';
import type { ThingChange, ThingRef } from './thing-types.js';

export interface BridgeEvent {
  type: string;
  data: Record<string, unknown>;
}

export interface BusEvents {
  'thing.changed': ThingChange;
  'thing.removed': ThingRef;
  'metrics.sampled': HostMetrics;
  /** Published on <base>/bridge/event and forwarded to the panel. */
  'bridge.event': BridgeEvent;
  'settings.changed': { log_level: string };
  'mqtt.connection': { connected: boolean };
  /** Something that happened to a thing, for `<base>/<kind>/<id>/event` (not retained). */
  'thing.event': { kind: string; id: string; payload: Record<string, unknown> };
  /** A job was created, started, made progress or ended. */
  'job.changed': JobView;
  /** A line a supervised program printed, for live following. */
  /** `instance` only for an agent's instances 1..N-1 (instance 0 is the agent as always). */
  'log.line': { kind: 'agent'; id: string; stream: 'stdout' | 'stderr'; line: string; instance?: number };
  /** A line received from (rx) or sent to (tx) a device, for `<base>/device/<id>/rx|tx` and the telemetry WebSocket. */
  'device.line': { id: string; direction: 'rx' | 'tx'; line: string; at: number };
  /** Values a device just reported (its state on MQTT follows, at most every 100 ms). */
  'device.telemetry': { id: string; values: Record<string, FieldValue>; at: number };
  /** A device the user had deleted in Home Assistant is to be published again. */
  'discovery.shown': { device_id: string };
  /** The Home Assistant bridge connected, lost its connection, was refused… */
  'homeassistant.status': HaStatus;
}

export type BusEventName = keyof BusEvents;

/** Every event name (what onAny forwards, what a WebSocket client may ask for); a record so the compiler checks it lists every event. */
const ANY_EVENTS: Record<BusEventName, true> = {
  'thing.changed': true,
  'thing.removed': true,
  'metrics.sampled': true,
  'bridge.event': true,
  'settings.changed': true,
  'mqtt.connection': true,
  'discovery.shown': true,
  'homeassistant.status': true,
  'log.line': true,
  'job.changed': true,
  'thing.event': true,
  'device.line': true,
  'device.telemetry': true,
};

export const BUS_EVENT_NAMES = Object.keys(ANY_EVENTS) as BusEventName[];

export class EventBus extends TypedBus<BusEvents> {
  constructor(errors: ListenerErrors) {
    super(BUS_EVENT_NAMES, errors);
  }
}
