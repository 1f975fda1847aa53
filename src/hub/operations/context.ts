/** What operation handlers may use: the hub's managers and its own controls, never a bridge. */
import type { AgentManager } from '../agents/manager.js';
import type { MqttCredential } from '../auth/mqtt-credentials.js';
import type { LogLevel } from '../config/types.js';
import type { DeviceManager } from '../devices/manager.js';
import type { DiscoveryVisibility } from '../discovery-visibility.js';
import type { HubInfo } from '../info.js';
import type { JobManager } from '../jobs/manager.js';
import type { MetricHistory } from '../metrics/history.js';
import type { HostMetrics } from '../metrics/types.js';
import type { TaskManager } from '../tasks/manager.js';
import type { AuditLog } from '../users/audit.js';
import type { Sessions } from '../users/sessions.js';
import type { UserStore } from '../users/store.js';

export interface Health {
  /** `degraded` when a check fails (the checks say why). */
  status: 'ok' | 'degraded';
  healthy: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

/** The hub itself, as its operations see it. */
export interface HubControls {
  info(): HubInfo;
  health(): Promise<Health>;
  latestMetrics(): HostMetrics | null;
  setLogLevel(level: LogLevel): void;
  /** Who signs in to the embedded broker (the hub, Home Assistant); on an external one the hub's sign-in, if any. */
  mqttCredentials(): MqttCredential[];
  /** A warning in the hub's log (a failed login), never with a secret in it. */
  warn(fields: Record<string, unknown>, message: string): void;
  /** Restarts the hub in place, after the answer has gone out. */
  restart(): void;
}

export type { Caller, Edge } from '../users/types.js';

export interface OperationContext {
  hub: HubControls;
  agents: AgentManager;
  tasks: TaskManager;
  jobs: JobManager;
  devices: DeviceManager;
  visibility: DiscoveryVisibility;
  history: MetricHistory;
  users: UserStore;
  sessions: Sessions;
  audit: AuditLog;
}
