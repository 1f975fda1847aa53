/** The operation table: one line per kind's operations. A new operation is declared in its kind's file. */
import { AGENT_TRANSFER_OPERATIONS } from './agent-transfer.js';
import { AGENT_OPERATIONS } from './agents.js';
import { AUTH_OPERATIONS } from './auth.js';
import { DEVICE_OPERATIONS } from './devices.js';
import { HUB_OPERATIONS } from './hub.js';
import { JOB_OPERATIONS } from './jobs.js';
import { MQTT_OPERATIONS } from './mqtt.js';
import type { Operation } from './operation.js';
import { TASK_OPERATIONS } from './tasks.js';
import { USER_OPERATIONS } from './users.js';

export const OPERATIONS: readonly Operation[] = [...HUB_OPERATIONS, ...AGENT_OPERATIONS, ...AGENT_TRANSFER_OPERATIONS, ...TASK_OPERATIONS, ...JOB_OPERATIONS, ...DEVICE_OPERATIONS, ...MQTT_OPERATIONS, ...USER_OPERATIONS, ...AUTH_OPERATIONS];
