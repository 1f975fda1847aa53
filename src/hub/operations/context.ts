/** What operation handlers may use: the hub's managers and its own controls, never a bridge. */
import type { AgentManager } from '../agents/manager.js';
import type { LogLevel } from '../config/types.js';
import type { DeviceManager } from '../devices/manager.js';
import type { DiscoveryVisibility } from '../discovery-visibility.js';
import type { HubInfo } from '../info.js';
import type { JobManager } from '../jobs/manager.js';
import type { MetricHistory } from '../metrics/history.js';
import type { HostMetrics } from '../metrics/types.js';
import type { TaskManager } from '../tasks/manager.js';

export interface Health {
  healthy: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

/** The hub itself, as its operations see it. */
export interface HubControls {
  info(): HubInfo;
  health(): Promise<Health>;
  latestMetrics(): HostMetrics | null;
  setLogLevel(level: LogLevel): void;
  /** Restarts the hub in place, after the answer has gone out. */
  restart(): void;
}

/** Where a call came from: what a job's trigger says, and (with users) who made it. */
export interface Caller {
  edge: 'http' | 'mqtt';
}

export interface OperationContext {
  hub: HubControls;
  agents: AgentManager;
  tasks: TaskManager;
  jobs: JobManager;
  devices: DeviceManager;
  visibility: DiscoveryVisibility;
  history: MetricHistory;
}
