/** What the HTTP bridge uses: the operation table for every operation, and the few core pieces its streams need. */
import type { EventBus } from '../../hub/events.js';
import type { AgentManager } from '../../hub/agents/manager.js';
import type { DeviceManager } from '../../hub/devices/manager.js';
import type { HubInfo } from '../../hub/info.js';
import type { JobManager } from '../../hub/jobs/manager.js';
import type { Logger } from '../../hub/logger.js';
import type { HostMetrics } from '../../hub/metrics/types.js';
import type { OperationTable } from '../../hub/operations/table.js';
import type { Authenticator } from '../../hub/users/types.js';
import type { IngressSettings } from './ingress.js';

export interface ApiContext {
  auth: Authenticator;
  operations: OperationTable;
  bus: EventBus;
  logger: Logger;
  info(): HubInfo;
  jobs: JobManager;
  devices: DeviceManager;
  agents: AgentManager;
  /** The latest host sample, null before the first. */
  latestMetrics(): HostMetrics | null;
  /** The embedded broker's connected clients; null on an external broker. */
  brokerClients(): number | null;
  /** Where uploaded files wait until they are sent. */
  uploadsDir: string;
  /** Home Assistant ingress: whose user headers count (the add-on turns it on). */
  ingress: IngressSettings;
}
