/** What the HTTP routes may use: the hub's core pieces, never a bridge. */
import type { AgentManager } from '../agents/manager.js';
import type { DeviceManager } from '../devices/manager.js';
import type { JobManager } from '../jobs/manager.js';
import type { TaskManager } from '../tasks/manager.js';
import type { EventBus } from '../bus.js';
import type { DiscoveryVisibility } from '../discovery-visibility.js';
import type { HubInfo } from '../info.js';
import type { Logger } from '../logger.js';
import type { MetricHistory } from '../metrics/history.js';
import type { HostMetrics } from '../metrics/types.js';

export interface Health {
  healthy: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

export interface ApiContext {
  token: string;
  bus: EventBus;
  logger: Logger;
  info(): HubInfo;
  health(): Promise<Health>;
  latestMetrics(): HostMetrics | null;
  history: MetricHistory;
  visibility: DiscoveryVisibility;
  agents: AgentManager;
  jobs: JobManager;
  tasks: TaskManager;
  devices: DeviceManager;
  /** Where uploaded files wait until they are sent. */
  uploadsDir: string;
}
