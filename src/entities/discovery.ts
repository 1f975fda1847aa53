/** Building blocks shared by every entity module: ids, the device, components, the message. */
import type {
  Component,
  DiscoveryMessage,
  EntityContext,
  HaDevice,
  Platform,
  RemovedComponent,
  ThingView,
} from './types.js';

export const hubDeviceId = (ctx: EntityContext): string => `hearth_${ctx.nodeId}`;
export const thingDeviceId = (ctx: EntityContext, kind: string, id: string): string => `hearth_${ctx.nodeId}_${kind}_${id}`;
export const discoveryTopic = (ctx: EntityContext, deviceId: string): string => `${ctx.discoveryPrefix}/device/${deviceId}/config`;

/** The device of a managed thing: its own device, reached through the hub. */
export function thingDevice(ctx: EntityContext, kind: string, id: string, name: string, model: string): HaDevice {
  return {
    identifiers: [thingDeviceId(ctx, kind, id)],
    name,
    manufacturer: 'Hearth',
    model,
    sw_version: ctx.version,
    via_device: hubDeviceId(ctx),
  };
}

export interface ComponentSpec extends Omit<Component, 'p' | 'unique_id' | 'default_entity_id' | 'name'> {
  /** The entity's own name (without the device's); null for the device's main entity. */
  name: string | null;
}

/**
 * One component: unique_id is <deviceId>_<field>, stable across renames, and the suggested entity
 * id is derived from it.
 */
export function component(deviceId: string, field: string, p: Platform, spec: ComponentSpec): Component {
  const uniqueId = `${deviceId}_${field}`;
  return { p, unique_id: uniqueId, default_entity_id: `${p}.${uniqueId}`, ...spec };
}

/** Reads one field of the thing's JSON state. */
export const valueOf = (path: string): string => `{{ value_json.${path} }}`;

/** Reads a field that may be null: Home Assistant then shows "unknown" (its "None" payload). */
export const valueOrUnknown = (field: string): string => `{{ value_json.${field} if value_json.${field} is not none else None }}`;

/**
 * The device-based discovery message. `removed` lists fields published before and gone now: they
 * are sent once as { p } so Home Assistant deletes those entities.
 */
export function discoveryMessage(
  ctx: EntityContext,
  view: ThingView,
  removed: Record<string, Platform> = {},
): DiscoveryMessage {
  const cmps: Record<string, Component | RemovedComponent> = { ...view.components };
  for (const [field, p] of Object.entries(removed)) if (!(field in cmps)) cmps[field] = { p };
  const bridge = { topic: `${ctx.base}/bridge/state` };
  const availability = [bridge, ...(view.availability ?? [])];
  return {
    dev: view.device,
    o: { name: 'Hearth', sw_version: ctx.version, ...(ctx.supportUrl ? { support_url: ctx.supportUrl } : {}) },
    cmps,
    state_topic: view.stateTopic,
    availability,
    ...(availability.length > 1 ? { availability_mode: 'all' as const } : {}),
    qos: 1,
  };
}
