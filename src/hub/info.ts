/** What `info` answers on every interface (bridge/info, GET /api/info, `hearth status`). */
import type { HaStatus } from './ha-types.js';
import type { CountedKind } from './thing-types.js';

export interface HubInfo {
  version: string;
  node_id: string;
  started_at: string;
  uptime_s: number;
  log_level: string;
  counts: Record<CountedKind, number>;
  problems: string[];
  broker: { mode: 'embedded' | 'external'; url: string; connected: boolean };
  /** The Home Assistant WebSocket bridge. */
  home_assistant: HaStatus;
  base_topic: string;
  discovery_prefix: string;
  database: string;
  http: { host: string; port: number };
  bridge_requests: string[];
}
