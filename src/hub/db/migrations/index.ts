/** Every migration, in order. A schema change is one new file plus one line here. */
import { Initial1763900000001 } from './0001-initial.js';
import { Agents1763900000002 } from './0002-agents.js';
import { Jobs1763900000003 } from './0003-jobs.js';
import { Tasks1763900000004 } from './0004-tasks.js';
import { Devices1763900000005 } from './0005-devices.js';
import { Users1763900000006 } from './0006-users.js';
import { Ports1763900000007 } from './0007-ports.js';
import { AgentInstances1763900000008 } from './0008-agent-instances.js';

export const MIGRATIONS = [Initial1763900000001, Agents1763900000002, Jobs1763900000003, Tasks1763900000004, Devices1763900000005, Users1763900000006, Ports1763900000007, AgentInstances1763900000008];
