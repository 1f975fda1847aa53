/** The hub's own state: what its Home Assistant device shows. */
import type { CountedKind } from './things.js';
import type { HostMetrics } from './metrics/types.js';

export interface HubState {
  version: string;
  log_level: string;
  metrics: HostMetrics;
  counts: Record<CountedKind, number>;
  /** kind/id of every thing with a problem; the hub's problem sensor is on while any is. */
  problems: string[];
}
