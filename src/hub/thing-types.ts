/**
 * The kinds of thing the hub shows and the state each has. A new kind is one line in ThingStates
 * plus its entity module (src/entities/registry.ts). Types and constants only: the bus, the
 * registry and the entities all take them from here.
 */
import type { AgentState } from './agents/state.js';
import type { DeviceState } from './devices/state.js';
import type { HaState } from './ha-types.js';
import type { HostMetrics } from './metrics/types.js';
import type { TaskState } from './tasks/state.js';

/** Kinds counted on the hub device and in bridge/info. */
export const COUNTED_KINDS = ['agent', 'task', 'device'] as const;
export type CountedKind = (typeof COUNTED_KINDS)[number];

/** The hub's own state: what its Home Assistant device shows. */
export interface HubState {
  version: string;
  log_level: string;
  metrics: HostMetrics;
  counts: Record<CountedKind, number>;
  /** kind/id of every thing with a problem; the hub's problem sensor is on while any is. */
  problems: string[];
  /** The Home Assistant WebSocket bridge's state. */
  home_assistant: HaState;
}

export interface ThingStates {
  hub: HubState;
  agent: AgentState;
  task: TaskState;
  device: DeviceState;
}

export type ThingKind = keyof ThingStates;

export type ThingChange = { [K in ThingKind]: { kind: K; id: string; state: ThingStates[K] } }[ThingKind];

export interface ThingRef {
  kind: ThingKind;
  id: string;
}
