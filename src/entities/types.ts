/** Home Assistant's MQTT discovery, as far as Hearth uses it. Pure data, no I/O. */

export type Platform = 'sensor' | 'binary_sensor' | 'switch' | 'button' | 'select' | 'number' | 'text' | 'event' | 'update';

export type EntityCategory = 'config' | 'diagnostic';

/** One entity of a device-based discovery message (an entry of `cmps`). */
export interface Component {
  p: Platform;
  unique_id: string;
  /** null: the device's main entity, named after the device. */
  name: string | null;
  default_entity_id: string;
  device_class?: string;
  state_class?: 'measurement' | 'measurement_angle' | 'total' | 'total_increasing';
  unit_of_measurement?: string;
  entity_category?: EntityCategory;
  icon?: string;
  state_topic?: string;
  value_template?: string;
  command_topic?: string;
  command_template?: string;
  payload_press?: string;
  payload_on?: string;
  payload_off?: string;
  state_on?: string;
  state_off?: string;
  options?: string[];
  event_types?: string[];
  min?: number;
  max?: number;
  step?: number;
  mode?: string;
  suggested_display_precision?: number;
  enabled_by_default?: boolean;
  json_attributes_topic?: string;
  json_attributes_template?: string;
  /** Instead of the message's own (a device's readings: only while it is connected). */
  availability?: Availability[];
  availability_mode?: 'all' | 'any' | 'latest';
}

/** A component once published and now gone: sent once like this so Home Assistant removes it. */
export interface RemovedComponent {
  p: Platform;
}

export interface HaDevice {
  identifiers: string[];
  name: string;
  manufacturer: string;
  model: string;
  sw_version?: string;
  via_device?: string;
  configuration_url?: string;
}

export interface Availability {
  topic: string;
  payload_available?: string;
  payload_not_available?: string;
  value_template?: string;
}

export interface Origin {
  name: string;
  sw_version: string;
  support_url?: string;
}

export interface DiscoveryMessage {
  dev: HaDevice;
  o: Origin;
  cmps: Record<string, Component | RemovedComponent>;
  state_topic: string;
  availability: Availability[];
  availability_mode?: 'all' | 'any' | 'latest';
  qos: 0 | 1;
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** What one thing looks like in Home Assistant: an entity module's whole answer. */
export interface ThingView {
  /** The discovery object id: hearth_<node> for the hub, hearth_<node>_<kind>_<id> otherwise. */
  deviceId: string;
  stateTopic: string;
  device: HaDevice;
  components: Record<string, Component>;
  state: Record<string, JsonValue>;
  /** Extra availability beyond the hub's bridge/state (a device's own connection). */
  availability?: Availability[];
}

/** What every entity module knows about where it is published. */
export interface EntityContext {
  nodeId: string;
  /** hearth/<node_id> */
  base: string;
  discoveryPrefix: string;
  version: string;
  supportUrl?: string;
}

/** Maps one kind of thing's state to its Home Assistant view. Pure. */
export type EntityModule<S> = (ctx: EntityContext, id: string, state: S) => ThingView;
